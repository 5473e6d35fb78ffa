package ocsp

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/testutil"
)

// TestOpenSSLInterop checks the responder with a third-party client:
// `openssl ocsp` must verify every response against the root
// ("Response verify OK") and print the expected status.
func TestOpenSSLInterop(t *testing.T) {
	openssl := testutil.RequireTool(t, "openssl")

	// openssl judges ThisUpdate/NextUpdate by the wall clock, so the
	// responder runs on real time here.
	now := time.Now()
	p := newTestPKI(t, now)
	src := newFakeSource(100)
	r, err := New(Config{
		Issuer:        p.Issuer,
		ResponderCert: p.Responder,
		Signer:        p.ResponderKey,
		Source:        src,
		Clock:         clock.System(),
		Prefix:        "/ocsp",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	url := srv.URL + "/ocsp"

	dir := t.TempDir()
	leaf, unissued := p.leaf(t, 100), p.leaf(t, 4242)
	writePEMs(t, dir, map[string]*x509.Certificate{
		"root.pem":     p.Root,
		"issuer.pem":   p.Issuer,
		"leaf.pem":     leaf,
		"unissued.pem": unissued,
	})

	run := func(t *testing.T, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), openssl, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// query asks via POST (openssl's only transport), or, with get, builds
	// the request with openssl, sends it by GET from Go, and has openssl
	// verify the saved response.
	query := func(t *testing.T, cert string, get bool, extra ...string) string {
		t.Helper()
		// Digest options must precede -cert.
		common := append(append([]string{"ocsp", "-issuer", "issuer.pem"}, extra...), "-cert", cert, "-CAfile", "root.pem", "-no_nonce")
		if !get {
			return run(t, append(common, "-url", url)...)
		}
		run(t, append(common, "-reqout", "req.der")...)
		der, err := os.ReadFile(filepath.Join(dir, "req.der"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Get(srv.URL + getPath("/ocsp", der))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "max-age=") {
			t.Fatalf("GET: %s, Cache-Control %q", resp.Status, resp.Header.Get("Cache-Control"))
		}
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "resp.der"), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return run(t, append(common, "-respin", "resp.der")...)
	}

	type step struct {
		name   string
		cert   string
		get    bool
		extra  []string
		want   string
		before func()
	}
	steps := []step{
		{name: "good SHA-1 POST", cert: "leaf.pem", want: "leaf.pem: good"},
		{name: "good SHA-256 POST", cert: "leaf.pem", extra: []string{"-sha256"}, want: "leaf.pem: good"},
		{name: "good SHA-256 GET", cert: "leaf.pem", get: true, extra: []string{"-sha256"}, want: "leaf.pem: good"},
		{name: "unknown serial", cert: "unissued.pem", want: "unissued.pem: unknown"},
		{
			name: "revoked after Invalidate", cert: "leaf.pem", want: "leaf.pem: revoked",
			before: func() {
				src.set(100, CertStatus{Known: true, Revoked: true, RevokedAt: now.Add(-time.Minute), Reason: ocsp.KeyCompromise})
				r.Invalidate(leaf.SerialNumber)
			},
		},
		{name: "revoked SHA-256 GET", cert: "leaf.pem", get: true, extra: []string{"-sha256"}, want: "Reason: keyCompromise"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.before != nil {
				s.before()
			}
			out := query(t, s.cert, s.get, s.extra...)
			for _, want := range []string{"Response verify OK", s.want} {
				if !strings.Contains(out, want) {
					t.Fatalf("openssl output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
