// Package conftest is the conformance suite for conf.Store implementations:
// every implementation must pass Run, so that the SQLite and PostgreSQL
// configurations behave identically, errors included.
//
// It is imported only from _test.go files.
package conftest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// Factory returns a new, empty configuration whose times come from clk. It
// registers the store's Close (and any cleanup) with t.Cleanup.
type Factory func(t *testing.T, clk clock.Clock) conf.Store

// start is the fake clock's initial time. It has nanoseconds, so the suite
// also checks that stored times are truncated to microseconds.
var start = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

// Identifiers used throughout the suite.
var (
	moi      = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	mof      = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOF"}
	civil    = moi.Subsystem("civil-registry")
	archive  = moi.Subsystem("archive")
	tax      = mof.Subsystem("tax")
	citizens = xroad.GlobalGroupID{Instance: "PS", Code: "citizen-services"}
	hash1    = "0b1d8a3a2f4c5e6d7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
	hash2    = "AB1D8A3A2F4C5E6D7F8091A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6"
)

// personsV1 and personsV2 are two versions of an OpenAPI document: V2
// drops DELETE /persons/{id} and adds GET /persons/{id}/photo.
const personsV1 = `openapi: 3.0.3
info: {title: Persons, version: "1"}
paths:
  /persons:
    get: {responses: {"200": {description: ok}}}
    post: {responses: {"201": {description: created}}}
  /persons/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {"200": {description: ok}}}
    delete: {responses: {"204": {description: deleted}}}
`

const personsV2 = `openapi: 3.0.3
info: {title: Persons, version: "2"}
paths:
  /persons:
    get: {responses: {"200": {description: ok}}}
    post: {responses: {"201": {description: created}}}
  /persons/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {"200": {description: ok}}}
  /persons/{id}/photo:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {"200": {description: ok}}}
`

// env is one test's store and clock.
type env struct {
	t   *testing.T
	ctx context.Context
	s   conf.Store
	clk *clock.Fake
}

// now is the fake clock's time as the store keeps it.
func (e *env) now() time.Time { return e.clk.Now().UTC().Truncate(time.Microsecond) }

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) version() int64 {
	e.t.Helper()
	v, err := e.s.Version(e.ctx)
	e.must(err)
	return v
}

// wantErr checks that err wraps want (nil: no error).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

// equal compares with reflect.DeepEqual.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// client returns a valid client with the given identifier.
func client(id xroad.ClientID) conf.Client {
	return conf.Client{ID: id, Connection: conf.ConnHTTPS, Status: conf.StatusRegistered, BodyLogging: conf.BodyLoggingFull, ISCertHashes: []string{}}
}

// service returns a valid service with the given code.
func service(code string, endpoints ...conf.Endpoint) conf.Service {
	if endpoints == nil {
		endpoints = []conf.Endpoint{}
	}
	return conf.Service{Code: code, URL: "https://backend.moi.example/" + code, Timeout: 30 * time.Second, VerifyTLS: true, Endpoints: endpoints}
}

func manual(method, path string) conf.Endpoint { return conf.Endpoint{Method: method, Path: path} }

func generated(method, path string) conf.Endpoint {
	return conf.Endpoint{Method: method, Path: path, Generated: true}
}

func spec(method, path string) conf.EndpointSpec {
	return conf.EndpointSpec{Method: method, Path: path}
}

// seed adds clients civil, archive and tax; a REST description for civil
// with service "births" (endpoints GET /births/*, POST /births) and an
// OpenAPI description for civil with service "persons" (personsV1). It
// returns the two descriptions.
func (e *env) seed() (rest, openapi conf.ServiceDescription) {
	e.t.Helper()
	for _, id := range []xroad.ClientID{civil, archive, tax} {
		e.must(e.s.AddClient(e.ctx, client(id)))
	}
	rest, err := e.s.AddServiceDescription(e.ctx, conf.ServiceDescription{
		Client: civil, Type: conf.DescriptionREST,
		Services: []conf.Service{service("births", manual("get", "/births/*"), manual("POST", "/births"))},
	})
	e.must(err)
	openapi, err = e.s.AddServiceDescription(e.ctx, conf.ServiceDescription{
		Client: civil, Type: conf.DescriptionOpenAPI, URL: "https://backend.moi.example/openapi.yaml",
		Document: []byte(personsV1),
		Services: []conf.Service{service("persons")},
	})
	e.must(err)
	return rest, openapi
}

