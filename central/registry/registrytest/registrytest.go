// Package registrytest is the conformance suite for registry.Store
// implementations: every implementation must pass Run, so that the SQLite and
// PostgreSQL registries behave identically, errors included.
//
// It is imported only from _test.go files.
package registrytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// Factory returns a new, empty registry whose times come from clk. It
// registers the store's Close (and any cleanup) with t.Cleanup.
type Factory func(t *testing.T, clk clock.Clock) registry.Store

// Start is the fake clock's initial time. It has nanoseconds, so the suite
// also checks that stored times are truncated to microseconds.
var start = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

// Identifiers used throughout the suite.
const inst = "PS"

var (
	moi     = xroad.MemberID{Instance: inst, Class: "GOV", Code: "MOI"}
	mof     = xroad.MemberID{Instance: inst, Class: "GOV", Code: "MOF"}
	acme    = xroad.MemberID{Instance: inst, Class: "COM", Code: "ACME"}
	civil   = moi.Subsystem("civil-registry")
	tax     = mof.Subsystem("tax")
	ssMOI   = xroad.ServerID{Owner: moi, Code: "ss1"}
	ssMOF   = xroad.ServerID{Owner: mof, Code: "ss1"}
	foreign = xroad.MemberID{Instance: "XX", Class: "GOV", Code: "MOI"}
)

// env is one test's registry and clock.
type env struct {
	t   *testing.T
	ctx context.Context
	s   registry.Store
	clk *clock.Fake
}

// now is the fake clock's time as the registry stores it.
func (e *env) now() time.Time { return e.clk.Now().UTC().Truncate(time.Microsecond) }

// must fails the test on err.
func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// version returns the registry version.
func (e *env) version() int64 {
	e.t.Helper()
	v, err := e.s.Version(e.ctx)
	e.must(err)
	return v
}

