package mgmtproto_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/mgmtproto/mgmttest"
	"github.com/jisr-bus/jisr/internal/xerr"
)

// fakeCentral answers like the central server: 202 with a status for a
// POST with the right content type, the status for GET /…/7 when the client
// presented a certificate, and an X-Road error otherwise.
func fakeCentral(t *testing.T) (*httptest.Server, []byte) {
	t.Helper()
	cert, pin := mgmttest.ServerTLS(t, now)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /managementrequests", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p, err := mgmtproto.Parse(body)
		if err != nil || r.Header.Get("Content-Type") != mgmtproto.MediaType {
			xerr.Write(w, r, nil, xerr.New("Client.InvalidRequest", "bad request", err), "Server.InternalError")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(mgmtproto.Status{ID: 7, RequestID: p.Request.ID, Type: p.Request.Type, Status: mgmtproto.StatusPending})
	})
	mux.HandleFunc("GET /managementrequests/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "7" || len(r.TLS.PeerCertificates) == 0 {
			xerr.Write(w, r, nil, xerr.New("Server.ServerProxy.AccessDenied", "no", nil), "Server.InternalError")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(mgmtproto.Status{ID: 7, Status: mgmtproto.StatusApproved})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, pin
}

func TestClient(t *testing.T) {
	f := newFixture(t)
	srv, pin := fakeCentral(t)
	signed := mustSign(t, request(mgmtproto.TypeMaintenanceOn, nil), f.pki.Signer(f.sign, now))
	clk := clock.NewFake(now)

	// The global configuration's managementURL names the endpoint itself;
	// a URL without a path means the endpoint at the default path.
	for name, u := range map[string]string{"endpoint URL": srv.URL + mgmtproto.Path, "host URL": srv.URL} {
		t.Run("pinned/"+name, func(t *testing.T) {
			c := &mgmtproto.Client{URL: u, TrustedCerts: [][]byte{pin}, ClientCert: mgmttest.TLSCertificate(f.auth), Clock: clk}
			defer c.CloseIdleConnections()
			st, err := c.Submit(t.Context(), signed)
			if err != nil {
				t.Fatal(err)
			}
			if st.ID != 7 || st.Status != mgmtproto.StatusPending || st.Type != mgmtproto.TypeMaintenanceOn {
				t.Errorf("status %+v", st)
			}
			st, err = c.Status(t.Context(), 7)
			if err != nil || st.Status != mgmtproto.StatusApproved {
				t.Errorf("Status: %+v, %v", st, err)
			}
		})
	}
	t.Run("server error is an xerr.Error", func(t *testing.T) {
		c := &mgmtproto.Client{URL: srv.URL + "/", TrustedCerts: [][]byte{pin}, Clock: clk}
		defer c.CloseIdleConnections()
		_, err := c.Submit(t.Context(), []byte("{}"))
		var xe *xerr.Error
		if !errors.As(err, &xe) || xe.Code != "Client.InvalidRequest" || xe.Detail == "" {
			t.Fatalf("got %v", err)
		}
		// Without a client certificate the fake refuses the status query.
		if _, err := c.Status(t.Context(), 7); !errors.As(err, &xe) || xe.Code != "Server.ServerProxy.AccessDenied" {
			t.Fatalf("Status without client cert: %v", err)
		}
	})
	t.Run("another pin", func(t *testing.T) {
		_, other := mgmttest.ServerTLS(t, now)
		c := &mgmtproto.Client{URL: srv.URL, TrustedCerts: [][]byte{other}, Clock: clk}
		defer c.CloseIdleConnections()
		_, err := c.Submit(t.Context(), signed)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("got %v, want the central server's certificate refused", err)
		}
	})
	for name, c := range map[string]*mgmtproto.Client{
		"no pins":        {URL: srv.URL},
		"bad pin":        {URL: srv.URL, TrustedCerts: [][]byte{[]byte("abc")}},
		"plain http":     {URL: strings.Replace(srv.URL, "https:", "http:", 1), TrustedCerts: [][]byte{pin}},
		"relative url":   {URL: "/x", TrustedCerts: [][]byte{pin}},
		"url with query": {URL: srv.URL + "?a=b", TrustedCerts: [][]byte{pin}},
		"wrong path":     {URL: srv.URL + "/other", TrustedCerts: [][]byte{pin}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.Submit(t.Context(), signed); err == nil {
				t.Fatal("Submit succeeded")
			}
		})
	}
}
