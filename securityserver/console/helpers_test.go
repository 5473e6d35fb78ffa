package console

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/admin"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

var (
	moi    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	moiSub = moi.Subsystem("civil-registry")
	server = xroad.ServerID{Owner: moi, Code: "ss1"}
)

const personsOpenAPI = `openapi: 3.0.3
info: {title: Persons, version: "1"}
paths:
  /persons/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {"200": {description: ok}}}
  /persons:
    post: {responses: {"201": {description: created}}}
`

// backend is an admin.Backend over a real conf.Store (SQLite) for clients,
// services, access rights and local groups, with keys from a test PKI and
// an empty message log.
type backend struct {
	conf conf.Store
	mu   sync.Mutex
	next int64
	keys []admin.KeyInfo
}

var _ admin.Backend = (*backend)(nil)

func (b *backend) status(typ mgmtproto.Type) mgmtproto.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	return mgmtproto.Status{ID: b.next, RequestID: "00000000-0000-4000-8000-000000000001", Type: typ, Status: mgmtproto.StatusPending}
}

func (b *backend) Clients(ctx context.Context) ([]conf.Client, error) { return b.conf.Clients(ctx) }
func (b *backend) Client(ctx context.Context, id xroad.ClientID) (conf.Client, error) {
	return b.conf.Client(ctx, id)
}

