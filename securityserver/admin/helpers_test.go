package admin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// t0 is the tests' fake time.
var t0 = time.Date(2026, 4, 2, 9, 0, 0, 0, time.UTC)

// The identifiers of the fake security server.
var (
	server = xroad.ServerID{Owner: moi, Code: "ss1"}
	moi    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	moiSub = moi.Subsystem("civil-registry")
	portal = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "CAB"}.Subsystem("portal")
)

const personsOpenAPI = `openapi: 3.0.3
info: {title: Persons, version: "1"}
paths:
  /persons/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {"200": {description: ok}}}
`

const personsOpenAPIv2 = `openapi: 3.0.3
info: {title: Persons, version: "2"}
paths:
  /persons/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {"200": {description: ok}}}
  /persons/{id}/photo:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {"200": {description: ok}}}
`

// fakeBackend is a Backend over a real conf.Store (SQLite) for the local
// configuration, with management requests, keys and the message log
// faked in memory. writes counts every call that would change something,
// so that a refused request can be shown to have changed nothing.
type fakeBackend struct {
	conf   conf.Store
	pki    *testpki.PKI
	writes atomic.Int64
	nextMR atomic.Int64

	mu      sync.Mutex
	keys    map[string]*KeyInfo
	signers map[string]*ecdsa.PrivateKey
	records []MessageRecord
	// lastQuery is the last message-log query.
	lastQuery MessageLogQuery
}

var _ Backend = (*fakeBackend)(nil)

func newFakeBackend(t *testing.T, st conf.Store) *fakeBackend {
	t.Helper()
	p := testpki.New(t, t0, testpki.Name("admin test"))
	b := &fakeBackend{conf: st, pki: p, keys: map[string]*KeyInfo{}, signers: map[string]*ecdsa.PrivateKey{}}
	authKey, authChain := p.Leaf(t, profile.Auth, server, "ss1.moi.ps")
	registered := true
	b.keys["auth"] = &KeyInfo{ID: "auth", Usage: UsageAuth, Certificate: &CertInfo{Chain: authChain, OCSPStatus: OCSPGood, Registered: &registered}}
	b.signers["auth"] = authKey
	signKey, signChain := p.Leaf(t, profile.Sign, moi)
	b.keys["sign-GOV-MOI"] = &KeyInfo{ID: "sign-GOV-MOI", Usage: UsageSign, Member: moi, Certificate: &CertInfo{Chain: signChain, OCSPStatus: OCSPGood}}
	b.signers["sign-GOV-MOI"] = signKey
	for i := range 3 {
		b.records = append(b.records, MessageRecord{ID: int64(i + 1), LoggedAt: t0, Direction: "REQUEST", Side: "PROVIDER",
			MessageID: fmt.Sprintf("msg-%d", i), RequestDigest: []byte{1, 2}, Client: portal,
			Service: xroad.ServiceID{Provider: moiSub, Code: "persons"}, UserID: "PS4001", Time: t0, Method: "GET", Path: "/persons/1",
			Signer: portal.Member(), SignerCertSHA256: []byte{3}, BodySHA256: []byte{4}, PrevHash: []byte{5}, Hash: []byte{6},
			Timestamp: &RecordTimestamp{ID: 1, From: 1, To: 3, StampedAt: t0, TSA: "http://tsa.test/"}})
	}
	return b
}

func (b *fakeBackend) write() { b.writes.Add(1) }

func (b *fakeBackend) status(typ mgmtproto.Type) mgmtproto.Status {
	return mgmtproto.Status{ID: b.nextMR.Add(1), RequestID: "00000000-0000-4000-8000-000000000000", Type: typ, Status: mgmtproto.StatusPending}
}

// Clients.

func (b *fakeBackend) Clients(ctx context.Context) ([]conf.Client, error) { return b.conf.Clients(ctx) }

func (b *fakeBackend) Client(ctx context.Context, id xroad.ClientID) (conf.Client, error) {
	return b.conf.Client(ctx, id)
}

