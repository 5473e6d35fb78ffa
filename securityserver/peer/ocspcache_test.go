package peer

import (
	"crypto/x509"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/pki/profile"
)

// cacheFixture is an OCSP cache over env's configuration and one auth
// certificate to ask about.
type cacheFixture struct {
	*env
	cache *OCSPCache
	leaf  *x509.Certificate
}

func newCacheFixture(t *testing.T, responders ...string) *cacheFixture {
	t.Helper()
	e := newEnv(t)
	_, chain := e.pki.issue(t, profile.Auth, ssMOI, false)
	e.publish(t, nil, responders...)
	c, err := NewOCSPCache(OCSPCacheConfig{Docs: e.docs, HTTPClient: e.ocspClient, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	return &cacheFixture{env: e, cache: c, leaf: chain[0]}
}

func (f *cacheFixture) status(t *testing.T) (*ocsp.Response, error) {
	t.Helper()
	resp, der, err := f.cache.Status(t.Context(), f.leaf, f.pki.Issuer)
	if err == nil && len(der) == 0 {
		t.Fatal("Status returned a response without DER")
	}
	return resp, err
}

func TestOCSPCacheSharesConcurrentFetch(t *testing.T) {
	f := newCacheFixture(t)
	f.ocsp.gate = make(chan struct{})
	const n = 20
	var wg sync.WaitGroup
	results := make([]*ocsp.Response, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = f.status(t) })
	}
	close(f.ocsp.gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if results[i] != results[0] {
			t.Errorf("caller %d got another response than caller 0", i)
		}
	}
	if got := f.ocsp.hits.Load(); got != 1 {
		t.Errorf("%d OCSP requests for %d concurrent callers, want 1", got, n)
	}
}

func TestOCSPCacheRefetchesAfterHalfFreshness(t *testing.T) {
	f := newCacheFixture(t)
	steps := []struct {
		advance   time.Duration
		wantHits  int64
		wantThis  time.Time
		responder bool // false: responder down
		wantErr   error
	}{
		{0, 1, t0, true, nil},
		{freshness/2 - time.Second, 1, t0, true, nil},                                   // still younger than freshness/2: cached
		{time.Second, 2, t0.Add(freshness / 2), true, nil},                              // freshness/2 reached: fetched again
		{freshness / 2, 3, t0.Add(freshness / 2), false, nil},                           // fetch fails, cached one still fresh
		{time.Second, 3, t0.Add(freshness / 2), false, nil},                             // no new attempt before freshness/16
		{freshness / 16, 4, t0.Add(freshness / 2), false, nil},                          // attempt again, still fresh
		{freshness / 2, 5, time.Time{}, false, ErrOCSPUnavailable},                      // stale and responder down
		{0, 6, t0.Add(freshness + freshness/2 + freshness/16 + time.Second), true, nil}, // responder back
	}
	for i, s := range steps {
		f.clk.Add(s.advance)
		f.ocsp.down.Store(!s.responder)
		resp, err := f.status(t)
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("step %d: error %v, want %v", i, err, s.wantErr)
			}
		} else if err != nil {
			t.Fatalf("step %d: %v", i, err)
		} else if !resp.ThisUpdate.Equal(s.wantThis) {
			t.Errorf("step %d: thisUpdate %s, want %s", i, resp.ThisUpdate, s.wantThis)
		}
		if got := f.ocsp.hits.Load(); got != s.wantHits {
			t.Fatalf("step %d: %d OCSP requests, want %d", i, got, s.wantHits)
		}
	}
}