// Run runs the conformance suite against the stores newStore makes. Every
// case gets a fresh store and runs in parallel with the others.
func Run(t *testing.T, newStore Factory) {
	cases := []struct {
		name string
		fn   func(*env)
	}{
		{"Clients", testClients},
		{"ServiceDescriptions", testServiceDescriptions},
		{"Refresh", testRefresh},
		{"Services", testServices},
		{"Endpoints", testEndpoints},
		{"AccessRights", testAccessRights},
		{"LocalGroups", testLocalGroups},
		{"DeleteClientCascade", testDeleteClientCascade},
		{"DeleteServiceCascade", testDeleteServiceCascade},
		{"Versions", testVersions},
		{"UpdateAtomic", testUpdateAtomic},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Snapshot", testSnapshot},
		{"View", testView},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(start)
			tc.fn(&env{t: t, ctx: t.Context(), s: newStore(t, clk), clk: clk})
		})
	}
}

func testClients(e *env) {
	t := e.t
	_, err := e.s.Client(e.ctx, civil)
	wantErr(t, "Client before add", err, conf.ErrNotFound)
	cs, err := e.s.Clients(e.ctx)
	e.must(err)
	equal(t, "no clients", cs, []conf.Client{})

	c := client(civil)
	c.ISCertHashes = []string{hash2, hash1}
	c.CreatedAt = start.Add(-time.Hour) // ignored
	e.must(e.s.AddClient(e.ctx, c))
	e.must(e.s.AddClient(e.ctx, client(moi.Client())))
	e.clk.Add(time.Minute)
	e.must(e.s.AddClient(e.ctx, client(tax)))

	want := c
	want.CreatedAt = start.Truncate(time.Microsecond)
	want.ISCertHashes = []string{hash1, "ab1d8a3a2f4c5e6d7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"}
	got, err := e.s.Client(e.ctx, civil)
	e.must(err)
	equal(t, "Client", got, want)

	cs, err = e.s.Clients(e.ctx)
	e.must(err)
	ids := []xroad.ClientID{}
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	equal(t, "Clients order", ids, []xroad.ClientID{mof.Subsystem("tax"), moi.Client(), civil})

	wantErr(t, "duplicate", e.s.AddClient(e.ctx, client(civil)), conf.ErrConflict)
	for name, mutate := range map[string]func(*conf.Client){
		"bad identifier":   func(c *conf.Client) { c.ID.Code = "M/OI" },
		"empty instance":   func(c *conf.Client) { c.ID.Instance = "" },
		"connection type":  func(c *conf.Client) { c.Connection = "FTP" },
		"status":           func(c *conf.Client) { c.Status = "" },
		"body logging":     func(c *conf.Client) { c.BodyLogging = "OFF" },
		"hash not hex":     func(c *conf.Client) { c.ISCertHashes = []string{"zz"} },
		"hash too short":   func(c *conf.Client) { c.ISCertHashes = []string{"abcd"} },
		"hash given twice": func(c *conf.Client) { c.ISCertHashes = []string{hash1, hash1} },
	} {
		c := client(archive)
		mutate(&c)
		wantErr(t, "AddClient "+name, e.s.AddClient(e.ctx, c), conf.ErrInvalid)
		wantErr(t, "UpdateClient "+name, e.s.UpdateClient(e.ctx, c), conf.ErrInvalid)
	}

	upd := client(civil)
	upd.Connection, upd.Status, upd.BodyLogging = conf.ConnHTTPSCert, conf.StatusDeletionInProgress, conf.BodyLoggingMetadataOnly
	upd.ISCertHashes = []string{hash1}
	e.must(e.s.UpdateClient(e.ctx, upd))
	got, err = e.s.Client(e.ctx, civil)
	e.must(err)
	upd.CreatedAt = want.CreatedAt
	equal(t, "updated", got, upd)
	wantErr(t, "UpdateClient missing", e.s.UpdateClient(e.ctx, client(archive)), conf.ErrNotFound)

	e.must(e.s.DeleteClient(e.ctx, civil))
	_, err = e.s.Client(e.ctx, civil)
	wantErr(t, "deleted", err, conf.ErrNotFound)
	wantErr(t, "delete again", e.s.DeleteClient(e.ctx, civil), conf.ErrNotFound)
	// The member is a different client from its subsystem.
	_, err = e.s.Client(e.ctx, moi.Client())
	e.must(err)
}