func (b *fakeBackend) AddClient(ctx context.Context, c conf.Client, register bool) (conf.Client, *mgmtproto.Status, error) {
	b.write()
	c.Status = conf.StatusSaved
	if register {
		c.Status = conf.StatusRegistrationInProgress
	}
	if err := b.conf.AddClient(ctx, c); err != nil {
		return conf.Client{}, nil, err
	}
	cl, err := b.conf.Client(ctx, c.ID)
	if !register || err != nil {
		return cl, nil, err
	}
	st := b.status(mgmtproto.TypeClientRegistration)
	return cl, &st, nil
}

func (b *fakeBackend) setStatus(ctx context.Context, id xroad.ClientID, s conf.ClientStatus) (conf.Client, error) {
	c, err := b.conf.Client(ctx, id)
	if err != nil {
		return conf.Client{}, err
	}
	c.Status = s
	if err := b.conf.UpdateClient(ctx, c); err != nil {
		return conf.Client{}, err
	}
	return b.conf.Client(ctx, id)
}

func (b *fakeBackend) RegisterClient(ctx context.Context, id xroad.ClientID) (conf.Client, mgmtproto.Status, error) {
	b.write()
	c, err := b.setStatus(ctx, id, conf.StatusRegistrationInProgress)
	return c, b.status(mgmtproto.TypeClientRegistration), err
}

func (b *fakeBackend) UnregisterClient(ctx context.Context, id xroad.ClientID) (conf.Client, mgmtproto.Status, error) {
	b.write()
	c, err := b.setStatus(ctx, id, conf.StatusDeletionInProgress)
	return c, b.status(mgmtproto.TypeClientDeletion), err
}

func (b *fakeBackend) UpdateClient(ctx context.Context, id xroad.ClientID, conn conf.ConnectionType, bodies conf.BodyLogging) (conf.Client, error) {
	b.write()
	c, err := b.conf.Client(ctx, id)
	if err != nil {
		return conf.Client{}, err
	}
	if conn != "" {
		c.Connection = conn
	}
	if bodies != "" {
		c.BodyLogging = bodies
	}
	if err := b.conf.UpdateClient(ctx, c); err != nil {
		return conf.Client{}, err
	}
	return b.conf.Client(ctx, id)
}

func (b *fakeBackend) DeleteClient(ctx context.Context, id xroad.ClientID) error {
	b.write()
	c, err := b.conf.Client(ctx, id)
	if err != nil {
		return err
	}
	if c.Status != conf.StatusSaved && c.Status != conf.StatusDeletionInProgress {
		return fmt.Errorf("%w: client is %s", ErrConflict, c.Status)
	}
	return b.conf.DeleteClient(ctx, id)
}

func (b *fakeBackend) ISCertificates(ctx context.Context, id xroad.ClientID) ([]conf.ISCertificate, error) {
	return b.conf.(conf.ISCertStore).ISCertificates(ctx, id)
}

func (b *fakeBackend) AddISCertificate(ctx context.Context, id xroad.ClientID, der []byte) (conf.ISCertificate, error) {
	b.write()
	return b.conf.(conf.ISCertStore).AddISCertificate(ctx, id, der)
}

func (b *fakeBackend) RemoveISCertificate(ctx context.Context, id xroad.ClientID, hash string) error {
	b.write()
	return b.conf.(conf.ISCertStore).RemoveISCertificate(ctx, id, hash)
}

func (b *fakeBackend) LocalGroups(ctx context.Context, id xroad.ClientID) ([]conf.LocalGroup, error) {
	return b.conf.LocalGroups(ctx, id)
}

func (b *fakeBackend) LocalGroup(ctx context.Context, id xroad.ClientID, code string) (conf.LocalGroup, error) {
	return b.conf.LocalGroup(ctx, id, code)
}

func (b *fakeBackend) AddLocalGroup(ctx context.Context, g conf.LocalGroup) (conf.LocalGroup, error) {
	b.write()
	if err := b.conf.AddLocalGroup(ctx, g); err != nil {
		return conf.LocalGroup{}, err
	}
	return b.conf.LocalGroup(ctx, g.Client, g.Code)
}

func (b *fakeBackend) DeleteLocalGroup(ctx context.Context, id xroad.ClientID, code string) error {
	b.write()
	return b.conf.DeleteLocalGroup(ctx, id, code)
}

