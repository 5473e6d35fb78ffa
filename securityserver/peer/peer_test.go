package peer

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/globalconf"
	pkiocsp "github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
)

// world is two registered security servers, MOI's and MOH's, with fresh
// OCSP status for their own certificates.
type world struct {
	*env
	moi, moh *node
}

func newWorld(t *testing.T) *world {
	t.Helper()
	e := newEnv(t)
	w := &world{env: e, moi: e.newNode(t, ssMOI, nodeOpt{}), moh: e.newNode(t, ssMOH, nodeOpt{})}
	e.publish(t, []registration{w.moi.registration(), w.moh.registration()})
	for _, n := range []*node{w.moi, w.moh} {
		if err := n.identity.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func TestExchangeBothDirections(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name     string
		from, to *node
	}{
		{"MOI to MOH", w.moi, w.moh},
		{"MOH to MOI", w.moh, w.moi},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, resp, err := tc.from.get(t, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || body != tc.from.id.String() {
				t.Fatalf("provider answered %d %q, want 200 %q", resp.StatusCode, body, tc.from.id)
			}
			if err := tc.from.tr.CheckPeer(resp, tc.to.id); err != nil {
				t.Errorf("CheckPeer(%s): %v", tc.to.id, err)
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tc.to.url(), strings.NewReader("payload"))
			resp, err = tc.from.tr.Do(req, tc.to.id)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			_ = resp.Body.Close()
		})
	}
}

// TestConnectionReuse proves that exchanges share one connection: 50
// sequential requests cost one TCP connection and one TLS handshake on
// each side, over HTTP/2.
func TestConnectionReuse(t *testing.T) {
	w := newWorld(t)
	const n = 50
	for i := range n {
		body, resp, err := w.moi.get(t, w.moh)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if body != ssMOI.String() {
			t.Fatalf("request %d: body %q", i, body)
		}
		if resp.ProtoMajor != 2 || resp.TLS.NegotiatedProtocol != "h2" {
			t.Fatalf("request %d: protocol %s (ALPN %q), want HTTP/2", i, resp.Proto, resp.TLS.NegotiatedProtocol)
		}
		if resp.TLS.Version != tls.VersionTLS13 {
			t.Fatalf("request %d: TLS version %#x", i, resp.TLS.Version)
		}
	}
	if got := w.moh.ln.accepted.Load(); got != 1 {
		t.Errorf("provider accepted %d connections for %d requests, want 1", got, n)
	}
	if got := w.moh.handshakes("server", "ok"); got != 1 {
		t.Errorf("provider completed %d handshakes, want 1", got)
	}
	if got := w.moi.handshakes("client", "ok"); got != 1 {
		t.Errorf("consumer completed %d handshakes, want 1", got)
	}
	if got := w.moh.served.Load(); got != n {
		t.Errorf("provider served %d requests, want %d", got, n)
	}
}

// TestConfigurationChangeRenewsConnections: a new configuration serial
// gives a new pool, so the next exchange is admitted under the new
// document.
func TestConfigurationChangeRenewsConnections(t *testing.T) {
	w := newWorld(t)
	if _, _, err := w.moi.get(t, w.moh); err != nil {
		t.Fatal(err)
	}
	w.publish(t, []registration{w.moi.registration(), w.moh.registration()})
	if _, _, err := w.moi.get(t, w.moh); err != nil {
		t.Fatal(err)
	}
	if got := w.moh.ln.accepted.Load(); got != 2 {
		t.Errorf("provider accepted %d connections across two serials, want 2", got)
	}
	// MOH is deregistered: the pool of the new serial refuses it.
	w.publish(t, []registration{w.moi.registration()})
	_, _, err := w.moi.get(t, w.moh)
	wantErr(t, err, ErrUnknownPeer)
}

