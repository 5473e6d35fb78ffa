package proxy

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	pkiocsp "github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/message"
	"github.com/jisr-bus/jisr/securityserver/peer"
)

// t0 is the fake time at which every test starts.
var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// Identifiers of the test world (product.md's demo world).
var (
	cab    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "CAB"}
	moi    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	portal = cab.Subsystem("portal")
	other  = cab.Subsystem("other") // hosted by the consumer SS, granted nothing
	civil  = moi.Subsystem("civil-registry")
	ssCAB  = xroad.ServerID{Owner: cab, Code: "ss1"}
	ssMOI1 = xroad.ServerID{Owner: moi, Code: "ss1"}
	ssMOI2 = xroad.ServerID{Owner: moi, Code: "ss2"}
)

// testPKI is testpki's root → issuing intermediate, which issues auth and
// sign certificates (serials from 1001) and a delegated OCSP responder
// certificate.
type testPKI struct{ *testpki.PKI }

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	return &testPKI{testpki.New(t, t0, testpki.Name("PS"))}
}

// issue returns a new leaf of profile kind naming id and its chain (leaf,
// intermediate). Auth certificates carry localhost and 127.0.0.1.
func (p *testPKI) issue(t testing.TB, kind profile.Kind, id xroad.ID) (crypto.Signer, []*x509.Certificate) {
	t.Helper()
	return p.Leaf(t, kind, id, "localhost", "127.0.0.1")
}

// statusSource is the responder's view of the CA database.
type statusSource struct {
	mu      sync.Mutex
	revoked map[string]bool
}

func (s *statusSource) CertStatus(_ context.Context, serial *big.Int) (pkiocsp.CertStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
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

// fakeDocs is a Configuration (and peer.DocSource) whose document and
// failure the test sets; with a parent it reads the parent's document
// unless it has its own.
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
	switch {
	case err != nil:
		return nil, err
	case doc != nil:
		return doc, nil
	case parent != nil:
		return parent.Current()
	}
	return nil, globalconf.ErrNoConfiguration
}

func (f *fakeDocs) set(doc *globalconf.Document) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.doc = doc
}

func (f *fakeDocs) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// fakeClients is LocalClients over a set.
type fakeClients struct {
	mu        sync.Mutex
	hosted    map[xroad.ClientID]bool
	authorize error
}

func newFakeClients(ids ...xroad.ClientID) *fakeClients {
	f := &fakeClients{hosted: make(map[xroad.ClientID]bool)}
	for _, id := range ids {
		f.hosted[id] = true
	}
	return f
}

func (f *fakeClients) Hosted(c xroad.ClientID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hosted[c]
}

func (f *fakeClients) AuthorizeIS(xroad.ClientID, *http.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.authorize
}

func (f *fakeClients) remove(c xroad.ClientID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.hosted, c)
}

// grant is an access right: a client may call a service, or only the
// endpoints listed.
type grant struct {
	client    xroad.ClientID
	service   string
	endpoints []Endpoint
}

// fakeAccess is Access and Metadata over maps. Endpoint paths match with
// path.Match ("*" matches one segment).
type fakeAccess struct {
	mu       sync.Mutex
	services map[string]Service // by service code
	types    map[string]string
	openapi  map[string]string
	grants   []grant
	eps      map[string][]Endpoint
}

func (a *fakeAccess) Service(id xroad.ServiceID) (Service, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.services[id.Code]
	if !ok || id.Provider != civil {
		return Service{}, ErrUnknownService
	}
	return s, nil
}

func (a *fakeAccess) setService(code string, s Service) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.services[code] = s
}

func (a *fakeAccess) allowed(client xroad.ClientID, service, method, p string) bool {
	for _, g := range a.grants {
		if g.client != client || g.service != service {
			continue
		}
		if len(g.endpoints) == 0 {
			return true
		}
		for _, e := range g.endpoints {
			if e.Method != "*" && e.Method != method {
				continue
			}
			if ok, _ := path.Match(e.Path, p); ok {
				return true
			}
		}
	}
	return false
}