func (b *fakeBackend) AddLocalGroupMember(ctx context.Context, id xroad.ClientID, code string, m xroad.ClientID) (conf.LocalGroup, error) {
	b.write()
	if err := b.conf.AddLocalGroupMember(ctx, id, code, m); err != nil {
		return conf.LocalGroup{}, err
	}
	return b.conf.LocalGroup(ctx, id, code)
}

func (b *fakeBackend) RemoveLocalGroupMember(ctx context.Context, id xroad.ClientID, code string, m xroad.ClientID) error {
	b.write()
	return b.conf.RemoveLocalGroupMember(ctx, id, code, m)
}

// Services.

func (b *fakeBackend) ServiceDescriptions(ctx context.Context, id xroad.ClientID) ([]conf.ServiceDescription, error) {
	return b.conf.ServiceDescriptions(ctx, id)
}

func (b *fakeBackend) AddService(ctx context.Context, s NewService) (conf.ServiceDescription, *mgmtproto.Status, error) {
	b.write()
	d := conf.ServiceDescription{Client: s.Provider, Type: conf.DescriptionREST, URL: s.DescriptionURL,
		Services: []conf.Service{{Code: s.Code, Version: s.Version, URL: s.URL, Timeout: s.Timeout, VerifyTLS: s.VerifyTLS}}}
	if s.OpenAPI != nil {
		d.Type, d.Document = conf.DescriptionOpenAPI, s.OpenAPI
	}
	out, err := b.conf.AddServiceDescription(ctx, d)
	if err != nil || !s.Publish {
		return out, nil, err
	}
	st := b.status(mgmtproto.TypeServiceDescriptionPublish)
	return out, &st, nil
}

func (b *fakeBackend) descriptionOf(ctx context.Context, p xroad.ClientID, code string) (conf.ServiceDescription, error) {
	ds, err := b.conf.ServiceDescriptions(ctx, p)
	if err != nil {
		return conf.ServiceDescription{}, err
	}
	for _, d := range ds {
		for _, s := range d.Services {
			if s.Code == code {
				return d, nil
			}
		}
	}
	return conf.ServiceDescription{}, fmt.Errorf("%w: service %s", ErrNotFound, code)
}

func (b *fakeBackend) RefreshService(ctx context.Context, p xroad.ClientID, code, url string, doc []byte) (conf.ServiceDescription, error) {
	b.write()
	d, err := b.descriptionOf(ctx, p, code)
	if err != nil {
		return conf.ServiceDescription{}, err
	}
	return b.conf.RefreshServiceDescription(ctx, d.ID, url, doc)
}

func (b *fakeBackend) UpdateService(ctx context.Context, p xroad.ClientID, s conf.Service) error {
	b.write()
	return b.conf.UpdateService(ctx, p, s)
}

func (b *fakeBackend) DeleteService(ctx context.Context, p xroad.ClientID, code string) error {
	b.write()
	return b.conf.DeleteService(ctx, p, code)
}

func (b *fakeBackend) AccessRights(ctx context.Context, p xroad.ClientID) ([]conf.AccessRight, error) {
	return b.conf.AccessRights(ctx, p)
}

func (b *fakeBackend) GrantAccess(ctx context.Context, r conf.AccessRight) error {
	b.write()
	return b.conf.AddAccessRight(ctx, r)
}

func (b *fakeBackend) RevokeAccess(ctx context.Context, r conf.AccessRight) error {
	b.write()
	return b.conf.RemoveAccessRight(ctx, r)
}

// Keys.

func (b *fakeBackend) Keys(context.Context) ([]KeyInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []KeyInfo{*b.keys["auth"]}
	var ids []string
	for id := range b.keys {
		if id != "auth" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		out = append(out, *b.keys[id])
	}
	return out, nil
}

func (b *fakeBackend) key(id string) (*KeyInfo, error) {
	k, ok := b.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: key %q", ErrNotFound, id)
	}
	return k, nil
}

