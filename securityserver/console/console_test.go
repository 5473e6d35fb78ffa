package console

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/securityserver/admin"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// TestSignIn: pages need a session; the sign-in form needs its own token;
// a wrong key is refused; the session cookie is HttpOnly, SameSite=Strict,
// scoped to /console/ and does not carry the key; signing out ends the
// session.
func TestSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()

	if p := b.get("/console/clients"); p.status != http.StatusSeeOther || p.location != "/console/login" {
		t.Fatalf("without a session: %d %q", p.status, p.location)
	}
	form := b.get("/console/login")
	if form.status != http.StatusOK || !strings.Contains(form.body, `name="apiKey"`) {
		t.Fatalf("sign-in form: %d", form.status)
	}
	if csp := form.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || form.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("security headers: %v", form.header)
	}

	t.Run("token missing", func(t *testing.T) {
		p := b.post("/console/login", url.Values{"apiKey": {e.secrets[admin.RoleObserver]}})
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "sign-in form expired") {
			t.Fatalf("got %d", p.status)
		}
	})
	t.Run("login token from another browser", func(t *testing.T) {
		other := e.browser()
		p := other.post("/console/login", url.Values{"csrf": {csrf(t, b.get("/console/login"))}, "apiKey": {e.secrets[admin.RoleObserver]}})
		if p.status != http.StatusForbidden {
			t.Fatalf("got %d", p.status)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		p := b.post("/console/login", url.Values{"csrf": {csrf(t, b.get("/console/login"))}, "apiKey": {"not-a-key"}})
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "not accepted") {
			t.Fatalf("got %d %s", p.status, p.body)
		}
	})
	t.Run("expired key", func(t *testing.T) {
		s := e.newKey("short", t0.Add(time.Minute), admin.RoleObserver)
		e.clk.Add(2 * time.Minute)
		p := b.post("/console/login", url.Values{"csrf": {csrf(t, b.get("/console/login"))}, "apiKey": {s}})
		if p.status != http.StatusUnauthorized {
			t.Fatalf("got %d", p.status)
		}
	})

	secret := e.secrets[admin.RoleSystemAdministrator]
	p := b.post("/console/login", url.Values{"csrf": {csrf(t, b.get("/console/login"))}, "apiKey": {secret}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", p.status, p.body)
	}
	var session *http.Cookie
	for _, c := range strings.Split(strings.Join(p.header.Values("Set-Cookie"), "\n"), "\n") {
		if strings.HasPrefix(c, "jisr-ss-console-") && !strings.Contains(c, "-login=") {
			parsed, err := http.ParseSetCookie(c)
			must(t, err)
			session = parsed
		}
	}
	if session == nil {
		t.Fatalf("no session cookie in %v", p.header.Values("Set-Cookie"))
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/console/" || session.Secure {
		t.Errorf("session cookie %+v", session)
	}
	if strings.Contains(session.Value, secret) || session.Value == "" {
		t.Error("the session cookie carries the key")
	}
	home := b.follow(p.location)
	if home.status != http.StatusOK || !strings.Contains(home.body, `id="clients"`) || !strings.Contains(home.body, "SYSTEM_ADMINISTRATOR") {
		t.Fatalf("home: %d %s", home.status, home.body)
	}

	out := b.post("/console/logout", url.Values{"csrf": {csrf(t, home)}})
	if out.status != http.StatusSeeOther || out.location != "/console/login" {
		t.Fatalf("sign-out: %d %q", out.status, out.location)
	}
	if p := b.get("/console/clients"); p.status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", p.status)
	}
	// The old cookie is dead on the server, not only in this browser.
	replay := e.browser()
	replay.jar.SetCookies(mustURL(t, e.srv.URL+"/console/"), []*http.Cookie{{Name: session.Name, Value: session.Value, Path: "/console/"}})
	if p := replay.get("/console/clients"); p.status != http.StatusSeeOther {
		t.Fatalf("replayed session cookie: %d", p.status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	must(t, err)
	return u
}

// TestSessionEnds: a session ends after its idle timeout, and at once when
// the API stops accepting the key (401 → signed out, told why).
func TestSessionEnds(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.secrets[admin.RoleObserver])
	e.clk.Add(31 * time.Minute)
	if p := b.get("/console/clients"); p.status != http.StatusSeeOther || p.location != "/console/login" {
		t.Fatalf("after the idle timeout: %d %q", p.status, p.location)
	}

	secret := e.newKey("to-revoke", time.Time{}, admin.RoleObserver)
	b.signIn(secret)
	k, err := e.admin.APIKeyByHash(e.ctx, conf.HashAPIKeySecret([]byte(secret)))
	must(t, err)
	_, err = e.admin.RevokeAPIKey(e.ctx, k.ID)
	must(t, err)
	p := b.get("/console/clients")
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "no longer accepts this key") || !strings.Contains(p.body, "revoked") {
		t.Fatalf("revoked key: %d %s", p.status, p.body)
	}
	if p := b.get("/console/clients"); p.status != http.StatusSeeOther {
		t.Fatalf("session still alive after a 401: %d", p.status)
	}
}