// seed sets the instance, classes GOV and COM, members MOI and MOF with
// subsystems civil-registry and tax, and member ACME.
func (e *env) seed() {
	e.t.Helper()
	e.must(e.s.SetInstance(e.ctx, inst))
	e.must(e.s.AddMemberClass(e.ctx, registry.MemberClass{Code: "GOV", Description: "Government"}))
	e.must(e.s.AddMemberClass(e.ctx, registry.MemberClass{Code: "COM", Description: "Companies"}))
	e.must(e.s.AddMember(e.ctx, moi, "Ministry of Interior"))
	e.must(e.s.AddMember(e.ctx, mof, "Ministry of Finance"))
	e.must(e.s.AddMember(e.ctx, acme, "ACME Ltd"))
	e.must(e.s.AddSubsystem(e.ctx, civil))
	e.must(e.s.AddSubsystem(e.ctx, tax))
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

// equal compares with reflect.DeepEqual and reports a diff-friendly message.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// cert returns a fresh self-signed certificate (DER).
func cert(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             start.Add(-time.Hour),
		NotAfter:              start.Add(365 * 24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func hashHex(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Run runs the conformance suite against the registries newStore makes.
// Every case gets a fresh registry and runs in parallel with the others.
func Run(t *testing.T, newStore Factory) {
	cases := []struct {
		name string
		fn   func(*env)
	}{
		{"Instance", testInstance},
		{"MemberClasses", testMemberClasses},
		{"Members", testMembers},
		{"Subsystems", testSubsystems},
		{"SecurityServers", testSecurityServers},
		{"AuthCerts", testAuthCerts},
		{"ServerClients", testServerClients},
		{"GlobalGroups", testGlobalGroups},
		{"DeleteMemberCascade", testDeleteMemberCascade},
		{"DeleteSubsystemCascade", testDeleteSubsystemCascade},
		{"TrustServices", testTrustServices},
		{"Settings", testSettings},
		{"ManagementRequests", testManagementRequests},
		{"DecideRace", testDecideRace},
		{"Catalogue", testCatalogue},
		{"APIKeys", testAPIKeys},
		{"Audit", testAudit},
		{"Publish", testPublish},
		{"PublishRace", testPublishRace},
		{"Versions", testVersions},
		{"UpdateAtomic", testUpdateAtomic},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ViewSnapshot", testViewSnapshot},
		{"ForeignInstance", testForeignInstance},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(start)
			tc.fn(&env{t: t, ctx: t.Context(), s: newStore(t, clk), clk: clk})
		})
	}
}

func testInstance(e *env) {
	t := e.t
	_, err := e.s.Instance(e.ctx)
	wantErr(t, "Instance before set", err, registry.ErrNotFound)
	err = e.s.AddMemberClass(e.ctx, registry.MemberClass{Code: "GOV"})
	e.must(err)
	wantErr(t, "AddMember before instance", e.s.AddMember(e.ctx, moi, "x"), registry.ErrConflict)
	groups, err := e.s.GlobalGroups(e.ctx)
	e.must(err)
	equal(t, "GlobalGroups before instance", len(groups), 0)

	for _, tc := range []struct {
		name, code string
		want       error
	}{
		{"invalid", "P/S", registry.ErrInvalid},
		{"empty", "", registry.ErrInvalid},
		{"set", inst, nil},
		{"same again", inst, nil},
		{"change", "QQ", registry.ErrConflict},
	} {
		wantErr(t, tc.name, e.s.SetInstance(e.ctx, tc.code), tc.want)
	}
	got, err := e.s.Instance(e.ctx)
	e.must(err)
	equal(t, "Instance", got, inst)
	// AddMemberClass and the first SetInstance changed state; the others
	// failed or were no-ops.
	equal(t, "Version", e.version(), int64(2))
}

func testMemberClasses(e *env) {
	t := e.t
	for _, tc := range []struct {
		name string
		op   func() error
		want error
	}{
		{"add", func() error { return e.s.AddMemberClass(e.ctx, registry.MemberClass{Code: "GOV", Description: "Gov"}) }, nil},
		{"add second", func() error { return e.s.AddMemberClass(e.ctx, registry.MemberClass{Code: "COM", Description: "Com"}) }, nil},
		{"duplicate", func() error { return e.s.AddMemberClass(e.ctx, registry.MemberClass{Code: "GOV"}) }, registry.ErrConflict},
		{"invalid code", func() error { return e.s.AddMemberClass(e.ctx, registry.MemberClass{Code: "G O V"}) }, registry.ErrInvalid},
		{"update", func() error {
			return e.s.UpdateMemberClass(e.ctx, registry.MemberClass{Code: "GOV", Description: "Government"})
		}, nil},
		{"update missing", func() error { return e.s.UpdateMemberClass(e.ctx, registry.MemberClass{Code: "NGO"}) }, registry.ErrNotFound},
		{"delete missing", func() error { return e.s.DeleteMemberClass(e.ctx, "NGO") }, registry.ErrNotFound},
		{"delete", func() error { return e.s.DeleteMemberClass(e.ctx, "COM") }, nil},
	} {
		wantErr(t, tc.name, tc.op(), tc.want)
	}
	got, err := e.s.MemberClasses(e.ctx)
	e.must(err)
	equal(t, "MemberClasses", got, []registry.MemberClass{{Code: "GOV", Description: "Government"}})

	e.must(e.s.SetInstance(e.ctx, inst))
	e.must(e.s.AddMember(e.ctx, moi, "Ministry of Interior"))
	wantErr(t, "delete class in use", e.s.DeleteMemberClass(e.ctx, "GOV"), registry.ErrConflict)
}

func testMembers(e *env) {
	t := e.t
	e.must(e.s.SetInstance(e.ctx, inst))
	e.must(e.s.AddMemberClass(e.ctx, registry.MemberClass{Code: "GOV"}))
	ms, err := e.s.Members(e.ctx)
	e.must(err)
	equal(t, "Members when empty", ms, []registry.Member{})

	for _, tc := range []struct {
		name string
		id   xroad.MemberID
		nm   string
		want error
	}{
		{"add", moi, "Ministry of Interior", nil},
		{"add second", mof, "Ministry of Finance", nil},
		{"duplicate", moi, "Again", registry.ErrConflict},
		{"unknown class", acme, "ACME", registry.ErrNotFound},
		{"other instance", foreign, "X", registry.ErrInvalid},
		{"malformed", xroad.MemberID{Instance: inst, Class: "GOV", Code: "a/b"}, "X", registry.ErrInvalid},
		{"empty name", xroad.MemberID{Instance: inst, Class: "GOV", Code: "MOH"}, " ", registry.ErrInvalid},
	} {
		wantErr(t, tc.name, e.s.AddMember(e.ctx, tc.id, tc.nm), tc.want)
	}
	at := e.now()
	e.clk.Add(time.Minute)
	wantErr(t, "rename", e.s.RenameMember(e.ctx, moi, "MoI"), nil)
	wantErr(t, "rename missing", e.s.RenameMember(e.ctx, acme, "x"), registry.ErrNotFound)
	wantErr(t, "rename empty", e.s.RenameMember(e.ctx, moi, ""), registry.ErrInvalid)

	m, err := e.s.Member(e.ctx, moi)
	e.must(err)
	equal(t, "Member", m, registry.Member{ID: moi, Name: "MoI", Subsystems: []string{}, CreatedAt: at})
	_, err = e.s.Member(e.ctx, acme)
	wantErr(t, "Member missing", err, registry.ErrNotFound)

	ms, err = e.s.Members(e.ctx)
	e.must(err)
	if len(ms) != 2 || ms[0].ID != mof || ms[1].ID != moi {
		t.Errorf("Members = %+v, want MOF then MOI", ms)
	}
	wantErr(t, "delete", e.s.DeleteMember(e.ctx, mof), nil)
	wantErr(t, "delete missing", e.s.DeleteMember(e.ctx, mof), registry.ErrNotFound)
	_, err = e.s.Member(e.ctx, mof)
	wantErr(t, "Member deleted", err, registry.ErrNotFound)
}

func testSubsystems(e *env) {
	t := e.t
	e.seed()
	for _, tc := range []struct {
		name string
		id   xroad.ClientID
		want error
	}{
		{"second subsystem", moi.Subsystem("archive"), nil},
		{"duplicate", civil, registry.ErrConflict},
		{"missing member", acme.Subsystem("x"), nil}, // ACME exists
		{"unknown member", xroad.MemberID{Instance: inst, Class: "GOV", Code: "MOH"}.Subsystem("x"), registry.ErrNotFound},
		{"not a subsystem", moi.Client(), registry.ErrInvalid},
		{"malformed", moi.Subsystem("a b"), registry.ErrInvalid},
		{"other instance", foreign.Subsystem("x"), registry.ErrInvalid},
	} {
		wantErr(t, tc.name, e.s.AddSubsystem(e.ctx, tc.id), tc.want)
	}
	m, err := e.s.Member(e.ctx, moi)
	e.must(err)
	equal(t, "subsystems", m.Subsystems, []string{"archive", "civil-registry"})
	wantErr(t, "delete", e.s.DeleteSubsystem(e.ctx, moi.Subsystem("archive")), nil)
	wantErr(t, "delete missing", e.s.DeleteSubsystem(e.ctx, moi.Subsystem("archive")), registry.ErrNotFound)
	wantErr(t, "delete member as subsystem", e.s.DeleteSubsystem(e.ctx, moi.Client()), registry.ErrInvalid)
	m, err = e.s.Member(e.ctx, moi)
	e.must(err)
	equal(t, "subsystems after delete", m.Subsystems, []string{"civil-registry"})
}

func testSecurityServers(e *env) {
	t := e.t
	e.seed()
	ss, err := e.s.SecurityServers(e.ctx)
	e.must(err)
	equal(t, "SecurityServers when empty", ss, []registry.SecurityServer{})

	for _, tc := range []struct {
		name  string
		id    xroad.ServerID
		addrs []string
		want  error
	}{
		{"add", ssMOI, []string{"ss1.moi.example:5500", "10.0.0.1"}, nil},
		{"add other owner", ssMOF, []string{"[2001:db8::1]:5500"}, nil},
		{"duplicate", ssMOI, []string{"x.example"}, registry.ErrConflict},
		{"unknown owner", xroad.ServerID{Owner: xroad.MemberID{Instance: inst, Class: "GOV", Code: "MOH"}, Code: "ss"}, []string{"a"}, registry.ErrNotFound},
		{"no address", xroad.ServerID{Owner: acme, Code: "ss"}, nil, registry.ErrInvalid},
		{"empty address", xroad.ServerID{Owner: acme, Code: "ss"}, []string{""}, registry.ErrInvalid},
		{"bad port", xroad.ServerID{Owner: acme, Code: "ss"}, []string{"host:99999"}, registry.ErrInvalid},
		{"URL not address", xroad.ServerID{Owner: acme, Code: "ss"}, []string{"https://host/"}, registry.ErrInvalid},
		{"duplicate address", xroad.ServerID{Owner: acme, Code: "ss"}, []string{"a", "a"}, registry.ErrInvalid},
		{"malformed id", xroad.ServerID{Owner: acme, Code: ""}, []string{"a"}, registry.ErrInvalid},
		{"other instance", xroad.ServerID{Owner: foreign, Code: "ss"}, []string{"a"}, registry.ErrInvalid},
	} {
		wantErr(t, tc.name, e.s.AddSecurityServer(e.ctx, tc.id, tc.addrs), tc.want)
	}
	created := e.now()
	e.clk.Add(time.Second)
	wantErr(t, "set addresses", e.s.SetServerAddresses(e.ctx, ssMOI, []string{"new.moi.example:5500", "ss1.moi.example:5500"}), nil)
	wantErr(t, "set addresses missing", e.s.SetServerAddresses(e.ctx, xroad.ServerID{Owner: acme, Code: "x"}, []string{"a"}), registry.ErrNotFound)
	wantErr(t, "set no addresses", e.s.SetServerAddresses(e.ctx, ssMOI, []string{}), registry.ErrInvalid)
	wantErr(t, "maintenance on", e.s.SetMaintenance(e.ctx, ssMOI, true), nil)
	wantErr(t, "maintenance missing", e.s.SetMaintenance(e.ctx, xroad.ServerID{Owner: acme, Code: "x"}, true), registry.ErrNotFound)

	got, err := e.s.SecurityServer(e.ctx, ssMOI)
	e.must(err)
	equal(t, "SecurityServer", got, registry.SecurityServer{
		ID:          ssMOI,
		Addresses:   []string{"new.moi.example:5500", "ss1.moi.example:5500"},
		AuthCerts:   []registry.AuthCert{},
		Clients:     []xroad.ClientID{},
		Maintenance: true,
		CreatedAt:   created,
	})
	e.must(e.s.SetMaintenance(e.ctx, ssMOI, false))
	got, err = e.s.SecurityServer(e.ctx, ssMOI)
	e.must(err)
	equal(t, "maintenance off", got.Maintenance, false)

	ss, err = e.s.SecurityServers(e.ctx)
	e.must(err)
	if len(ss) != 2 || ss[0].ID != ssMOF || ss[1].ID != ssMOI {
		t.Fatalf("SecurityServers = %+v, want MOF's then MOI's", ss)
	}
	equal(t, "IPv6 address", ss[0].Addresses, []string{"[2001:db8::1]:5500"})

	wantErr(t, "delete", e.s.DeleteSecurityServer(e.ctx, ssMOF), nil)
	wantErr(t, "delete missing", e.s.DeleteSecurityServer(e.ctx, ssMOF), registry.ErrNotFound)
	_, err = e.s.SecurityServer(e.ctx, ssMOF)
	wantErr(t, "deleted server", err, registry.ErrNotFound)
}

func testAuthCerts(e *env) {
	t := e.t
	e.seed()
	e.must(e.s.AddSecurityServer(e.ctx, ssMOI, []string{"a"}))
	e.must(e.s.AddSecurityServer(e.ctx, ssMOF, []string{"b"}))
	c1, c2 := cert(t, "ss1 auth"), cert(t, "ss1 auth 2")

	at1 := e.now()
	got1, err := e.s.AddAuthCert(e.ctx, ssMOI, c1)
	e.must(err)
	equal(t, "AddAuthCert", got1, registry.AuthCert{Hash: hashHex(c1), DER: c1, RegisteredAt: at1})
	e.clk.Add(time.Second)
	at2 := e.now()
	_, err = e.s.AddAuthCert(e.ctx, ssMOI, c2)
	e.must(err)

	for _, tc := range []struct {
		name   string
		server xroad.ServerID
		der    []byte
		want   error
	}{
		{"same server again", ssMOI, c1, registry.ErrConflict},
		{"another server", ssMOF, c1, registry.ErrConflict},
		{"not a certificate", ssMOF, []byte("garbage"), registry.ErrInvalid},
		{"empty", ssMOF, nil, registry.ErrInvalid},
		{"unknown server", xroad.ServerID{Owner: acme, Code: "x"}, cert(t, "x"), registry.ErrNotFound},
	} {
		_, err := e.s.AddAuthCert(e.ctx, tc.server, tc.der)
		wantErr(t, tc.name, err, tc.want)
	}
	ss, err := e.s.SecurityServer(e.ctx, ssMOI)
	e.must(err)
	equal(t, "AuthCerts", ss.AuthCerts, []registry.AuthCert{
		{Hash: hashHex(c1), DER: c1, RegisteredAt: at1},
		{Hash: hashHex(c2), DER: c2, RegisteredAt: at2},
	})
	for _, h := range []string{hashHex(c2), strings.ToUpper(hashHex(c2))} {
		by, err := e.s.ServerByAuthCert(e.ctx, h)
		e.must(err)
		equal(t, "ServerByAuthCert", by.ID, ssMOI)
	}
	_, err = e.s.ServerByAuthCert(e.ctx, hashHex([]byte("nothing")))
	wantErr(t, "ServerByAuthCert unknown", err, registry.ErrNotFound)
	_, err = e.s.ServerByAuthCert(e.ctx, "not hex")
	wantErr(t, "ServerByAuthCert malformed", err, registry.ErrNotFound)

	wantErr(t, "delete on wrong server", e.s.DeleteAuthCert(e.ctx, ssMOF, hashHex(c1)), registry.ErrNotFound)
	wantErr(t, "delete malformed hash", e.s.DeleteAuthCert(e.ctx, ssMOI, "zz"), registry.ErrInvalid)
	wantErr(t, "delete", e.s.DeleteAuthCert(e.ctx, ssMOI, strings.ToUpper(hashHex(c1))), nil)
	wantErr(t, "delete again", e.s.DeleteAuthCert(e.ctx, ssMOI, hashHex(c1)), registry.ErrNotFound)
	// Freed, the certificate can be registered for another server.
	_, err = e.s.AddAuthCert(e.ctx, ssMOF, c1)
	wantErr(t, "re-register for another server", err, nil)

	// Deleting a server deletes its certificates.
	e.must(e.s.DeleteSecurityServer(e.ctx, ssMOI))
	_, err = e.s.ServerByAuthCert(e.ctx, hashHex(c2))
	wantErr(t, "certificate of deleted server", err, registry.ErrNotFound)
}

func testServerClients(e *env) {
	t := e.t
	e.seed()
	e.must(e.s.AddSecurityServer(e.ctx, ssMOI, []string{"a"}))
	e.must(e.s.AddSecurityServer(e.ctx, ssMOF, []string{"b"}))
	for _, tc := range []struct {
		name   string
		server xroad.ServerID
		client xroad.ClientID
		want   error
	}{
		{"subsystem", ssMOI, civil, nil},
		{"member", ssMOI, moi.Client(), nil},
		{"other member's subsystem", ssMOI, tax, nil},
		{"same client elsewhere", ssMOF, civil, nil},
		{"duplicate", ssMOI, civil, registry.ErrConflict},
		{"unknown subsystem", ssMOI, moi.Subsystem("nope"), registry.ErrNotFound},
		{"unknown member", ssMOI, xroad.MemberID{Instance: inst, Class: "GOV", Code: "MOH"}.Client(), registry.ErrNotFound},
		{"unknown server", xroad.ServerID{Owner: acme, Code: "x"}, civil, registry.ErrNotFound},
		{"other instance client", ssMOI, foreign.Client(), registry.ErrInvalid},
	} {
		wantErr(t, tc.name, e.s.AddServerClient(e.ctx, tc.server, tc.client), tc.want)
	}
	ss, err := e.s.SecurityServer(e.ctx, ssMOI)
	e.must(err)
	equal(t, "Clients", ss.Clients, []xroad.ClientID{tax, moi.Client(), civil})
	hosts, err := e.s.ServersHosting(e.ctx, civil)
	e.must(err)
	equal(t, "ServersHosting", hosts, []xroad.ServerID{ssMOF, ssMOI})
	hosts, err = e.s.ServersHosting(e.ctx, acme.Client())
	e.must(err)
	equal(t, "ServersHosting none", hosts, []xroad.ServerID{})

	wantErr(t, "remove", e.s.RemoveServerClient(e.ctx, ssMOI, tax), nil)
	wantErr(t, "remove again", e.s.RemoveServerClient(e.ctx, ssMOI, tax), registry.ErrNotFound)
	wantErr(t, "remove from unknown server", e.s.RemoveServerClient(e.ctx, xroad.ServerID{Owner: acme, Code: "x"}, tax), registry.ErrNotFound)
	ss, err = e.s.SecurityServer(e.ctx, ssMOI)
	e.must(err)
	equal(t, "Clients after remove", ss.Clients, []xroad.ClientID{moi.Client(), civil})
}

func testGlobalGroups(e *env) {
	t := e.t
	e.seed()
	gid := xroad.GlobalGroupID{Instance: inst, Code: "ministries"}
	owners := xroad.GlobalGroupID{Instance: inst, Code: xroad.SecurityServerOwners}
	for _, tc := range []struct {
		name string
		g    registry.GlobalGroup
		want error
	}{
		{"add", registry.GlobalGroup{ID: gid, Description: "All ministries"}, nil},
		{"add other", registry.GlobalGroup{ID: xroad.GlobalGroupID{Instance: inst, Code: "banks"}}, nil},
		{"duplicate", registry.GlobalGroup{ID: gid}, registry.ErrConflict},
		{"reserved", registry.GlobalGroup{ID: owners}, registry.ErrInvalid},
		{"malformed", registry.GlobalGroup{ID: xroad.GlobalGroupID{Instance: inst, Code: "a b"}}, registry.ErrInvalid},
		{"other instance", registry.GlobalGroup{ID: xroad.GlobalGroupID{Instance: "XX", Code: "g"}}, registry.ErrInvalid},
	} {
		wantErr(t, tc.name, e.s.AddGlobalGroup(e.ctx, tc.g), tc.want)
	}
	for _, tc := range []struct {
		name   string
		group  xroad.GlobalGroupID
		client xroad.ClientID
		want   error
	}{
		{"member", gid, mof.Client(), nil},
		{"subsystem", gid, civil, nil},
		{"duplicate", gid, civil, registry.ErrConflict},
		{"unknown client", gid, moi.Subsystem("nope"), registry.ErrNotFound},
		{"unknown group", xroad.GlobalGroupID{Instance: inst, Code: "nope"}, civil, registry.ErrNotFound},
		{"automatic group", owners, civil, registry.ErrInvalid},
	} {
		wantErr(t, "add member: "+tc.name, e.s.AddGroupMember(e.ctx, tc.group, tc.client), tc.want)
	}
	g, err := e.s.GlobalGroup(e.ctx, gid)
	e.must(err)
	equal(t, "GlobalGroup", g, registry.GlobalGroup{ID: gid, Description: "All ministries", Members: []xroad.ClientID{mof.Client(), civil}})

	// The automatic group follows the registered servers.
	g, err = e.s.GlobalGroup(e.ctx, owners)
	e.must(err)
	equal(t, "owners with no server", g.Members, []xroad.ClientID{})
	e.must(e.s.AddSecurityServer(e.ctx, ssMOI, []string{"a"}))
	e.must(e.s.AddSecurityServer(e.ctx, xroad.ServerID{Owner: moi, Code: "ss2"}, []string{"b"}))
	e.must(e.s.AddSecurityServer(e.ctx, ssMOF, []string{"c"}))
	g, err = e.s.GlobalGroup(e.ctx, owners)
	e.must(err)
	equal(t, "owners", g.Members, []xroad.ClientID{mof.Client(), moi.Client()})

	gs, err := e.s.GlobalGroups(e.ctx)
	e.must(err)
	var codes []string
	for _, g := range gs {
		codes = append(codes, g.ID.Code)
	}
	equal(t, "GlobalGroups codes", codes, []string{"banks", "ministries", xroad.SecurityServerOwners})

	wantErr(t, "remove member", e.s.RemoveGroupMember(e.ctx, gid, civil), nil)
	wantErr(t, "remove member again", e.s.RemoveGroupMember(e.ctx, gid, civil), registry.ErrNotFound)
	wantErr(t, "remove from automatic", e.s.RemoveGroupMember(e.ctx, owners, moi.Client()), registry.ErrInvalid)
	wantErr(t, "delete automatic", e.s.DeleteGlobalGroup(e.ctx, owners), registry.ErrInvalid)
	wantErr(t, "delete", e.s.DeleteGlobalGroup(e.ctx, gid), nil)
	wantErr(t, "delete again", e.s.DeleteGlobalGroup(e.ctx, gid), registry.ErrNotFound)
	_, err = e.s.GlobalGroup(e.ctx, gid)
	wantErr(t, "deleted group", err, registry.ErrNotFound)
}

func testDeleteMemberCascade(e *env) {
	t := e.t
	e.seed()
	gid := xroad.GlobalGroupID{Instance: inst, Code: "g"}
	e.must(e.s.AddSecurityServer(e.ctx, ssMOF, []string{"a"}))
	e.must(e.s.AddGlobalGroup(e.ctx, registry.GlobalGroup{ID: gid}))
	e.must(e.s.AddServerClient(e.ctx, ssMOF, civil))
	e.must(e.s.AddServerClient(e.ctx, ssMOF, moi.Client()))
	e.must(e.s.AddGroupMember(e.ctx, gid, civil))
	e.must(e.s.AddGroupMember(e.ctx, gid, moi.Client()))
	e.must(e.s.AddGroupMember(e.ctx, gid, tax))
	svc := xroad.ServiceID{Provider: civil, Code: "persons"}
	_, err := e.s.PutServiceDescription(e.ctx, registry.ServiceDescription{Service: svc, Type: registry.ServiceOpenAPI, Title: "Persons"})
	e.must(err)
	req, err := e.s.SubmitRequest(e.ctx, registry.ManagementRequest{
		Type: registry.RequestClientRegistration, Server: ssMOF, Client: civil, Signed: []byte("jws"),
	})
	e.must(err)

	// MOI owns a server: refused, and nothing changed.
	e.must(e.s.AddSecurityServer(e.ctx, ssMOI, []string{"b"}))
	wantErr(t, "delete server owner", e.s.DeleteMember(e.ctx, moi), registry.ErrConflict)
	if _, err := e.s.Member(e.ctx, moi); err != nil {
		t.Fatalf("refused delete removed the member: %v", err)
	}
	e.must(e.s.DeleteSecurityServer(e.ctx, ssMOI))
	wantErr(t, "delete", e.s.DeleteMember(e.ctx, moi), nil)

	_, err = e.s.Member(e.ctx, moi)
	wantErr(t, "member", err, registry.ErrNotFound)
	ss, err := e.s.SecurityServer(e.ctx, ssMOF)
	e.must(err)
	equal(t, "registrations on other servers", ss.Clients, []xroad.ClientID{})
	g, err := e.s.GlobalGroup(e.ctx, gid)
	e.must(err)
	equal(t, "group memberships", g.Members, []xroad.ClientID{tax})
	_, err = e.s.ServiceDescription(e.ctx, svc)
	wantErr(t, "service descriptions", err, registry.ErrNotFound)
	// History stays.
	got, err := e.s.ManagementRequest(e.ctx, req.ID)
	e.must(err)
	equal(t, "management request kept", got.Client, civil)
	// The member can be registered afresh.
	e.must(e.s.AddMember(e.ctx, moi, "Ministry of Interior"))
	m, err := e.s.Member(e.ctx, moi)
	e.must(err)
	equal(t, "re-added member has no subsystems", m.Subsystems, []string{})
}

func testDeleteSubsystemCascade(e *env) {
	t := e.t
	e.seed()
	gid := xroad.GlobalGroupID{Instance: inst, Code: "g"}
	e.must(e.s.AddSecurityServer(e.ctx, ssMOI, []string{"a"}))
	e.must(e.s.AddGlobalGroup(e.ctx, registry.GlobalGroup{ID: gid}))
	for _, c := range []xroad.ClientID{civil, moi.Client()} {
		e.must(e.s.AddServerClient(e.ctx, ssMOI, c))
		e.must(e.s.AddGroupMember(e.ctx, gid, c))
	}
	svc := xroad.ServiceID{Provider: civil, Code: "persons", Version: "v1"}
	_, err := e.s.PutServiceDescription(e.ctx, registry.ServiceDescription{Service: svc, Type: registry.ServiceREST})
	e.must(err)

	e.must(e.s.DeleteSubsystem(e.ctx, civil))
	ss, err := e.s.SecurityServer(e.ctx, ssMOI)
	e.must(err)
	equal(t, "server clients", ss.Clients, []xroad.ClientID{moi.Client()})
	g, err := e.s.GlobalGroup(e.ctx, gid)
	e.must(err)
	equal(t, "group members", g.Members, []xroad.ClientID{moi.Client()})
	_, err = e.s.ServiceDescription(e.ctx, svc)
	wantErr(t, "service description", err, registry.ErrNotFound)
	// Re-adding the subsystem does not resurrect anything.
	e.must(e.s.AddSubsystem(e.ctx, civil))
	hosts, err := e.s.ServersHosting(e.ctx, civil)
	e.must(err)
	equal(t, "hosts after re-add", hosts, []xroad.ServerID{})
}

func testTrustServices(e *env) {
	t := e.t
	root, inter, resp, tsaCert := cert(t, "root"), cert(t, "intermediate"), cert(t, "ocsp"), cert(t, "tsa")
	ca := registry.ApprovedCA{
		Name:          "Jisr CA",
		Roots:         [][]byte{root},
		Intermediates: [][]byte{inter},
		OCSPResponders: []registry.OCSPResponder{
			{URL: "http://ocsp.jisr.example:4480/"},
			{URL: "https://ocsp2.jisr.example/", Cert: resp},
		},
		Profile: "jisr-v1",
	}
	ext := registry.ApprovedCA{
		Name: "External CA", Roots: [][]byte{cert(t, "ext")}, Profile: "jisr-v1",
	}
	for _, tc := range []struct {
		name string
		ca   registry.ApprovedCA
		want error
	}{
		{"add", ca, nil},
		{"add minimal", ext, nil},
		{"duplicate", ca, registry.ErrConflict},
		{"no roots", registry.ApprovedCA{Name: "x", Profile: "p"}, registry.ErrInvalid},
		{"no name", registry.ApprovedCA{Roots: [][]byte{root}, Profile: "p"}, registry.ErrInvalid},
		{"no profile", registry.ApprovedCA{Name: "x", Roots: [][]byte{root}}, registry.ErrInvalid},
		{"bad root", registry.ApprovedCA{Name: "x", Roots: [][]byte{[]byte("x")}, Profile: "p"}, registry.ErrInvalid},
		{"bad OCSP URL", registry.ApprovedCA{Name: "x", Roots: [][]byte{root}, Profile: "p",
			OCSPResponders: []registry.OCSPResponder{{URL: "ocsp.example"}}}, registry.ErrInvalid},
		{"bad responder cert", registry.ApprovedCA{Name: "x", Roots: [][]byte{root}, Profile: "p",
			OCSPResponders: []registry.OCSPResponder{{URL: "http://o/", Cert: []byte{1}}}}, registry.ErrInvalid},
	} {
		wantErr(t, "CA "+tc.name, e.s.AddApprovedCA(e.ctx, tc.ca), tc.want)
	}
	cas, err := e.s.ApprovedCAs(e.ctx)
	e.must(err)
	ext.Intermediates, ext.OCSPResponders = [][]byte{}, []registry.OCSPResponder{}
	equal(t, "ApprovedCAs", cas, []registry.ApprovedCA{ext, ca})
	wantErr(t, "delete CA", e.s.DeleteApprovedCA(e.ctx, ext.Name), nil)
	wantErr(t, "delete CA again", e.s.DeleteApprovedCA(e.ctx, ext.Name), registry.ErrNotFound)

	tsa := registry.ApprovedTSA{Name: "Jisr TSA", URL: "http://tsa.jisr.example:4318/", Cert: tsaCert}
	for _, tc := range []struct {
		name string
		tsa  registry.ApprovedTSA
		want error
	}{
		{"add", tsa, nil},
		{"duplicate", tsa, registry.ErrConflict},
		{"bad URL", registry.ApprovedTSA{Name: "x", URL: "ftp://x/", Cert: tsaCert}, registry.ErrInvalid},
		{"no cert", registry.ApprovedTSA{Name: "x", URL: "http://x/"}, registry.ErrInvalid},
	} {
		wantErr(t, "TSA "+tc.name, e.s.AddApprovedTSA(e.ctx, tc.tsa), tc.want)
	}
	tsas, err := e.s.ApprovedTSAs(e.ctx)
	e.must(err)
	equal(t, "ApprovedTSAs", tsas, []registry.ApprovedTSA{tsa})
	wantErr(t, "delete TSA", e.s.DeleteApprovedTSA(e.ctx, tsa.Name), nil)
	wantErr(t, "delete TSA again", e.s.DeleteApprovedTSA(e.ctx, tsa.Name), registry.ErrNotFound)
}

func testSettings(e *env) {
	t := e.t
	s, err := e.s.Settings(e.ctx)
	e.must(err)
	equal(t, "defaults", s, registry.DefaultSettings())
	equal(t, "X-Road defaults", s, registry.Settings{
		OCSPFreshness:                3600 * time.Second,
		TimestampingInterval:         60 * time.Second,
		ConfigurationLifetime:        600 * time.Second,
		ConfigurationRefreshInterval: 60 * time.Second,
		TimestampingGracePeriod:      4 * time.Hour,
	})
	for _, tc := range []struct {
		name string
		key  registry.Setting
		val  time.Duration
		want error
	}{
		{"OCSP freshness", registry.SettingOCSPFreshness, 20 * time.Minute, nil},
		{"lifetime", registry.SettingConfigurationLifetime, 300 * time.Second, nil},
		{"lifetime again", registry.SettingConfigurationLifetime, 900 * time.Second, nil},
		{"unknown", "colour", time.Second, registry.ErrInvalid},
		{"zero", registry.SettingTimestampingInterval, 0, registry.ErrInvalid},
		{"negative", registry.SettingTimestampingInterval, -time.Second, registry.ErrInvalid},
		{"fractional", registry.SettingTimestampingInterval, 1500 * time.Millisecond, registry.ErrInvalid},
	} {
		wantErr(t, tc.name, e.s.SetSetting(e.ctx, tc.key, tc.val), tc.want)
	}
	want := registry.DefaultSettings()
	want.OCSPFreshness = 20 * time.Minute
	want.ConfigurationLifetime = 900 * time.Second
	s, err = e.s.Settings(e.ctx)
	e.must(err)
	equal(t, "settings", s, want)
}

func testManagementRequests(e *env) {
	t := e.t
	e.seed()
	signed := []byte("eyJhbGciOiJFUzI1NiJ9..sig")
	for _, tc := range []struct {
		name string
		r    registry.ManagementRequest
		want error
	}{
		{"unknown type", registry.ManagementRequest{Type: "selfDestruct", Server: ssMOI, Signed: signed}, registry.ErrInvalid},
		{"client missing", registry.ManagementRequest{Type: registry.RequestClientRegistration, Server: ssMOI, Signed: signed}, registry.ErrInvalid},
		{"client not expected", registry.ManagementRequest{Type: registry.RequestAddressChange, Server: ssMOI, Client: civil, Signed: signed}, registry.ErrInvalid},
		{"bad server", registry.ManagementRequest{Type: registry.RequestMaintenanceOn, Signed: signed}, registry.ErrInvalid},
		{"payload not JSON", registry.ManagementRequest{Type: registry.RequestMaintenanceOn, Server: ssMOI, Payload: []byte("{"), Signed: signed}, registry.ErrInvalid},
		{"unsigned", registry.ManagementRequest{Type: registry.RequestMaintenanceOn, Server: ssMOI}, registry.ErrInvalid},
	} {
		_, err := e.s.SubmitRequest(e.ctx, tc.r)
		wantErr(t, tc.name, err, tc.want)
	}

	submitted := e.now()
	r1, err := e.s.SubmitRequest(e.ctx, registry.ManagementRequest{
		Type: registry.RequestAuthCertRegistration, Server: ssMOI,
		Payload: json.RawMessage(`{"address":"ss1.moi.example"}`), Signed: signed,
	})
	e.must(err)
	equal(t, "submitted", r1, registry.ManagementRequest{
		ID: r1.ID, Type: registry.RequestAuthCertRegistration, Server: ssMOI,
		Payload: json.RawMessage(`{"address":"ss1.moi.example"}`), Signed: signed,
		Status: registry.StatusPending, SubmittedAt: submitted,
	})
	r2, err := e.s.SubmitRequest(e.ctx, registry.ManagementRequest{Type: registry.RequestClientRegistration, Server: ssMOI, Client: civil, Signed: signed})
	e.must(err)
	r3, err := e.s.SubmitRequest(e.ctx, registry.ManagementRequest{Type: registry.RequestMaintenanceOn, Server: ssMOF, Signed: signed})
	e.must(err)
	if !(r1.ID < r2.ID && r2.ID < r3.ID) {
		t.Errorf("ids %d %d %d not increasing", r1.ID, r2.ID, r3.ID)
	}
	got, err := e.s.ManagementRequest(e.ctx, r2.ID)
	e.must(err)
	equal(t, "ManagementRequest", got, r2)
	equal(t, "default payload", string(got.Payload), "{}")
	_, err = e.s.ManagementRequest(e.ctx, 999)
	wantErr(t, "ManagementRequest missing", err, registry.ErrNotFound)

	e.clk.Add(time.Hour)
	decided := e.now()
	d, err := e.s.DecideRequest(e.ctx, r2.ID, registry.Decision{Status: registry.StatusApproved, By: "officer", Comment: "ok"})
	e.must(err)
	want := r2
	want.Status, want.DecidedAt, want.DecidedBy, want.Comment = registry.StatusApproved, decided, "officer", "ok"
	equal(t, "decided", d, want)

	for _, tc := range []struct {
		name string
		id   int64
		d    registry.Decision
		want error
	}{
		{"decided again", r2.ID, registry.Decision{Status: registry.StatusRejected, By: "officer"}, registry.ErrConflict},
		{"approve again", r2.ID, registry.Decision{Status: registry.StatusApproved, By: "officer"}, registry.ErrConflict},
		{"missing", 999, registry.Decision{Status: registry.StatusRejected, By: "officer"}, registry.ErrNotFound},
		{"back to pending", r1.ID, registry.Decision{Status: registry.StatusPending, By: "officer"}, registry.ErrInvalid},
		{"no decider", r1.ID, registry.Decision{Status: registry.StatusRejected}, registry.ErrInvalid},
		{"reject", r1.ID, registry.Decision{Status: registry.StatusRejected, By: "officer", Comment: "no"}, nil},
		{"failed after decided", r1.ID, registry.Decision{Status: registry.StatusFailed, By: "system"}, registry.ErrConflict},
	} {
		_, err := e.s.DecideRequest(e.ctx, tc.id, tc.d)
		wantErr(t, tc.name, err, tc.want)
	}

	ids := func(f registry.RequestFilter) []int64 {
		rs, err := e.s.ManagementRequests(e.ctx, f)
		e.must(err)
		out := []int64{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	equal(t, "all", ids(registry.RequestFilter{}), []int64{r1.ID, r2.ID, r3.ID})
	equal(t, "pending", ids(registry.RequestFilter{Status: registry.StatusPending}), []int64{r3.ID})
	equal(t, "approved", ids(registry.RequestFilter{Status: registry.StatusApproved}), []int64{r2.ID})
	equal(t, "failed", ids(registry.RequestFilter{Status: registry.StatusFailed}), []int64{})
	equal(t, "by server", ids(registry.RequestFilter{Server: ssMOI}), []int64{r1.ID, r2.ID})
	equal(t, "by server and status", ids(registry.RequestFilter{Server: ssMOI, Status: registry.StatusRejected}), []int64{r1.ID})
	equal(t, "paged", ids(registry.RequestFilter{Limit: 2}), []int64{r1.ID, r2.ID})
	equal(t, "next page", ids(registry.RequestFilter{AfterID: r2.ID, Limit: 2}), []int64{r3.ID})
}

func testDecideRace(e *env) {
	t := e.t
	e.seed()
	r, err := e.s.SubmitRequest(e.ctx, registry.ManagementRequest{Type: registry.RequestMaintenanceOn, Server: ssMOI, Signed: []byte("x")})
	e.must(err)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.s.DecideRequest(e.ctx, r.ID, registry.Decision{Status: registry.StatusApproved, By: fmt.Sprintf("officer%d", i)})
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, registry.ErrConflict):
			t.Errorf("loser got %v, want ErrConflict", err)
		}
	}
	equal(t, "winners", wins, 1)
}

func testCatalogue(e *env) {
	t := e.t
	e.seed()
	e.must(e.s.AddSubsystem(e.ctx, moi.Subsystem("archive")))
	archive := moi.Subsystem("archive")
	persons := xroad.ServiceID{Provider: civil, Code: "persons", Version: "v1"}
	doc := []byte(`{"openapi":"3.0.3","info":{"title":"Persons","version":"1"},"paths":{}}`)
	put := func(d registry.ServiceDescription) (registry.ServiceDescription, error) {
		return e.s.PutServiceDescription(e.ctx, d)
	}
	first, err := put(registry.ServiceDescription{Service: persons, Type: registry.ServiceOpenAPI,
		Title: "Population Register", Description: "Look up PERSONS by national id", Document: doc})
	e.must(err)
	equal(t, "UpdatedAt", first.UpdatedAt, e.now())
	for _, d := range []registry.ServiceDescription{
		{Service: xroad.ServiceID{Provider: civil, Code: "persons"}, Type: registry.ServiceREST, Title: "Persons (unversioned)"},
		{Service: xroad.ServiceID{Provider: civil, Code: "births"}, Type: registry.ServiceREST, Title: "Births", Description: "100% of births"},
		{Service: xroad.ServiceID{Provider: archive, Code: "records"}, Type: registry.ServiceREST, Title: "Archive_records"},
		{Service: xroad.ServiceID{Provider: tax, Code: "returns"}, Type: registry.ServiceOpenAPI, Title: "Tax returns", Description: "personal income"},
	} {
		_, err := put(d)
		e.must(err)
	}
	for _, tc := range []struct {
		name string
		d    registry.ServiceDescription
		want error
	}{
		{"member provider", registry.ServiceDescription{Service: xroad.ServiceID{Provider: moi.Client(), Code: "x"}, Type: registry.ServiceREST}, registry.ErrInvalid},
		{"unknown subsystem", registry.ServiceDescription{Service: xroad.ServiceID{Provider: moi.Subsystem("nope"), Code: "x"}, Type: registry.ServiceREST}, registry.ErrNotFound},
		{"bad type", registry.ServiceDescription{Service: xroad.ServiceID{Provider: civil, Code: "x"}, Type: "WSDL"}, registry.ErrInvalid},
		{"other instance", registry.ServiceDescription{Service: xroad.ServiceID{Provider: foreign.Subsystem("s"), Code: "x"}, Type: registry.ServiceREST}, registry.ErrInvalid},
	} {
		_, err := put(tc.d)
		wantErr(t, tc.name, err, tc.want)
	}

	got, err := e.s.ServiceDescription(e.ctx, persons)
	e.must(err)
	equal(t, "ServiceDescription", got, first)
	_, err = e.s.ServiceDescription(e.ctx, xroad.ServiceID{Provider: civil, Code: "persons", Version: "v2"})
	wantErr(t, "other version", err, registry.ErrNotFound)

	// Replacing keeps one row and moves UpdatedAt.
	e.clk.Add(time.Minute)
	upd, err := put(registry.ServiceDescription{Service: persons, Type: registry.ServiceOpenAPI, Title: "Population Register", Description: "v1.1", Document: doc})
	e.must(err)
	got, err = e.s.ServiceDescription(e.ctx, persons)
	e.must(err)
	equal(t, "replaced", got, upd)
	if !got.UpdatedAt.After(first.UpdatedAt) {
		t.Errorf("UpdatedAt did not move: %v", got.UpdatedAt)
	}

	search := func(q registry.CatalogueQuery) []string {
		res, err := e.s.SearchServices(e.ctx, q)
		e.must(err)
		out := []string{}
		for _, d := range res {
			if d.Document != nil {
				t.Errorf("search result %s carries its document", d.Service)
			}
			out = append(out, d.Service.String())
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    registry.CatalogueQuery
		want []string
	}{
		{"all", registry.CatalogueQuery{}, []string{
			"PS/GOV/MOF/tax/returns", "PS/GOV/MOI/archive/records", "PS/GOV/MOI/civil-registry/births",
			"PS/GOV/MOI/civil-registry/persons", "PS/GOV/MOI/civil-registry/persons/v1"}},
		{"by member", registry.CatalogueQuery{Provider: moi.Client()}, []string{
			"PS/GOV/MOI/archive/records", "PS/GOV/MOI/civil-registry/births",
			"PS/GOV/MOI/civil-registry/persons", "PS/GOV/MOI/civil-registry/persons/v1"}},
		{"by subsystem", registry.CatalogueQuery{Provider: tax}, []string{"PS/GOV/MOF/tax/returns"}},
		{"text in code, any case", registry.CatalogueQuery{Text: "PERSONS"}, []string{
			"PS/GOV/MOI/civil-registry/persons", "PS/GOV/MOI/civil-registry/persons/v1"}},
		{"text in title", registry.CatalogueQuery{Text: "population"}, []string{"PS/GOV/MOI/civil-registry/persons/v1"}},
		{"text in description", registry.CatalogueQuery{Text: "INCOME"}, []string{"PS/GOV/MOF/tax/returns"}},
		{"text and provider", registry.CatalogueQuery{Provider: civil, Text: "birth"}, []string{"PS/GOV/MOI/civil-registry/births"}},
		{"percent is literal", registry.CatalogueQuery{Text: "100%"}, []string{"PS/GOV/MOI/civil-registry/births"}},
		{"underscore is literal", registry.CatalogueQuery{Text: "e_r"}, []string{"PS/GOV/MOI/archive/records"}},
		{"lone wildcard", registry.CatalogueQuery{Text: "%"}, []string{"PS/GOV/MOI/civil-registry/births"}},
		{"no match", registry.CatalogueQuery{Text: "zzz"}, []string{}},
		{"limit", registry.CatalogueQuery{Limit: 2}, []string{"PS/GOV/MOF/tax/returns", "PS/GOV/MOI/archive/records"}},
		{"unknown member", registry.CatalogueQuery{Provider: acme.Client()}, []string{}},
		{"other instance", registry.CatalogueQuery{Provider: foreign.Client()}, []string{}},
	} {
		equal(t, "search "+tc.name, search(tc.q), tc.want)
	}

	wantErr(t, "delete", e.s.DeleteServiceDescription(e.ctx, persons), nil)
	wantErr(t, "delete again", e.s.DeleteServiceDescription(e.ctx, persons), registry.ErrNotFound)
}

func testAPIKeys(e *env) {
	t := e.t
	h1, h2 := registry.HashAPIKeySecret([]byte("secret-1")), registry.HashAPIKeySecret([]byte("secret-2"))
	expires := start.Add(24 * time.Hour)
	created := e.now()
	k1, err := e.s.CreateAPIKey(e.ctx, registry.APIKey{
		Name: "ops", Hash: h1, Roles: []string{"XROAD_SYSTEM_ADMINISTRATOR", "XROAD_REGISTRATION_OFFICER", "XROAD_SYSTEM_ADMINISTRATOR"},
		ExpiresAt: expires,
	})
	e.must(err)
	equal(t, "created", k1, registry.APIKey{
		ID: k1.ID, Name: "ops", Hash: h1, Roles: []string{"XROAD_REGISTRATION_OFFICER", "XROAD_SYSTEM_ADMINISTRATOR"},
		CreatedAt: created, ExpiresAt: expires.Truncate(time.Microsecond),
	})
	k2, err := e.s.CreateAPIKey(e.ctx, registry.APIKey{Name: "observer", Hash: h2, Roles: []string{"XROAD_OBSERVER"}})
	e.must(err)

	for _, tc := range []struct {
		name string
		k    registry.APIKey
		want error
	}{
		{"same secret", registry.APIKey{Name: "dup", Hash: h1, Roles: []string{"r"}}, registry.ErrConflict},
		{"no hash", registry.APIKey{Name: "x", Roles: []string{"r"}}, registry.ErrInvalid},
		{"no roles", registry.APIKey{Name: "x", Hash: registry.HashAPIKeySecret([]byte("3"))}, registry.ErrInvalid},
		{"no name", registry.APIKey{Hash: registry.HashAPIKeySecret([]byte("3")), Roles: []string{"r"}}, registry.ErrInvalid},
		{"already expired", registry.APIKey{Name: "x", Hash: registry.HashAPIKeySecret([]byte("3")), Roles: []string{"r"}, ExpiresAt: start}, registry.ErrInvalid},
	} {
		_, err := e.s.CreateAPIKey(e.ctx, tc.k)
		wantErr(t, tc.name, err, tc.want)
	}

	got, err := e.s.APIKeyByHash(e.ctx, h1)
	e.must(err)
	equal(t, "APIKeyByHash", got, k1)
	_, err = e.s.APIKeyByHash(e.ctx, registry.HashAPIKeySecret([]byte("wrong")))
	wantErr(t, "unknown secret", err, registry.ErrNotFound)

	if !got.Usable(e.clk.Now()) {
		t.Error("fresh key not usable")
	}
	if got.Usable(expires) {
		t.Error("key usable at its expiry")
	}
	e.clk.Add(time.Hour)
	revoked := e.now()
	wantErr(t, "revoke", e.s.RevokeAPIKey(e.ctx, k2.ID), nil)
	e.clk.Add(time.Hour)
	wantErr(t, "revoke again", e.s.RevokeAPIKey(e.ctx, k2.ID), nil)
	wantErr(t, "revoke missing", e.s.RevokeAPIKey(e.ctx, 999), registry.ErrNotFound)
	got, err = e.s.APIKeyByHash(e.ctx, h2)
	e.must(err)
	equal(t, "RevokedAt kept from first revocation", got.RevokedAt, revoked)
	if got.Usable(e.clk.Now()) {
		t.Error("revoked key usable")
	}
	if !got.ExpiresAt.IsZero() {
		t.Errorf("ExpiresAt = %v, want zero (never)", got.ExpiresAt)
	}

	keys, err := e.s.APIKeys(e.ctx)
	e.must(err)
	k2.RevokedAt = revoked
	equal(t, "APIKeys", keys, []registry.APIKey{k1, k2})
}

func testAudit(e *env) {
	t := e.t
	for _, tc := range []struct {
		name string
		ev   registry.AuditEvent
		want error
	}{
		{"no actor", registry.AuditEvent{Action: "a", Outcome: registry.OutcomeSuccess}, registry.ErrInvalid},
		{"no action", registry.AuditEvent{Actor: "a", Outcome: registry.OutcomeSuccess}, registry.ErrInvalid},
		{"bad outcome", registry.AuditEvent{Actor: "a", Action: "a", Outcome: "maybe"}, registry.ErrInvalid},
		{"bad detail", registry.AuditEvent{Actor: "a", Action: "a", Outcome: registry.OutcomeSuccess, Detail: []byte("{")}, registry.ErrInvalid},
	} {
		_, err := e.s.AppendAudit(e.ctx, tc.ev)
		wantErr(t, tc.name, err, tc.want)
	}
	const n = 25
	var all []registry.AuditEvent
	for i := range n {
		at := e.now()
		ev := registry.AuditEvent{
			Actor: "ops", Action: "member.add", Target: fmt.Sprintf("MEMBER:PS/GOV/M%d", i),
			Detail: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), Outcome: registry.OutcomeSuccess,
		}
		if i%5 == 0 {
			ev.Detail, ev.Outcome = nil, registry.OutcomeFailure
		}
		got, err := e.s.AppendAudit(e.ctx, ev)
		e.must(err)
		want := ev
		want.ID, want.At = got.ID, at
		if want.Detail == nil {
			want.Detail = json.RawMessage("{}")
		}
		equal(t, "appended", got, want)
		if len(all) > 0 && got.ID <= all[len(all)-1].ID {
			t.Fatalf("id %d not increasing", got.ID)
		}
		all = append(all, got)
		e.clk.Add(time.Second)
	}
	page := func(q registry.AuditQuery) []registry.AuditEvent {
		evs, err := e.s.AuditEvents(e.ctx, q)
		e.must(err)
		return evs
	}
	// Forward paging visits every event once, in order.
	var fwd []registry.AuditEvent
	for after := int64(0); ; {
		p := page(registry.AuditQuery{AfterID: after, Limit: 10})
		if len(p) == 0 {
			break
		}
		fwd = append(fwd, p...)
		after = p[len(p)-1].ID
	}
	equal(t, "forward paging", fwd, all)
	// Backward paging from the newest.
	var back []registry.AuditEvent
	for before := int64(0); ; {
		p := page(registry.AuditQuery{BeforeID: before, NewestFirst: true, Limit: 7})
		if len(p) == 0 {
			break
		}
		back = append(back, p...)
		before = p[len(p)-1].ID
	}
	if len(back) != n || back[0].ID != all[n-1].ID || back[n-1].ID != all[0].ID {
		t.Errorf("backward paging: %d events from %d to %d", len(back), back[0].ID, back[len(back)-1].ID)
	}
	equal(t, "default limit", len(page(registry.AuditQuery{})), n)
	equal(t, "window", page(registry.AuditQuery{AfterID: all[2].ID, BeforeID: all[5].ID}), all[3:5])
}

func testPublish(e *env) {
	t := e.t
	_, err := e.s.LatestPublished(e.ctx)
	wantErr(t, "LatestPublished before first", err, registry.ErrNotFound)
	gen := e.clk.Now()
	c := registry.PublishedConfig{GeneratedAt: gen, ExpiresAt: gen.Add(10 * time.Minute), Document: []byte("signed-1"), RegistryVersion: 7}
	for _, tc := range []struct {
		name string
		prev int64
		c    registry.PublishedConfig
		want error
	}{
		{"empty document", 0, registry.PublishedConfig{GeneratedAt: gen, ExpiresAt: gen.Add(time.Minute)}, registry.ErrInvalid},
		{"expires before generated", 0, registry.PublishedConfig{GeneratedAt: gen, ExpiresAt: gen, Document: []byte("x")}, registry.ErrInvalid},
		{"negative serial", -1, c, registry.ErrInvalid},
		{"ahead of latest", 3, c, registry.ErrPublishRace},
	} {
		_, err := e.s.PublishNext(e.ctx, tc.prev, tc.c)
		wantErr(t, tc.name, err, tc.want)
	}
	p1, err := e.s.PublishNext(e.ctx, 0, c)
	e.must(err)
	equal(t, "first", p1, registry.PublishedConfig{
		Serial: 1, GeneratedAt: gen.Truncate(time.Microsecond), ExpiresAt: gen.Add(10 * time.Minute).Truncate(time.Microsecond),
		Document: []byte("signed-1"), ContentHash: hashHex([]byte("signed-1")), RegistryVersion: 7,
	})
	_, err = e.s.PublishNext(e.ctx, 0, c)
	wantErr(t, "stale expected serial", err, registry.ErrPublishRace)
	wantErr(t, "stale expected serial is a conflict", err, registry.ErrConflict)
	c.Document, c.ContentHash = []byte("signed-2"), "content-2"
	p2, err := e.s.PublishNext(e.ctx, 1, c)
	e.must(err)
	equal(t, "second serial", p2.Serial, int64(2))
	equal(t, "given content hash kept", p2.ContentHash, "content-2")
	latest, err := e.s.LatestPublished(e.ctx)
	e.must(err)
	equal(t, "LatestPublished", latest, p2)
	old, err := e.s.Published(e.ctx, 1)
	e.must(err)
	equal(t, "Published(1)", old, p1)
	_, err = e.s.Published(e.ctx, 3)
	wantErr(t, "Published missing", err, registry.ErrNotFound)
}

func testPublishRace(e *env) {
	t := e.t
	gen := e.clk.Now()
	base, err := e.s.PublishNext(e.ctx, 0, registry.PublishedConfig{GeneratedAt: gen, ExpiresAt: gen.Add(time.Minute), Document: []byte("base")})
	e.must(err)
	const nodes = 2
	type result struct {
		p   registry.PublishedConfig
		err error
	}
	results := make([]result, nodes)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range nodes {
		wg.Go(func() {
			<-ready
			doc := []byte(fmt.Sprintf("node-%d", i))
			p, err := e.s.PublishNext(e.ctx, base.Serial, registry.PublishedConfig{GeneratedAt: gen, ExpiresAt: gen.Add(time.Minute), Document: doc})
			results[i] = result{p, err}
		})
	}
	close(ready)
	wg.Wait()
	var winner registry.PublishedConfig
	wins := 0
	for i, r := range results {
		switch {
		case r.err == nil:
			wins++
			winner = r.p
		case errors.Is(r.err, registry.ErrPublishRace) && errors.Is(r.err, registry.ErrConflict):
		default:
			t.Errorf("node %d: %v, want success or ErrPublishRace", i, r.err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d winners, want exactly 1", wins)
	}
	// The loser reads the winner.
	latest, err := e.s.LatestPublished(e.ctx)
	e.must(err)
	equal(t, "loser reads the winner", latest, winner)
	equal(t, "winner serial", winner.Serial, base.Serial+1)
}

func testVersions(e *env) {
	t := e.t
	equal(t, "fresh", e.version(), int64(0))
	e.seed() // 8 writes
	equal(t, "after seed", e.version(), int64(8))
	c := cert(t, "auth")
	steps := []struct {
		name  string
		op    func() error
		bumps bool
	}{
		{"add server", func() error { return e.s.AddSecurityServer(e.ctx, ssMOI, []string{"a"}) }, true},
		{"add cert", func() error { _, err := e.s.AddAuthCert(e.ctx, ssMOI, c); return err }, true},
		{"add cert again fails", func() error { _, err := e.s.AddAuthCert(e.ctx, ssMOI, c); return err }, false},
		{"maintenance", func() error { return e.s.SetMaintenance(e.ctx, ssMOI, true) }, true},
		{"addresses", func() error { return e.s.SetServerAddresses(e.ctx, ssMOI, []string{"b"}) }, true},
		{"client", func() error { return e.s.AddServerClient(e.ctx, ssMOI, civil) }, true},
		{"setting", func() error { return e.s.SetSetting(e.ctx, registry.SettingOCSPFreshness, time.Minute) }, true},
		{"bad setting", func() error { return e.s.SetSetting(e.ctx, "x", time.Minute) }, false},
		{"request", func() error {
			_, err := e.s.SubmitRequest(e.ctx, registry.ManagementRequest{Type: registry.RequestMaintenanceOn, Server: ssMOI, Signed: []byte("x")})
			return err
		}, true},
		{"decide", func() error {
			_, err := e.s.DecideRequest(e.ctx, 1, registry.Decision{Status: registry.StatusApproved, By: "o"})
			return err
		}, true},
		{"api key", func() error {
			_, err := e.s.CreateAPIKey(e.ctx, registry.APIKey{Name: "k", Hash: registry.HashAPIKeySecret([]byte("s")), Roles: []string{"r"}})
			return err
		}, true},
		{"revoke", func() error { return e.s.RevokeAPIKey(e.ctx, 1) }, true},
		{"revoke no-op", func() error { return e.s.RevokeAPIKey(e.ctx, 1) }, false},
		{"same instance no-op", func() error { return e.s.SetInstance(e.ctx, inst) }, false},
		{"audit does not bump", func() error {
			_, err := e.s.AppendAudit(e.ctx, registry.AuditEvent{Actor: "a", Action: "b", Outcome: registry.OutcomeSuccess})
			return err
		}, false},
		{"publish does not bump", func() error {
			_, err := e.s.PublishNext(e.ctx, 0, registry.PublishedConfig{GeneratedAt: start, ExpiresAt: start.Add(time.Minute), Document: []byte("d")})
			return err
		}, false},
		{"delete server", func() error { return e.s.DeleteSecurityServer(e.ctx, ssMOI) }, true},
		{"delete missing server", func() error { return e.s.DeleteSecurityServer(e.ctx, ssMOI) }, false},
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
	err := e.s.Update(e.ctx, func(tx registry.Tx) error {
		if err := tx.AddSecurityServer(e.ctx, ssMOI, []string{"a"}); err != nil {
			return err
		}
		// The transaction sees its own write.
		if _, err := tx.SecurityServer(e.ctx, ssMOI); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(e.ctx, registry.AuditEvent{Actor: "a", Action: "server.add", Outcome: registry.OutcomeSuccess}); err != nil {
			return err
		}
		return errBoom
	})
	wantErr(t, "failed Update", err, errBoom)
	_, err = e.s.SecurityServer(e.ctx, ssMOI)
	wantErr(t, "rolled back server", err, registry.ErrNotFound)
	evs, err := e.s.AuditEvents(e.ctx, registry.AuditQuery{})
	e.must(err)
	equal(t, "rolled back audit", len(evs), 0)
	equal(t, "version after rollback", e.version(), v)

	// Approve a request and apply it, with its audit record, atomically:
	// one version bump for the lot.
	der := cert(t, "auth")
	req, err := e.s.SubmitRequest(e.ctx, registry.ManagementRequest{Type: registry.RequestAuthCertRegistration, Server: ssMOI, Signed: []byte("x")})
	e.must(err)
	v = e.version()
	err = e.s.Update(e.ctx, func(tx registry.Tx) error {
		if _, err := tx.DecideRequest(e.ctx, req.ID, registry.Decision{Status: registry.StatusApproved, By: "officer"}); err != nil {
			return err
		}
		if err := tx.AddSecurityServer(e.ctx, ssMOI, []string{"a"}); err != nil {
			return err
		}
		if _, err := tx.AddAuthCert(e.ctx, ssMOI, der); err != nil {
			return err
		}
		_, err := tx.AppendAudit(e.ctx, registry.AuditEvent{Actor: "officer", Action: "request.approve", Outcome: registry.OutcomeSuccess})
		return err
	})
	e.must(err)
	equal(t, "one bump per transaction", e.version(), v+1)
	by, err := e.s.ServerByAuthCert(e.ctx, hashHex(der))
	e.must(err)
	equal(t, "applied", by.ID, ssMOI)

	// A failing write inside Update rolls back the earlier ones, and the
	// error keeps its sentinel.
	err = e.s.Update(e.ctx, func(tx registry.Tx) error {
		if err := tx.AddGlobalGroup(e.ctx, registry.GlobalGroup{ID: xroad.GlobalGroupID{Instance: inst, Code: "g"}}); err != nil {
			return err
		}
		_, err := tx.AddAuthCert(e.ctx, ssMOI, der) // duplicate
		return err
	})
	wantErr(t, "failing write", err, registry.ErrConflict)
	_, err = e.s.GlobalGroup(e.ctx, xroad.GlobalGroupID{Instance: inst, Code: "g"})
	wantErr(t, "earlier write rolled back", err, registry.ErrNotFound)
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
			errs[i] = e.s.AddMember(e.ctx, xroad.MemberID{Instance: inst, Class: "COM", Code: fmt.Sprintf("C%d", i)}, "company")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	equal(t, "every commit bumped once", e.version(), v+n)
	ms, err := e.s.Members(e.ctx)
	e.must(err)
	equal(t, "members", len(ms), 3+n)
}

func testViewSnapshot(e *env) {
	t := e.t
	e.seed()
	var before, during int64
	var classes []registry.MemberClass
	err := e.s.View(e.ctx, func(r registry.Reader) error {
		var err error
		if before, err = r.Version(e.ctx); err != nil {
			return err
		}
		// A write committed by another connection after the snapshot
		// began is not seen inside it.
		if err := e.s.AddMemberClass(e.ctx, registry.MemberClass{Code: "NGO"}); err != nil {
			return err
		}
		if during, err = r.Version(e.ctx); err != nil {
			return err
		}
		classes, err = r.MemberClasses(e.ctx)
		return err
	})
	e.must(err)
	equal(t, "version inside the snapshot", during, before)
	equal(t, "classes inside the snapshot", len(classes), 2)
	equal(t, "version after", e.version(), before+1)

	errBoom := errors.New("boom")
	wantErr(t, "View error", e.s.View(e.ctx, func(registry.Reader) error { return errBoom }), errBoom)
}

func testForeignInstance(e *env) {
	t := e.t
	e.seed()
	e.must(e.s.AddSecurityServer(e.ctx, ssMOI, []string{"a"}))
	_, err := e.s.Member(e.ctx, foreign)
	wantErr(t, "Member", err, registry.ErrNotFound)
	_, err = e.s.SecurityServer(e.ctx, xroad.ServerID{Owner: foreign, Code: "ss1"})
	wantErr(t, "SecurityServer", err, registry.ErrNotFound)
	_, err = e.s.GlobalGroup(e.ctx, xroad.GlobalGroupID{Instance: "XX", Code: xroad.SecurityServerOwners})
	wantErr(t, "GlobalGroup", err, registry.ErrNotFound)
	_, err = e.s.ServiceDescription(e.ctx, xroad.ServiceID{Provider: foreign.Subsystem("civil-registry"), Code: "x"})
	wantErr(t, "ServiceDescription", err, registry.ErrNotFound)
	hosts, err := e.s.ServersHosting(e.ctx, foreign.Client())
	e.must(err)
	equal(t, "ServersHosting", hosts, []xroad.ServerID{})
	wantErr(t, "DeleteMember", e.s.DeleteMember(e.ctx, foreign), registry.ErrNotFound)
	wantErr(t, "RenameMember", e.s.RenameMember(e.ctx, foreign, "x"), registry.ErrNotFound)
	wantErr(t, "SetMaintenance", e.s.SetMaintenance(e.ctx, xroad.ServerID{Owner: foreign, Code: "ss1"}, true), registry.ErrNotFound)
}
