package peer

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/pki/profile"
)

func TestNewIdentityRefuses(t *testing.T) {
	e := newEnv(t)
	cache, err := NewOCSPCache(OCSPCacheConfig{Docs: e.docs, HTTPClient: e.ocspClient, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	authKey, authChain := e.pki.issue(t, profile.Auth, ssMOI, false)
	signKey, signChain := e.pki.issue(t, profile.Sign, moi, false)
	id, err := NewIdentity(authKey, authChain, cache, e.clk)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"NewIdentity with a sign certificate", func() error { _, err := NewIdentity(signKey, signChain, cache, e.clk); return err }},
		{"NewIdentity with another certificate's key", func() error { _, err := NewIdentity(signKey, authChain, cache, e.clk); return err }},
		{"NewIdentity without chain", func() error { _, err := NewIdentity(authKey, nil, cache, e.clk); return err }},
		{"NewIdentity without cache", func() error { _, err := NewIdentity(authKey, authChain, nil, e.clk); return err }},
		{"AddSignKey naming another member", func() error { return id.AddSignKey(moh, signKey, signChain) }},
		{"AddSignKey with an auth certificate", func() error { return id.AddSignKey(moi, authKey, authChain) }},
		{"SetAuth with a sign certificate", func() error { return id.SetAuth(signKey, signChain) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if id.AuthCertificate() != authChain[0] {
		t.Error("a refused SetAuth changed the certificate")
	}
}

func TestSignMaterial(t *testing.T) {
	e := newEnv(t)
	e.publish(t, nil)
	cache, err := NewOCSPCache(OCSPCacheConfig{Docs: e.docs, HTTPClient: e.ocspClient, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	authKey, authChain := e.pki.issue(t, profile.Auth, ssMOI, false)
	signKey, signChain := e.pki.issue(t, profile.Sign, moi, false)
	id, err := NewIdentity(authKey, authChain, cache, e.clk)
	if err != nil {
		t.Fatal(err)
	}
	if err := id.AddSignKey(moi, signKey, signChain); err != nil {
		t.Fatal(err)
	}

	_, _, _, err = id.SignMaterial(moi)
	wantErr(t, err, ErrOCSPUnavailable) // before the first Refresh: fail closed
	_, _, _, err = id.SignMaterial(moh)
	wantErr(t, err, ErrNoSignKey)
	if x := ToXRoad(err, ClientProxy); x.Code != xerr.PrefixSigner+CodeCannotCreateSignature {
		t.Errorf("ErrNoSignKey maps to %s", x.Code)
	}

	if err := id.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	key, chain, der, err := id.SignMaterial(moi)
	if err != nil {
		t.Fatal(err)
	}
	if key != signKey || len(chain) != 2 || chain[0] != signChain[0] || len(der) == 0 {
		t.Fatalf("SignMaterial returned key %v, %d certificates, %d bytes of OCSP", key, len(chain), len(der))
	}
	if got := id.TLSCertificate(); len(got.OCSPStaple) == 0 || !bytes.Equal(got.Certificate[0], authChain[0].Raw) {
		t.Error("TLSCertificate lacks the staple or the auth certificate")
	}

	// The response ages past freshness without a Refresh: fail closed.
	e.clk.Add(freshness + time.Second)
	_, _, _, err = id.SignMaterial(moi)
	wantErr(t, err, ErrOCSPUnavailable)
	if got := id.TLSCertificate(); len(got.OCSPStaple) != 0 {
		t.Error("TLSCertificate staples a stale response")
	}

	// Revoked: Refresh reports it for the sign certificate only, and the
	// material is withheld.
	e.src.revoke(signChain[0])
	err = id.Refresh(t.Context())
	wantErr(t, err, ErrRevoked)
	if !strings.Contains(err.Error(), "sign certificate of PS/GOV/MOI") {
		t.Errorf("Refresh error does not say which certificate: %v", err)
	}
	_, _, _, err = id.SignMaterial(moi)
	wantErr(t, err, ErrOCSPUnavailable)
	if len(id.TLSCertificate().OCSPStaple) == 0 {
		t.Error("auth staple lost though only the sign certificate was revoked")
	}
}

func TestSetAuth(t *testing.T) {
	w := newWorld(t)
	newKey, newChain := w.pki.issue(t, profile.Auth, ssMOH, false)
	if err := w.moh.identity.SetAuth(newKey, newChain); err != nil {
		t.Fatal(err)
	}
	if got := w.moh.identity.AuthCertificate(); got != newChain[0] {
		t.Fatal("AuthCertificate is not the new certificate")
	}
	// Not registered yet: the consumer refuses it.
	_, _, err := w.moi.get(t, w.moh)
	wantErr(t, err, ErrUnknownPeer)
	// Registered (as central approves the new certificate): accepted.
	w.publish(t, []registration{w.moi.registration(), {id: ssMOH, addrs: []string{w.moh.addr}, certs: newChain[:1]}})
	if err := w.moh.identity.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.moi.get(t, w.moh); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityMetrics(t *testing.T) {
	e := newEnv(t)
	e.publish(t, nil)
	cache, err := NewOCSPCache(OCSPCacheConfig{Docs: e.docs, HTTPClient: e.ocspClient, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	authKey, authChain := e.pki.issue(t, profile.Auth, ssMOI, false)
	id, err := NewIdentity(authKey, authChain, cache, e.clk)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(id)
	age := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
			t.Fatalf("gathered %v", mfs)
		}
		return mfs[0].GetMetric()[0].GetGauge().GetValue()
	}
	if got := age(); !math.IsInf(got, 1) {
		t.Errorf("age before Refresh = %v, want +Inf", got)
	}
	if err := id.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(90 * time.Second)
	if got := age(); got != 90 {
		t.Errorf("age = %v, want 90", got)
	}
}

func TestToXRoad(t *testing.T) {
	tests := []struct {
		err  error
		side Side
		want string
	}{
		{ErrNoConfiguration, ClientProxy, "Server.ClientProxy.OutdatedGlobalConf"},
		{ErrNoConfiguration, ServerProxy, "Server.ServerProxy.OutdatedGlobalConf"},
		{ErrUnknownPeer, ServerProxy, "Server.ServerProxy.SslAuthenticationFailed"},
		{ErrWrongPeer, ClientProxy, "Server.ClientProxy.SslAuthenticationFailed"},
		{ErrNotAuthCert, ServerProxy, "Server.ServerProxy.SslAuthenticationFailed"},
		{ErrUntrustedChain, ClientProxy, "Server.ClientProxy.CertValidation"},
		{ErrRevoked, ClientProxy, "Server.ClientProxy.CertValidation"},
		{ErrOCSPUnavailable, ServerProxy, "Server.ServerProxy.OcspFailed"},
		{errors.New("connection refused"), ClientProxy, "Server.ClientProxy.NetworkError"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			cause := errors.Join(errors.New("context"), tc.err)
			x := ToXRoad(cause, tc.side)
			if x.Code != tc.want {
				t.Errorf("code %s, want %s", x.Code, tc.want)
			}
			if !errors.Is(x, tc.err) {
				t.Error("cause not kept")
			}
			if strings.Contains(x.Message, "context") {
				t.Error("message leaks the cause")
			}
		})
	}
	if ToXRoad(nil, ClientProxy) != nil {
		t.Error("ToXRoad(nil) is not nil")
	}
	inner := xerr.New("Server.ServerProxy.AccessDenied", "denied", nil)
	if ToXRoad(inner, ClientProxy) != inner {
		t.Error("an *xerr.Error is not passed through")
	}
}

func TestRunStopsWithContext(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := w.moi.identity.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}