// TestCSRF: a POST without the session's token, with another session's
// token, or from another origin changes nothing; with it, it goes through.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	page := b.signIn(e.secrets[admin.RoleRegistrationOfficer])
	other := e.browser()
	otherToken := csrf(t, other.signIn(e.secrets[admin.RoleRegistrationOfficer]))
	before := len(e.apiClients())
	add := func(token string) url.Values {
		v := url.Values{"client": {"PS/GOV/MOI/new"}, "connectionType": {"HTTP"}, "bodyLogging": {"FULL"}, "register": {"on"}}
		if token != "" {
			v.Set("csrf", token)
		}
		return v
	}
	for name, token := range map[string]string{"no token": "", "wrong token": "x" + csrf(t, page), "another session's token": otherToken} {
		t.Run(name, func(t *testing.T) {
			p := b.post("/console/clients", add(token))
			if p.status != http.StatusForbidden || !strings.Contains(p.body, "CSRF") {
				t.Fatalf("got %d %s", p.status, p.body)
			}
			if n := len(e.apiClients()); n != before {
				t.Fatalf("%d clients, want %d", n, before)
			}
		})
	}
	t.Run("cross-origin", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/console/clients", strings.NewReader(add(csrf(t, page)).Encode()))
		must(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if p := b.do(req); p.status != http.StatusForbidden {
			t.Fatalf("got %d", p.status)
		}
		if n := len(e.apiClients()); n != before {
			t.Fatalf("%d clients, want %d", n, before)
		}
	})
	p := b.post("/console/clients", add(csrf(t, page)))
	if p.status != http.StatusSeeOther || p.location != "/console/clients/PS:GOV:MOI:new" {
		t.Fatalf("with the token: %d %q %s", p.status, p.location, p.body)
	}
	shown := b.follow(p.location)
	if !strings.Contains(shown.body, "Client PS:GOV:MOI:new added (REGISTRATION_IN_PROGRESS). Management request #1 (clientRegistration) is PENDING.") {
		t.Fatalf("flash missing:\n%s", shown.body)
	}
	if n := len(e.apiClients()); n != before+1 {
		t.Fatalf("%d clients, want %d", n, before+1)
	}
}

