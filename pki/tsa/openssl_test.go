package tsa

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/testutil"
)

// openSSLEnv is a TSA served over HTTP plus a directory of PEM files for
// `openssl ts`.
type openSSLEnv struct {
	openssl string
	dir     string
	pki     *testPKI
	srv     *httptest.Server
}

func newOpenSSLEnv(t *testing.T) *openSSLEnv {
	t.Helper()
	openssl := testutil.RequireTool(t, "openssl")
	// openssl checks the certificates at the current wall-clock time.
	p := newTestPKI(t, time.Now())
	dir := t.TempDir()
	serials, err := FileSerials(filepath.Join(dir, "tsa.serial"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serials.Close() })
	s, err := New(Config{
		Certificate: p.tsa,
		Chain:       []*x509.Certificate{p.Issuer},
		Signer:      p.key,
		Serials:     serials,
		Clock:       clock.System(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	testpki.WritePEM(t, filepath.Join(dir, "root.pem"), p.Root)
	testpki.WritePEM(t, filepath.Join(dir, "untrusted.pem"), p.tsa, p.Issuer)
	for name, data := range map[string]string{"data.txt": "jisr message log record\n", "other.txt": "jisr message log record, altered\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &openSSLEnv{openssl: openssl, dir: dir, pki: p, srv: srv}
}

func (e *openSSLEnv) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), e.openssl, args...)
	cmd.Dir = e.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *openSSLEnv) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.run(t, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// post sends the query file to the TSA and saves the reply.
func (e *openSSLEnv) post(t *testing.T, queryFile, replyFile string) {
	t.Helper()
	q, err := os.ReadFile(filepath.Join(e.dir, queryFile))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Post(e.srv.URL, "application/timestamp-query", bytes.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("TSA answered %s", resp.Status)
	}
	if err := os.WriteFile(filepath.Join(e.dir, replyFile), reply, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOpenSSLVerifiesTokens has `openssl ts` build queries, sends them to
// the TSA, and verifies the replies: the third-party check of the token
// format, the ESS signing-certificate attribute and the critical EKU.
func TestOpenSSLVerifiesTokens(t *testing.T) {
	e := newOpenSSLEnv(t)
	tests := []struct {
		name    string
		digest  string
		certReq bool
	}{
		{name: "SHA-256 with certReq", digest: "-sha256", certReq: true},
		{name: "SHA-384 with certReq", digest: "-sha384", certReq: true},
		{name: "SHA-512 without certReq", digest: "-sha512"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"ts", "-query", "-data", "data.txt", tc.digest, "-out", "req.tsq"}
			if tc.certReq {
				args = append(args, "-cert")
			}
			e.mustRun(t, args...)
			e.post(t, "req.tsq", "resp.tsr")

			text := e.mustRun(t, "ts", "-reply", "-in", "resp.tsr", "-text")
			for _, want := range []string{"Status: Granted.", "Policy OID: 1.3.6.1.4.1.59999.1.1", "Accuracy: 0x01 seconds"} {
				if !strings.Contains(text, want) {
					t.Errorf("reply text lacks %q:\n%s", want, text)
				}
			}

			// Against the query (checks the nonce and imprint too).
			out := e.mustRun(t, "ts", "-verify", "-queryfile", "req.tsq", "-in", "resp.tsr", "-CAfile", "root.pem", "-untrusted", "untrusted.pem")
			if !strings.Contains(out, "Verification: OK") {
				t.Fatalf("verify with query:\n%s", out)
			}
			out = e.mustRun(t, "ts", "-verify", "-data", "data.txt", "-in", "resp.tsr", "-CAfile", "root.pem", "-untrusted", "untrusted.pem")
			if !strings.Contains(out, "Verification: OK") {
				t.Fatalf("verify with data:\n%s", out)
			}
			out, err := e.run(t, "ts", "-verify", "-data", "other.txt", "-in", "resp.tsr", "-CAfile", "root.pem", "-untrusted", "untrusted.pem")
			if err == nil || strings.Contains(out, "Verification: OK") || !strings.Contains(out, "Verification: FAILED") {
				t.Fatalf("verify with other data succeeded (%v):\n%s", err, out)
			}
		})
	}

	t.Run("token from Stamp", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(e.dir, "data.txt"))
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256(data)
		token, err := Stamp(t.Context(), e.srv.Client(), e.srv.URL, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.dir, "token.der"), token, 0o600); err != nil {
			t.Fatal(err)
		}
		out := e.mustRun(t, "ts", "-verify", "-token_in", "-data", "data.txt", "-in", "token.der", "-CAfile", "root.pem")
		if !strings.Contains(out, "Verification: OK") {
			t.Fatalf("verify Stamp token:\n%s", out)
		}
	})
}

// TestVerifyOpenSSLTokens checks Verify against tokens produced by OpenSSL's
// own TSA (`openssl ts -reply`), including fractional-second genTime.
func TestVerifyOpenSSLTokens(t *testing.T) {
	e := newOpenSSLEnv(t)
	keyDER, err := x509.MarshalPKCS8PrivateKey(e.pki.key)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"tsa.key":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"tsa.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.pki.tsa.Raw}),
		"chain.pem":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.pki.Issuer.Raw}),
		"ossl.serial": []byte("01\n"),
		"tsa.cnf": []byte(`[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = .
serial = ossl.serial
crypto_device = builtin
signer_cert = tsa.pem
certs = chain.pem
signer_key = tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500
clock_precision_digits = 3
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(e.dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(e.dir, "data.txt"))
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(data)
	e.mustRun(t, "ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "req.tsq")
	e.mustRun(t, "ts", "-reply", "-config", "tsa.cnf", "-queryfile", "req.tsq", "-token_out", "-out", "ossl.tsr")
	token, err := os.ReadFile(filepath.Join(e.dir, "ossl.tsr"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := Verify(token, d[:], crypto.SHA256, e.pki.Roots(), nil)
	if err != nil {
		t.Fatalf("Verify(OpenSSL token): %v", err)
	}
	// clock_precision_digits = 3: genTime carries milliseconds (trailing
	// zeros, and so the dot, are dropped when they are all zero).
	p, err := parseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	info, _, err := parseTSTInfo(p.content)
	if err != nil {
		t.Fatal(err)
	}
	if raw := string(info.GenTime.Bytes); strings.Contains(raw, ".") != (ts.Time.Nanosecond() != 0) {
		t.Errorf("genTime %q parsed as %v", raw, ts.Time)
	}
	if ts.Policy.String() != "1.2.3.4.1" || ts.Accuracy != 1500*time.Millisecond {
		t.Errorf("policy %v accuracy %v", ts.Policy, ts.Accuracy)
	}
	other := sha256.Sum256([]byte("other"))
	if _, err := Verify(token, other[:], crypto.SHA256, e.pki.Roots(), nil); err == nil {
		t.Fatal("Verify(OpenSSL token, other data) succeeded")
	}
}