func (a *fakeAccess) Allowed(_ *globalconf.Document, client xroad.ClientID, svc xroad.ServiceID, method, p string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.allowed(client, svc.Code, method, p), nil
}

func (a *fakeAccess) describe(code string) ServiceDescription {
	return ServiceDescription{Service: xroad.ServiceID{Provider: civil, Code: code}, Type: a.types[code], Endpoints: a.eps[code]}
}

func (a *fakeAccess) ListMethods(xroad.ClientID) ([]ServiceDescription, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return []ServiceDescription{a.describe("births"), a.describe("persons")}, nil
}

func (a *fakeAccess) AllowedMethods(_ *globalconf.Document, client, _ xroad.ClientID) ([]ServiceDescription, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []ServiceDescription
	for _, code := range []string{"births", "persons"} {
		d := a.describe(code)
		var eps []Endpoint
		for _, e := range d.Endpoints {
			if a.allowed(client, code, e.Method, e.Path) {
				eps = append(eps, e)
			}
		}
		if len(eps) > 0 {
			d.Endpoints = eps
			out = append(out, d)
		}
	}
	return out, nil
}

func (a *fakeAccess) OpenAPI(id xroad.ServiceID) ([]byte, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	doc, ok := a.openapi[id.Code]
	if !ok {
		return nil, "", ErrUnknownService
	}
	return []byte(doc), "text/yaml", nil
}

// fakeLog is a MessageLog keeping records in memory; it can be told to
// fail.
type fakeLog struct {
	mu          sync.Mutex
	records     []*Record
	bodies      [][]byte
	failRequest atomic.Bool
	failResp    atomic.Bool
	// untimestamped makes LogRequest refuse as a log whose time-stamping
	// has failed beyond its grace period.
	untimestamped atomic.Bool
}

func (l *fakeLog) add(rec *Record) error {
	var body []byte
	if rec.Body != nil {
		r, err := rec.Body.Open()
		if err != nil {
			return err
		}
		body, err = io.ReadAll(r)
		r.Close()
		if err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cp := *rec
	cp.Body = nil
	l.records = append(l.records, &cp)
	l.bodies = append(l.bodies, body)
	return nil
}

func (l *fakeLog) LogRequest(_ context.Context, rec *Record) error {
	if l.failRequest.Load() {
		return errors.New("disk full")
	}
	if l.untimestamped.Load() {
		return fmt.Errorf("no time-stamp for 5h: %w", ErrTimestampingFailed)
	}
	return l.add(rec)
}

func (l *fakeLog) LogResponse(_ context.Context, rec *Record) error {
	if l.failResp.Load() {
		return errors.New("disk full")
	}
	return l.add(rec)
}

func (l *fakeLog) all() []*Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Record(nil), l.records...)
}

// hookTransport wraps the consumer's peer transport: the SS↔SS hop as an
// attacker on the path (or a test) sees it.
type hookTransport struct {
	inner      PeerTransport
	mu         sync.Mutex
	onRequest  func(*http.Request)
	onResponse func(*http.Response)
	calls      atomic.Int64
}

func (h *hookTransport) Do(req *http.Request, target xroad.ServerID) (*http.Response, error) {
	h.calls.Add(1)
	h.mu.Lock()
	onReq, onResp := h.onRequest, h.onResponse
	h.mu.Unlock()
	if onReq != nil {
		onReq(req)
	}
	resp, err := h.inner.Do(req, target)
	if err == nil && onResp != nil {
		onResp(resp)
	}
	return resp, err
}

func (h *hookTransport) set(onReq func(*http.Request), onResp func(*http.Response)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onRequest, h.onResponse = onReq, onResp
}

// backendRequest is what the backend service saw.
type backendRequest struct {
	Method     string
	RequestURI string
	Header     http.Header
	Body       string
}