func testServiceDescriptions(e *env) {
	t := e.t
	rest, openapi := e.seed()
	wantREST := conf.ServiceDescription{
		ID: rest.ID, Client: civil, Type: conf.DescriptionREST, RefreshedAt: e.now(),
		Services: []conf.Service{service("births", manual("POST", "/births"), manual("GET", "/births/*"))},
	}
	equal(t, "AddServiceDescription REST", rest, wantREST)
	wantOpenAPI := conf.ServiceDescription{
		ID: openapi.ID, Client: civil, Type: conf.DescriptionOpenAPI, URL: "https://backend.moi.example/openapi.yaml",
		Document: []byte(personsV1), RefreshedAt: e.now(),
		Services: []conf.Service{service("persons",
			generated("GET", "/persons"), generated("POST", "/persons"),
			generated("DELETE", "/persons/*"), generated("GET", "/persons/*"))},
	}
	equal(t, "AddServiceDescription OpenAPI", openapi, wantOpenAPI)
	if rest.ID == openapi.ID || rest.ID == 0 {
		t.Errorf("ids %d and %d: want distinct, non-zero", rest.ID, openapi.ID)
	}

	got, err := e.s.ServiceDescription(e.ctx, openapi.ID)
	e.must(err)
	equal(t, "ServiceDescription", got, wantOpenAPI)
	list, err := e.s.ServiceDescriptions(e.ctx, civil)
	e.must(err)
	equal(t, "ServiceDescriptions", list, []conf.ServiceDescription{wantREST, wantOpenAPI})
	list, err = e.s.ServiceDescriptions(e.ctx, tax)
	e.must(err)
	equal(t, "no descriptions", list, []conf.ServiceDescription{})
	_, err = e.s.ServiceDescriptions(e.ctx, moi.Subsystem("nope"))
	wantErr(t, "descriptions of an unknown client", err, conf.ErrNotFound)
	_, err = e.s.ServiceDescription(e.ctx, 999)
	wantErr(t, "unknown description", err, conf.ErrNotFound)

	restDesc := func(c xroad.ClientID, svcs ...conf.Service) conf.ServiceDescription {
		return conf.ServiceDescription{Client: c, Type: conf.DescriptionREST, Services: svcs}
	}
	for _, tc := range []struct {
		name string
		d    conf.ServiceDescription
		want error
	}{
		{"service code taken", restDesc(civil, service("births")), conf.ErrConflict},
		{"service code twice", restDesc(tax, service("x"), service("x")), conf.ErrConflict},
		{"endpoint twice", restDesc(tax, service("x", manual("GET", "/a"), manual("get", "/a"))), conf.ErrConflict},
		{"unknown client", restDesc(moi.Subsystem("nope"), service("x")), conf.ErrNotFound},
		{"member provider", restDesc(moi.Client(), service("x")), conf.ErrInvalid},
		{"no services", restDesc(tax), conf.ErrInvalid},
		{"bad type", conf.ServiceDescription{Client: tax, Type: "WSDL", Services: []conf.Service{service("x")}}, conf.ErrInvalid},
		{"REST with document", conf.ServiceDescription{Client: tax, Type: conf.DescriptionREST, Document: []byte(personsV1), Services: []conf.Service{service("x")}}, conf.ErrInvalid},
		{"OpenAPI without document", conf.ServiceDescription{Client: tax, Type: conf.DescriptionOpenAPI, Services: []conf.Service{service("x")}}, conf.ErrInvalid},
		{"invalid OpenAPI", conf.ServiceDescription{Client: tax, Type: conf.DescriptionOpenAPI, Document: []byte("openapi: 3.0.3\npaths: 7\n"), Services: []conf.Service{service("x")}}, conf.ErrInvalid},
		{"bad source URL", conf.ServiceDescription{Client: tax, Type: conf.DescriptionREST, URL: "ftp://x", Services: []conf.Service{service("x")}}, conf.ErrInvalid},
		{"bad service code", restDesc(tax, service("a/b")), conf.ErrInvalid},
		{"bad version", restDesc(tax, func() conf.Service { s := service("x"); s.Version = "v 1"; return s }()), conf.ErrInvalid},
		{"bad backend URL", restDesc(tax, func() conf.Service { s := service("x"); s.URL = "backend:80"; return s }()), conf.ErrInvalid},
		{"no timeout", restDesc(tax, func() conf.Service { s := service("x"); s.Timeout = 0; return s }()), conf.ErrInvalid},
		{"sub-millisecond timeout", restDesc(tax, func() conf.Service { s := service("x"); s.Timeout = time.Microsecond; return s }()), conf.ErrInvalid},
		{"bad endpoint", restDesc(tax, service("x", manual("GET", "relative"))), conf.ErrInvalid},
		{"base endpoint", restDesc(tax, service("x", manual("*", "**"))), conf.ErrInvalid},
	} {
		_, err := e.s.AddServiceDescription(e.ctx, tc.d)
		wantErr(t, tc.name, err, tc.want)
	}
	list, err = e.s.ServiceDescriptions(e.ctx, tax)
	e.must(err)
	equal(t, "failed adds left nothing", list, []conf.ServiceDescription{})

	e.must(e.s.DeleteServiceDescription(e.ctx, rest.ID))
	_, err = e.s.ServiceDescription(e.ctx, rest.ID)
	wantErr(t, "deleted description", err, conf.ErrNotFound)
	wantErr(t, "delete again", e.s.DeleteServiceDescription(e.ctx, rest.ID), conf.ErrNotFound)
	// Its service code is free again.
	_, err = e.s.AddServiceDescription(e.ctx, restDesc(civil, service("births")))
	e.must(err)
}

