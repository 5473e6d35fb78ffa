package mgmt_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jisr-bus/jisr/central/mgmt"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/mgmtproto/mgmttest"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/pki/profile"
)

// TestOverTLS runs the handler behind TLSConfig on loopback and talks to it
// with mgmtproto.Client, as a security server does.
func TestOverTLS(t *testing.T) {
	e := newEnv(t, true)
	cert, pin := mgmttest.ServerTLS(t, now)
	srv := httptest.NewUnstartedServer(e.p.Handler())
	srv.TLS = e.p.TLSConfig(cert)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := func(cc *tls.Certificate) *mgmtproto.Client {
		c := &mgmtproto.Client{URL: srv.URL + mgmtproto.Path, TrustedCerts: [][]byte{pin}, ClientCert: cc, Clock: e.clk}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	anon := client(nil)
	ss1c := client(mgmttest.TLSCertificate(e.authSS1))
	ss2c := client(mgmttest.TLSCertificate(e.authSS2))

	// ss2 registers its first authentication certificate without TLS
	// client authentication (it has no registered certificate yet).
	reg := e.request(mgmtproto.TypeAuthCertRegistration)
	st, err := anon.Submit(e.ctx, e.sign(reg))
	if err != nil {
		t.Fatalf("authCertRegistration: %v", err)
	}
	if st.Status != mgmtproto.StatusApproved || st.RequestID != reg.ID || st.Type != reg.Type || st.ID == 0 {
		t.Fatalf("status %+v", st)
	}

	// With that certificate registered, ss2 authenticates and registers a
	// client, then reads the request's status.
	cr := e.request(mgmtproto.TypeClientRegistration)
	cr.Server = ss2
	st, err = ss2c.Submit(e.ctx, e.sign(cr))
	if err != nil || st.Status != mgmtproto.StatusApproved {
		t.Fatalf("clientRegistration over mTLS: %+v, %v", st, err)
	}
	got, err := ss2c.Status(e.ctx, st.ID)
	if err != nil || got != st {
		t.Fatalf("Status: %+v, %v; want %+v", got, err, st)
	}

	refusals := []struct {
		name string
		call func() error
		want string // xerr code; "" for a TLS handshake failure
	}{
		{"non-registration request without client certificate", func() error {
			_, err := anon.Submit(e.ctx, e.sign(e.request(mgmtproto.TypeMaintenanceOn)))
			return err
		}, mgmt.CodeAccessDenied},
		{"request for another server", func() error {
			r := e.request(mgmtproto.TypeMaintenanceOn)
			r.Server = ss2
			_, err := ss1c.Submit(e.ctx, e.sign(r))
			return err
		}, mgmt.CodeAccessDenied},
		{"status without client certificate", func() error {
			_, err := anon.Status(e.ctx, st.ID)
			return err
		}, mgmt.CodeAccessDenied},
		{"status of another server's request", func() error {
			_, err := ss1c.Status(e.ctx, st.ID)
			return err
		}, mgmt.CodeAccessDenied},
		{"status of an unknown request", func() error {
			_, err := ss2c.Status(e.ctx, 4711)
			return err
		}, mgmt.CodeAccessDenied},
		{"unregistered auth certificate", func() error {
			_, err := client(mgmttest.TLSCertificate(e.issueAuth(ss1))).Submit(e.ctx, e.sign(e.request(mgmtproto.TypeMaintenanceOn)))
			return err
		}, ""},
		{"registered hash but unapproved CA", func() error {
			other := mgmttest.NewPKI(t, "XX", now)
			_, err := client(mgmttest.TLSCertificate(other.Issue(profile.Auth, ss1, now))).Status(e.ctx, st.ID)
			return err
		}, ""},
		{"sign certificate as client certificate", func() error {
			_, err := client(mgmttest.TLSCertificate(e.signMOI)).Status(e.ctx, st.ID)
			return err
		}, ""},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("succeeded")
			}
			if got := code(err); got != tc.want {
				t.Fatalf("got %v (code %q), want code %q", err, got, tc.want)
			}
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		hc := srv.Client()
		hc.Transport.(*http.Transport).TLSClientConfig.Time = e.clk.Now
		t.Cleanup(hc.CloseIdleConnections)
		resp, err := hc.Post(srv.URL+mgmtproto.Path, "application/json", bytes.NewReader(e.sign(e.request(mgmtproto.TypeAuthCertRegistration))))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(xerr.HeaderError) != mgmt.CodeInvalidRequest {
			t.Errorf("got %s %q", resp.Status, resp.Header.Get(xerr.HeaderError))
		}
	})

	t.Run("deregistered certificate on a kept-alive connection", func(t *testing.T) {
		// The handshake is not repeated on a kept-alive connection; the
		// handler checks the certificate against the registry again.
		if _, err := ss2c.Status(e.ctx, st.ID); err != nil {
			t.Fatal(err)
		}
		srv2, err := e.store.SecurityServer(e.ctx, ss2)
		e.must(err)
		e.must(e.store.DeleteAuthCert(e.ctx, ss2, srv2.AuthCerts[0].Hash))
		if _, err := ss2c.Status(e.ctx, st.ID); code(err) != mgmt.CodeAccessDenied {
			t.Fatalf("got %v, want %s", err, mgmt.CodeAccessDenied)
		}
	})
}