func (b *fakeBackend) GenerateSignKey(_ context.Context, m xroad.MemberID) (KeyInfo, error) {
	b.write()
	b.mu.Lock()
	defer b.mu.Unlock()
	id := "sign-" + m.Class + "-" + m.Code
	if _, ok := b.keys[id]; ok {
		return KeyInfo{}, fmt.Errorf("%w: key %s exists", ErrConflict, id)
	}
	key, err := ecdsa.GenerateKey(b.signers["auth"].Curve, rand.Reader)
	if err != nil {
		return KeyInfo{}, err
	}
	b.keys[id] = &KeyInfo{ID: id, Usage: UsageSign, Member: m}
	b.signers[id] = key
	return *b.keys[id], nil
}

func (b *fakeBackend) CertificateRequest(_ context.Context, id string, _ xroad.MemberID, dnsNames []string) ([]byte, error) {
	b.write()
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.key(id); err != nil {
		return nil, err
	}
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: id}, DNSNames: dnsNames}, b.signers[id])
}

// reissue gives key id a new certificate from the test PKI: pending for
// the auth key.
func (b *fakeBackend) reissue(id string) (KeyInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, err := b.key(id)
	if err != nil {
		return KeyInfo{}, err
	}
	if k.Usage == UsageAuth {
		registered := false
		k.Pending = &CertInfo{Chain: k.Certificate.Chain, OCSPStatus: OCSPUnknown, OCSPError: "not yet checked", Registered: &registered}
	} else if k.Certificate == nil {
		k.Certificate = b.keys["sign-GOV-MOI"].Certificate
	}
	return *k, nil
}

func (b *fakeBackend) Enrol(_ context.Context, id string, _ CAOptions, _ string, _ xroad.MemberID, _ []string) (KeyInfo, error) {
	b.write()
	return b.reissue(id)
}

func (b *fakeBackend) Renew(_ context.Context, id string, _ CAOptions) (KeyInfo, error) {
	b.write()
	return b.reissue(id)
}

func (b *fakeBackend) ImportCertificate(_ context.Context, chain []*x509.Certificate) (KeyInfo, error) {
	b.write()
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, s := range b.signers {
		if s.PublicKey.Equal(chain[0].PublicKey) {
			b.keys[id].Certificate = &CertInfo{Chain: chain, OCSPStatus: OCSPGood}
			return *b.keys[id], nil
		}
	}
	return KeyInfo{}, fmt.Errorf("%w: no key for this certificate", ErrNotFound)
}

func (b *fakeBackend) RegisterAuthCertificate(_ context.Context, id string) (mgmtproto.Status, error) {
	b.write()
	if id != "auth" {
		return mgmtproto.Status{}, fmt.Errorf("%w: %s is not the authentication key", ErrInvalid, id)
	}
	return b.status(mgmtproto.TypeAuthCertRegistration), nil
}

func (b *fakeBackend) ActivateAuthCertificate(_ context.Context, id string) (KeyInfo, error) {
	b.write()
	b.mu.Lock()
	defer b.mu.Unlock()
	k, err := b.key(id)
	if err != nil {
		return KeyInfo{}, err
	}
	if k.Pending == nil {
		return KeyInfo{}, fmt.Errorf("%w: no pending certificate", ErrConflict)
	}
	k.Certificate, k.Pending = k.Pending, nil
	return *k, nil
}

func (b *fakeBackend) InternalTLSCertificate(context.Context) ([]*x509.Certificate, error) {
	return b.keys["auth"].Certificate.Chain[:1], nil
}

// Message log.

func (b *fakeBackend) MessageLogSettings(context.Context) (LogSettings, error) {
	return LogSettings{TimestampingInterval: time.Minute, TimestampingGrace: 4 * time.Hour, DefaultBodyLogging: conf.BodyLoggingFull,
		MaxLoggedBody: 10 << 20, BodyKeyID: "body-1"}, nil
}

