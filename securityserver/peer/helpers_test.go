package peer

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	pkiocsp "github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
)

// t0 is the fake time at which every test starts.
var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// freshness is Settings.OCSPFreshness of the test documents.
const freshness = time.Hour

// Identifiers of the test world.
var (
	moi   = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	moh   = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOH"}
	mof   = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOF"}
	ssMOI = xroad.ServerID{Owner: moi, Code: "ss1"}
	ssMOH = xroad.ServerID{Owner: moh, Code: "ss1"}
	ssMOF = xroad.ServerID{Owner: mof, Code: "ss1"}
)

// testPKI is testpki's approved hierarchy root → intermediate (which issues
// auth and sign certificates, serials from 1001, and a delegated OCSP
// responder certificate) and an unapproved root that issues certificates
// too.
type testPKI struct {
	*testpki.PKI
	other    *x509.Certificate
	otherKey crypto.Signer
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{PKI: testpki.New(t, t0, testpki.Name("PS"))}
	// The unapproved CA has the same name as the approved issuing CA, so
	// only the signature tells them apart.
	xk := testpki.NewKey(t)
	xt := &x509.Certificate{
		SerialNumber:          big.NewInt(4),
		Subject:               p.Issuer.Subject,
		NotBefore:             p.NotBefore,
		NotAfter:              p.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	p.other, p.otherKey = testpki.CreateCert(t, xt, xt, xk.Public(), xk), xk
	return p
}

// issue returns a new leaf of profile kind naming id, issued by the
// approved intermediate (or, with unapproved, by the unapproved CA). Auth
// certificates carry DNS name localhost and IP 127.0.0.1. The chain sent
// in TLS is leaf + intermediate (the unapproved leaf alone).
func (p *testPKI) issue(t testing.TB, kind profile.Kind, id xroad.ID, unapproved bool) (crypto.Signer, []*x509.Certificate) {
	t.Helper()
	if unapproved {
		key, tmpl := p.LeafTemplate(t, kind, id, "localhost", "127.0.0.1")
		return key, []*x509.Certificate{testpki.CreateCert(t, tmpl, p.other, key.Public(), p.otherKey)}
	}
	return p.Leaf(t, kind, id, "localhost", "127.0.0.1")
}

// statusSource is the responder's view of the CA database: every serial
// issued is good unless revoked.
type statusSource struct {
	mu      sync.Mutex
	revoked map[string]bool
}

func (s *statusSource) CertStatus(_ context.Context, serial *big.Int) (pkiocsp.CertStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if serial.Int64() <= 1000 {
		return pkiocsp.CertStatus{}, nil
	}
	if s.revoked[serial.String()] {
		return pkiocsp.CertStatus{Known: true, Revoked: true, RevokedAt: t0.Add(-time.Minute), Reason: 1}, nil
	}
	return pkiocsp.CertStatus{Known: true}, nil
}

func (s *statusSource) revoke(c *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked == nil {
		s.revoked = make(map[string]bool)
	}
	s.revoked[c.SerialNumber.String()] = true
}

// responder is an httptest OCSP responder that can be switched off and
// counts the requests it receives.
type responder struct {
	srv  *httptest.Server
	down atomic.Bool
	hits atomic.Int64
	// gate, when not nil, is waited for before answering.
	gate chan struct{}
}

func (r *responder) URL() string { return r.srv.URL }

// fakeDocs is a DocSource whose document and failure the test sets.
type fakeDocs struct {
	mu     sync.Mutex
	doc    *globalconf.Document
	err    error
	parent *fakeDocs
}

func (f *fakeDocs) Current() (*globalconf.Document, error) {
	f.mu.Lock()
	doc, err, parent := f.doc, f.err, f.parent
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if parent != nil {
		return parent.Current()
	}
	if doc == nil {
		return nil, globalconf.ErrNoConfiguration
	}
	return doc, nil
}

func (f *fakeDocs) set(doc *globalconf.Document) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.doc = doc
}

func (f *fakeDocs) setParent(p *fakeDocs) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.parent = p
}