func testRefresh(e *env) {
	t := e.t
	rest, openapi := e.seed()
	e.must(e.s.AddEndpoint(e.ctx, civil, "persons", spec("GET", "/persons/*/photo")))
	for _, ep := range []conf.EndpointSpec{{}, spec("DELETE", "/persons/*"), spec("GET", "/persons/*"), spec("GET", "/persons/*/photo")} {
		e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "persons", Endpoint: ep, Subject: tax}))
	}
	s := service("persons")
	s.Disabled, s.DisabledNotice = true, "maintenance"
	e.must(e.s.UpdateService(e.ctx, civil, s))

	e.clk.Add(time.Hour)
	got, err := e.s.RefreshServiceDescription(e.ctx, openapi.ID, "https://backend.moi.example/v2.yaml", []byte(personsV2))
	e.must(err)
	s.Endpoints = []conf.Endpoint{
		generated("GET", "/persons"), generated("POST", "/persons"),
		generated("GET", "/persons/*"),
		// Hand-made before V2 described it: stays hand-made.
		manual("GET", "/persons/*/photo"),
	}
	equal(t, "refreshed", got, conf.ServiceDescription{
		ID: openapi.ID, Client: civil, Type: conf.DescriptionOpenAPI, URL: "https://backend.moi.example/v2.yaml",
		Document: []byte(personsV2), RefreshedAt: e.now(), Services: []conf.Service{s},
	})
	rights, err := e.s.AccessRights(e.ctx, civil)
	e.must(err)
	var eps []conf.EndpointSpec
	for _, r := range rights {
		eps = append(eps, r.Endpoint)
	}
	equal(t, "rights on removed endpoints went", eps, []conf.EndpointSpec{{}, spec("GET", "/persons/*"), spec("GET", "/persons/*/photo")})

	_, err = e.s.RefreshServiceDescription(e.ctx, openapi.ID, "", []byte("openapi: 3.0.3\n"))
	wantErr(t, "invalid document", err, conf.ErrInvalid)
	_, err = e.s.RefreshServiceDescription(e.ctx, rest.ID, "", []byte(personsV2))
	wantErr(t, "REST description", err, conf.ErrInvalid)
	_, err = e.s.RefreshServiceDescription(e.ctx, 999, "", []byte(personsV2))
	wantErr(t, "unknown description", err, conf.ErrNotFound)
	got, err = e.s.ServiceDescription(e.ctx, openapi.ID)
	e.must(err)
	equal(t, "failed refreshes changed nothing", got.Document, []byte(personsV2))
}

func testServices(e *env) {
	t := e.t
	rest, openapi := e.seed()
	e.must(e.s.AddService(e.ctx, rest.ID, service("deaths", manual("GET", "/deaths"))))
	e.must(e.s.AddService(e.ctx, openapi.ID, service("persons-v2")))
	wantErr(t, "duplicate code", e.s.AddService(e.ctx, openapi.ID, service("births")), conf.ErrConflict)
	wantErr(t, "unknown description", e.s.AddService(e.ctx, 999, service("x")), conf.ErrNotFound)
	wantErr(t, "invalid service", e.s.AddService(e.ctx, rest.ID, service("")), conf.ErrInvalid)

	d, err := e.s.ServiceDescription(e.ctx, openapi.ID)
	e.must(err)
	equal(t, "added service has the generated endpoints", d.Services[1].Endpoints, d.Services[0].Endpoints)

	upd := conf.Service{
		Code: "deaths", Version: "v2", URL: "http://10.0.0.7:8080/", Timeout: 1500 * time.Millisecond,
		VerifyTLS: false, Disabled: true, DisabledNotice: "moved to the archive",
		Endpoints: []conf.Endpoint{manual("DELETE", "/ignored")},
	}
	e.must(e.s.UpdateService(e.ctx, civil, upd))
	d, err = e.s.ServiceDescription(e.ctx, rest.ID)
	e.must(err)
	upd.Endpoints = []conf.Endpoint{manual("GET", "/deaths")}
	equal(t, "updated service", d.Services[1], upd)
	wantErr(t, "update unknown service", e.s.UpdateService(e.ctx, civil, service("nope")), conf.ErrNotFound)
	wantErr(t, "update for unknown client", e.s.UpdateService(e.ctx, archive, service("deaths")), conf.ErrNotFound)
	wantErr(t, "invalid update", e.s.UpdateService(e.ctx, civil, conf.Service{Code: "deaths"}), conf.ErrInvalid)

	e.must(e.s.DeleteService(e.ctx, civil, "deaths"))
	wantErr(t, "delete again", e.s.DeleteService(e.ctx, civil, "deaths"), conf.ErrNotFound)
	d, err = e.s.ServiceDescription(e.ctx, rest.ID)
	e.must(err)
	equal(t, "services after delete", len(d.Services), 1)
}