// TestRefused covers every reason a peer is refused. Refusals the provider
// makes are checked on its handshake counter (the consumer only sees a TLS
// alert); refusals the consumer makes are checked by error.
func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, w *world)
	}{
		{"client certificate not registered", func(t *testing.T, w *world) {
			mof := w.newNode(t, ssMOF, nodeOpt{})
			_, _, err := mof.get(t, w.moh)
			if err == nil {
				t.Fatal("unregistered consumer was served")
			}
			if got := w.moh.handshakes("server", "unknown_peer"); got != 1 {
				t.Errorf("provider unknown_peer refusals = %d, want 1", got)
			}
			if w.moh.served.Load() != 0 {
				t.Error("handler ran for an unregistered consumer")
			}
		}},
		{"server certificate not registered", func(t *testing.T, w *world) {
			mof := w.newNode(t, ssMOF, nodeOpt{})
			_, _, err := w.moi.get(t, mof)
			wantErr(t, err, ErrUnknownPeer)
			if got := w.moi.handshakes("client", "unknown_peer"); got != 1 {
				t.Errorf("consumer unknown_peer refusals = %d, want 1", got)
			}
		}},
		{"server registered under another certificate", func(t *testing.T, w *world) {
			// MOH's address now answers with a new, unregistered certificate
			// for the same server.
			_, chain := w.pki.issue(t, profile.Auth, ssMOH, false)
			w.publish(t, []registration{w.moi.registration(), {id: ssMOH, addrs: []string{w.moh.addr}, certs: chain[:1]}})
			_, _, err := w.moi.get(t, w.moh)
			wantErr(t, err, ErrUnknownPeer)
		}},
		{"server certificate from an unapproved CA", func(t *testing.T, w *world) {
			rogue := w.newNode(t, ssMOF, nodeOpt{unapproved: true})
			w.publish(t, []registration{w.moi.registration(), w.moh.registration(), rogue.registration()})
			_, _, err := w.moi.get(t, rogue)
			wantErr(t, err, ErrUntrustedChain)
		}},
		{"client certificate from an unapproved CA", func(t *testing.T, w *world) {
			rogue := w.newNode(t, ssMOF, nodeOpt{unapproved: true})
			w.publish(t, []registration{w.moi.registration(), w.moh.registration(), rogue.registration()})
			c := rawClient(t, w.env, rogue.key, rogue.chain, 0)
			if _, err := c.Get(w.moh.url()); err == nil {
				t.Fatal("consumer with an unapproved certificate was served")
			}
			if w.moh.served.Load() != 0 {
				t.Error("handler ran")
			}
		}},
		{"sign certificate presented as client certificate", func(t *testing.T, w *world) {
			key, chain := w.pki.issue(t, profile.Sign, moi, false)
			c := rawClient(t, w.env, key, chain, 0)
			if _, err := c.Get(w.moh.url()); err == nil {
				t.Fatal("consumer with a sign certificate was served")
			}
			if got := w.moh.handshakes("server", "not_auth_cert"); got != 1 {
				t.Errorf("provider not_auth_cert refusals = %d, want 1", got)
			}
		}},
		{"sign certificate presented as server certificate", func(t *testing.T, w *world) {
			key, chain := w.pki.issue(t, profile.Sign, mof, false)
			addr := serveRaw(t, w.env, key, chain)
			w.publish(t, []registration{w.moi.registration(), w.moh.registration(),
				{id: ssMOF, addrs: []string{addr}, certs: chain[:1]}})
			// Over the wire, host name verification refuses it first: a sign
			// certificate carries no DNS names or IP addresses.
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+addr+"/", nil)
			_, err := w.moi.tr.RoundTrip(req)
			wantErr(t, err, ErrWrongPeer)
			// Go's chain verification alone would accept it (no ExtKeyUsage
			// means any usage); the profile check does not.
			doc, err := w.docs.Current()
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.moi.tr.v.identify(doc, chain, x509.ExtKeyUsageServerAuth)
			wantErr(t, err, ErrNotAuthCert)
		}},
		{"server certificate revoked", func(t *testing.T, w *world) {
			mof := w.newNode(t, ssMOF, nodeOpt{})
			w.src.revoke(mof.chain[0])
			w.publish(t, []registration{w.moi.registration(), mof.registration()})
			wantErr(t, mof.identity.Refresh(t.Context()), ErrRevoked)
			_, _, err := w.moi.get(t, mof)
			wantErr(t, err, ErrRevoked)
		}},
		{"client certificate revoked", func(t *testing.T, w *world) {
			// Revoked before its Refresh, so it has no staple to show and
			// the provider asks the responder.
			mof := w.newNode(t, ssMOF, nodeOpt{})
			w.src.revoke(mof.chain[0])
			w.publish(t, []registration{w.moh.registration(), mof.registration()})
			wantErr(t, mof.identity.Refresh(t.Context()), ErrRevoked)
			if _, _, err := mof.get(t, w.moh); err == nil {
				t.Fatal("revoked consumer was served")
			}
			if got := w.moh.handshakes("server", "revoked"); got != 1 {
				t.Errorf("provider revoked refusals = %d, want 1", got)
			}
		}},
		{"client certificate revoked, stale staple", func(t *testing.T, w *world) {
			// MOI revoked after its last Refresh: its staple protects it
			// only until it goes stale.
			w.src.revoke(w.moi.chain[0])
			w.clk.Add(freshness + time.Second)
			if err := w.moh.identity.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, _, err := w.moi.get(t, w.moh); err == nil {
				t.Fatal("revoked consumer was served")
			}
			if got := w.moh.handshakes("server", "revoked"); got != 1 {
				t.Errorf("provider revoked refusals = %d, want 1", got)
			}
		}},
		{"OCSP responder down and cached status stale", func(t *testing.T, w *world) {
			w.ocsp.down.Store(true)
			w.clk.Add(freshness + time.Minute)
			_, _, err := w.moi.get(t, w.moh)
			wantErr(t, err, ErrOCSPUnavailable)
			// A consumer that does not check the provider still gets
			// refused: no staple, and the provider's responders are down.
			c := rawClient(t, w.env, w.moi.key, w.moi.chain, 0)
			if _, err := c.Get(w.moh.url()); err == nil {
				t.Fatal("consumer without fresh OCSP status was served")
			}
			if got := w.moh.handshakes("server", "ocsp_unavailable"); got != 1 {
				t.Errorf("provider ocsp_unavailable refusals = %d, want 1", got)
			}
		}},
		{"configuration expired at the consumer", func(t *testing.T, w *world) {
			w.moi.docs.fail(globalconf.ErrExpired)
			_, _, err := w.moi.get(t, w.moh)
			wantErr(t, err, ErrNoConfiguration)
			if w.moh.ln.accepted.Load() != 0 {
				t.Error("consumer dialled without configuration")
			}
			if x := ToXRoad(err, ClientProxy); x.Code != "Server.ClientProxy.OutdatedGlobalConf" {
				t.Errorf("X-Road code %s", x.Code)
			}
		}},
		{"configuration expired at the provider", func(t *testing.T, w *world) {
			w.moh.docs.fail(globalconf.ErrExpired)
			_, _, err := w.moi.get(t, w.moh)
			if err == nil {
				t.Fatal("provider without configuration served")
			}
			if got := w.moh.handshakes("server", "no_configuration"); got != 1 {
				t.Errorf("provider no_configuration refusals = %d, want 1", got)
			}
		}},
		{"TLS 1.2 client", func(t *testing.T, w *world) {
			c := rawClient(t, w.env, w.moi.key, w.moi.chain, tls.VersionTLS12)
			_, err := c.Get(w.moh.url())
			if err == nil || !strings.Contains(err.Error(), "protocol version") {
				t.Fatalf("TLS 1.2 client: error %v, want a protocol version alert", err)
			}
		}},
		{"response from another server than wanted", func(t *testing.T, w *world) {
			mof := w.newNode(t, ssMOF, nodeOpt{})
			w.publish(t, []registration{w.moi.registration(), w.moh.registration(), mof.registration()})
			if err := mof.identity.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			// Do refuses before sending: MOF's address is not MOH's.
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, mof.url(), nil)
			_, err := w.moi.tr.Do(req, ssMOH)
			wantErr(t, err, ErrWrongPeer)
			if mof.ln.accepted.Load() != 0 {
				t.Error("Do connected to the wrong server")
			}
			// CheckPeer on a response that came from MOF.
			_, resp, err := w.moi.get(t, mof)
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, w.moi.tr.CheckPeer(resp, ssMOH), ErrWrongPeer)
		}},
		{"server answering at an address registered for another server", func(t *testing.T, w *world) {
			// MOF's certificate is registered, but for another address than
			// the one dialled (which the configuration gives for MOH).
			mof := w.newNode(t, ssMOF, nodeOpt{})
			w.publish(t, []registration{w.moi.registration(),
				{id: ssMOH, addrs: []string{mof.addr}, certs: w.moh.chain[:1]},
				{id: ssMOF, addrs: []string{"127.0.0.1:1"}, certs: mof.chain[:1]}})
			if err := mof.identity.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, mof.url(), nil)
			_, err := w.moi.tr.Do(req, ssMOH)
			wantErr(t, err, ErrWrongPeer)
			if mof.served.Load() != 0 {
				t.Error("request reached the impostor")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newWorld(t))
		})
	}
}

