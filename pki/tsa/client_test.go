package tsa

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

func TestStampAndVerify(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	d := sha256.Sum256([]byte("message log record 1"))
	other := sha256.Sum256([]byte("message log record 2"))

	token, err := Stamp(t.Context(), srv.Client(), srv.URL, d[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Stamp: %v", err)
	}
	// The digitorus parser must read our tokens too (it also checks the
	// signature with the embedded certificate).
	if dts, err := timestamp.Parse(token); err != nil || !bytes.Equal(dts.HashedMessage, d[:]) {
		t.Fatalf("timestamp.Parse: %v", err)
	}

	otherPKI := newTestPKI(t, testNow)
	tampered := bytes.Clone(token)
	tampered[len(tampered)-5] ^= 1 // inside the signature
	d384 := sha512.Sum384([]byte("message log record 1"))

	tests := []struct {
		name          string
		token         []byte
		digest        []byte
		hash          crypto.Hash
		roots         *x509.CertPool
		intermediates []*x509.Certificate
		wantErr       string
		wantIs        error
	}{
		{name: "valid", token: token, digest: d[:], hash: crypto.SHA256, roots: f.pki.Roots()},
		{name: "valid with redundant intermediates", token: token, digest: d[:], hash: crypto.SHA256, roots: f.pki.Roots(), intermediates: []*x509.Certificate{f.pki.Issuer}},
		{name: "different data", token: token, digest: other[:], hash: crypto.SHA256, roots: f.pki.Roots(), wantIs: ErrImprintMismatch},
		{name: "different hash", token: token, digest: d384[:], hash: crypto.SHA384, roots: f.pki.Roots(), wantIs: ErrImprintMismatch},
		{name: "untrusted root", token: token, digest: d[:], hash: crypto.SHA256, roots: otherPKI.Roots(), wantErr: "does not chain"},
		{name: "no roots", token: token, digest: d[:], hash: crypto.SHA256, wantErr: "root pool"},
		{name: "tampered signature", token: tampered, digest: d[:], hash: crypto.SHA256, roots: f.pki.Roots(), wantErr: "signature"},
		{name: "truncated", token: token[:len(token)-1], digest: d[:], hash: crypto.SHA256, roots: f.pki.Roots(), wantErr: "malformed"},
		{name: "not a token", token: []byte{0x30, 0x00}, digest: d[:], hash: crypto.SHA256, roots: f.pki.Roots(), wantErr: "malformed"},
		{name: "SHA-1 digest", token: token, digest: make([]byte, 20), hash: crypto.SHA1, roots: f.pki.Roots(), wantErr: "unsupported hash"},
		{name: "digest length", token: token, digest: d[:16], hash: crypto.SHA256, roots: f.pki.Roots(), wantErr: "needs 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := Verify(tc.token, tc.digest, tc.hash, tc.roots, tc.intermediates)
			switch {
			case tc.wantIs != nil:
				if !errors.Is(err, tc.wantIs) {
					t.Fatalf("Verify error = %v, want %v", err, tc.wantIs)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Verify error = %v, want containing %q", err, tc.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !ts.Time.Equal(testNow.Truncate(time.Second)) || ts.Nonce == nil || len(ts.Certificates) != 2 || !bytes.Equal(ts.RawToken, token) {
					t.Fatalf("unexpected token contents %+v", ts)
				}
			}
		})
	}

	t.Run("token outlives the TSA certificate", func(t *testing.T) {
		// Verification is as of genTime, so an archived token stays valid
		// after the TSA certificate expires.
		f.clk.Set(f.pki.NotAfter.Add(-time.Minute))
		defer f.clk.Set(testNow)
		late, err := Stamp(t.Context(), srv.Client(), srv.URL, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := Verify(late, d[:], crypto.SHA256, f.pki.Roots(), nil)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if !ts.Time.After(testNow) {
			t.Fatalf("genTime %v", ts.Time)
		}
	})
}

func TestVerifyWithoutEmbeddedCertificate(t *testing.T) {
	f := newFixture(t, nil)
	d := sha256.Sum256([]byte("x"))
	token, err := parseResponse(postQuery(t, f.s, query(t, oidSHA256, d[:], func(r *timeStampReq) { r.CertReq = false })).Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(token, d[:], crypto.SHA256, f.pki.Roots(), []*x509.Certificate{f.pki.Issuer}); err == nil || !strings.Contains(err.Error(), "neither in the token") {
		t.Fatalf("Verify without the TSA certificate: %v", err)
	}
	if _, err := Verify(token, d[:], crypto.SHA256, f.pki.Roots(), []*x509.Certificate{f.pki.tsa, f.pki.Issuer}); err != nil {
		t.Fatalf("Verify with the TSA certificate supplied: %v", err)
	}
}

// TestVerifyRejectsNonTSACertificate signs a token with a certificate that
// chains to the root but lacks the critical timeStamping EKU.
func TestVerifyRejectsNonTSACertificate(t *testing.T) {
	f := newFixture(t, nil)
	key := newKey(t)
	cert := f.pki.tsaCert(t, key, func(c *x509.Certificate) { c.ExtraExtensions = nil })
	d := sha256.Sum256([]byte("x"))
	s := f.s
	// Bypass New's check to model a misissued token.
	forged := *s
	forged.cert, forged.signer, forged.certReqAll = cert, key, []*x509.Certificate{cert, f.pki.Issuer}
	forged.essCertID, forged.tsaName = signingCertificateV2(cert), tsaGeneralName(cert)
	resp, rej := forged.handle(t.Context(), query(t, oidSHA256, d[:], nil))
	if rej != nil {
		t.Fatal(rej.text)
	}
	token, err := parseResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(token, d[:], crypto.SHA256, f.pki.Roots(), nil); err == nil || !strings.Contains(err.Error(), "timeStamping") {
		t.Fatalf("Verify = %v, want EKU failure", err)
	}
}

func TestStampFailures(t *testing.T) {
	f := newFixture(t, nil)
	d := sha256.Sum256([]byte("x"))

	// replay answers every request with the first reply it produced, so the
	// second Stamp sees a foreign nonce.
	var (
		mu    sync.Mutex
		saved []byte
	)
	replay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if saved == nil {
			rec := httptest.NewRecorder()
			f.s.ServeHTTP(rec, r)
			saved = rec.Body.Bytes()
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(saved)
	}))
	t.Cleanup(replay.Close)
	// swap returns a token for other data.
	swap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			t.Error(err)
			return
		}
		other := sha256.Sum256([]byte("other"))
		der := query(t, oidSHA256, other[:], func(q *timeStampReq) { q.Nonce = req.Nonce })
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(postQuery(t, f.s, der).Body.Bytes())
	}))
	t.Cleanup(swap.Close)
	broken := newFixture(t, nil)
	broken.serials.err = errDisk
	brokenSrv := httptest.NewServer(broken.s)
	t.Cleanup(brokenSrv.Close)
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>"))
	}))
	t.Cleanup(html.Close)

	if _, err := Stamp(t.Context(), nil, replay.URL, d[:], crypto.SHA256); err != nil {
		t.Fatalf("first Stamp through replay: %v", err)
	}
	tests := []struct {
		name    string
		url     string
		wantErr string
		wantSE  timestamp.FailureInfo
	}{
		{name: "replayed nonce", url: replay.URL, wantErr: "nonce"},
		{name: "token for other data", url: swap.URL, wantErr: "different data"},
		{name: "system failure", url: brokenSrv.URL, wantSE: timestamp.SystemFailure},
		{name: "not a TSA", url: html.URL, wantErr: "Content-Type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Stamp(t.Context(), nil, tc.url, d[:], crypto.SHA256)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Stamp error = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || se.FailureInfo != tc.wantSE || se.Status != timestamp.Rejection {
				t.Fatalf("Stamp error = %v, want StatusError %v", err, tc.wantSE)
			}
		})
	}
	t.Run("bad digest", func(t *testing.T) {
		if _, err := Stamp(t.Context(), nil, replay.URL, d[:20], crypto.SHA256); err == nil {
			t.Fatal("Stamp accepted a 20-byte SHA-256 digest")
		}
	})
}