func testEndpoints(e *env) {
	t := e.t
	rest, _ := e.seed()
	e.must(e.s.AddEndpoint(e.ctx, civil, "births", spec("delete", "/births/*")))
	d, err := e.s.ServiceDescription(e.ctx, rest.ID)
	e.must(err)
	equal(t, "endpoints", d.Services[0].Endpoints, []conf.Endpoint{
		manual("POST", "/births"), manual("DELETE", "/births/*"), manual("GET", "/births/*"),
	})
	for _, tc := range []struct {
		name string
		code string
		ep   conf.EndpointSpec
		want error
	}{
		{"duplicate", "births", spec("GET", "/births/*"), conf.ErrConflict},
		{"duplicate of a generated one", "persons", spec("GET", "/persons/*"), conf.ErrConflict},
		{"unknown service", "nope", spec("GET", "/x"), conf.ErrNotFound},
		{"base endpoint", "births", spec("*", "**"), conf.ErrInvalid},
		{"bad method", "births", spec("BREW", "/x"), conf.ErrInvalid},
		{"bad path", "births", spec("GET", "x"), conf.ErrInvalid},
	} {
		wantErr(t, "AddEndpoint "+tc.name, e.s.AddEndpoint(e.ctx, civil, tc.code, tc.ep), tc.want)
	}
	wantErr(t, "AddEndpoint unknown client", e.s.AddEndpoint(e.ctx, archive, "births", spec("GET", "/x")), conf.ErrNotFound)

	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "births", Endpoint: spec("DELETE", "/births/*"), Subject: tax}))
	e.must(e.s.DeleteEndpoint(e.ctx, civil, "births", spec("DELETE", "/births/*")))
	rights, err := e.s.AccessRights(e.ctx, civil)
	e.must(err)
	equal(t, "rights on the deleted endpoint went", rights, []conf.AccessRight{})
	wantErr(t, "DeleteEndpoint again", e.s.DeleteEndpoint(e.ctx, civil, "births", spec("DELETE", "/births/*")), conf.ErrNotFound)
	wantErr(t, "DeleteEndpoint generated", e.s.DeleteEndpoint(e.ctx, civil, "persons", spec("GET", "/persons/*")), conf.ErrConflict)
	wantErr(t, "DeleteEndpoint base", e.s.DeleteEndpoint(e.ctx, civil, "persons", conf.EndpointSpec{}), conf.ErrInvalid)
}

func testAccessRights(e *env) {
	t := e.t
	e.seed()
	e.must(e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "partners", Description: "Partners"}))
	rights := []conf.AccessRight{
		{Provider: civil, ServiceCode: "persons", Endpoint: spec("GET", "/persons/*"), Subject: tax},
		{Provider: civil, ServiceCode: "persons", Subject: citizens},
		{Provider: civil, ServiceCode: "births", Subject: xroad.LocalGroupID{Code: "partners"}},
		{Provider: civil, ServiceCode: "persons", Subject: tax},
		{Provider: civil, ServiceCode: "persons", Subject: mof.Client()},
	}
	for i, r := range rights {
		e.clk.Add(time.Second)
		e.must(e.s.AddAccessRight(e.ctx, r))
		rights[i].GrantedAt = e.now()
	}
	got, err := e.s.AccessRights(e.ctx, civil)
	e.must(err)
	equal(t, "AccessRights", got, []conf.AccessRight{rights[2], rights[1], rights[4], rights[3], rights[0]})
	got, err = e.s.AccessRights(e.ctx, tax)
	e.must(err)
	equal(t, "none granted by tax", got, []conf.AccessRight{})
	_, err = e.s.AccessRights(e.ctx, moi.Subsystem("nope"))
	wantErr(t, "rights of an unknown client", err, conf.ErrNotFound)

	// A MemberID subject is taken as the member's ClientID.
	wantErr(t, "MemberID subject", e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: mof}), conf.ErrConflict)
	for _, tc := range []struct {
		name string
		r    conf.AccessRight
		want error
	}{
		{"duplicate", conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: tax}, conf.ErrConflict},
		{"unknown endpoint", conf.AccessRight{Provider: civil, ServiceCode: "persons", Endpoint: spec("PUT", "/persons/*"), Subject: tax}, conf.ErrNotFound},
		{"unknown service", conf.AccessRight{Provider: civil, ServiceCode: "nope", Subject: tax}, conf.ErrNotFound},
		{"unknown provider", conf.AccessRight{Provider: archive, ServiceCode: "persons", Subject: tax}, conf.ErrNotFound},
		{"unknown local group", conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: xroad.LocalGroupID{Code: "nope"}}, conf.ErrNotFound},
		{"no subject", conf.AccessRight{Provider: civil, ServiceCode: "persons"}, conf.ErrInvalid},
		{"server subject", conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: xroad.ServerID{Owner: mof, Code: "ss1"}}, conf.ErrInvalid},
		{"malformed subject", conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: xroad.ClientID{Instance: "PS"}}, conf.ErrInvalid},
		{"malformed endpoint", conf.AccessRight{Provider: civil, ServiceCode: "persons", Endpoint: spec("GET", "persons"), Subject: tax}, conf.ErrInvalid},
	} {
		wantErr(t, "AddAccessRight "+tc.name, e.s.AddAccessRight(e.ctx, tc.r), tc.want)
	}

	e.must(e.s.RemoveAccessRight(e.ctx, rights[0]))
	e.must(e.s.RemoveAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: mof}))
	wantErr(t, "remove again", e.s.RemoveAccessRight(e.ctx, rights[0]), conf.ErrNotFound)
	got, err = e.s.AccessRights(e.ctx, civil)
	e.must(err)
	equal(t, "after remove", got, []conf.AccessRight{rights[2], rights[1], rights[3]})
}