func (f *fakeDocs) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// env is one test world: a fake clock, the PKI with its OCSP responder, and
// the configuration every node reads.
type env struct {
	clk        *clock.Fake
	pki        *testPKI
	src        *statusSource
	ocsp       *responder
	docs       *fakeDocs
	ocspClient *http.Client
	serial     uint64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clk: clock.NewFake(t0), pki: newTestPKI(t), src: &statusSource{}, docs: &fakeDocs{}}
	e.ocsp = e.newResponder(t)
	tr := &http.Transport{}
	e.ocspClient = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	return e
}

func (e *env) newResponder(t *testing.T) *responder {
	t.Helper()
	r, err := pkiocsp.New(pkiocsp.Config{
		Issuer:        e.pki.Issuer,
		ResponderCert: e.pki.Responder,
		Signer:        e.pki.ResponderKey,
		Source:        e.src,
		Validity:      2 * freshness,
		CacheFor:      pkiocsp.NoCache,
		Clock:         e.clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	resp := &responder{}
	resp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if resp.gate != nil {
			<-resp.gate
		}
		resp.hits.Add(1)
		if resp.down.Load() {
			http.Error(w, "responder down", http.StatusServiceUnavailable)
			return
		}
		r.ServeHTTP(w, req)
	}))
	t.Cleanup(resp.srv.Close)
	return resp
}

// registration is one security server entry of a test document.
type registration struct {
	id    xroad.ServerID
	addrs []string
	certs []*x509.Certificate
}

// publish installs a new document (next serial) registering regs, with the
// approved CA answered for by responders (default: e.ocsp).
func (e *env) publish(t testing.TB, regs []registration, responders ...string) *globalconf.Document {
	t.Helper()
	doc := e.build(t, regs, responders...)
	e.docs.set(doc)
	return doc
}