// TestRolesDecideWhatIsShown: each role sees its own navigation and forms.
func TestRolesDecideWhatIsShown(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		role admin.Role
		// home is where signing in lands.
		home      string
		nav, hide []string
		// client page of the subsystem: forms shown and hidden.
		forms, noForms []string
	}{
		{admin.RoleObserver, "/console/clients", []string{"/console/keys", "/console/health", "/console/exchanges"},
			[]string{"/console/api-keys", "/console/audit"}, nil, []string{`id="add-service"`, "/register", "/settings", "/local-groups\""}},
		{admin.RoleServiceAdministrator, "/console/clients", nil, []string{"/console/api-keys"},
			[]string{`id="add-service"`, "/settings", "/local-groups\""}, []string{"/register"}},
		{admin.RoleRegistrationOfficer, "/console/clients", nil, []string{"/console/api-keys"},
			[]string{"/register", "/unregister"}, []string{`id="add-service"`, "/settings"}},
		{admin.RoleSecurityOfficer, "/console/clients", nil, []string{"/console/api-keys"},
			[]string{"/settings"}, []string{`id="add-service"`, "/register"}},
		{admin.RoleSystemAdministrator, "/console/clients", []string{"/console/api-keys", "/console/audit"}, nil,
			nil, []string{`id="add-service"`, "/register", "/settings"}},
		{admin.RoleAuditor, "/console/exchanges", []string{"/console/exchanges", "/console/health"},
			[]string{"/console/clients", "/console/keys", "/console/api-keys"}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(string(tc.role), func(t *testing.T) {
			b := e.browser()
			home := b.signIn(e.secrets[tc.role])
			if home.status != http.StatusOK {
				t.Fatalf("home: %d %s", home.status, home.body)
			}
			if !strings.Contains(home.body, `aria-current="page"`) || !strings.Contains(home.body, `href="`+tc.home+`" aria-current`) {
				t.Errorf("home is not %s", tc.home)
			}
			for _, n := range tc.nav {
				if !strings.Contains(home.body, `<a href="`+n+`"`) {
					t.Errorf("navigation lacks %s", n)
				}
			}
			for _, n := range tc.hide {
				if strings.Contains(home.body, `<a href="`+n+`"`) {
					t.Errorf("navigation shows %s", n)
				}
			}
			if tc.role == admin.RoleAuditor {
				if !strings.Contains(home.body, `id="log-search"`) || strings.Contains(home.body, "operational monitoring") {
					t.Errorf("auditor's exchanges page:\n%s", home.body)
				}
				return
			}
			cp := b.get("/console/clients/PS:GOV:MOI:civil-registry")
			if cp.status != http.StatusOK {
				t.Fatalf("client page: %d", cp.status)
			}
			for _, f := range tc.forms {
				if !strings.Contains(cp.body, f) {
					t.Errorf("client page lacks %s", f)
				}
			}
			for _, f := range tc.noForms {
				if strings.Contains(cp.body, f) {
					t.Errorf("client page shows %s", f)
				}
			}
		})
	}
}

// TestRefusalShownPlainly: what the API refuses is shown as its message
// with its status, and nothing is done; the API's audit trail records the
// refusal under the operator's key. A page the role may not read is a 403
// page, not a crash.
func TestRefusalShownPlainly(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.signIn(e.secrets[admin.RoleObserver])
	before := len(e.apiClients())
	r := b.post("/console/clients", url.Values{"csrf": {csrf(t, p)}, "client": {"PS/GOV/MOI/sneaky"}})
	if r.status != http.StatusForbidden {
		t.Fatalf("observer adding a client: %d %s", r.status, r.body)
	}
	msg := `API key "SECURITY_SERVER_OBSERVER" lacks a role allowed to POST /api/v1/clients`
	if !strings.Contains(html.UnescapeString(r.body), msg) || !strings.Contains(r.body, "Client.AccessDenied") || !strings.Contains(r.body, "Not allowed") {
		t.Fatalf("refusal page:\n%s", r.body)
	}
	if n := len(e.apiClients()); n != before {
		t.Fatalf("%d clients, want %d", n, before)
	}
	evs := e.auditEvents()
	last := evs[len(evs)-1]
	if last.Action != "client.add" || last.Outcome != conf.AuditFailure || last.Actor != "SECURITY_SERVER_OBSERVER" {
		t.Errorf("last audit event %+v", last)
	}

	g := b.get("/console/api-keys")
	if g.status != http.StatusForbidden || !strings.Contains(html.UnescapeString(g.body), "lacks a role allowed to GET /api/v1/api-keys") {
		t.Fatalf("observer on the API keys page: %d %s", g.status, g.body)
	}
	// The system administrator sees the refusal in the audit trail.
	sa := e.browser()
	sa.signIn(e.secrets[admin.RoleSystemAdministrator])
	a := sa.get("/console/audit")
	if a.status != http.StatusOK || !strings.Contains(a.body, "<code>client.add</code>") || !strings.Contains(a.body, ">failure<") {
		t.Errorf("audit page: %d %s", a.status, a.body)
	}

	// An error of the API other than a refusal is shown the same way.
	nf := b.get("/console/clients/PS:GOV:MOI:nothing")
	if nf.status != http.StatusNotFound || !strings.Contains(nf.body, "Client.NotFound") {
		t.Fatalf("unknown client: %d %s", nf.status, nf.body)
	}
}

