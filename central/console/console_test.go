package console_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/central"
	"github.com/jisr-bus/jisr/central/console"
	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/xroad"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

var (
	moi    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	cab    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "CAB"}
	ss1    = xroad.ServerID{Owner: moi, Code: "ss1"}
	portal = cab.Subsystem("portal")
)

// noConfiguration is a publisher that has published nothing yet.
type noConfiguration struct{}

func (noConfiguration) Latest(context.Context) (registry.PublishedConfig, error) {
	return registry.PublishedConfig{}, registry.ErrNotFound
}

func (noConfiguration) Regenerate(context.Context) (registry.PublishedConfig, bool, error) {
	return registry.PublishedConfig{}, false, registry.ErrNotFound
}

// decider decides in the registry directly (central/mgmt's Processor also
// applies the request; that is not what is tested here).
type decider struct{ st registry.Store }

func (d decider) Approve(ctx context.Context, id int64, actor string) (registry.ManagementRequest, error) {
	return d.st.DecideRequest(ctx, id, registry.Decision{Status: registry.StatusApproved, By: actor})
}

func (d decider) Reject(ctx context.Context, id int64, actor, comment string) (registry.ManagementRequest, error) {
	return d.st.DecideRequest(ctx, id, registry.Decision{Status: registry.StatusRejected, By: actor, Comment: comment})
}