func testLocalGroups(e *env) {
	t := e.t
	e.seed()
	_, err := e.s.LocalGroup(e.ctx, civil, "partners")
	wantErr(t, "before add", err, conf.ErrNotFound)
	e.must(e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "partners", Description: "Partners", Members: []xroad.ClientID{tax}}))
	e.must(e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "auditors"}))
	wantErr(t, "duplicate", e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "partners"}), conf.ErrConflict)
	wantErr(t, "unknown client", e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: moi.Subsystem("nope"), Code: "x"}), conf.ErrNotFound)
	wantErr(t, "bad code", e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "a b"}), conf.ErrInvalid)

	e.clk.Add(time.Minute)
	for _, m := range []xroad.ClientID{tax, mof.Client(), archive} {
		e.must(e.s.AddLocalGroupMember(e.ctx, civil, "partners", m))
	}
	wantErr(t, "duplicate member", e.s.AddLocalGroupMember(e.ctx, civil, "partners", tax), conf.ErrConflict)
	wantErr(t, "member of unknown group", e.s.AddLocalGroupMember(e.ctx, civil, "nope", tax), conf.ErrNotFound)
	wantErr(t, "malformed member", e.s.AddLocalGroupMember(e.ctx, civil, "partners", xroad.ClientID{}), conf.ErrInvalid)
	e.must(e.s.UpdateLocalGroup(e.ctx, civil, "partners", "Partner ministries"))
	wantErr(t, "update unknown group", e.s.UpdateLocalGroup(e.ctx, civil, "nope", "x"), conf.ErrNotFound)

	want := conf.LocalGroup{
		Client: civil, Code: "partners", Description: "Partner ministries", UpdatedAt: e.now(),
		// By header form: PS/GOV/MOF < PS/GOV/MOF/tax < PS/GOV/MOI/archive.
		Members: []xroad.ClientID{mof.Client(), tax, archive},
	}
	got, err := e.s.LocalGroup(e.ctx, civil, "partners")
	e.must(err)
	equal(t, "LocalGroup", got, want)
	list, err := e.s.LocalGroups(e.ctx, civil)
	e.must(err)
	equal(t, "LocalGroups", list, []conf.LocalGroup{
		{Client: civil, Code: "auditors", UpdatedAt: start.Truncate(time.Microsecond), Members: []xroad.ClientID{}},
		want,
	})

	e.must(e.s.RemoveLocalGroupMember(e.ctx, civil, "partners", mof.Client()))
	wantErr(t, "remove again", e.s.RemoveLocalGroupMember(e.ctx, civil, "partners", mof.Client()), conf.ErrNotFound)
	got, err = e.s.LocalGroup(e.ctx, civil, "partners")
	e.must(err)
	equal(t, "members after remove", got.Members, []xroad.ClientID{tax, archive})

	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "births", Subject: xroad.LocalGroupID{Code: "partners"}}))
	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "births", Subject: xroad.LocalGroupID{Code: "auditors"}}))
	e.must(e.s.DeleteLocalGroup(e.ctx, civil, "partners"))
	wantErr(t, "delete again", e.s.DeleteLocalGroup(e.ctx, civil, "partners"), conf.ErrNotFound)
	rights, err := e.s.AccessRights(e.ctx, civil)
	e.must(err)
	equal(t, "rights to the deleted group went", len(rights), 1)
	equal(t, "the other group's right stays", rights[0].Subject, xroad.ID(xroad.LocalGroupID{Code: "auditors"}))
	_, err = e.s.LocalGroups(e.ctx, moi.Subsystem("nope"))
	wantErr(t, "groups of an unknown client", err, conf.ErrNotFound)
}