// serveRaw serves TLS 1.3 with an arbitrary certificate chain and no
// client authentication; it plays a misconfigured provider.
func serveRaw(t *testing.T, e *env, key crypto.Signer, chain []*x509.Certificate) string {
	t.Helper()
	tc := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tc}, Time: e.clk.Now, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return l.Addr().String()
}

// TestStaple: the provider staples the OCSP response its Identity holds,
// the staple follows Refresh, and a consumer relies on a valid staple
// without asking the responders.
func TestStaple(t *testing.T) {
	w := newWorld(t)
	staple := func() *ocsp.Response {
		t.Helper()
		conn, err := tls.Dial("tcp", w.moh.addr, &tls.Config{
			RootCAs: w.moi.tr.genTLS(t).RootCAs, ServerName: "127.0.0.1", Time: w.clk.Now,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return w.moi.identity.TLSCertificate(), nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		der := conn.ConnectionState().OCSPResponse
		if len(der) == 0 {
			t.Fatal("no OCSP staple")
		}
		resp, err := pkiocsp.ParseResponse(der, w.moh.chain[0], w.pki.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if got := staple(); got.Status != ocsp.Good || !got.ThisUpdate.Equal(t0) {
		t.Fatalf("staple: status %d thisUpdate %s, want good at %s", got.Status, got.ThisUpdate, t0)
	}
	// Half the freshness later Refresh fetches a new response, and the next
	// handshake staples it.
	w.clk.Add(freshness / 2)
	if err := w.moh.identity.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := staple().ThisUpdate, t0.Add(freshness/2); !got.Equal(want) {
		t.Fatalf("staple thisUpdate %s after Refresh, want %s", got, want)
	}

	// With the responders down, both sides rely on each other's staple (in
	// TLS 1.3 crypto/tls servers ask for a client staple and clients send
	// one): neither cache has the other's status.
	if err := w.moi.identity.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	fetches := w.ocsp.hits.Load()
	w.ocsp.down.Store(true)
	body, _, err := w.moi.get(t, w.moh)
	if err != nil {
		t.Fatalf("exchange relying on the staple: %v", err)
	}
	if body != ssMOI.String() {
		t.Fatalf("body %q", body)
	}
	if got := w.ocsp.hits.Load(); got != fetches {
		t.Errorf("%d OCSP fetches during the exchange, want none", got-fetches)
	}
}

// genTLS returns the tls.Config of the transport's current pool.
func (tr *Transport) genTLS(t *testing.T) *tls.Config {
	t.Helper()
	doc, err := tr.v.docs.Current()
	if err != nil {
		t.Fatal(err)
	}
	return tr.generationFor(doc).tls
}

func TestPeerServerOutsideTLS(t *testing.T) {
	w := newWorld(t)
	r, _ := http.NewRequest(http.MethodGet, "http://example/", nil)
	_, err := w.moh.server.PeerServer(r)
	wantErr(t, err, ErrUnknownPeer)
}

// TestPeerServerRechecks: an established connection stops being served
// once its peer is deregistered.
func TestPeerServerRechecks(t *testing.T) {
	w := newWorld(t)
	if body, _, err := w.moi.get(t, w.moh); err != nil || body != ssMOI.String() {
		t.Fatalf("first exchange: %q, %v", body, err)
	}
	// Only MOH's own view changes, so MOI's pool (and connection) stays.
	w.moh.docs.setParent(&fakeDocs{doc: w.build(t, []registration{w.moh.registration()})})
	body, resp, err := w.moi.get(t, w.moh)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "SslAuthenticationFailed") {
		t.Fatalf("deregistered peer: %d %s", resp.StatusCode, body)
	}
	if got := w.moh.ln.accepted.Load(); got != 1 {
		t.Errorf("accepted %d connections, want the one reused", got)
	}
}
