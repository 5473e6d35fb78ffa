package ocsp

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/clock"
)

var testNow = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

type fixture struct {
	pki    *testPKI
	src    *fakeSource
	clk    *clock.Fake
	reg    *prometheus.Registry
	r      *Responder
	good   *x509.Certificate // serial 100, known
	absent *x509.Certificate // serial 999, never recorded by the source
}

func newFixture(t testing.TB, mutate func(*Config, *testPKI)) *fixture {
	t.Helper()
	p := newTestPKI(t, testNow)
	f := &fixture{
		pki:    p,
		src:    newFakeSource(100, 101),
		clk:    clock.NewFake(testNow),
		reg:    prometheus.NewRegistry(),
		good:   p.leaf(t, 100),
		absent: p.leaf(t, 999),
	}
	cfg := Config{
		Issuer:        p.Issuer,
		ResponderCert: p.Responder,
		Signer:        p.ResponderKey,
		Source:        f.src,
		Validity:      time.Hour,
		CacheFor:      10 * time.Minute,
		Clock:         f.clk,
		Registerer:    f.reg,
	}
	if mutate != nil {
		mutate(&cfg, p)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	return f
}

func ocspRequest(t testing.TB, cert, issuer *x509.Certificate, h crypto.Hash) []byte {
	t.Helper()
	der, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func post(t testing.TB, h http.Handler, der []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(der))
	req.Header.Set("Content-Type", "application/ocsp-request")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func get(t testing.TB, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func getPath(prefix string, der []byte) string {
	return prefix + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(der))
}

// counter reads jisr_pki_ocsp_responses_total{status}.
func counter(t testing.TB, reg *prometheus.Registry, status string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "jisr_pki_ocsp_responses_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "status" && l.GetValue() == status {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no counter for status %q", status)
	return 0
}

func TestNew(t *testing.T) {
	p := newTestPKI(t, testNow)
	otherKey := newKey(t)
	noEKU := p.responderCert(t, otherKey, false)
	leaf := p.leaf(t, 5)
	base := func() Config {
		return Config{Issuer: p.Issuer, ResponderCert: p.Responder, Signer: p.ResponderKey, Source: newFakeSource()}
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "delegated responder", mutate: func(*Config) {}},
		{name: "issuer signs itself", mutate: func(c *Config) { c.ResponderCert, c.Signer = p.Issuer, p.IssuerKey }},
		{name: "cache disabled", mutate: func(c *Config) { c.CacheFor = NoCache }},
		{name: "missing source", mutate: func(c *Config) { c.Source = nil }, wantErr: "required"},
		{name: "missing issuer", mutate: func(c *Config) { c.Issuer = nil }, wantErr: "required"},
		{name: "issuer not a CA", mutate: func(c *Config) { c.Issuer = leaf }, wantErr: "not a CA"},
		{name: "responder without OCSPSigning", mutate: func(c *Config) { c.ResponderCert, c.Signer = noEKU, otherKey }, wantErr: "OCSPSigning"},
		{name: "responder from another CA", mutate: func(c *Config) { c.ResponderCert, c.Signer = p.Root, p.RootKey }, wantErr: "not issued by Issuer"},
		{name: "signer does not match", mutate: func(c *Config) { c.Signer = otherKey }, wantErr: "does not hold the key"},
		{name: "cache longer than validity", mutate: func(c *Config) { c.Validity, c.CacheFor = time.Minute, time.Hour }, wantErr: "shorter than Validity"},
		{name: "negative validity", mutate: func(c *Config) { c.Validity = -time.Minute }, wantErr: "negative Validity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mutate(&cfg)
			_, err := New(cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}

	t.Run("duplicate registration", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		cfg := base()
		cfg.Registerer = reg
		if _, err := New(cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := New(cfg); err == nil {
			t.Fatal("second New on the same registry succeeded")
		}
	})
}

func TestResponder(t *testing.T) {
	revokedAt := testNow.Add(-30 * time.Minute)
	f := newFixture(t, nil)
	f.src.set(101, CertStatus{Known: true, Revoked: true, RevokedAt: revokedAt, Reason: ocsp.KeyCompromise})
	revoked := f.pki.leaf(t, 101)
	// A certificate with the same issuer name but another key: wrong issuer.
	other := newTestPKI(t, testNow)
	foreign := other.leaf(t, 100)

	tests := []struct {
		name       string
		get        bool
		der        []byte
		rawPath    string // GET path instead of one built from der
		wantOCSP   ocsp.ResponseStatus
		wantStatus int // ocsp.Good/Revoked/Unknown when wantOCSP is Success
		wantHash   crypto.Hash
		wantLabel  string
	}{
		{name: "good POST SHA-1", der: ocspRequest(t, f.good, f.pki.Issuer, crypto.SHA1), wantStatus: ocsp.Good, wantHash: crypto.SHA1, wantLabel: statusGood},
		{name: "good POST SHA-256", der: ocspRequest(t, f.good, f.pki.Issuer, crypto.SHA256), wantStatus: ocsp.Good, wantHash: crypto.SHA256, wantLabel: statusGood},
		{name: "good GET SHA-256", get: true, der: ocspRequest(t, f.good, f.pki.Issuer, crypto.SHA256), wantStatus: ocsp.Good, wantHash: crypto.SHA256, wantLabel: statusGood},
		{name: "good GET SHA-512", get: true, der: ocspRequest(t, f.good, f.pki.Issuer, crypto.SHA512), wantStatus: ocsp.Good, wantHash: crypto.SHA512, wantLabel: statusGood},
		{name: "revoked POST", der: ocspRequest(t, revoked, f.pki.Issuer, crypto.SHA1), wantStatus: ocsp.Revoked, wantHash: crypto.SHA1, wantLabel: statusRevoked},
		{name: "revoked GET", get: true, der: ocspRequest(t, revoked, f.pki.Issuer, crypto.SHA1), wantStatus: ocsp.Revoked, wantHash: crypto.SHA1, wantLabel: statusRevoked},
		{name: "unknown serial", der: ocspRequest(t, f.absent, f.pki.Issuer, crypto.SHA1), wantStatus: ocsp.Unknown, wantHash: crypto.SHA1, wantLabel: statusUnknown},
		{name: "wrong issuer POST", der: ocspRequest(t, foreign, other.Issuer, crypto.SHA1), wantOCSP: ocsp.Unauthorized, wantLabel: statusUnauthorized},
		{name: "wrong issuer GET SHA-256", get: true, der: ocspRequest(t, foreign, other.Issuer, crypto.SHA256), wantOCSP: ocsp.Unauthorized, wantLabel: statusUnauthorized},
		{name: "garbage POST", der: []byte("not an OCSP request"), wantOCSP: ocsp.Malformed, wantLabel: statusMalformed},
		{name: "empty POST", der: []byte{}, wantOCSP: ocsp.Malformed, wantLabel: statusMalformed},
		{name: "trailing data", der: append(ocspRequest(t, f.good, f.pki.Issuer, crypto.SHA1), 0), wantOCSP: ocsp.Malformed, wantLabel: statusMalformed},
		{name: "oversized POST", der: make([]byte, MaxRequestSize+1), wantOCSP: ocsp.Malformed, wantLabel: statusMalformed},
		{name: "GET bad base64", get: true, rawPath: "/%21%21%21", wantOCSP: ocsp.Malformed, wantLabel: statusMalformed},
		{name: "GET empty", get: true, rawPath: "/", wantOCSP: ocsp.Malformed, wantLabel: statusMalformed},
		{name: "GET unpadded base64", get: true,
			rawPath:  "/" + strings.TrimRight(base64.StdEncoding.EncodeToString(ocspRequest(t, f.good, f.pki.Issuer, crypto.SHA1)), "="),
			wantHash: crypto.SHA1, wantStatus: ocsp.Good, wantLabel: statusGood},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := counter(t, f.reg, tc.wantLabel)
			var rec *httptest.ResponseRecorder
			if tc.get {
				path := tc.rawPath
				if path == "" {
					path = getPath("", tc.der)
				}
				rec = get(t, f.r, path)
			} else {
				rec = post(t, f.r, tc.der)
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("HTTP status %d: %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/ocsp-response" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := counter(t, f.reg, tc.wantLabel); got != before+1 {
				t.Errorf("counter{status=%q} = %v, want %v", tc.wantLabel, got, before+1)
			}
			resp, err := ocsp.ParseResponse(rec.Body.Bytes(), f.pki.Issuer)
			if tc.wantOCSP != ocsp.Success {
				var re ocsp.ResponseError
				if !errors.As(err, &re) || re.Status != tc.wantOCSP {
					t.Fatalf("ParseResponse error = %v, want OCSP status %v", err, tc.wantOCSP)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if resp.Status != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.Status, tc.wantStatus)
			}
			if resp.IssuerHash != tc.wantHash {
				t.Errorf("IssuerHash = %v, want %v", resp.IssuerHash, tc.wantHash)
			}
			if !resp.ThisUpdate.Equal(testNow) || !resp.NextUpdate.Equal(testNow.Add(time.Hour)) {
				t.Errorf("ThisUpdate/NextUpdate = %v/%v", resp.ThisUpdate, resp.NextUpdate)
			}
			if resp.Certificate == nil || !bytes.Equal(resp.Certificate.Raw, f.pki.Responder.Raw) {
				t.Error("delegated responder certificate not included")
			}
			if tc.wantStatus == ocsp.Revoked && (!resp.RevokedAt.Equal(revokedAt) || resp.RevocationReason != ocsp.KeyCompromise) {
				t.Errorf("revocation = %v/%d, want %v/%d", resp.RevokedAt, resp.RevocationReason, revokedAt, ocsp.KeyCompromise)
			}
			if tc.get {
				if cc := rec.Header().Get("Cache-Control"); !strings.HasPrefix(cc, "max-age=3600,") {
					t.Errorf("Cache-Control = %q, want max-age=3600", cc)
				}
			} else if cc := rec.Header().Get("Cache-Control"); cc != "" {
				t.Errorf("POST Cache-Control = %q, want none", cc)
			}
		})
	}
}

func TestResponderTryLater(t *testing.T) {
	f := newFixture(t, nil)
	f.src.setErr(errStorage)
	rec := post(t, f.r, ocspRequest(t, f.good, f.pki.Issuer, crypto.SHA1))
	_, err := ocsp.ParseResponse(rec.Body.Bytes(), f.pki.Issuer)
	var re ocsp.ResponseError
	if !errors.As(err, &re) || re.Status != ocsp.TryLater {
		t.Fatalf("got %v, want tryLater", err)
	}
	if got := counter(t, f.reg, statusError); got != 1 {
		t.Errorf("error counter = %v, want 1", got)
	}
	// The failure is not cached: once storage is back, the answer is good.
	f.src.setErr(nil)
	rec = post(t, f.r, ocspRequest(t, f.good, f.pki.Issuer, crypto.SHA1))
	if resp, err := ocsp.ParseResponse(rec.Body.Bytes(), f.pki.Issuer); err != nil || resp.Status != ocsp.Good {
		t.Fatalf("after recovery: %v, %v", resp, err)
	}
}

func TestResponderHTTP(t *testing.T) {
	f := newFixture(t, func(c *Config, _ *testPKI) { c.Prefix = "/ocsp/" })
	der := ocspRequest(t, f.good, f.pki.Issuer, crypto.SHA1)
	tests := []struct {
		name     string
		method   string
		path     string
		ct       string
		body     []byte
		wantCode int
	}{
		{name: "GET under prefix", method: http.MethodGet, path: getPath("/ocsp", der), wantCode: http.StatusOK},
		{name: "GET with double slash", method: http.MethodGet, path: "/ocsp/" + getPath("", der), wantCode: http.StatusOK},
		{name: "GET outside prefix", method: http.MethodGet, path: getPath("/other", der), wantCode: http.StatusNotFound},
		{name: "GET prefix lookalike", method: http.MethodGet, path: getPath("/ocspx", der), wantCode: http.StatusNotFound},
		{name: "POST without Content-Type", method: http.MethodPost, path: "/ocsp", body: der, wantCode: http.StatusOK},
		{name: "POST wrong Content-Type", method: http.MethodPost, path: "/ocsp", ct: "text/plain", body: der, wantCode: http.StatusUnsupportedMediaType},
		{name: "PUT", method: http.MethodPut, path: "/ocsp", body: der, wantCode: http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			rec := httptest.NewRecorder()
			f.r.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("HTTP status = %d, want %d (%s)", rec.Code, tc.wantCode, rec.Body)
			}
			if tc.wantCode == http.StatusOK {
				if resp, err := ocsp.ParseResponse(rec.Body.Bytes(), f.pki.Issuer); err != nil || resp.Status != ocsp.Good {
					t.Fatalf("response %v, %v", resp, err)
				}
			}
		})
	}
}

