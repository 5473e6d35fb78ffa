package ocsp

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/clock"
)

// BenchmarkRespond measures one POSTed OCSP request answered by the
// responder, with the answer cache on (the steady state of a responder) and
// off (every answer signed).
func BenchmarkRespond(b *testing.B) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	p := newTestPKI(b, now)
	leaf := p.leaf(b, 100)
	req, err := ocsp.CreateRequest(leaf, p.Issuer, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name     string
		cacheFor time.Duration
	}{{"cached", 15 * time.Minute}, {"signed", NoCache}} {
		b.Run(bc.name, func(b *testing.B) {
			r, err := New(Config{Issuer: p.Issuer, ResponderCert: p.Responder, Signer: p.ResponderKey,
				Source: newFakeSource(100), CacheFor: bc.cacheFor, Clock: clock.NewFake(now)})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				hr := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(req))
				hr.Header.Set("Content-Type", "application/ocsp-request")
				r.ServeHTTP(rec, hr)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