// TestServiceAdministration: a service administrator adds a service with
// its OpenAPI description uploaded as a file, grants a subsystem, a global
// group and a local group access, revokes one, disables and enables the
// service; each step through the API, each audited.
func TestServiceAdministration(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.secrets[admin.RoleServiceAdministrator])
	cp := b.get("/console/clients/PS:GOV:MOI:civil-registry")
	tok := csrf(t, cp)

	r := b.postFile("/console/clients/PS:GOV:MOI:civil-registry/services",
		url.Values{"csrf": {tok}, "code": {"persons"}, "url": {"http://127.0.0.1:9/backend"}, "timeoutSeconds": {"12"}},
		"openapi", "persons.yaml", personsOpenAPI)
	if r.status != http.StatusSeeOther || r.location != "/console/services/PS:GOV:MOI:civil-registry:persons" {
		t.Fatalf("add service: %d %q %s", r.status, r.location, r.body)
	}
	sp := b.follow(r.location)
	for _, want := range []string{"Service PS:GOV:MOI:civil-registry:persons added with 2 endpoints.", "/persons/*", "OPENAPI", "(uploaded)", "Nobody may call this service."} {
		if !strings.Contains(sp.body, want) {
			t.Errorf("service page lacks %q", want)
		}
	}
	doc := b.get("/console/services/PS:GOV:MOI:civil-registry:persons/openapi")
	if doc.status != http.StatusOK || !strings.Contains(html.UnescapeString(doc.body), "title: Persons") {
		t.Errorf("OpenAPI view: %d", doc.status)
	}

	// Both a file and a URL: refused by the console before the API.
	bad := b.postFile("/console/clients/PS:GOV:MOI:civil-registry/services",
		url.Values{"csrf": {tok}, "code": {"x"}, "url": {"http://127.0.0.1:9/"}, "openapiUrl": {"http://127.0.0.1:9/oas"}},
		"openapi", "x.yaml", personsOpenAPI)
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "not both") {
		t.Fatalf("file and URL: %d", bad.status)
	}

	must(t, e.store.AddLocalGroup(e.ctx, conf.LocalGroup{Client: moiSub, Code: "auditors", Description: "Auditors"}))
	svc := "/console/services/PS:GOV:MOI:civil-registry:persons"
	for _, g := range []struct{ kind, subject, method, path, want string }{
		{"SUBSYSTEM", "PS/GOV/CAB/portal", "", "", "SUBSYSTEM:PS/GOV/CAB/portal"},
		{"SUBSYSTEM", "PS:GOV:MOH:insurance", "GET", "/persons/*", "SUBSYSTEM:PS/GOV/MOH/insurance"},
		{"GLOBALGROUP", "ministries", "", "", "GLOBALGROUP:PS/ministries"},
		{"LOCALGROUP", "auditors", "", "", "LOCALGROUP:auditors"},
	} {
		r := b.post(svc+"/access-rights", url.Values{"csrf": {tok}, "subjectType": {g.kind}, "subject": {g.subject}, "method": {g.method}, "path": {g.path}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("grant %s: %d %s", g.want, r.status, r.body)
		}
		if p := b.follow(r.location); !strings.Contains(p.body, "granted to "+g.want) || !strings.Contains(p.body, "<code>"+g.want+"</code>") {
			t.Errorf("grant %s not shown", g.want)
		}
	}
	rights, err := e.store.AccessRights(e.ctx, moiSub)
	must(t, err)
	if len(rights) != 4 {
		t.Fatalf("%d access rights, want 4: %+v", len(rights), rights)
	}
	r = b.post(svc+"/access-rights/revoke", url.Values{"csrf": {tok}, "subject": {"SUBSYSTEM:PS/GOV/MOH/insurance"}, "method": {"GET"}, "path": {"/persons/*"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if rights, _ = e.store.AccessRights(e.ctx, moiSub); len(rights) != 3 {
		t.Fatalf("%d access rights after revoking, want 3", len(rights))
	}

	r = b.post(svc+"/state", url.Values{"csrf": {tok}, "disabled": {"true"}, "notice": {"maintenance until noon"}})
	if p := b.follow(r.location); !strings.Contains(p.body, "maintenance until noon") || !strings.Contains(p.body, `id="svc-enable"`) {
		t.Fatalf("disable: %d %s", r.status, p.body)
	}
	r = b.post(svc+"/state", url.Values{"csrf": {tok}, "disabled": {"false"}})
	if p := b.follow(r.location); !strings.Contains(p.body, "enabled.") || !strings.Contains(p.body, `id="svc-disable"`) {
		t.Fatalf("enable: %d %s", r.status, p.body)
	}

	r = b.post("/console/clients/PS:GOV:MOI:civil-registry/local-groups/auditors/members", url.Values{"csrf": {tok}, "member": {"PS/GOV/CAB/portal"}})
	if p := b.follow(r.location); !strings.Contains(p.body, "<code>PS:GOV:CAB:portal</code>") {
		t.Fatalf("group member: %d %s", r.status, p.body)
	}

	actions := map[string]int{}
	for _, ev := range e.auditEvents() {
		if ev.Actor == string(admin.RoleServiceAdministrator) && ev.Outcome == conf.AuditSuccess {
			actions[ev.Action]++
		}
	}
	if actions["service.add"] != 1 || actions["accessRight.grant"] != 4 || actions["accessRight.revoke"] != 1 ||
		actions["service.update"] != 2 || actions["localGroup.addMember"] != 1 {
		t.Errorf("audited actions %v", actions)
	}
}

// TestReadPages: keys with expiry and OCSP status, health with the failing
// check's reason, recent exchanges read as the owner member (and a
// refusal of the monitoring API shown as it came), the audit trail.
func TestReadPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.secrets[admin.RoleSystemAdministrator])

	k := b.get("/console/keys")
	for _, want := range []string{"auth", "GOOD", "VALID", "in 36", "Registered in the global configuration"} {
		if !strings.Contains(k.body, want) {
			t.Errorf("keys page lacks %q", want)
		}
	}
	h := b.get("/console/health")
	if h.status != http.StatusOK || !strings.Contains(h.body, "Not ready") || !strings.Contains(h.body, "oldest unstamped record is 5h old") {
		t.Errorf("health page: %d %s", h.status, h.body)
	}

	x := b.get("/console/exchanges?window=60")
	for _, want := range []string{"msg-opmon-1", "PS/GOV/CAB/portal", "PS/GOV/MOI/civil-registry/persons", "/persons/4001", "42ms", "0 / 57",
		`href="/console/exchanges?client=PS%2FGOV%2FMOI&amp;cursor=AQ&amp;window=60"`} {
		if !strings.Contains(x.body, want) {
			t.Errorf("exchanges page lacks %q\n%s", want, x.body)
		}
	}
	from := t0.Add(-time.Hour).Unix()
	if got := e.opmon.asked[0]; got != "PS/GOV/MOI from="+itoa(from)+"&limit=100" {
		t.Errorf("monitoring API asked %q", got)
	}
	x = b.get("/console/exchanges?client=PS/GOV/MOI/civil-registry")
	if !strings.Contains(x.body, `id="refusal"`) || !strings.Contains(x.body, "Server.ClientProxy.UnknownMember") {
		t.Errorf("refusal of the monitoring API not shown:\n%s", x.body)
	}
}

// TestAPIKeys: a system administrator creates a key (its secret shown
// once, on the answer itself) and revokes it; the new key signs in with
// its role until revoked.
func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.secrets[admin.RoleSystemAdministrator])
	p := b.get("/console/api-keys")
	r := b.post("/console/api-keys", url.Values{"csrf": {csrf(t, p)}, "name": {"court"}, "roles": {"AUDITOR"}, "expiresInDays": {"30"}})
	if r.status != http.StatusCreated || !strings.Contains(r.body, `id="new-secret"`) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	m := regexp.MustCompile(`<code id="new-secret">([^<]+)</code>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no secret shown")
	}
	if again := b.get("/console/api-keys"); strings.Contains(again.body, m[1]) {
		t.Fatal("the secret is shown again")
	}
	auditor := e.browser()
	if home := auditor.signIn(m[1]); !strings.Contains(home.body, `id="log-search"`) {
		t.Fatalf("the new key's home:\n%s", home.body)
	}
	keys, err := e.admin.APIKeys(e.ctx)
	must(t, err)
	id := keys[len(keys)-1].ID
	if keys[len(keys)-1].Name != "court" || !keys[len(keys)-1].ExpiresAt.Equal(t0.Add(30*24*time.Hour)) {
		t.Fatalf("stored key %+v", keys[len(keys)-1])
	}
	r = b.post("/console/api-keys/"+strconv.FormatInt(id, 10)+"/revoke", url.Values{"csrf": {csrf(t, p)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	// Its session ends at its next page, even one that calls no API.
	if x := auditor.get("/console/exchanges"); x.status != http.StatusUnauthorized || !strings.Contains(x.body, "no longer accepts this key") {
		t.Fatalf("revoked key still signed in: %d", x.status)
	}
	if x := auditor.get("/console/exchanges"); x.status != http.StatusSeeOther {
		t.Fatalf("after revocation: %d", x.status)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
