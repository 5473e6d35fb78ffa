package portal

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/jisr-bus/jisr/adapters/document"
	"github.com/jisr-bus/jisr/adapters/finance"
	"github.com/jisr-bus/jisr/adapters/health"
	"github.com/jisr-bus/jisr/adapters/interior"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/payments"
	"github.com/jisr-bus/jisr/adapters/post"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/adapters/transport"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// reference is the tests' "now".
func reference() time.Time { return time.Date(2026, time.March, 15, 9, 30, 0, 0, time.UTC) }

const instance = "PS-DEV"

var testArgon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1}

// Demo-world citizens (adapters/seed).
const (
	khaled = "401234562" // renewable licence, no fines, family policy
	salma  = "404567893" // Khaled's newborn daughter: no birth certificate yet
	omar   = "405678913" // expired licence, unpaid fines
	demoPW = "correct horse battery"
)

// recorded is one call the portal made through the bus.
type recorded struct {
	ministry Ministry
	method   string
	path     string
	header   http.Header
}

// world is the real ministry adapters, in process, behind a fake bus: an
// http.RoundTripper under the portal's HTTPBus that routes r1 URLs to the
// adapters' handlers, records every call, and can inject faults.
type world struct {
	t        *testing.T
	clock    *clock.Fake
	handlers map[string]http.Handler // by "MEMBER/SUBSYSTEM/SERVICE"
	names    map[string]Ministry
	moi      *interior.Service
	pma      *payments.Service

	mu     sync.Mutex
	calls  []recorded
	faults map[Ministry]string // X-Road-Error to answer with
}

func (w *world) RoundTrip(r *http.Request) (*http.Response, error) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/r1/"+instance+"/GOV/")
	if !ok {
		return nil, fmt.Errorf("not an r1 path: %s", r.URL.Path)
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) < 4 {
		return nil, fmt.Errorf("short r1 path: %s", r.URL.Path)
	}
	key := strings.Join(parts[:3], "/")
	h, m := w.handlers[key], w.names[key]
	if h == nil {
		return nil, fmt.Errorf("no service %s", key)
	}
	w.mu.Lock()
	w.calls = append(w.calls, recorded{ministry: m, method: r.Method, path: "/" + parts[3], header: r.Header.Clone()})
	fault := w.faults[m]
	w.mu.Unlock()
	rec := httptest.NewRecorder()
	if fault != "" {
		rec.Header().Set("X-Road-Error", fault)
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(rec, `{"type":%q,"message":"injected","detail":"x"}`, fault)
		return rec.Result(), nil
	}
	// In process, the portal's request context (with its chi routing
	// state) would reach the adapter's chi router; a network hop would
	// not carry it.
	req := r.Clone(context.WithValue(r.Context(), chi.RouteCtxKey, (*chi.Context)(nil)))
	req.URL = &url.URL{Path: "/" + parts[3], RawQuery: r.URL.RawQuery}
	req.RequestURI = req.URL.RequestURI()
	h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

