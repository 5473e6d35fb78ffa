package mgmtproto_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/mgmtproto/mgmttest"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

var (
	now    = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	moi    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	mof    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOF"}
	ss1    = xroad.ServerID{Owner: moi, Code: "ss1"}
	ss2    = xroad.ServerID{Owner: moi, Code: "ss2"}
	civil  = moi.Subsystem("civil-registry")
	tax    = mof.Subsystem("tax")
	person = xroad.ServiceID{Provider: civil, Code: "persons", Version: "v1"}
)

// fixture is a PKI with a sign certificate for MOI and an auth certificate
// for ss1.
type fixture struct {
	pki  *mgmttest.PKI
	sign mgmttest.Leaf
	auth mgmttest.Leaf
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	p := mgmttest.NewPKI(t, "PS", now)
	return &fixture{
		pki:  p,
		sign: p.Issue(profile.Sign, moi, now),
		auth: p.Issue(profile.Auth, ss1, now),
	}
}

func (f *fixture) trust() mgmtproto.Trust {
	roots := x509.NewCertPool()
	roots.AddCert(f.pki.Root)
	return mgmtproto.Trust{Roots: roots, OCSPMaxAge: time.Hour}
}

// request returns a valid request of type typ for ss1 made at now.
func request(typ mgmtproto.Type, authDER []byte) mgmtproto.Request {
	r := mgmtproto.Request{ID: mgmtproto.NewRequestID(), Type: typ, Server: ss1, CreatedAt: now}
	switch typ {
	case mgmtproto.TypeAuthCertRegistration:
		r.Addresses = []string{"ss1.moi.ps:5500", "10.0.0.1"}
		r.AuthCert = authDER
	case mgmtproto.TypeAddressChange:
		r.Addresses = []string{"ss1.moi.ps:5500"}
	case mgmtproto.TypeClientRegistration, mgmtproto.TypeClientDeletion:
		r.Client = civil
	case mgmtproto.TypeServiceDescriptionPublish:
		r.ServiceDescription = &mgmtproto.ServiceDescription{
			Service: person, Type: mgmtproto.ServiceOpenAPI, Title: "Persons <&>",
			Description: "Person lookup", OpenAPI: `{"openapi":"3.0.3","info":{"title":"p","version":"1"},"paths":{}}`,
		}
	}
	return r
}

func mustSign(t *testing.T, r mgmtproto.Request, signers ...mgmtproto.Signer) []byte {
	t.Helper()
	b, err := mgmtproto.Sign(r, signers)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