// build returns a new document (next serial) registering regs, without
// installing it.
func (e *env) build(t testing.TB, regs []registration, responders ...string) *globalconf.Document {
	t.Helper()
	if len(responders) == 0 {
		responders = []string{e.ocsp.URL()}
	}
	e.serial++
	doc := &globalconf.Document{
		Schema:      globalconf.Schema,
		Instance:    "PS",
		Serial:      e.serial,
		GeneratedAt: t0,
		ExpiresAt:   t0.Add(24 * time.Hour),
		CentralServer: globalconf.CentralServer{
			ManagementURL:     "https://central.ps.example:4402/managementservice",
			ConfigurationURLs: []string{"https://central.ps.example:4401/globalconf"},
		},
		MemberClasses: []globalconf.MemberClass{{Code: "GOV", Description: "Government"}},
		Members: []globalconf.Member{
			{Class: "GOV", Code: "MOI", Name: "Ministry of Interior"},
			{Class: "GOV", Code: "MOH", Name: "Ministry of Health"},
			{Class: "GOV", Code: "MOF", Name: "Ministry of Finance"},
		},
		ApprovedCAs: []globalconf.ApprovedCA{{
			Name: "ps-ca", Profile: "jisr/v1",
			Certificates:  [][]byte{e.pki.Root.Raw},
			Intermediates: [][]byte{e.pki.Issuer.Raw},
		}},
		Settings: globalconf.Settings{
			OCSPFreshnessSeconds:         int64(freshness / time.Second),
			TimestampingIntervalSeconds:  60,
			ConfigurationLifetimeSeconds: 600,
			RefreshIntervalSeconds:       60,
			MaxClockSkewSeconds:          30,
		},
	}
	for _, u := range responders {
		doc.ApprovedCAs[0].OCSPResponders = append(doc.ApprovedCAs[0].OCSPResponders, globalconf.OCSPResponder{URL: u})
	}
	for _, r := range regs {
		ss := globalconf.SecurityServer{Owner: r.id.Owner.String(), ServerCode: r.id.Code, Addresses: r.addrs}
		for _, c := range r.certs {
			ss.AuthCertHashes = append(ss.AuthCertHashes, globalconf.AuthCertHash(c))
		}
		doc.SecurityServers = append(doc.SecurityServers, ss)
	}
	// Through the canonical encoding, as a security server receives it (and
	// so with the document's lookup index built).
	b, err := globalconf.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := globalconf.ParseDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

// node is one security server under test: its own configuration view,
// OCSP cache, identity, SS↔SS listener and transport.
type node struct {
	id       xroad.ServerID
	key      crypto.Signer
	chain    []*x509.Certificate
	docs     *fakeDocs
	reg      *prometheus.Registry
	cache    *OCSPCache
	identity *Identity
	server   *Server
	tr       *Transport
	ln       *countingListener
	addr     string
	served   atomic.Int64 // requests the handler saw
}

type nodeOpt struct {
	unapproved bool // certificate from the unapproved CA
}

// newNode creates a node with a fresh auth certificate naming id and
// starts its SS↔SS listener on 127.0.0.1. The handler answers with the
// peer's server ID (Server.PeerServer) or the X-Road error.
func (e *env) newNode(t *testing.T, id xroad.ServerID, opt nodeOpt) *node {
	t.Helper()
	key, chain := e.pki.issue(t, profile.Auth, id, opt.unapproved)
	n := &node{id: id, key: key, chain: chain, docs: &fakeDocs{parent: e.docs}, reg: prometheus.NewRegistry()}
	var err error
	n.cache, err = NewOCSPCache(OCSPCacheConfig{Docs: n.docs, HTTPClient: e.ocspClient, Clock: e.clk, Registerer: n.reg})
	if err != nil {
		t.Fatal(err)
	}
	if n.identity, err = NewIdentity(key, chain, n.cache, e.clk); err != nil {
		t.Fatal(err)
	}
	if n.server, err = NewServer(ServerConfig{Docs: n.docs, Identity: n.identity, OCSP: n.cache, Clock: e.clk, Registerer: n.reg}); err != nil {
		t.Fatal(err)
	}
	if n.tr, err = NewTransport(TransportConfig{Docs: n.docs, Identity: n.identity, OCSP: n.cache, Clock: e.clk, Registerer: n.reg}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.tr.CloseIdleConnections)
	n.serve(t, n.server.TLSConfig())
	return n
}

// serve starts an HTTP server with conf on a new loopback listener.
func (n *node) serve(t *testing.T, conf *tls.Config) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.ln = &countingListener{Listener: l}
	n.addr = l.Addr().String()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.served.Add(1)
			id, err := n.server.PeerServer(r)
			if err != nil {
				xerr.Write(w, r, nil, ToXRoad(err, ServerProxy), "")
				return
			}
			_, _ = io.WriteString(w, id.String())
		}),
		ErrorLog:          log.New(io.Discard, "", 0),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(tls.NewListener(n.ln, conf))
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
}

// registration returns n's entry for a document.
func (n *node) registration() registration {
	return registration{id: n.id, addrs: []string{n.addr}, certs: n.chain[:1]}
}

func (n *node) url() string { return "https://" + n.addr + "/r1/test" }

// get sends one GET to peer's listener through n's transport and returns
// the body.
func (n *node) get(t *testing.T, peer *node) (string, *http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, peer.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := n.tr.RoundTrip(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	return string(b), resp, nil
}

// handshakes returns n's handshake counter for side and outcome.
func (n *node) handshakes(side, outcome string) int {
	return counterValue(n.reg, "jisr_ss_peer_handshakes_total", map[string]string{"side": side, "outcome": outcome})
}

func counterValue(reg *prometheus.Registry, name string, labels map[string]string) int {
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return int(m.GetCounter().GetValue())
		}
	}
	return 0
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// rawClient is an HTTP client presenting cert (with chain) that trusts the
// approved root and verifies nothing else: it plays a misbehaving or
// foreign peer.
func rawClient(t *testing.T, e *env, key crypto.Signer, chain []*x509.Certificate, maxVersion uint16) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(e.pki.Root)
	tc := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			RootCAs:      roots,
			Certificates: []tls.Certificate{tc},
			MaxVersion:   maxVersion,
			Time:         e.clk.Now,
		},
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// wantErr fails unless err wraps want (want nil: err must be nil).
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("error = %v, want none", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	}
}