func TestOCSPCacheFailover(t *testing.T) {
	e := newEnv(t)
	// Nothing listens on port 1, and the canonical encoding sorts
	// responders by URL, so this one is asked first (ephemeral ports
	// start with 3 to 6).
	const dead = "http://127.0.0.1:1/ocsp"
	_, chain := e.pki.issue(t, profile.Auth, ssMOI, false)
	doc := e.publish(t, nil, e.ocsp.URL(), dead)
	if got := doc.ApprovedCAs[0].OCSPResponders[0].URL; got != dead {
		t.Fatalf("first responder %s, want %s", got, dead)
	}
	reg := prometheus.NewRegistry()
	c, err := NewOCSPCache(OCSPCacheConfig{Docs: e.docs, HTTPClient: e.ocspClient, Clock: e.clk, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := c.Status(t.Context(), chain[0], e.pki.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != ocsp.Good || e.ocsp.hits.Load() != 1 {
		t.Errorf("status %d after %d requests to the live responder, want good after 1", resp.Status, e.ocsp.hits.Load())
	}
	for outcome, want := range map[string]int{"error": 1, "good": 1} {
		if got := counterValue(reg, "jisr_ss_ocsp_fetches_total", map[string]string{"outcome": outcome}); got != want {
			t.Errorf("fetches{outcome=%q} = %d, want %d", outcome, got, want)
		}
	}
}

func TestOCSPCacheErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, f *cacheFixture) (cert, issuer *x509.Certificate)
		wantErr error
		again   int64 // OCSP requests expected after asking twice
	}{
		{"revoked, and cached as such", func(t *testing.T, f *cacheFixture) (*x509.Certificate, *x509.Certificate) {
			f.src.revoke(f.leaf)
			return f.leaf, f.pki.Issuer
		}, ErrRevoked, 1},
		{"status unknown, not cached", func(t *testing.T, f *cacheFixture) (*x509.Certificate, *x509.Certificate) {
			c := *f.leaf
			c.SerialNumber = big.NewInt(7) // never issued
			return &c, f.pki.Issuer
		}, ErrOCSPUnavailable, 2},
		{"responder down", func(t *testing.T, f *cacheFixture) (*x509.Certificate, *x509.Certificate) {
			f.ocsp.down.Store(true)
			return f.leaf, f.pki.Issuer
		}, ErrOCSPUnavailable, 2},
		{"issuer of no approved CA", func(t *testing.T, f *cacheFixture) (*x509.Certificate, *x509.Certificate) {
			_, chain := f.pki.issue(t, profile.Auth, ssMOI, true)
			return chain[0], f.pki.other
		}, ErrOCSPUnavailable, 0},
		{"no configuration", func(t *testing.T, f *cacheFixture) (*x509.Certificate, *x509.Certificate) {
			f.docs.fail(globalconf.ErrExpired)
			return f.leaf, f.pki.Issuer
		}, ErrNoConfiguration, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newCacheFixture(t)
			cert, issuer := tc.setup(t, f)
			for range 2 {
				_, _, err := f.cache.Status(t.Context(), cert, issuer)
				wantErr(t, err, tc.wantErr)
			}
			if got := f.ocsp.hits.Load(); got != tc.again {
				t.Errorf("%d OCSP requests, want %d", got, tc.again)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	now := t0
	tests := []struct {
		name    string
		resp    *ocsp.Response
		wantErr error
	}{
		{"good and fresh", &ocsp.Response{Status: ocsp.Good, ThisUpdate: now.Add(-freshness)}, nil},
		{"good but stale", &ocsp.Response{Status: ocsp.Good, ThisUpdate: now.Add(-freshness - time.Second)}, ErrOCSPUnavailable},
		{"good but past nextUpdate", &ocsp.Response{Status: ocsp.Good, ThisUpdate: now.Add(-time.Minute), NextUpdate: now}, ErrOCSPUnavailable},
		{"good but from the future", &ocsp.Response{Status: ocsp.Good, ThisUpdate: now.Add(time.Hour)}, ErrOCSPUnavailable},
		{"revoked", &ocsp.Response{Status: ocsp.Revoked, SerialNumber: big.NewInt(1), ThisUpdate: now}, ErrRevoked},
		{"revoked and stale", &ocsp.Response{Status: ocsp.Revoked, SerialNumber: big.NewInt(1), ThisUpdate: now.Add(-48 * time.Hour)}, ErrRevoked},
		{"unknown", &ocsp.Response{Status: ocsp.Unknown, SerialNumber: big.NewInt(1), ThisUpdate: now}, ErrOCSPUnavailable},
		{"nil", nil, ErrOCSPUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, Check(tc.resp, now, freshness), tc.wantErr)
		})
	}
}
