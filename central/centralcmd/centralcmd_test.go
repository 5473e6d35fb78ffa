package centralcmd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jisr-bus/jisr/central"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
)

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// run executes `jisr central args…` and returns its standard output.
func run(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := New(&out, &errOut)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("jisr central %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// TestSmoke: init → serve → member add → config regenerate → anchor, then
// a download from the configuration listener verifies with the exported
// anchor and lists the new member.
func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("smoke-test-passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cdir := filepath.Join(dir, "central")
	admin, conf, mgmt := freeAddr(t), freeAddr(t), freeAddr(t)
	out := run(t, t.Context(), "init", "--instance", "PS", "--dir", cdir, "--name", "127.0.0.1", "--passphrase-file", pass,
		"--admin-listen", admin, "--configuration-listen", conf, "--management-listen", mgmt)
	if !strings.Contains(out, "central server for instance \"PS\" created") {
		t.Fatalf("init output: %s", out)
	}
	cfgPath := filepath.Join(cdir, central.ConfigFile)
	if fi, err := os.Stat(filepath.Join(cdir, central.AdminAPIKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-api-key: %v %v", fi, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := New(io.Discard, io.Discard)
		cmd.SetArgs([]string{"serve", "--config", cfgPath, "--log-format", "text", "--log-level", "error"})
		done <- cmd.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitListening(t, "http://"+admin+"/healthz")

	out = run(t, t.Context(), "member", "add", "--config", cfgPath, "--class", "GOV", "--code", "MOI", "--name", "Ministry of Interior")
	var m central.Member
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.ID != "PS:GOV:MOI" {
		t.Fatalf("member add: %v %s", err, out)
	}
	run(t, t.Context(), "subsystem", "add", "--config", cfgPath, "--member", "PS:GOV:MOI", "--code", "civil-registry")
	out = run(t, t.Context(), "config", "regenerate", "--config", cfgPath)
	var st central.ConfigurationStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Serial < 2 {
		t.Fatalf("config regenerate: %v %s", err, out)
	}

	anchorPath := filepath.Join(dir, "anchor.json")
	run(t, t.Context(), "anchor", "--config", cfgPath, "--out", anchorPath)
	ab, err := os.ReadFile(anchorPath)
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := globalconf.ParseAnchor(ab)
	if err != nil {
		t.Fatalf("anchor: %v", err)
	}
	if len(anchor.ConfigurationURLs) != 1 || anchor.ConfigurationURLs[0] != "http://"+conf+central.ConfigurationPath {
		t.Fatalf("anchor URLs %v", anchor.ConfigurationURLs)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, anchor.ConfigurationURLs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d %v", resp.StatusCode, err)
	}
	doc, err := globalconf.Verify(signed, anchor, time.Now())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(doc.Members) != 1 || doc.Members[0].Code != "MOI" || len(doc.Members[0].Subsystems) != 1 {
		t.Errorf("members in the document: %+v", doc.Members)
	}

	// The management listener runs central/mgmt's processor behind TLS 1.3.
	tc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}}}
	t.Cleanup(tc.CloseIdleConnections)
	for _, c := range []struct {
		method, path string
		body         string
		want         int
	}{
		{http.MethodGet, "/healthz", "", http.StatusOK},
		{http.MethodPost, central.ManagementPath, "not a JWS", http.StatusBadRequest},
	} {
		req, err := http.NewRequestWithContext(t.Context(), c.method, "https://"+mgmt+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/jose+json")
		resp, err := tc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("management listener %s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}

	// A key that may not write is refused, and the CLI reports it.
	out = run(t, t.Context(), "apikey", "create", "--config", cfgPath, "--name", "watcher", "--role", "OBSERVER")
	var k central.CreatedAPIKey
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Secret == "" {
		t.Fatalf("apikey create: %v %s", err, out)
	}
	obs := filepath.Join(dir, "observer-key")
	if err := os.WriteFile(obs, []byte(k.Secret), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := New(io.Discard, io.Discard)
	cmd.SetArgs([]string{"member", "add", "--config", cfgPath, "--api-key-file", obs, "--class", "GOV", "--code", "X", "--name", "X"})
	err = cmd.ExecuteContext(t.Context())
	var ce *central.ClientError
	if !asClientError(err, &ce) || ce.Status != http.StatusForbidden {
		t.Errorf("observer member add: %v, want a 403", err)
	}
}

func asClientError(err error, target **central.ClientError) bool {
	ce, ok := err.(*central.ClientError)
	if ok {
		*target = ce
	}
	return ok
}

func waitListening(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEveryFlagDocumented walks the command tree: every command has a
// short description and every flag a usage text.
func TestEveryFlagDocumented(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%s: no short description", c.CommandPath())
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%s --%s: no usage text", c.CommandPath(), f.Name)
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(New(io.Discard, io.Discard))
}

func TestManagementPathAgrees(t *testing.T) {
	if central.ManagementPath != mgmtproto.Path {
		t.Fatalf("central.ManagementPath %q, mgmtproto.Path %q", central.ManagementPath, mgmtproto.Path)
	}
}