// backend is a ministry service that echoes what it received.
type backend struct {
	srv     *httptest.Server
	mu      sync.Mutex
	seen    []backendRequest
	release chan struct{}
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{release: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(func() {
		close(b.release)
		b.srv.Close()
	})
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	br := backendRequest{Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)}
	b.mu.Lock()
	b.seen = append(b.seen, br)
	b.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, "/redirect"):
		w.Header().Set("Location", "https://elsewhere.example/v1/moved")
		w.WriteHeader(http.StatusFound)
		return
	case strings.HasSuffix(r.URL.Path, "/hang"):
		select {
		case <-r.Context().Done():
		case <-b.release:
		}
		return
	case strings.HasSuffix(r.URL.Path, "/teapot"):
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, `{"title":"I'm a teapot"}`)
		return
	}
	// A service that tries to set X-Road headers and sends hop-by-hop ones.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Backend", "civil-registry")
	w.Header().Set("X-Road-Id", "forged-by-service")
	w.Header().Set("X-Road-Request-Hash", "forged")
	w.Header().Set("Connection", "X-Svc-Hop")
	w.Header().Set("X-Svc-Hop", "must-not-pass")
	w.Header().Set("Keep-Alive", "timeout=5")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(br)
}

func (b *backend) requests() []backendRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]backendRequest(nil), b.seen...)
}

func (b *backend) URL() string { return b.srv.URL }

// ssNode is one security server: its key material and SS↔SS trust.
type ssNode struct {
	id        xroad.ServerID
	docs      *fakeDocs
	authKey   crypto.Signer
	authChain []*x509.Certificate
	cache     *peer.OCSPCache
	identity  *peer.Identity
	clients   *fakeClients
	log       *fakeLog
	signChain map[xroad.MemberID][]*x509.Certificate
	signKey   map[xroad.MemberID]crypto.Signer
}

// provider is a provider security server with its listener.
type provider struct {
	*ssNode
	server  *peer.Server
	proxy   *ServerProxy
	ln      net.Listener
	addr    string
	httpSrv *http.Server
	done    chan struct{}
	served  atomic.Int64
	stopped atomic.Bool
	// maintenance is the server's maintenance flag in the next document.
	maintenance bool
}

// world is the whole test setup: PKI and OCSP responder, configuration,
// a consumer security server (GOV/CAB) with its client proxy served to the
// "information system" over plain HTTP, provider security servers
// (GOV/MOI) and the civil-registry service behind them.
type world struct {
	t          *testing.T
	clk        *clock.Fake
	pki        *testPKI
	src        *statusSource
	ocspSrv    *httptest.Server
	ocspClient *http.Client
	docs       *fakeDocs
	serial     uint64
	mutate     func(*globalconf.Document)

	consumer  *ssNode
	transport *peer.Transport
	hook      *hookTransport
	client    atomic.Pointer[ClientProxy]
	clientCfg ClientConfig
	is        *httptest.Server
	isClient  *http.Client

	providers []*provider
	access    *fakeAccess
	backend   *backend
}