func testDeleteClientCascade(e *env) {
	t := e.t
	e.seed()
	// tax provides a service that civil may call.
	_, err := e.s.AddServiceDescription(e.ctx, conf.ServiceDescription{Client: tax, Type: conf.DescriptionREST, Services: []conf.Service{service("returns")}})
	e.must(err)
	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: tax, ServiceCode: "returns", Subject: civil}))
	e.must(e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "partners"}))
	e.must(e.s.AddLocalGroupMember(e.ctx, civil, "partners", tax))
	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: xroad.LocalGroupID{Code: "partners"}}))
	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "births", Endpoint: spec("GET", "/births/*"), Subject: tax}))

	e.must(e.s.DeleteClient(e.ctx, civil))
	// Re-adding the client finds nothing of the old one.
	e.must(e.s.AddClient(e.ctx, client(civil)))
	ds, err := e.s.ServiceDescriptions(e.ctx, civil)
	e.must(err)
	equal(t, "descriptions", ds, []conf.ServiceDescription{})
	rights, err := e.s.AccessRights(e.ctx, civil)
	e.must(err)
	equal(t, "rights granted by the client", rights, []conf.AccessRight{})
	groups, err := e.s.LocalGroups(e.ctx, civil)
	e.must(err)
	equal(t, "local groups", groups, []conf.LocalGroup{})
	// The right tax granted to civil is tax's and stays.
	rights, err = e.s.AccessRights(e.ctx, tax)
	e.must(err)
	equal(t, "rights granted to the client by others", len(rights), 1)
}

func testDeleteServiceCascade(e *env) {
	t := e.t
	rest, openapi := e.seed()
	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: tax}))
	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "persons", Endpoint: spec("GET", "/persons/*"), Subject: archive}))
	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "births", Subject: tax}))

	e.must(e.s.DeleteService(e.ctx, civil, "persons"))
	rights, err := e.s.AccessRights(e.ctx, civil)
	e.must(err)
	equal(t, "only the other service's right is left", len(rights), 1)
	equal(t, "left", rights[0].ServiceCode, "births")
	// Re-adding the service does not bring its rights back.
	e.must(e.s.AddService(e.ctx, openapi.ID, service("persons")))
	rights, err = e.s.AccessRights(e.ctx, civil)
	e.must(err)
	equal(t, "after re-adding", len(rights), 1)

	e.must(e.s.DeleteServiceDescription(e.ctx, rest.ID))
	rights, err = e.s.AccessRights(e.ctx, civil)
	e.must(err)
	equal(t, "description delete took its rights", rights, []conf.AccessRight{})
}

func testVersions(e *env) {
	t := e.t
	equal(t, "fresh", e.version(), int64(0))
	e.seed() // 5 writes
	equal(t, "after seed", e.version(), int64(5))
	right := conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: tax}
	steps := []struct {
		name  string
		op    func() error
		bumps bool
	}{
		{"add right", func() error { return e.s.AddAccessRight(e.ctx, right) }, true},
		{"duplicate right", func() error { return e.s.AddAccessRight(e.ctx, right) }, false},
		{"update client", func() error { return e.s.UpdateClient(e.ctx, client(tax)) }, true},
		{"invalid client", func() error { return e.s.UpdateClient(e.ctx, conf.Client{ID: tax}) }, false},
		{"add group", func() error { return e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "g"}) }, true},
		{"add member", func() error { return e.s.AddLocalGroupMember(e.ctx, civil, "g", tax) }, true},
		{"add endpoint", func() error { return e.s.AddEndpoint(e.ctx, civil, "births", spec("PUT", "/births/*")) }, true},
		{"remove right", func() error { return e.s.RemoveAccessRight(e.ctx, right) }, true},
		{"remove missing right", func() error { return e.s.RemoveAccessRight(e.ctx, right) }, false},
		{"delete client", func() error { return e.s.DeleteClient(e.ctx, archive) }, true},
		{"delete missing client", func() error { return e.s.DeleteClient(e.ctx, archive) }, false},
	}
	for _, st := range steps {
		before := e.version()
		_ = st.op()
		want := before
		if st.bumps {
			want++
		}
		if got := e.version(); got != want {
			t.Errorf("%s: version %d -> %d, want %d", st.name, before, got, want)
		}
	}
}