func (b *fakeBackend) SearchMessageLog(_ context.Context, q MessageLogQuery) ([]MessageRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastQuery = q
	out := []MessageRecord{}
	for _, r := range b.records {
		if r.ID > q.After && (q.MessageID == "" || r.MessageID == q.MessageID) && len(out) < q.Limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (b *fakeBackend) ExportEvidence(_ context.Context, id string, _ []byte) ([]byte, error) {
	for _, r := range b.records {
		if r.MessageID == id {
			return []byte("evidence of " + id), nil
		}
	}
	return nil, fmt.Errorf("%w: exchange %s", ErrNotFound, id)
}

// testEnv is one test's API over a fake backend and a real SQLite store.
type testEnv struct {
	t       *testing.T
	ctx     context.Context
	clk     *clock.Fake
	store   conf.Store
	admin   conf.AdminStore
	backend *fakeBackend
	api     *API
	srv     *httptest.Server
	// docs serves OpenAPI documents for the fetch-by-URL operations.
	docs *httptest.Server
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	clk := clock.NewFake(t0)
	st := storetest.Open(t, func() (conf.Store, error) {
		return conf.OpenSQLite(t.Context(), storetest.SQLitePath(t), conf.WithClock(clk))
	})
	e := &testEnv{t: t, ctx: t.Context(), clk: clk, store: st, admin: st.(conf.AdminStore)}
	e.backend = newFakeBackend(t, st)
	e.docs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/persons.yaml":
			_, _ = io.WriteString(w, personsOpenAPI)
		case "/persons-v2.yaml":
			_, _ = io.WriteString(w, personsOpenAPIv2)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(e.docs.Close)
	api, err := New(Config{Backend: e.backend, Store: e.admin, Clock: clk, Fetcher: &Fetcher{Client: e.docs.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	e.srv = httptest.NewServer(api.Handler())
	t.Cleanup(e.srv.Close)
	// The local configuration every fixture starts from.
	e.must(st.AddClient(e.ctx, conf.Client{ID: moiSub, Connection: conf.ConnHTTP, Status: conf.StatusRegistered, BodyLogging: conf.BodyLoggingFull}))
	_, err = st.AddServiceDescription(e.ctx, conf.ServiceDescription{Client: moiSub, Type: conf.DescriptionOpenAPI,
		URL: e.docs.URL + "/persons.yaml", Document: []byte(personsOpenAPI),
		Services: []conf.Service{{Code: "persons", URL: "http://backend.moi.test/", Timeout: 30 * time.Second, VerifyTLS: true}}})
	e.must(err)
	e.must(st.AddLocalGroup(e.ctx, conf.LocalGroup{Client: moiSub, Code: "ministries", Description: "ministries"}))
	return e
}

func (e *testEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// with returns a copy of e that reports to t.
func (e *testEnv) with(t *testing.T) *testEnv {
	c := *e
	c.t = t
	return &c
}

// newKey stores an API key with roles and returns its secret.
func (e *testEnv) newKey(name string, expires time.Time, roles ...Role) (string, conf.APIKey) {
	e.t.Helper()
	secret := NewAPIKeySecret()
	rs := make([]string, len(roles))
	for i, r := range roles {
		rs[i] = string(r)
	}
	k, err := e.admin.CreateAPIKey(e.ctx, conf.APIKey{Name: name, Hash: conf.HashAPIKeySecret([]byte(secret)), Roles: rs,
		ExpiresAt: expires, CreatedBy: "test"})
	e.must(err)
	return secret, k
}

// do sends a request with the API key secret (none when empty) and a JSON
// body (none when nil), and returns the response with its body read.
func (e *testEnv) do(method, path, secret string, body any) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", APIKeyScheme+" token="+secret)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

// lastAuditID returns the id of the newest audit event (0 when none).
func (e *testEnv) lastAuditID() int64 {
	e.t.Helper()
	evs, err := e.admin.AuditEvents(e.ctx, conf.AuditQuery{NewestFirst: true, Limit: 1})
	e.must(err)
	if len(evs) == 0 {
		return 0
	}
	return evs[0].ID
}

// auditAfter returns the audit events after id.
func (e *testEnv) auditAfter(id int64) []conf.AuditEvent {
	e.t.Helper()
	evs, err := e.admin.AuditEvents(e.ctx, conf.AuditQuery{AfterID: id})
	e.must(err)
	return evs
}
