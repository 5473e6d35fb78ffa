package ocsp

import (
	"crypto/x509"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func TestFetch(t *testing.T) {
	f := newFixture(t, nil)
	f.src.set(101, CertStatus{Known: true, Revoked: true, RevokedAt: testNow.Add(-time.Minute), Reason: ocsp.CessationOfOperation})
	srv := httptest.NewServer(f.r)
	t.Cleanup(srv.Close)

	// A responder signing with a certificate that issuer signed but did
	// not authorise for OCSP (no OCSPSigning EKU).
	rogueKey := newKey(t)
	rogueCert := f.pki.responderCert(t, rogueKey, false)
	rogue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		der, err := ocsp.CreateResponse(f.pki.Issuer, rogueCert, ocsp.Response{
			Status: ocsp.Revoked, SerialNumber: big.NewInt(100), ThisUpdate: testNow, NextUpdate: testNow.Add(time.Hour),
			RevokedAt: testNow, Certificate: rogueCert,
		}, rogueKey)
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(der)
	}))
	t.Cleanup(rogue.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	htmlServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>captive portal</html>"))
	}))
	t.Cleanup(htmlServer.Close)

	other := newTestPKI(t, testNow)
	tests := []struct {
		name       string
		url        string
		cert       *x509.Certificate
		issuer     *x509.Certificate
		wantStatus int
		wantErr    string
	}{
		{name: "good", url: srv.URL, cert: f.good, issuer: f.pki.Issuer, wantStatus: ocsp.Good},
		{name: "revoked", url: srv.URL, cert: f.pki.leaf(t, 101), issuer: f.pki.Issuer, wantStatus: ocsp.Revoked},
		{name: "unknown", url: srv.URL, cert: f.absent, issuer: f.pki.Issuer, wantStatus: ocsp.Unknown},
		{name: "issuer mismatch", url: srv.URL, cert: f.good, issuer: f.pki.Root, wantErr: "not issued by issuer"},
		{name: "same name, other key", url: srv.URL, cert: other.leaf(t, 100), issuer: other.Issuer, wantErr: "unauthorized"},
		{name: "verifying against the wrong issuer key", url: srv.URL, cert: f.good, issuer: other.Issuer, wantErr: "unauthorized"},
		{name: "responder without OCSPSigning", url: rogue.URL, cert: f.good, issuer: f.pki.Issuer, wantErr: "OCSPSigning"},
		{name: "not an OCSP response", url: htmlServer.URL, cert: f.good, issuer: f.pki.Issuer, wantErr: "Content-Type"},
		{name: "HTTP error", url: failing.URL, cert: f.good, issuer: f.pki.Issuer, wantErr: "503"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw, err := Fetch(t.Context(), srv.Client(), tc.url, tc.cert, tc.issuer)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Fetch error = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if resp.Status != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.Status, tc.wantStatus)
			}
			if again, err := ParseResponse(raw, tc.cert, tc.issuer); err != nil || again.Status != resp.Status {
				t.Errorf("raw bytes do not re-parse: %v", err)
			}
			if err := VerifyFresh(resp, testNow, time.Hour); err != nil {
				t.Errorf("VerifyFresh: %v", err)
			}
		})
	}

	t.Run("tryLater is a ResponseError", func(t *testing.T) {
		f.src.setErr(errStorage)
		defer f.src.setErr(nil)
		_, _, err := Fetch(t.Context(), srv.Client(), srv.URL, f.pki.leaf(t, 102), f.pki.Issuer)
		var re ocsp.ResponseError
		if !errors.As(err, &re) || re.Status != ocsp.TryLater {
			t.Fatalf("Fetch error = %v, want ResponseError tryLater", err)
		}
	})
}

func TestVerifyFresh(t *testing.T) {
	p := newTestPKI(t, testNow)
	resp := func(thisUpdate, nextUpdate time.Time, cert *x509.Certificate) *ocsp.Response {
		return &ocsp.Response{ThisUpdate: thisUpdate, NextUpdate: nextUpdate, Certificate: cert}
	}
	tests := []struct {
		name    string
		resp    *ocsp.Response
		now     time.Time
		maxAge  time.Duration
		wantErr string
	}{
		{name: "fresh", resp: resp(testNow, testNow.Add(time.Hour), p.Responder), now: testNow.Add(time.Minute), maxAge: time.Hour},
		{name: "no NextUpdate", resp: resp(testNow, time.Time{}, nil), now: testNow.Add(time.Minute), maxAge: time.Hour},
		{name: "no age limit", resp: resp(testNow, time.Time{}, nil), now: testNow.Add(1000 * time.Hour)},
		{name: "small clock skew", resp: resp(testNow, testNow.Add(time.Hour), nil), now: testNow.Add(-time.Minute), maxAge: time.Hour},
		{name: "from the future", resp: resp(testNow, testNow.Add(time.Hour), nil), now: testNow.Add(-time.Hour), maxAge: time.Hour, wantErr: "future"},
		{name: "too old", resp: resp(testNow, testNow.Add(24*time.Hour), nil), now: testNow.Add(2 * time.Hour), maxAge: time.Hour, wantErr: "older than"},
		{name: "past NextUpdate", resp: resp(testNow, testNow.Add(time.Hour), nil), now: testNow.Add(time.Hour), maxAge: 2 * time.Hour, wantErr: "expired"},
		{name: "responder cert expired", resp: resp(testNow, testNow.Add(48*time.Hour), p.Responder), now: p.NotAfter.Add(time.Second), wantErr: "not valid"},
		{name: "nil", resp: nil, now: testNow, wantErr: "nil response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyFresh(tc.resp, tc.now, tc.maxAge)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("VerifyFresh: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("VerifyFresh error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestFetchSignedByIssuer covers responses signed by the CA key itself,
// which carry no certificate.
func TestFetchSignedByIssuer(t *testing.T) {
	f := newFixture(t, func(c *Config, p *testPKI) { c.ResponderCert, c.Signer = p.Issuer, p.IssuerKey })
	srv := httptest.NewServer(f.r)
	t.Cleanup(srv.Close)
	resp, _, err := Fetch(t.Context(), srv.Client(), srv.URL, f.good, f.pki.Issuer)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if resp.Status != ocsp.Good || resp.Certificate != nil {
		t.Fatalf("status %d, certificate %v; want good without certificate", resp.Status, resp.Certificate)
	}
}
