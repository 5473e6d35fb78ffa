package mgmt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/central/mgmt"
	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/mgmtproto/mgmttest"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

var (
	now       = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	moi       = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	mof       = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOF"}
	moh       = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOH"}
	ss1       = xroad.ServerID{Owner: moi, Code: "ss1"}
	ss2       = xroad.ServerID{Owner: moi, Code: "ss2"}
	civil     = moi.Subsystem("civil-registry")
	births    = moi.Subsystem("births")
	passports = moi.Subsystem("passports")
	tax       = mof.Subsystem("tax")
	persons   = xroad.ServiceID{Provider: civil, Code: "persons", Version: "v1"}
)

const validOpenAPI = `{"openapi":"3.0.3","info":{"title":"Persons","version":"1.0"},"paths":{"/persons/{id}":{"get":{` +
	`"parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"string"}}],` +
	`"responses":{"200":{"description":"the person"}}}}}}`

// env is a registry with members MOI and MOF, an approved CA, security
// server ss1 (auth certificate authSS1) hosting civil-registry, subsystem
// births (hosted nowhere), and a Processor over it.
type env struct {
	t     *testing.T
	ctx   context.Context
	clk   *clock.Fake
	store registry.Store
	pki   *mgmttest.PKI
	p     *mgmt.Processor
	reg   *prometheus.Registry

	signMOI, signMOF mgmttest.Leaf
	authSS1          mgmttest.Leaf // registered for ss1
	authSS2          mgmttest.Leaf // not registered
	// auth holds every auth certificate issued, by DER.
	auth map[string]mgmttest.Leaf
}

func newEnv(t *testing.T, autoApprove bool) *env {
	t.Helper()
	ctx := t.Context()
	clk := clock.NewFake(now)
	s, err := registry.OpenSQLite(ctx, storetest.SQLitePath(t), registry.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pki := mgmttest.NewPKI(t, "PS", now)
	e := &env{
		t: t, ctx: ctx, clk: clk, store: s, pki: pki, reg: prometheus.NewRegistry(),
		signMOI: pki.Issue(profile.Sign, moi, now),
		signMOF: pki.Issue(profile.Sign, mof, now),
		auth:    map[string]mgmttest.Leaf{},
	}
	e.authSS1 = e.issueAuth(ss1)
	e.authSS2 = e.issueAuth(ss2)
	e.must(s.SetInstance(ctx, "PS"))
	e.must(s.AddMemberClass(ctx, registry.MemberClass{Code: "GOV", Description: "Government"}))
	e.must(s.AddMember(ctx, moi, "Ministry of Interior"))
	e.must(s.AddMember(ctx, mof, "Ministry of Finance"))
	e.must(s.AddApprovedCA(ctx, registry.ApprovedCA{
		Name: "PS CA", Profile: "jisr-v1",
		Roots: [][]byte{pki.Root.Raw}, Intermediates: [][]byte{pki.Intermediate.Raw},
		OCSPResponders: []registry.OCSPResponder{{URL: "http://ocsp.ps.example/"}},
	}))
	e.must(s.AddSecurityServer(ctx, ss1, []string{"ss1.moi.ps:5500"}))
	_, err = s.AddAuthCert(ctx, ss1, e.authSS1.Cert.Raw)
	e.must(err)
	e.must(s.AddSubsystem(ctx, civil))
	e.must(s.AddSubsystem(ctx, births))
	e.must(s.AddServerClient(ctx, ss1, civil))
	e.p, err = mgmt.NewProcessor(mgmt.Config{Store: s, Clock: clk, AutoApprove: autoApprove, Registerer: e.reg})
	e.must(err)
	return e
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// request returns a valid request of type typ from ss1 made now.
func (e *env) request(typ mgmtproto.Type) mgmtproto.Request {
	r := mgmtproto.Request{ID: mgmtproto.NewRequestID(), Type: typ, Server: ss1, CreatedAt: e.clk.Now()}
	switch typ {
	case mgmtproto.TypeAuthCertRegistration:
		r.Server = ss2
		r.Addresses = []string{"ss2.moi.ps:5500"}
		r.AuthCert = e.authSS2.Cert.Raw
	case mgmtproto.TypeAddressChange:
		r.Addresses = []string{"ss1.moi.ps:5501", "10.1.1.1:5500"}
	case mgmtproto.TypeClientRegistration:
		r.Client = passports
	case mgmtproto.TypeClientDeletion:
		r.Client = civil
	case mgmtproto.TypeServiceDescriptionPublish:
		r.ServiceDescription = &mgmtproto.ServiceDescription{
			Service: persons, Type: mgmtproto.ServiceOpenAPI, Title: "Persons",
			Description: "Person lookup", OpenAPI: validOpenAPI,
		}
	}
	return r
}

// issueAuth issues an auth certificate for server and remembers it.
func (e *env) issueAuth(server xroad.ServerID) mgmttest.Leaf {
	l := e.pki.Issue(profile.Auth, server, now)
	e.auth[string(l.Cert.Raw)] = l
	return l
}

// signers returns the signers r needs: the responsible member's sign key
// (MOI or MOF) and, for authCertRegistration, the key of the certificate
// in AuthCert (one issued by issueAuth).
func (e *env) signers(r mgmtproto.Request) []mgmtproto.Signer {
	e.t.Helper()
	sign := e.signMOI
	if r.ResponsibleMember() == mof {
		sign = e.signMOF
	}
	s := []mgmtproto.Signer{e.pki.Signer(sign, e.clk.Now())}
	if r.Type == mgmtproto.TypeAuthCertRegistration {
		auth, ok := e.auth[string(r.AuthCert)]
		if !ok {
			e.t.Fatal("authCert was not issued by issueAuth")
		}
		s = append(s, e.pki.Signer(auth, e.clk.Now()))
	}
	return s
}

func (e *env) sign(r mgmtproto.Request, signers ...mgmtproto.Signer) []byte {
	e.t.Helper()
	if signers == nil {
		signers = e.signers(r)
	}
	b, err := mgmtproto.Sign(r, signers)
	e.must(err)
	return b
}

// peerFor returns the TLS peer a request of type typ comes from: none for
// an authCertRegistration, ss1 otherwise.
func peerFor(r mgmtproto.Request) xroad.ServerID {
	if r.Type == mgmtproto.TypeAuthCertRegistration {
		return xroad.ServerID{}
	}
	return ss1
}

// code returns the xerr code of err, or "" if err is not an *xerr.Error.
func code(err error) string {
	var e *xerr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// metric returns the value of the requests counter for type and outcome.
func (e *env) metric(typ, outcome string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	e.must(err)
	for _, mf := range mfs {
		if mf.GetName() != "jisr_central_management_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == typ && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
