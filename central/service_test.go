package central

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/pki/keys"
)

// initDir runs Init in a temporary directory with a software key store and
// loopback listeners on free ports, and returns the loaded configuration.
func initDir(t *testing.T, clk clock.Clock) (Config, *InitResult) {
	t.Helper()
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Init(t.Context(), InitOptions{
		Instance: testInstance, Dir: filepath.Join(dir, "central"), Names: []string{"127.0.0.1"},
		Keys:     keys.Config{Type: keys.TypeSoftware, PassphraseFile: pass},
		Template: &Config{Listen: ListenConfig{Admin: "127.0.0.1:0", Configuration: "127.0.0.1:0", Management: "127.0.0.1:0"}},
		Clock:    clk,
	})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	cfg, err := LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	return cfg, res
}

// serve runs svc until the test ends and returns once it listens.
func serve(t *testing.T, svc *Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// waitConfiguration polls the configuration listener until a document is
// served (the publisher's first tick runs as Serve starts).
func waitConfiguration(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, b := get(t, http.DefaultClient, url)
		if resp.StatusCode == http.StatusOK {
			return resp, b
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServiceSQLite runs a node initialised by Init: the configuration
// listener serves a document the exported anchor verifies, with ETag and
// 304; every listener answers /healthz; the management listener presents
// the certificate whose hash the document pins; /metrics has the
// configuration and API metrics.
func TestServiceSQLite(t *testing.T) {
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	cfg, res := initDir(t, clk)
	svc, err := New(t.Context(), cfg, WithClock(clk))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	serve(t, svc)

	confURL := "http://" + svc.Addr("configuration") + ConfigurationPath
	resp, signed := waitConfiguration(t, confURL)
	anchor, err := ExportAnchor(t.Context(), cfg, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := globalconf.Verify(signed, anchor, clk.Now())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(doc.MemberClasses) != 3 || doc.Instance != testInstance {
		t.Errorf("document: %+v", doc)
	}
	etag := resp.Header.Get("ETag")
	if etag != globalconf.ETag(signed) {
		t.Errorf("ETag %q, want %q", etag, globalconf.ETag(signed))
	}
	if r, _ := get(t, http.DefaultClient, confURL, "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", r.StatusCode)
	}

	pinned := doc.CentralServer.ManagementTLSCertificates
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(pinned) != 1 || !bytes.Equal(cs.PeerCertificates[0].Raw, pinned[0]) {
				t.Errorf("management certificate is not the one the configuration lists")
			}
			return nil
		}}}}
	t.Cleanup(insecure.CloseIdleConnections)
	for _, c := range []struct {
		name, url string
		client    *http.Client
	}{
		{"admin", "http://" + svc.Addr("admin") + "/healthz", http.DefaultClient},
		{"configuration", "http://" + svc.Addr("configuration") + "/healthz", http.DefaultClient},
		{"management", "https://" + svc.Addr("management") + "/healthz", insecure},
	} {
		t.Run("healthz "+c.name, func(t *testing.T) {
			r, b := get(t, c.client, c.url)
			if r.StatusCode != http.StatusOK || !strings.Contains(string(b), `"status":"ok"`) {
				t.Errorf("%d %s", r.StatusCode, b)
			}
		})
	}

	secret, err := ReadSecretFile(res.AdminKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	cl := &Client{BaseURL: "http://" + svc.Addr("admin"), APIKey: secret}
	var st ConfigurationStatus
	if err := cl.Call(t.Context(), http.MethodGet, "/configuration", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Serial != int64(doc.Serial) || st.ETag != etag || st.Expired {
		t.Errorf("status %+v", st)
	}

	_, metrics := get(t, http.DefaultClient, "http://"+svc.Addr("admin")+"/metrics")
	for _, m := range []string{
		"jisr_central_configuration_serial 1",
		"jisr_central_configuration_published_total 1",
		"jisr_central_configuration_age_seconds",
		`jisr_central_api_requests_total{code="200",method="GET",route="/api/v1/configuration"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}

	// Expiry: health fails and the document is no longer served.
	clk.Add(11 * time.Minute)
	if r, _ := get(t, http.DefaultClient, confURL); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("expired configuration served with %d, want 503", r.StatusCode)
	}
	if h := svc.CheckHealth(t.Context()); h.Status != "fail" || h.Checks["configuration"] == "ok" {
		t.Errorf("health with an expired configuration: %+v", h)
	}
}

// TestTwoNodesPostgres runs two nodes over one PostgreSQL schema: both
// serve byte-identical configuration with the same ETag, also after a
// change published by one of them.
func TestTwoNodesPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	cfg, res := initDir(t, clk)
	// Point the nodes at a PostgreSQL registry holding the instance code
	// (Init made the key store and the TLS certificate they share).
	dsnFile := filepath.Join(filepath.Dir(res.ConfigPath), "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Database = DatabaseConfig{Driver: DriverPostgres, DSNFile: dsnFile}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := OpenRegistry(t.Context(), cfg.Database, clk)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetInstance(t.Context(), testInstance); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	var nodes []*Service
	for range 2 {
		svc, err := New(t.Context(), cfg, WithClock(clk))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = svc.Close() })
		serve(t, svc)
		nodes = append(nodes, svc)
	}
	compare := func(t *testing.T) []byte {
		t.Helper()
		var first []byte
		var firstTag string
		for i, n := range nodes {
			resp, b := waitConfiguration(t, "http://"+n.Addr("configuration")+ConfigurationPath)
			if i == 0 {
				first, firstTag = b, resp.Header.Get("ETag")
				continue
			}
			if string(b) != string(first) || resp.Header.Get("ETag") != firstTag {
				t.Fatalf("node %d serves other bytes (ETag %s) than node 0 (ETag %s)", i, resp.Header.Get("ETag"), firstTag)
			}
		}
		return first
	}
	before := compare(t)
	// Each node publishes once more; both serve the latest.
	if _, _, err := nodes[1].Publisher().Regenerate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nodes[0].Publisher().Regenerate(t.Context()); err != nil {
		t.Fatal(err)
	}
	after := compare(t)
	anchor, err := nodes[0].Anchor()
	if err != nil {
		t.Fatal(err)
	}
	d1, err := globalconf.Verify(before, anchor, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	d2, err := globalconf.Verify(after, anchor, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d2.Serial != d1.Serial+2 {
		t.Errorf("serial %d after two regenerations from %d", d2.Serial, d1.Serial)
	}
}