func testUpdateAtomic(e *env) {
	t := e.t
	e.seed()
	v := e.version()
	errBoom := errors.New("boom")
	err := e.s.Update(e.ctx, func(tx conf.Tx) error {
		if err := tx.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "g"}); err != nil {
			return err
		}
		// The transaction sees its own write.
		if _, err := tx.LocalGroup(e.ctx, civil, "g"); err != nil {
			return err
		}
		if err := tx.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: xroad.LocalGroupID{Code: "g"}}); err != nil {
			return err
		}
		return errBoom
	})
	wantErr(t, "failed Update", err, errBoom)
	_, err = e.s.LocalGroup(e.ctx, civil, "g")
	wantErr(t, "rolled back group", err, conf.ErrNotFound)
	rights, err := e.s.AccessRights(e.ctx, civil)
	e.must(err)
	equal(t, "rolled back right", rights, []conf.AccessRight{})
	equal(t, "version after rollback", e.version(), v)

	err = e.s.Update(e.ctx, func(tx conf.Tx) error {
		if err := tx.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "g"}); err != nil {
			return err
		}
		if err := tx.AddLocalGroupMember(e.ctx, civil, "g", tax); err != nil {
			return err
		}
		return tx.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "persons", Subject: xroad.LocalGroupID{Code: "g"}})
	})
	e.must(err)
	equal(t, "one bump per transaction", e.version(), v+1)

	// A failing write inside Update rolls back the earlier ones and keeps
	// its sentinel.
	err = e.s.Update(e.ctx, func(tx conf.Tx) error {
		if err := tx.AddClient(e.ctx, client(moi.Client())); err != nil {
			return err
		}
		return tx.AddClient(e.ctx, client(civil))
	})
	wantErr(t, "failing write", err, conf.ErrConflict)
	_, err = e.s.Client(e.ctx, moi.Client())
	wantErr(t, "earlier write rolled back", err, conf.ErrNotFound)
}

func testConcurrentWriters(e *env) {
	t := e.t
	e.seed()
	v := e.version()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: fmt.Sprintf("g%d", i)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	equal(t, "every commit bumped once", e.version(), v+n)
	gs, err := e.s.LocalGroups(e.ctx, civil)
	e.must(err)
	equal(t, "groups", len(gs), n)
}

func testSnapshot(e *env) {
	t := e.t
	e.seed()
	var before, during int64
	var groups []conf.LocalGroup
	err := e.s.Snapshot(e.ctx, func(r conf.Reader) error {
		var err error
		if before, err = r.Version(e.ctx); err != nil {
			return err
		}
		// A write committed by another connection after the snapshot
		// began is not seen inside it.
		if err := e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "g"}); err != nil {
			return err
		}
		if during, err = r.Version(e.ctx); err != nil {
			return err
		}
		groups, err = r.LocalGroups(e.ctx, civil)
		return err
	})
	e.must(err)
	equal(t, "version inside the snapshot", during, before)
	equal(t, "groups inside the snapshot", groups, []conf.LocalGroup{})
	equal(t, "version after", e.version(), before+1)
	errBoom := errors.New("boom")
	wantErr(t, "Snapshot error", e.s.Snapshot(e.ctx, func(conf.Reader) error { return errBoom }), errBoom)
}

// memberships is a GroupMembership from a set of (group, client) pairs.
type memberships map[xroad.GlobalGroupID][]xroad.ClientID

func (m memberships) IsMember(g xroad.GlobalGroupID, c xroad.ClientID) bool {
	for _, x := range m[g] {
		if x == c {
			return true
		}
	}
	return false
}

// testView loads a View from the store (through Snapshot) and checks that
// it decides as the stored rights say; the decision table itself is in the
// package's own tests.
func testView(e *env) {
	t := e.t
	e.seed()
	e.must(e.s.AddLocalGroup(e.ctx, conf.LocalGroup{Client: civil, Code: "partners"}))
	e.must(e.s.AddLocalGroupMember(e.ctx, civil, "partners", archive))
	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "persons", Endpoint: spec("GET", "/persons/*"), Subject: tax}))
	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "births", Subject: xroad.LocalGroupID{Code: "partners"}}))
	e.must(e.s.AddAccessRight(e.ctx, conf.AccessRight{Provider: civil, ServiceCode: "births", Subject: citizens}))
	v, err := conf.LoadView(e.ctx, e.s)
	e.must(err)
	equal(t, "view version", v.Version(), e.version())
	groups := memberships{citizens: {mof.Client()}}
	for _, tc := range []struct {
		client xroad.ClientID
		code   string
		method string
		path   string
		want   conf.Outcome
	}{
		{tax, "persons", "GET", "/persons/17", conf.AccessGranted},
		{tax, "persons", "DELETE", "/persons/17", conf.AccessDenied},
		{archive, "births", "POST", "/births", conf.AccessGranted},
		{mof.Client(), "births", "GET", "/births/1", conf.AccessGranted},
		{mof.Subsystem("other"), "births", "GET", "/births/1", conf.AccessDenied},
		{tax, "nope", "GET", "/", conf.UnknownService},
	} {
		d, err := v.Allowed(civil, xroad.ServiceID{Provider: civil, Code: tc.code}, tc.method, tc.path, tc.client, groups)
		e.must(err)
		if d.Outcome != tc.want {
			t.Errorf("%s %s %s %s: %v, want %v", tc.client, tc.code, tc.method, tc.path, d.Outcome, tc.want)
		}
	}
	doc, err := v.OpenAPI(civil, "persons")
	e.must(err)
	equal(t, "OpenAPI", string(doc), personsV1)
}