type env struct {
	t       *testing.T
	ctx     context.Context
	st      registry.Store
	srv     *httptest.Server
	secrets map[string]string
	pending int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	clk := clock.NewFake(t0)
	st, err := registry.OpenSQLite(ctx, storetest.SQLitePath(t), registry.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{t: t, ctx: ctx, st: st, secrets: map[string]string{}}
	err = st.Update(ctx, func(tx registry.Tx) error {
		for _, step := range []func() error{
			func() error { return tx.SetInstance(ctx, "PS") },
			func() error {
				return tx.AddMemberClass(ctx, registry.MemberClass{Code: "GOV", Description: "Government"})
			},
			func() error { return tx.AddMember(ctx, moi, "Ministry of Interior") },
			func() error { return tx.AddMember(ctx, cab, "Cabinet Secretariat") },
			func() error { return tx.AddSubsystem(ctx, portal) },
			func() error { return tx.AddSecurityServer(ctx, ss1, []string{"ss1.moi.ps.example:5500"}) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		for _, r := range central.AllRoles() {
			secret := central.NewAPIKeySecret()
			if _, err := tx.CreateAPIKey(ctx, registry.APIKey{Name: "key-" + string(r), Hash: registry.HashAPIKeySecret([]byte(secret)),
				Roles: []string{string(r)}}); err != nil {
				return err
			}
			e.secrets[string(r)] = secret
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.SubmitRequest(ctx, registry.ManagementRequest{Type: registry.RequestClientRegistration, Server: ss1,
		Client: moi.Subsystem("civil-registry"), Payload: json.RawMessage(`{"client":"PS/GOV/MOI/civil-registry"}`), Signed: []byte("signed")})
	if err != nil {
		t.Fatal(err)
	}
	e.pending = r.ID

	api, err := central.NewAPI(central.APIConfig{Store: st, Publisher: noConfiguration{}, Decider: decider{st}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api.Handler())
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"status":"fail","checks":{"database":"ok","configuration":"not found"}}`)
	})
	h, err := console.New(console.Config{Instance: "PS", Admin: mux, Identify: central.IdentifyAPIKey(st, clk), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/console/", h)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status   int
	location string
	body     string
}

func (b *browser) do(method, path string, form url.Values) page {
	b.e.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, rd)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: html.UnescapeString(string(body))}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

func (b *browser) follow(path string) page {
	p := b.get(path)
	for i := 0; p.status == http.StatusSeeOther && i < 5; i++ {
		p = b.get(p.location)
	}
	return p
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrf(t *testing.T, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token (%d):\n%s", p.status, p.body)
	}
	return m[1]
}

func (b *browser) signIn(role string) page {
	b.e.t.Helper()
	p := b.do(http.MethodPost, "/console/login", url.Values{"csrf": {csrf(b.e.t, b.get("/console/login"))}, "apiKey": {b.e.secrets[role]}})
	if p.status != http.StatusSeeOther {
		b.e.t.Fatalf("sign-in as %s: %d %s", role, p.status, p.body)
	}
	return b.follow(p.location)
}

func (e *env) request(id int64) registry.ManagementRequest {
	e.t.Helper()
	r, err := e.st.ManagementRequest(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// TestRoles keeps the console's role names equal to the API's.
func TestRoles(t *testing.T) {
	var want []string
	for _, r := range central.AllRoles() {
		want = append(want, string(r))
	}
	if !slices.Equal(console.AllRoles(), want) {
		t.Fatalf("console roles %v, API roles %v", console.AllRoles(), want)
	}
}

// TestApproveManagementRequest: a registration officer approves a pending
// management request from the requests page; an observer is shown no
// button and, posting anyway, the API's refusal; a security officer the
// same. The approval is in the audit trail under the officer's key.
func TestApproveManagementRequest(t *testing.T) {
	e := newEnv(t)
	id := "1"

	obs := e.browser()
	p := obs.signIn(console.RoleObserver)
	if !strings.Contains(p.body, `id="configuration"`) && !strings.Contains(p.body, "No configuration has been published yet.") {
		t.Fatalf("observer's home:\n%s", p.body)
	}
	p = obs.get("/console/requests")
	if !strings.Contains(p.body, `id="request-`+id+`"`) || strings.Contains(p.body, `id="approve-`+id+`"`) {
		t.Fatalf("observer's requests page:\n%s", p.body)
	}
	r := obs.do(http.MethodPost, "/console/requests/"+id+"/approve", url.Values{"csrf": {csrf(t, p)}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, `API key "key-OBSERVER" lacks a role allowed to POST /api/v1/management-requests/{requestId}/approve`) {
		t.Fatalf("observer approving: %d %s", r.status, r.body)
	}
	sec := e.browser()
	sec.signIn(console.RoleSecurityOfficer)
	if r := sec.do(http.MethodPost, "/console/requests/"+id+"/approve", url.Values{"csrf": {csrf(t, sec.get("/console/requests"))}}); r.status != http.StatusForbidden {
		t.Fatalf("security officer approving: %d", r.status)
	}
	if got := e.request(e.pending); got.Status != registry.StatusPending {
		t.Fatalf("after refusals the request is %s", got.Status)
	}

	reg := e.browser()
	reg.signIn(console.RoleRegistrationOfficer)
	p = reg.get("/console/requests")
	if !strings.Contains(p.body, `id="approve-`+id+`"`) || !strings.Contains(p.body, "clientRegistration") || !strings.Contains(p.body, "PS:GOV:MOI:civil-registry") {
		t.Fatalf("registration officer's requests page:\n%s", p.body)
	}
	detail := reg.get("/console/requests/" + id)
	if !strings.Contains(detail.body, `"client": "PS/GOV/MOI/civil-registry"`) {
		t.Errorf("request page lacks the payload:\n%s", detail.body)
	}
	r = reg.do(http.MethodPost, "/console/requests/"+id+"/approve", url.Values{"csrf": {csrf(t, p)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	if p := reg.follow(r.location); !strings.Contains(p.body, "Management request #1 (clientRegistration) is APPROVED.") || strings.Contains(p.body, `id="request-1"`) {
		t.Fatalf("after approving:\n%s", p.body)
	}
	got := e.request(e.pending)
	if got.Status != registry.StatusApproved || got.DecidedBy != "key-REGISTRATION_OFFICER" {
		t.Fatalf("request %+v", got)
	}
	evs, err := e.st.AuditEvents(e.ctx, registry.AuditQuery{NewestFirst: true, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Action != "managementRequest.approve" || evs[0].Actor != "key-REGISTRATION_OFFICER" || evs[0].Outcome != registry.OutcomeSuccess {
		t.Errorf("last audit event %+v", evs[0])
	}
	// Approving again: the API's conflict, shown as it came.
	if r := reg.do(http.MethodPost, "/console/requests/"+id+"/approve", url.Values{"csrf": {csrf(t, p)}}); r.status != http.StatusConflict {
		t.Fatalf("approving twice: %d %s", r.status, r.body)
	}
}

// TestPages: every page renders for the roles that read it, with what the
// registry holds; a registration officer adds a member and a subsystem;
// the navigation follows the role.
func TestPages(t *testing.T) {
	e := newEnv(t)
	sa := e.browser()
	home := sa.signIn(console.RoleSystemAdministrator)
	for _, want := range []string{"No configuration has been published yet.", "configuration", "not found", `href="/console/api-keys"`, `id="regenerate"`} {
		if !strings.Contains(home.body, want) {
			t.Errorf("configuration page lacks %q", want)
		}
	}
	for path, want := range map[string]string{
		"/console/members":          "Cabinet Secretariat",
		"/console/security-servers": "ss1.moi.ps.example:5500",
		"/console/global-groups":    `id="groups"`,
		"/console/trust":            "No approved CAs.",
		"/console/catalogue":        "No services match.",
		"/console/api-keys":         "key-OBSERVER",
		"/console/audit":            "No events.",
		"/console/requests?status=": "clientRegistration",
	} {
		if p := sa.get(path); p.status != http.StatusOK || !strings.Contains(p.body, want) {
			t.Errorf("%s: %d, lacks %q", path, p.status, want)
		}
	}

	obs := e.browser()
	p := obs.signIn(console.RoleObserver)
	if strings.Contains(p.body, `href="/console/api-keys"`) || strings.Contains(p.body, `id="regenerate"`) {
		t.Error("observer sees API keys or regeneration")
	}
	if p := obs.get("/console/members"); strings.Contains(p.body, `id="add-member"`) {
		t.Error("observer sees the add-member form")
	}

	reg := e.browser()
	reg.signIn(console.RoleRegistrationOfficer)
	p = reg.get("/console/members")
	r := reg.do(http.MethodPost, "/console/members", url.Values{"csrf": {csrf(t, p)}, "memberClass": {"GOV"}, "memberCode": {"MOH"}, "name": {"Ministry of Health"}})
	if p := reg.follow(r.location); !strings.Contains(p.body, "Member PS:GOV:MOH (Ministry of Health) added.") {
		t.Fatalf("add member: %d %s", r.status, p.body)
	}
	r = reg.do(http.MethodPost, "/console/members/PS:GOV:MOH/subsystems", url.Values{"csrf": {csrf(t, p)}, "subsystemCode": {"insurance"}})
	if p := reg.follow(r.location); !strings.Contains(p.body, "Subsystem PS:GOV:MOH:insurance added.") {
		t.Fatalf("add subsystem: %d %s", r.status, p.body)
	}
	r = reg.do(http.MethodPost, "/console/global-groups", url.Values{"csrf": {csrf(t, p)}, "code": {"ministries"}, "description": {"Ministries"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add group: %d %s", r.status, r.body)
	}
	r = reg.do(http.MethodPost, "/console/global-groups/ministries/members", url.Values{"csrf": {csrf(t, p)}, "client": {"PS/GOV/MOH/insurance"}})
	if p := reg.follow(r.location); !strings.Contains(p.body, "<code>PS:GOV:MOH:insurance</code>") {
		t.Fatalf("add group member: %d %s", r.status, p.body)
	}
	if _, err := e.st.Member(e.ctx, xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOH"}); err != nil {
		t.Fatalf("member not in the registry: %v", err)
	}
}