func (w *world) callsTo(m Ministry, method, prefix string) []recorded {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []recorded
	for _, c := range w.calls {
		if c.ministry == m && c.method == method && strings.HasPrefix(c.path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (w *world) fault(m Ministry, code string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.faults[m] = code
}

// checkHeaders asserts that every call carried the X-Road headers, and
// the citizen's calls their national ID and an application number.
func (w *world) checkHeaders(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.calls) == 0 {
		t.Fatal("no bus calls")
	}
	app := regexp.MustCompile(`^APP-[0-9]{4}-[0-9]{6}$`)
	for _, c := range w.calls {
		if c.header.Get("X-Road-Client") != instance+"/GOV/CAB/portal" {
			t.Errorf("%s %s: X-Road-Client %q", c.method, c.path, c.header.Get("X-Road-Client"))
		}
		if strings.Contains(c.path, "/status") && strings.HasPrefix(c.header.Get(HeaderIssue), "VERIFY-") {
			continue // the public verification page has no citizen
		}
		if !app.MatchString(c.header.Get(HeaderIssue)) {
			t.Errorf("%s %s: X-Road-Issue %q", c.method, c.path, c.header.Get(HeaderIssue))
		}
		if len(c.header.Get(HeaderUserID)) != 9 {
			t.Errorf("%s %s: X-Road-UserId %q", c.method, c.path, c.header.Get(HeaderUserID))
		}
	}
}

// fixture is a running portal in front of the world.
type fixture struct {
	*world
	portal *Service
	srv    *httptest.Server
	pki    *testpki.PKI
}

func moiMember() xroad.MemberID { return xroad.MemberID{Instance: instance, Class: "GOV", Code: "MOI"} }

func services() map[Ministry]xroad.ServiceID {
	svc := func(member, sub, code string) xroad.ServiceID {
		return xroad.ServiceID{Provider: xroad.MemberID{Instance: instance, Class: "GOV", Code: member}.Subsystem(sub), Code: code}
	}
	return map[Ministry]xroad.ServiceID{
		Interior: svc("MOI", "civil-registry", "registry"), Transport: svc("MOT", "licensing", "licensing"),
		Health: svc("MOH", "insurance", "insurance"), Payments: svc("PMA", "payments", "payments"),
		Finance: svc("MOF", "revenue", "revenue"), Post: svc("POST", "delivery", "delivery"),
	}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, kit.Database{})
}

// newFixtureWith is newFixture with the portal's own database (zero: a
// SQLite file in the test's directory).
func newFixtureWith(t *testing.T, portalDB kit.Database) *fixture {
	t.Helper()
	clk := clock.NewFake(reference())
	dir := t.TempDir()
	db := func(name string) kit.Database {
		return kit.Database{Driver: kit.DriverSQLite, Path: filepath.Join(dir, name+".db")}
	}
	if portalDB == (kit.Database{}) {
		portalDB = db("portal")
	}
	w, err := seed.Generate(seed.Options{Persons: 40, Reference: seed.Day(reference())})
	if err != nil {
		t.Fatal(err)
	}
	p := testpki.New(t, reference().Add(-24*time.Hour))
	key, chain := p.Leaf(t, profile.Sign, moiMember())
	wd := &world{t: t, clock: clk, handlers: map[string]http.Handler{}, names: map[string]Ministry{}, faults: map[Ministry]string{}}

	pma, err := payments.New(payments.Config{Database: db("pma"), Seed: w, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pma.Close() })
	pmaSrv := httptest.NewServer(pma.Handler())
	t.Cleanup(pmaSrv.Close)
	verifier := &payments.Client{BaseURL: pmaSrv.URL, Header: http.Header{"X-Road-Client": {"PS-DEV/GOV/MOT/licensing"}}}
	moi, err := interior.New(interior.Config{Database: db("moi"), Seed: w, SignKey: key, SignChain: chain, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = moi.Close() })
	mot, err := transport.New(transport.Config{Database: db("mot"), Seed: w, Payments: verifier, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mot.Close() })
	moh, err := health.New(health.Config{Database: db("moh"), Seed: w, Payments: verifier, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = moh.Close() })
	mof, err := finance.New(finance.Config{Database: db("mof"), Fees: seed.FeeSchedule(), Payments: verifier, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mof.Close() })
	pst, err := post.New(post.Config{Database: db("post"), Seed: w, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pst.Close() })
	wd.moi, wd.pma = moi, pma
	for m, h := range map[Ministry]http.Handler{Interior: moi.Handler(), Transport: mot.Handler(), Health: moh.Handler(),
		Payments: pma.Handler(), Finance: mof.Handler(), Post: pst.Handler()} {
		s := services()[m]
		key := s.Provider.Code + "/" + s.Provider.Subsystem + "/" + s.Code
		wd.handlers[key], wd.names[key] = h, m
	}
	bus, err := NewHTTPBus("http://ss.test", xroad.MemberID{Instance: instance, Class: "GOV", Code: "CAB"}.Subsystem("portal"),
		services(), &http.Client{Transport: wd})
	if err != nil {
		t.Fatal(err)
	}
	officerHash, err := HashPassword("officer password", testArgon2)
	if err != nil {
		t.Fatal(err)
	}
	citizenHash, err := HashPassword(demoPW, testArgon2)
	if err != nil {
		t.Fatal(err)
	}
	portal, err := New(context.Background(), Config{
		Bus: bus, Roots: p.Roots(),
		Issuers: map[string][]xroad.MemberID{
			document.TypeBirthCertificate: {moiMember()}, document.TypeCivilRegistryExtract: {moiMember()},
		},
		Database: portalDB,
		Officers: []Officer{{Username: "officer1", PasswordHash: officerHash}},
		Accounts: []SeedAccount{{NationalID: khaled, PasswordHash: citizenHash}, {NationalID: omar, PasswordHash: citizenHash}},
		Argon2:   testArgon2, Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = portal.Close() })
	srv := httptest.NewServer(portal.Handler())
	t.Cleanup(srv.Close)
	return &fixture{world: wd, portal: portal, srv: srv, pki: p}
}

// browser is a cookie-keeping client of the portal.
type browser struct {
	t    *testing.T
	f    *fixture
	hc   *http.Client
	last string
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, f: f, hc: &http.Client{Jar: jar}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.hc.Get(b.f.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = string(body)
	return resp.StatusCode, b.last
}

// post submits form to path, with the last page's hidden fields (csrf,
// token…) unless given, as a browser would.
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	for _, m := range hiddenRe.FindAllStringSubmatch(b.last, -1) {
		if _, ok := form[m[1]]; !ok {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	resp, err := b.hc.PostForm(b.f.srv.URL+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = string(body)
	return resp.StatusCode, b.last, resp.Request.URL.Path
}

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

func hidden(page, name string) string {
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	return ""
}

func (b *browser) login(nid, password string) {
	b.t.Helper()
	b.get("/login")
	status, body, _ := b.post("/login", url.Values{"nationalId": {nid}, "password": {password}})
	if status != http.StatusOK || !strings.Contains(body, `id="services"`) {
		b.t.Fatalf("sign-in as %s: %d\n%s", nid, status, body)
	}
}

// card returns a card payment form.
func card(number string) url.Values {
	return url.Values{"cardNumber": {number}, "expiryMonth": {"12"}, "expiryYear": {"2030"}, "cvv": {"123"}, "cardHolder": {"K HADDAD"}}
}

var firstOffice = regexp.MustCompile(`<option value="([A-Z]{3}[0-9]{2})">`)

func with(v url.Values, kv ...string) url.Values {
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func find(t *testing.T, body, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("page lacks %s:\n%s", re, body)
	}
	return m[1]
}

// doDirect calls an adapter's handler directly (as its ministry's own
// staff would), outside the portal.
func doDirect(t *testing.T, h http.Handler, method, path string, body ...string) string {
	t.Helper()
	var r *http.Request
	if len(body) > 0 {
		r = httptest.NewRequest(method, path, strings.NewReader(body[0]))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Body.String()
}