func (b *backend) AddClient(ctx context.Context, c conf.Client, register bool) (conf.Client, *mgmtproto.Status, error) {
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

func (b *backend) setStatus(ctx context.Context, id xroad.ClientID, s conf.ClientStatus) (conf.Client, error) {
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

func (b *backend) RegisterClient(ctx context.Context, id xroad.ClientID) (conf.Client, mgmtproto.Status, error) {
	c, err := b.setStatus(ctx, id, conf.StatusRegistrationInProgress)
	return c, b.status(mgmtproto.TypeClientRegistration), err
}

func (b *backend) UnregisterClient(ctx context.Context, id xroad.ClientID) (conf.Client, mgmtproto.Status, error) {
	c, err := b.setStatus(ctx, id, conf.StatusDeletionInProgress)
	return c, b.status(mgmtproto.TypeClientDeletion), err
}

func (b *backend) UpdateClient(ctx context.Context, id xroad.ClientID, conn conf.ConnectionType, bodies conf.BodyLogging) (conf.Client, error) {
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

func (b *backend) DeleteClient(ctx context.Context, id xroad.ClientID) error {
	return b.conf.DeleteClient(ctx, id)
}

func (b *backend) ISCertificates(ctx context.Context, id xroad.ClientID) ([]conf.ISCertificate, error) {
	return b.conf.(conf.ISCertStore).ISCertificates(ctx, id)
}

func (b *backend) AddISCertificate(ctx context.Context, id xroad.ClientID, der []byte) (conf.ISCertificate, error) {
	return b.conf.(conf.ISCertStore).AddISCertificate(ctx, id, der)
}

func (b *backend) RemoveISCertificate(ctx context.Context, id xroad.ClientID, hash string) error {
	return b.conf.(conf.ISCertStore).RemoveISCertificate(ctx, id, hash)
}

func (b *backend) LocalGroups(ctx context.Context, id xroad.ClientID) ([]conf.LocalGroup, error) {
	return b.conf.LocalGroups(ctx, id)
}

func (b *backend) LocalGroup(ctx context.Context, id xroad.ClientID, code string) (conf.LocalGroup, error) {
	return b.conf.LocalGroup(ctx, id, code)
}

func (b *backend) AddLocalGroup(ctx context.Context, g conf.LocalGroup) (conf.LocalGroup, error) {
	if err := b.conf.AddLocalGroup(ctx, g); err != nil {
		return conf.LocalGroup{}, err
	}
	return b.conf.LocalGroup(ctx, g.Client, g.Code)
}

func (b *backend) DeleteLocalGroup(ctx context.Context, id xroad.ClientID, code string) error {
	return b.conf.DeleteLocalGroup(ctx, id, code)
}

func (b *backend) AddLocalGroupMember(ctx context.Context, id xroad.ClientID, code string, m xroad.ClientID) (conf.LocalGroup, error) {
	if err := b.conf.AddLocalGroupMember(ctx, id, code, m); err != nil {
		return conf.LocalGroup{}, err
	}
	return b.conf.LocalGroup(ctx, id, code)
}

func (b *backend) RemoveLocalGroupMember(ctx context.Context, id xroad.ClientID, code string, m xroad.ClientID) error {
	return b.conf.RemoveLocalGroupMember(ctx, id, code, m)
}

func (b *backend) ServiceDescriptions(ctx context.Context, id xroad.ClientID) ([]conf.ServiceDescription, error) {
	return b.conf.ServiceDescriptions(ctx, id)
}

func (b *backend) AddService(ctx context.Context, s admin.NewService) (conf.ServiceDescription, *mgmtproto.Status, error) {
	d := conf.ServiceDescription{Client: s.Provider, Type: conf.DescriptionREST, URL: s.DescriptionURL,
		Services: []conf.Service{{Code: s.Code, Version: s.Version, URL: s.URL, Timeout: s.Timeout, VerifyTLS: s.VerifyTLS}}}
	if len(s.OpenAPI) > 0 {
		d.Type, d.Document = conf.DescriptionOpenAPI, s.OpenAPI
	}
	out, err := b.conf.AddServiceDescription(ctx, d)
	return out, nil, err
}

func (b *backend) RefreshService(ctx context.Context, p xroad.ClientID, code, u string, doc []byte) (conf.ServiceDescription, error) {
	ds, err := b.conf.ServiceDescriptions(ctx, p)
	if err != nil {
		return conf.ServiceDescription{}, err
	}
	for _, d := range ds {
		for _, s := range d.Services {
			if s.Code == code {
				return b.conf.RefreshServiceDescription(ctx, d.ID, u, doc)
			}
		}
	}
	return conf.ServiceDescription{}, fmt.Errorf("%w: %s", admin.ErrNotFound, code)
}

func (b *backend) UpdateService(ctx context.Context, p xroad.ClientID, s conf.Service) error {
	return b.conf.UpdateService(ctx, p, s)
}

func (b *backend) DeleteService(ctx context.Context, p xroad.ClientID, code string) error {
	return b.conf.DeleteService(ctx, p, code)
}

func (b *backend) AccessRights(ctx context.Context, p xroad.ClientID) ([]conf.AccessRight, error) {
	return b.conf.AccessRights(ctx, p)
}

func (b *backend) GrantAccess(ctx context.Context, r conf.AccessRight) error {
	return b.conf.AddAccessRight(ctx, r)
}

func (b *backend) RevokeAccess(ctx context.Context, r conf.AccessRight) error {
	return b.conf.RemoveAccessRight(ctx, r)
}

func (b *backend) Keys(context.Context) ([]admin.KeyInfo, error) { return b.keys, nil }

func (b *backend) GenerateSignKey(context.Context, xroad.MemberID) (admin.KeyInfo, error) {
	return admin.KeyInfo{}, admin.ErrUnavailable
}

func (b *backend) CertificateRequest(context.Context, string, xroad.MemberID, []string) ([]byte, error) {
	return nil, admin.ErrUnavailable
}

func (b *backend) Enrol(context.Context, string, admin.CAOptions, string, xroad.MemberID, []string) (admin.KeyInfo, error) {
	return admin.KeyInfo{}, admin.ErrUnavailable
}

func (b *backend) Renew(context.Context, string, admin.CAOptions) (admin.KeyInfo, error) {
	return admin.KeyInfo{}, admin.ErrUnavailable
}

func (b *backend) ImportCertificate(context.Context, []*x509.Certificate) (admin.KeyInfo, error) {
	return admin.KeyInfo{}, admin.ErrUnavailable
}

func (b *backend) RegisterAuthCertificate(context.Context, string) (mgmtproto.Status, error) {
	return mgmtproto.Status{}, admin.ErrUnavailable
}

func (b *backend) ActivateAuthCertificate(context.Context, string) (admin.KeyInfo, error) {
	return admin.KeyInfo{}, admin.ErrUnavailable
}

func (b *backend) InternalTLSCertificate(context.Context) ([]*x509.Certificate, error) {
	return nil, nil
}

func (b *backend) MessageLogSettings(context.Context) (admin.LogSettings, error) {
	return admin.LogSettings{}, nil
}

func (b *backend) SearchMessageLog(context.Context, admin.MessageLogQuery) ([]admin.MessageRecord, error) {
	return nil, nil
}

func (b *backend) ExportEvidence(context.Context, string, []byte) ([]byte, error) {
	return nil, admin.ErrNotFound
}

// opmonFake stands for the operational monitoring query API: it answers
// the owner member with one record and refuses anyone else as X-Road's
// UnknownMember, remembering the client it was asked as.
type opmonFake struct {
	mu    sync.Mutex
	asked []string
}

func (o *opmonFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := r.Header.Get("X-Road-Client")
	o.mu.Lock()
	o.asked = append(o.asked, c+" "+r.URL.RawQuery)
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if c != "PS/GOV/MOI" {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"type":"Server.ClientProxy.UnknownMember","message":"client \"`+c+`\" not found","detail":"d-1"}`)
		return
	}
	_, _ = io.WriteString(w, `{"records":[{"monitoringDataTs":1777626000,"securityServerType":"Producer","requestInTs":1777626000100,"responseOutTs":1777626000142,`+
		`"clientXRoadInstance":"PS","clientMemberClass":"GOV","clientMemberCode":"CAB","clientSubsystemCode":"portal",`+
		`"serviceXRoadInstance":"PS","serviceMemberClass":"GOV","serviceMemberCode":"MOI","serviceSubsystemCode":"civil-registry","serviceCode":"persons",`+
		`"restMethod":"GET","restPath":"/persons/4001","messageId":"msg-opmon-1","succeeded":true,"statusCode":200,"requestSize":0,"responseSize":57}],"nextCursor":"AQ"}`)
}

// env is a console over a real admin API (SQLite configuration store, a
// fake backend), a fake readiness handler and a fake monitoring API.
type env struct {
	t       *testing.T
	ctx     context.Context
	clk     *clock.Fake
	store   conf.Store
	admin   conf.AdminStore
	opmon   *opmonFake
	srv     *httptest.Server
	secrets map[admin.Role]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	clk := clock.NewFake(t0)
	st, err := conf.OpenSQLite(ctx, storetest.SQLitePath(t), conf.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{t: t, ctx: ctx, clk: clk, store: st, admin: st.(conf.AdminStore), opmon: &opmonFake{}, secrets: map[admin.Role]string{}}
	must(t, st.AddClient(ctx, conf.Client{ID: moiSub, Connection: conf.ConnHTTP, Status: conf.StatusRegistered, BodyLogging: conf.BodyLoggingFull}))
	must(t, st.AddClient(ctx, conf.Client{ID: moi.Client(), Connection: conf.ConnHTTP, Status: conf.StatusRegistered, BodyLogging: conf.BodyLoggingFull}))

	p := testpki.New(t, t0, testpki.Name("console test"))
	_, authChain := p.Leaf(t, profile.Auth, server, "ss1.moi.ps")
	registered := true
	b := &backend{conf: st, keys: []admin.KeyInfo{{ID: "auth", Usage: admin.UsageAuth,
		Certificate: &admin.CertInfo{Chain: authChain, OCSPStatus: admin.OCSPGood, Registered: &registered}}}}
	api, err := admin.New(admin.Config{Backend: b, Store: e.admin, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api.Handler())
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"status":"fail","checks":{"global-configuration":"ok","timestamping":"oldest unstamped record is 5h old"}}`)
	})
	h, err := New(Config{Server: server, Admin: mux, Exchanges: e.opmon, Identify: Identify(e.admin, clk), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/console/", h)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	for _, r := range admin.AllRoles() {
		e.secrets[r] = e.newKey(string(r), time.Time{}, r)
	}
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newKey stores an API key with roles and returns its secret.
func (e *env) newKey(name string, expires time.Time, roles ...admin.Role) string {
	e.t.Helper()
	rs := make([]string, 0, len(roles))
	for _, r := range roles {
		rs = append(rs, string(r))
	}
	_, secret, err := admin.CreateAPIKey(e.ctx, e.admin, name, rs, timePtr(expires), "test")
	must(e.t, err)
	return secret
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	e   *env
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	must(e.t, err)
	return &browser{e: e, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is one answer.
type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	must(b.e.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(b.e.t, err)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	must(b.e.t, err)
	return b.do(req)
}

// follow GETs path and follows redirects within the console.
func (b *browser) follow(path string) page {
	b.e.t.Helper()
	p := b.get(path)
	for i := 0; p.status == http.StatusSeeOther && i < 5; i++ {
		p = b.get(p.location)
	}
	return p
}

func (b *browser) post(path string, form url.Values) page {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	must(b.e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// postFile sends a multipart form with one file field.
func (b *browser) postFile(path string, form url.Values, field, filename, content string) page {
	b.e.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for k, vv := range form {
			for _, v := range vv {
				_ = mw.WriteField(k, v)
			}
		}
		if field != "" {
			fw, err := mw.CreateFormFile(field, filename)
			if err == nil {
				_, _ = io.WriteString(fw, content)
			}
		}
		_ = pw.CloseWithError(mw.Close())
	}()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, pr)
	must(b.e.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the first CSRF token of a page.
func csrf(t *testing.T, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page (%d):\n%s", p.status, p.body)
	}
	return m[1]
}

// signIn signs in with secret and returns the first page shown.
func (b *browser) signIn(secret string) page {
	b.e.t.Helper()
	form := b.get("/console/login")
	if form.status != http.StatusOK {
		b.e.t.Fatalf("GET /console/login: %d", form.status)
	}
	p := b.post("/console/login", url.Values{"csrf": {csrf(b.e.t, form)}, "apiKey": {secret}})
	if p.status != http.StatusSeeOther {
		b.e.t.Fatalf("sign-in: %d %s", p.status, p.body)
	}
	return b.follow(p.location)
}

// apiClients lists the clients straight from the API (as the sysadmin key).
func (e *env) apiClients() []admin.Client {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/clients", nil)
	must(e.t, err)
	req.Header.Set("Authorization", "X-Road-ApiKey token="+e.secrets[admin.RoleSystemAdministrator])
	resp, err := http.DefaultClient.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	var out []admin.Client
	must(e.t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

// auditEvents returns the admin audit trail, oldest first.
func (e *env) auditEvents() []conf.AuditEvent {
	e.t.Helper()
	evs, err := e.admin.AuditEvents(e.ctx, conf.AuditQuery{Limit: conf.MaxAuditLimit})
	must(e.t, err)
	return evs
}