// worldOpts adjust a world before it starts.
type worldOpts struct {
	providers   int                 // provider security servers (default 1)
	clientCfg   func(*ClientConfig) // adjusts the client proxy's configuration
	serverCfg   func(*ServerConfig) // adjusts the server proxies' configuration
	mutateDoc   func(*globalconf.Document)
	noMOISignAt bool // the provider SS holds no sign key for GOV/MOI
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	if o.providers == 0 {
		o.providers = 1
	}
	w := &world{t: t, clk: clock.NewFake(t0), pki: newTestPKI(t), src: &statusSource{}, docs: &fakeDocs{}, mutate: o.mutateDoc}
	resp, err := pkiocsp.New(pkiocsp.Config{
		Issuer: w.pki.Issuer, ResponderCert: w.pki.Responder, Signer: w.pki.ResponderKey, Source: w.src,
		Validity: 2 * time.Hour, CacheFor: pkiocsp.NoCache, Clock: w.clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.ocspSrv = httptest.NewServer(resp)
	t.Cleanup(w.ocspSrv.Close)
	tr := &http.Transport{}
	w.ocspClient = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)

	w.backend = newBackend(t)
	w.access = &fakeAccess{
		services: map[string]Service{
			"persons": {URL: mustURL(t, w.backend.URL()), Timeout: 10 * time.Second},
			"births":  {URL: mustURL(t, w.backend.URL()+"/births-api/"), Timeout: 10 * time.Second},
		},
		types: map[string]string{"persons": "OPENAPI", "births": "REST"},
		eps: map[string][]Endpoint{
			"persons": {{Method: "GET", Path: "/v1/persons/*"}, {Method: "POST", Path: "/v1/persons"}, {Method: "*", Path: "/*"}},
			"births":  {{Method: "GET", Path: "/v1/births/*"}},
		},
		openapi: map[string]string{"persons": "openapi: 3.0.3\ninfo:\n  title: Persons\n  version: 1.0.0\npaths: {}\n"},
		grants: []grant{
			{client: portal, service: "persons"},
			{client: portal, service: "births", endpoints: []Endpoint{{Method: "GET", Path: "/v1/births/*"}}},
		},
	}

	w.consumer = w.newNode(t, ssCAB, cab, portal, other, cab.Client())
	for i := 0; i < o.providers; i++ {
		id := ssMOI1
		if i == 1 {
			id = ssMOI2
		}
		n := w.newNode(t, id, moi, civil, moi.Client())
		if o.noMOISignAt {
			n.identity = mustIdentity(t, w, n, false)
		}
		p := &provider{ssNode: n, done: make(chan struct{})}
		p.ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p.addr = p.ln.Addr().String()
		w.providers = append(w.providers, p)
	}
	w.publish()
	for _, n := range w.nodes() {
		if err := n.identity.Refresh(t.Context()); err != nil {
			t.Fatalf("refreshing %s: %v", n.id, err)
		}
	}
	for _, p := range w.providers {
		w.startProvider(t, p, o.serverCfg)
	}

	w.transport, err = peer.NewTransport(peer.TransportConfig{Docs: w.consumer.docs, Identity: w.consumer.identity, OCSP: w.consumer.cache, Clock: w.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.transport.CloseIdleConnections)
	w.hook = &hookTransport{inner: w.transport}
	w.clientCfg = ClientConfig{
		ServerID: ssCAB, Conf: w.consumer.docs, Clients: w.consumer.clients, Signer: w.consumer.identity,
		Transport: w.hook, Log: w.consumer.log, Clock: w.clk, TempDir: t.TempDir(),
	}
	if o.clientCfg != nil {
		o.clientCfg(&w.clientCfg)
	}
	w.client.Store(NewClientProxy(w.clientCfg))
	w.is = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.client.Load().ServeHTTP(rw, r)
	}))
	t.Cleanup(w.is.Close)
	isTr := &http.Transport{DisableCompression: true}
	t.Cleanup(isTr.CloseIdleConnections)
	w.isClient = &http.Client{Transport: isTr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newNode creates a security server owned by owner, hosting clients, with
// an auth certificate and a sign certificate for owner.
func (w *world) newNode(t *testing.T, id xroad.ServerID, owner xroad.MemberID, clients ...xroad.ClientID) *ssNode {
	t.Helper()
	n := &ssNode{id: id, docs: &fakeDocs{parent: w.docs}, clients: newFakeClients(clients...), log: &fakeLog{},
		signChain: map[xroad.MemberID][]*x509.Certificate{}, signKey: map[xroad.MemberID]crypto.Signer{}}
	n.authKey, n.authChain = w.pki.issue(t, profile.Auth, id)
	sk, sc := w.pki.issue(t, profile.Sign, owner)
	n.signKey[owner], n.signChain[owner] = sk, sc
	var err error
	n.cache, err = peer.NewOCSPCache(peer.OCSPCacheConfig{Docs: n.docs, HTTPClient: w.ocspClient, Clock: w.clk})
	if err != nil {
		t.Fatal(err)
	}
	n.identity = mustIdentity(t, w, n, true)
	return n
}

func mustIdentity(t *testing.T, w *world, n *ssNode, withSign bool) *peer.Identity {
	t.Helper()
	id, err := peer.NewIdentity(n.authKey, n.authChain, n.cache, w.clk)
	if err != nil {
		t.Fatal(err)
	}
	if withSign {
		for m, k := range n.signKey {
			if err := id.AddSignKey(m, k, n.signChain[m]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return id
}

func (w *world) nodes() []*ssNode {
	out := []*ssNode{w.consumer}
	for _, p := range w.providers {
		out = append(out, p.ssNode)
	}
	return out
}

// document builds the configuration for the current nodes (next serial).
func (w *world) document() *globalconf.Document {
	w.t.Helper()
	w.serial++
	doc := &globalconf.Document{
		Schema: globalconf.Schema, Instance: "PS", Serial: w.serial,
		GeneratedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
		CentralServer: globalconf.CentralServer{
			ManagementURL:     "https://central.ps.example:4402/managementservice",
			ConfigurationURLs: []string{"https://central.ps.example:4401/globalconf"},
		},
		MemberClasses: []globalconf.MemberClass{{Code: "GOV", Description: "Government"}},
		Members: []globalconf.Member{
			{Class: "GOV", Code: "CAB", Name: "Cabinet Secretariat", Subsystems: []globalconf.Subsystem{{Code: "portal"}, {Code: "other"}}},
			{Class: "GOV", Code: "MOI", Name: "Ministry of Interior", Subsystems: []globalconf.Subsystem{{Code: "civil-registry"}, {Code: "nowhere"}}},
		},
		ApprovedCAs: []globalconf.ApprovedCA{{
			Name: "ps-ca", Profile: "jisr/v1",
			Certificates:   [][]byte{w.pki.Root.Raw},
			Intermediates:  [][]byte{w.pki.Issuer.Raw},
			OCSPResponders: []globalconf.OCSPResponder{{URL: w.ocspSrv.URL}},
		}},
		Settings: globalconf.Settings{
			OCSPFreshnessSeconds: 3600, TimestampingIntervalSeconds: 60,
			ConfigurationLifetimeSeconds: 600, RefreshIntervalSeconds: 60, MaxClockSkewSeconds: 30,
		},
	}
	add := func(n *ssNode, addr string, maint bool, clients ...xroad.ClientID) {
		ss := globalconf.SecurityServer{Owner: n.id.Owner.String(), ServerCode: n.id.Code, Addresses: []string{addr},
			AuthCertHashes: []string{globalconf.AuthCertHash(n.authChain[0])}, Maintenance: maint}
		for _, c := range clients {
			ss.Clients = append(ss.Clients, c.String())
		}
		doc.SecurityServers = append(doc.SecurityServers, ss)
	}
	add(w.consumer, "127.0.0.1:1", false, portal, other, cab.Client())
	for _, p := range w.providers {
		add(p.ssNode, p.addr, p.maintenance, civil, moi.Client())
	}
	if w.mutate != nil {
		w.mutate(doc)
	}
	b, err := globalconf.Marshal(doc)
	if err != nil {
		w.t.Fatal(err)
	}
	parsed, err := globalconf.ParseDocument(b)
	if err != nil {
		w.t.Fatal(err)
	}
	return parsed
}

// publish installs a new document for every node.
func (w *world) publish() { w.docs.set(w.document()) }

// documentWith returns a new document with f applied on top of the world's
// own mutation.
func (w *world) documentWith(f func(*globalconf.Document)) *globalconf.Document {
	prev := w.mutate
	w.mutate = func(d *globalconf.Document) {
		if prev != nil {
			prev(d)
		}
		f(d)
	}
	defer func() { w.mutate = prev }()
	return w.document()
}

// reconfigureClient replaces the client proxy with one whose configuration
// f adjusted.
func (w *world) reconfigureClient(f func(*ClientConfig)) {
	cfg := w.clientCfg
	f(&cfg)
	w.client.Store(NewClientProxy(cfg))
}

// serverEntry returns the document's entry for id.
func serverEntry(d *globalconf.Document, id xroad.ServerID) *globalconf.SecurityServer {
	for i := range d.SecurityServers {
		if d.SecurityServers[i].Owner == id.Owner.String() && d.SecurityServers[i].ServerCode == id.Code {
			return &d.SecurityServers[i]
		}
	}
	panic("no entry for " + id.String())
}

// fixedSigner is a Signer that hands out the material it was given (a
// misbehaving or compromised key store).
type fixedSigner struct {
	key    crypto.Signer
	chain  []*x509.Certificate
	staple []byte
}

func (f fixedSigner) SignMaterial(xroad.MemberID) (crypto.Signer, []*x509.Certificate, []byte, error) {
	return f.key, f.chain, f.staple, nil
}

func (w *world) startProvider(t *testing.T, p *provider, adjust func(*ServerConfig)) {
	t.Helper()
	var err error
	p.server, err = peer.NewServer(peer.ServerConfig{Docs: p.docs, Identity: p.identity, OCSP: p.cache, Clock: w.clk})
	if err != nil {
		t.Fatal(err)
	}
	replay, err := message.NewReplayCache(w.clk, 5*time.Minute, 10000)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ServerConfig{
		Conf: p.docs, Peers: p.server, Clients: p.clients, Access: w.access, Metadata: w.access,
		Signer: p.identity, Log: p.log, Replay: replay, Clock: w.clk, TempDir: t.TempDir(),
	}
	if adjust != nil {
		adjust(&cfg)
	}
	p.proxy = NewServerProxy(cfg)
	t.Cleanup(p.proxy.CloseIdleConnections)
	p.httpSrv = &http.Server{
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			p.served.Add(1)
			p.proxy.ServeHTTP(rw, r)
		}),
		ErrorLog:          log.New(io.Discard, "", 0),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		defer close(p.done)
		_ = p.httpSrv.Serve(tls.NewListener(p.ln, p.server.TLSConfig()))
	}()
	t.Cleanup(p.stop)
}

// stop shuts the provider's listener and connections down.
func (p *provider) stop() {
	if p.stopped.Swap(true) {
		return
	}
	_ = p.httpSrv.Close()
	<-p.done
}

// request is one call of the information system.
type request struct {
	method string
	path   string
	header http.Header
	body   string
}

// response is what the information system got.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends r to the client proxy over HTTP. Without an X-Road-Client in
// r.header, PS/GOV/CAB/portal is sent.
func (w *world) do(r request) response {
	w.t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	var body io.Reader = http.NoBody
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(w.t.Context(), r.method, w.is.URL+r.path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	for k, vv := range r.header {
		req.Header[k] = vv
	}
	if _, ok := r.header[HeaderClient]; !ok {
		req.Header.Set(HeaderClient, portal.String())
	}
	resp, err := w.isClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// xroadError is the JSON body of an X-Road error.
type xroadError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Detail  string `json:"detail"`
}

// wantError fails unless resp is the X-Road error code with status.
func wantError(t *testing.T, resp response, code string, status int) xroadError {
	t.Helper()
	var e xroadError
	if err := json.Unmarshal(resp.body, &e); err != nil {
		t.Fatalf("status %d, body %q: not an X-Road JSON error: %v", resp.status, resp.body, err)
	}
	if resp.status != status || resp.header.Get("X-Road-Error") != code || e.Type != code {
		t.Fatalf("got status %d, X-Road-Error %q, type %q (message %q); want %d %s",
			resp.status, resp.header.Get("X-Road-Error"), e.Type, e.Message, status, code)
	}
	if len(e.Detail) != 36 {
		t.Errorf("detail %q is not a UUID", e.Detail)
	}
	return e
}

const personsPath = "/r1/PS/GOV/MOI/civil-registry/persons"