// statusOf POSTs a SHA-1 request for cert and returns the parsed response.
func (f *fixture) statusOf(t testing.TB, cert *x509.Certificate) *ocsp.Response {
	t.Helper()
	rec := post(t, f.r, ocspRequest(t, cert, f.pki.Issuer, crypto.SHA1))
	resp, err := ocsp.ParseResponse(rec.Body.Bytes(), f.pki.Issuer)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	return resp
}

func TestResponderCache(t *testing.T) {
	revoke := CertStatus{Known: true, Revoked: true, RevokedAt: testNow, Reason: ocsp.Superseded}
	tests := []struct {
		name string
		// step runs after a first "good" answer and after the source has
		// marked serial 100 revoked; it returns the expected status.
		cacheFor time.Duration
		step     func(f *fixture)
		want     int
	}{
		{name: "cached answer survives a silent change", cacheFor: 10 * time.Minute, step: func(*fixture) {}, want: ocsp.Good},
		{name: "Invalidate makes revocation visible", cacheFor: 10 * time.Minute, step: func(f *fixture) { f.r.Invalidate(big.NewInt(100)) }, want: ocsp.Revoked},
		{name: "Invalidate of another serial keeps answer", cacheFor: 10 * time.Minute, step: func(f *fixture) { f.r.Invalidate(big.NewInt(101)) }, want: ocsp.Good},
		{name: "entry expires after CacheFor", cacheFor: 10 * time.Minute, step: func(f *fixture) { f.clk.Add(10 * time.Minute) }, want: ocsp.Revoked},
		{name: "entry alive just before CacheFor", cacheFor: 10 * time.Minute, step: func(f *fixture) { f.clk.Add(10*time.Minute - time.Second) }, want: ocsp.Good},
		{name: "NoCache", cacheFor: NoCache, step: func(*fixture) {}, want: ocsp.Revoked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config, _ *testPKI) { c.CacheFor = tc.cacheFor })
			if got := f.statusOf(t, f.good).Status; got != ocsp.Good {
				t.Fatalf("first status = %d, want good", got)
			}
			f.src.set(100, revoke)
			tc.step(f)
			if got := f.statusOf(t, f.good).Status; got != tc.want {
				t.Fatalf("status = %d, want %d", got, tc.want)
			}
		})
	}

	t.Run("per hash algorithm and Invalidate drops all", func(t *testing.T) {
		f := newFixture(t, nil)
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			post(t, f.r, ocspRequest(t, f.good, f.pki.Issuer, h))
		}
		if n := f.src.callCount(); n != 2 {
			t.Fatalf("source calls = %d, want 2 (one per CertID hash)", n)
		}
		f.r.Invalidate(big.NewInt(100))
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			post(t, f.r, ocspRequest(t, f.good, f.pki.Issuer, h))
		}
		if n := f.src.callCount(); n != 4 {
			t.Fatalf("source calls = %d, want 4", n)
		}
	})

	t.Run("unknown answers are not cached", func(t *testing.T) {
		f := newFixture(t, nil)
		if got := f.statusOf(t, f.absent).Status; got != ocsp.Unknown {
			t.Fatalf("status = %d, want unknown", got)
		}
		f.src.set(999, CertStatus{Known: true}) // the CA issues serial 999
		if got := f.statusOf(t, f.absent).Status; got != ocsp.Good {
			t.Fatalf("status = %d, want good", got)
		}
	})

	t.Run("revocation racing with a lookup is not hidden", func(t *testing.T) {
		f := newFixture(t, nil)
		// The CA revokes and invalidates while the responder is between
		// reading the old status and caching it.
		f.src.during = func() {
			f.src.during = nil
			f.src.set(100, revoke)
			f.r.Invalidate(big.NewInt(100))
		}
		if got := f.statusOf(t, f.good).Status; got != ocsp.Good {
			t.Fatalf("in-flight status = %d, want good (read before revocation)", got)
		}
		if got := f.statusOf(t, f.good).Status; got != ocsp.Revoked {
			t.Fatalf("status after racing revocation = %d, want revoked", got)
		}
	})

	t.Run("GET max-age counts down with cached answer", func(t *testing.T) {
		f := newFixture(t, nil)
		path := getPath("", ocspRequest(t, f.good, f.pki.Issuer, crypto.SHA1))
		first := get(t, f.r, path)
		f.clk.Add(5 * time.Minute)
		second := get(t, f.r, path)
		if !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) {
			t.Fatal("second GET was not served from cache")
		}
		for _, tc := range []struct {
			rec  *httptest.ResponseRecorder
			want string
		}{{first, "max-age=3600,"}, {second, "max-age=3300,"}} {
			if cc := tc.rec.Header().Get("Cache-Control"); !strings.HasPrefix(cc, tc.want) {
				t.Errorf("Cache-Control = %q, want prefix %q", cc, tc.want)
			}
		}
		if got, want := second.Header().Get("Expires"), testNow.Add(time.Hour).Format(http.TimeFormat); got != want {
			t.Errorf("Expires = %q, want %q", got, want)
		}
	})

	t.Run("bounded size", func(t *testing.T) {
		f := newFixture(t, func(c *Config, _ *testPKI) { c.MaxCacheEntries = 1 })
		f.src.set(102, CertStatus{Known: true})
		second := f.pki.leaf(t, 102)
		f.statusOf(t, f.good) // cached
		f.statusOf(t, second) // cache full: not cached
		f.statusOf(t, second)
		if n := f.src.callCount(); n != 3 {
			t.Fatalf("source calls = %d, want 3", n)
		}
		f.clk.Add(10 * time.Minute) // first entry expires and is swept
		f.statusOf(t, second)
		f.statusOf(t, second)
		if n := f.src.callCount(); n != 4 {
			t.Fatalf("source calls = %d, want 4", n)
		}
	})
}
