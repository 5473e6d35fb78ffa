package conf_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// globalconf.Document answers global group membership for Allowed.
var _ conf.GroupMembership = (*globalconf.Document)(nil)

// Identifiers of the fixture.
var (
	moi      = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	mof      = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOF"}
	moh      = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOH"}
	civil    = moi.Subsystem("civil-registry")
	archive  = moi.Subsystem("archive")
	tax      = mof.Subsystem("tax")
	customs  = mof.Subsystem("customs")
	clinics  = moh.Subsystem("clinics")
	citizens = xroad.GlobalGroupID{Instance: "PS", Code: "citizen-services"}
)

// memberships is a fake GroupMembership.
type memberships map[xroad.GlobalGroupID][]xroad.ClientID

func (m memberships) IsMember(g xroad.GlobalGroupID, c xroad.ClientID) bool {
	for _, x := range m[g] {
		if x == c {
			return true
		}
	}
	return false
}

// fixture is a configuration with two providers:
//
//   - civil (MOI/civil-registry): OpenAPI service "persons" (testdata/persons.yaml,
//     version v1) and REST service "births" (GET /births/*, POST /births),
//     disabled with a notice, and REST service "deaths", disabled without one;
//     local group "partners" = {customs};
//   - archive (MOI/archive): REST service "persons" (GET /persons/**).
//
// Rights of civil: persons to tax (whole service); persons GET /persons/*
// to clinics; persons GET /persons/*/addresses and POST /persons to the
// member MOF; persons to global group citizens; persons DELETE /persons/*
// to local group partners; births and deaths to tax. Rights of archive:
// persons to clinics.
func fixture(t testing.TB) conf.Store {
	t.Helper()
	ctx := t.Context()
	s, err := conf.OpenSQLite(ctx, storetest.SQLitePath(t), conf.WithClock(clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	doc, err := os.ReadFile(filepath.Join("testdata", "persons.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []xroad.ClientID{civil, archive, moi.Client()} {
		must(s.AddClient(ctx, conf.Client{ID: id, Connection: conf.ConnHTTPSCert, Status: conf.StatusRegistered, BodyLogging: conf.BodyLoggingFull}))
	}
	svc := func(code string, eps ...conf.Endpoint) conf.Service {
		return conf.Service{Code: code, URL: "https://backend.example/" + code, Timeout: 10 * time.Second, VerifyTLS: true, Endpoints: eps}
	}
	persons := svc("persons")
	persons.Version = "v1"
	_, err = s.AddServiceDescription(ctx, conf.ServiceDescription{Client: civil, Type: conf.DescriptionOpenAPI, Document: doc, Services: []conf.Service{persons}})
	must(err)
	births := svc("births", conf.Endpoint{Method: "GET", Path: "/births/*"}, conf.Endpoint{Method: "POST", Path: "/births"})
	births.Disabled, births.DisabledNotice = true, "Births move to the new registry on 1 March"
	deaths := svc("deaths")
	deaths.Disabled = true
	_, err = s.AddServiceDescription(ctx, conf.ServiceDescription{Client: civil, Type: conf.DescriptionREST, Services: []conf.Service{births, deaths}})
	must(err)
	_, err = s.AddServiceDescription(ctx, conf.ServiceDescription{Client: archive, Type: conf.DescriptionREST,
		Services: []conf.Service{svc("persons", conf.Endpoint{Method: "GET", Path: "/persons/**"})}})
	must(err)
	must(s.AddLocalGroup(ctx, conf.LocalGroup{Client: civil, Code: "partners"}))
	must(s.AddLocalGroupMember(ctx, civil, "partners", customs))
	ep := func(m, p string) conf.EndpointSpec { return conf.EndpointSpec{Method: m, Path: p} }
	for _, r := range []conf.AccessRight{
		{Provider: civil, ServiceCode: "persons", Subject: tax},
		{Provider: civil, ServiceCode: "persons", Endpoint: ep("GET", "/persons/*"), Subject: clinics},
		{Provider: civil, ServiceCode: "persons", Endpoint: ep("GET", "/persons/*/addresses"), Subject: mof.Client()},
		{Provider: civil, ServiceCode: "persons", Endpoint: ep("POST", "/persons"), Subject: mof.Client()},
		{Provider: civil, ServiceCode: "persons", Subject: citizens},
		{Provider: civil, ServiceCode: "persons", Endpoint: ep("DELETE", "/persons/*"), Subject: xroad.LocalGroupID{Code: "partners"}},
		{Provider: civil, ServiceCode: "births", Subject: tax},
		{Provider: civil, ServiceCode: "deaths", Subject: tax},
		{Provider: archive, ServiceCode: "persons", Subject: clinics},
	} {
		must(s.AddAccessRight(ctx, r))
	}
	return s
}

func loadFixture(t *testing.T) *conf.View {
	t.Helper()
	v, err := conf.LoadView(t.Context(), fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAllowed(t *testing.T) {
	v := loadFixture(t)
	groups := memberships{citizens: {moh.Subsystem("hospitals")}}
	persons := xroad.ServiceID{Provider: civil, Code: "persons"}
	type want struct {
		outcome  conf.Outcome
		subject  xroad.ID
		endpoint conf.EndpointSpec
		notice   string
	}
	for _, tc := range []struct {
		name     string
		provider xroad.ClientID
		svc      xroad.ServiceID
		method   string
		path     string
		client   xroad.ClientID
		groups   conf.GroupMembership
		want     want
	}{
		{"subsystem right on the whole service", civil, persons, "DELETE", "/persons/17", tax, nil,
			want{conf.AccessGranted, tax, conf.EndpointSpec{}, ""}},
		{"whole service covers the base URL", civil, persons, "GET", "", tax, nil,
			want{conf.AccessGranted, tax, conf.EndpointSpec{}, ""}},
		{"subsystem right is not its member's", civil, persons, "GET", "/persons", mof.Client(), nil,
			want{outcome: conf.AccessDenied}},
		{"subsystem right is not a sibling's", civil, persons, "GET", "/persons/17", mof.Subsystem("payroll"), nil,
			want{outcome: conf.AccessDenied}},
		{"member right, endpoint matches", civil, persons, "GET", "/persons/17/addresses", mof.Client(), nil,
			want{conf.AccessGranted, mof.Client(), conf.EndpointSpec{Method: "GET", Path: "/persons/*/addresses"}, ""}},
		{"member right does not cover its subsystems", civil, persons, "GET", "/persons/17/addresses", customs, nil,
			want{outcome: conf.AccessDenied}},
		{"endpoint right", civil, persons, "GET", "/persons/17", clinics, nil,
			want{conf.AccessGranted, clinics, conf.EndpointSpec{Method: "GET", Path: "/persons/*"}, ""}},
		{"endpoint right, method case ignored", civil, persons, "get", "/persons/17", clinics, nil,
			want{conf.AccessGranted, clinics, conf.EndpointSpec{Method: "GET", Path: "/persons/*"}, ""}},
		{"endpoint right, method mismatch", civil, persons, "DELETE", "/persons/17", clinics, nil,
			want{outcome: conf.AccessDenied}},
		{"endpoint right, path mismatch", civil, persons, "GET", "/persons/17/addresses", clinics, nil,
			want{outcome: conf.AccessDenied}},
		{"endpoint right, trailing slash", civil, persons, "GET", "/persons", clinics, nil,
			want{outcome: conf.AccessDenied}},
		{"endpoint right, dot segments resolved first", civil, persons, "GET", "/persons/17/../18", clinics, nil,
			want{conf.AccessGranted, clinics, conf.EndpointSpec{Method: "GET", Path: "/persons/*"}, ""}},
		{"endpoint right, dot segments cannot escape", civil, persons, "GET", "/persons/../files/x.pdf", clinics, nil,
			want{outcome: conf.AccessDenied}},
		{"endpoint right, bad path", civil, persons, "GET", "persons/17", clinics, nil,
			want{outcome: conf.AccessDenied}},
		{"global group member", civil, persons, "PUT", "/persons/17", moh.Subsystem("hospitals"), groups,
			want{conf.AccessGranted, citizens, conf.EndpointSpec{}, ""}},
		{"global group, not a member", civil, persons, "GET", "/persons/17", moh.Subsystem("pharmacies"), groups,
			want{outcome: conf.AccessDenied}},
		{"global group, no membership source", civil, persons, "GET", "/persons/17", moh.Subsystem("hospitals"), nil,
			want{outcome: conf.AccessDenied}},
		{"local group member", civil, persons, "DELETE", "/persons/17", customs, nil,
			want{conf.AccessGranted, xroad.LocalGroupID{Code: "partners"}, conf.EndpointSpec{Method: "DELETE", Path: "/persons/*"}, ""}},
		{"local group member, other endpoint", civil, persons, "GET", "/persons/17", customs, nil,
			want{outcome: conf.AccessDenied}},
		{"local group is the provider's own", archive, xroad.ServiceID{Provider: archive, Code: "persons"}, "GET", "/persons/1", customs, nil,
			want{outcome: conf.AccessDenied}},
		{"versioned request, same version", civil, xroad.ServiceID{Provider: civil, Code: "persons", Version: "v1"}, "GET", "/persons", tax, nil,
			want{conf.AccessGranted, tax, conf.EndpointSpec{}, ""}},
		{"versioned request, other version", civil, xroad.ServiceID{Provider: civil, Code: "persons", Version: "v2"}, "GET", "/persons", tax, nil,
			want{outcome: conf.UnknownService}},
		{"other provider, same code", archive, xroad.ServiceID{Provider: archive, Code: "persons"}, "GET", "/persons/1", tax, nil,
			want{outcome: conf.AccessDenied}},
		{"other provider's own right", archive, xroad.ServiceID{Provider: archive, Code: "persons"}, "GET", "/persons/1", clinics, nil,
			want{conf.AccessGranted, clinics, conf.EndpointSpec{}, ""}},
		{"disabled, with a right", civil, xroad.ServiceID{Provider: civil, Code: "births"}, "GET", "/births/1", tax, nil,
			want{conf.ServiceDisabled, tax, conf.EndpointSpec{}, "Births move to the new registry on 1 March"}},
		{"disabled, default notice", civil, xroad.ServiceID{Provider: civil, Code: "deaths"}, "GET", "/", tax, nil,
			want{conf.ServiceDisabled, tax, conf.EndpointSpec{}, "Service PS/GOV/MOI/civil-registry/deaths is disabled"}},
		{"disabled, without a right", civil, xroad.ServiceID{Provider: civil, Code: "births"}, "GET", "/births/1", clinics, nil,
			want{outcome: conf.AccessDenied}},
		{"unknown service", civil, xroad.ServiceID{Provider: civil, Code: "marriages"}, "GET", "/", tax, nil,
			want{outcome: conf.UnknownService}},
		{"unknown provider", moi.Subsystem("nope"), xroad.ServiceID{Provider: moi.Subsystem("nope"), Code: "persons"}, "GET", "/", tax, nil,
			want{outcome: conf.UnknownService}},
		{"member client is no provider", moi.Client(), xroad.ServiceID{Provider: moi.Client(), Code: "persons"}, "GET", "/", tax, nil,
			want{outcome: conf.UnknownService}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := v.Allowed(tc.provider, tc.svc, tc.method, tc.path, tc.client, tc.groups)
			if err != nil {
				t.Fatal(err)
			}
			got := want{d.Outcome, d.Subject, d.Endpoint, d.DisabledNotice}
			if got != tc.want {
				t.Errorf("Allowed = %+v, want %+v", got, tc.want)
			}
			if d.Outcome != conf.UnknownService && d.Service.Code != tc.svc.Code {
				t.Errorf("Decision.Service = %q, want %q", d.Service.Code, tc.svc.Code)
			}
		})
	}
}

func TestAllowedRefusesMalformedRequests(t *testing.T) {
	v := loadFixture(t)
	persons := xroad.ServiceID{Provider: civil, Code: "persons"}
	for name, call := range map[string]func() error{
		"provider mismatch": func() error { _, err := v.Allowed(archive, persons, "GET", "/", tax, nil); return err },
		"empty method":      func() error { _, err := v.Allowed(civil, persons, "", "/", tax, nil); return err },
		"method with space": func() error { _, err := v.Allowed(civil, persons, "G ET", "/", tax, nil); return err },
	} {
		if err := call(); !errors.Is(err, conf.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
}

// TestAllowedDoesNotAllocate checks the hot path: a granted endpoint-level
// decision, a denied one and a global group lookup.
func TestAllowedDoesNotAllocate(t *testing.T) {
	v := loadFixture(t)
	groups := memberships{citizens: {moh.Subsystem("hospitals")}}
	persons := xroad.ServiceID{Provider: civil, Code: "persons"}
	allocs := testing.AllocsPerRun(100, func() {
		d1, _ := v.Allowed(civil, persons, "GET", "/persons/17", clinics, groups)
		d2, _ := v.Allowed(civil, persons, "GET", "/persons/17/addresses", clinics, groups)
		d3, _ := v.Allowed(civil, persons, "GET", "/persons/17", moh.Subsystem("hospitals"), groups)
		if d1.Outcome != conf.AccessGranted || d2.Outcome != conf.AccessDenied || d3.Outcome != conf.AccessGranted {
			t.Fatal("unexpected decisions")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
}

func BenchmarkAllowed(b *testing.B) {
	v, err := conf.LoadView(b.Context(), fixture(b))
	if err != nil {
		b.Fatal(err)
	}
	persons := xroad.ServiceID{Provider: civil, Code: "persons"}
	for b.Loop() {
		_, _ = v.Allowed(civil, persons, "GET", "/persons/17", clinics, nil)
	}
}

func TestViewLookups(t *testing.T) {
	v := loadFixture(t)
	if v.Version() == 0 {
		t.Error("Version 0 for a configured store")
	}
	if c, ok := v.Client(civil); !ok || c.Connection != conf.ConnHTTPSCert {
		t.Errorf("Client(civil) = %+v, %v", c, ok)
	}
	if _, ok := v.Client(tax); ok {
		t.Error("Client(tax) found; tax is not hosted here")
	}
	s, typ, ok := v.Service(civil, "persons")
	if !ok || typ != conf.DescriptionOpenAPI || s.Version != "v1" || len(s.Endpoints) != 6 {
		t.Errorf("Service(civil, persons) = %+v, %s, %v", s, typ, ok)
	}
	if _, _, ok := v.Service(civil, "nope"); ok {
		t.Error("Service(civil, nope) found")
	}
}
