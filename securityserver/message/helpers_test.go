package message

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// testNow is the fixed time of every test.
var testNow = time.Date(2026, 5, 1, 10, 0, 0, 123_000_000, time.UTC)

// bareSigner hides the concrete key type behind crypto.Signer, as an HSM
// key (crypto11) does.
type bareSigner struct{ k crypto.Signer }

func (b bareSigner) Public() crypto.PublicKey { return b.k.Public() }
func (b bareSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return b.k.Sign(r, d, o)
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testPKI is root → intermediate → sign leaves; the intermediate signs
// OCSP responses.
type testPKI struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
	serial            atomic.Int64
}

func newTestPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	p := &testPKI{rootKey: ecKey(t), interKey: ecKey(t)}
	p.serial.Store(100)
	nb, na := testNow.Add(-24*time.Hour), testNow.Add(365*24*time.Hour)
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " Root CA"},
		NotBefore: nb, NotAfter: na, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}
	p.root = mustCert(t, rootTmpl, rootTmpl, p.rootKey.Public(), p.rootKey)
	p.inter = mustCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " Issuing CA"},
		NotBefore: nb, NotAfter: na, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}, p.root, p.interKey.Public(), p.rootKey)
	return p
}

// leaf issues a certificate for id (a member: sign profile; a server: auth
// profile) with key's public half.
func (p *testPKI) leaf(t testing.TB, kind profile.Kind, id xroad.ID, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial.Add(1)),
		NotBefore:    testNow.Add(-time.Hour), NotAfter: testNow.Add(90 * 24 * time.Hour),
		PublicKey: key.Public(),
	}
	if err := profile.Apply(tmpl, kind, id); err != nil {
		t.Fatal(err)
	}
	return mustCert(t, tmpl, p.inter, key.Public(), p.interKey)
}

// ocsp returns a DER OCSP response about leaf, signed by the intermediate.
func (p *testPKI) ocsp(t testing.TB, leaf *x509.Certificate, status int, thisUpdate time.Time) []byte {
	t.Helper()
	tmpl := xocsp.Response{
		Status: status, SerialNumber: leaf.SerialNumber,
		ThisUpdate: thisUpdate, NextUpdate: thisUpdate.Add(24 * time.Hour),
		IssuerHash: crypto.SHA256,
	}
	if status == xocsp.Revoked {
		tmpl.RevokedAt = thisUpdate.Add(-time.Hour)
		tmpl.RevocationReason = xocsp.KeyCompromise
	}
	der, err := xocsp.CreateResponse(p.inter, p.inter, tmpl, p.interKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// signer returns a Signer for member with a fresh good OCSP response.
func (p *testPKI) signer(t testing.TB, member xroad.MemberID, key crypto.Signer) Signer {
	t.Helper()
	leaf := p.leaf(t, profile.Sign, member, key)
	return Signer{Key: key, Chain: []*x509.Certificate{leaf, p.inter}, OCSP: p.ocsp(t, leaf, xocsp.Good, testNow.Add(-time.Minute))}
}

// Identifiers of the test world.
var (
	consumerMember = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	providerMember = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOF"}
	otherMember    = xroad.MemberID{Instance: "PS", Class: "COM", Code: "ACME"}
	testClient     = consumerMember.Subsystem("portal")
	testService    = xroad.ServiceID{Provider: providerMember.Subsystem("tax"), Code: "taxes"}
)

// world is two approved members plus an unapproved CA.
type world struct {
	ca, rogue          *testPKI
	consumer, provider Signer
	clock              *clock.Fake
	verifier           *Verifier
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{ca: newTestPKI(t, "Approved"), rogue: newTestPKI(t, "Rogue"), clock: clock.NewFake(testNow)}
	w.consumer = w.ca.signer(t, consumerMember, ecKey(t))
	w.provider = w.ca.signer(t, providerMember, ecKey(t))
	roots := x509.NewCertPool()
	roots.AddCert(w.ca.root)
	w.verifier = &Verifier{Roots: roots, OCSPFreshness: time.Hour, MaxSkew: 5 * time.Minute, Clock: w.clock}
	return w
}

// testRequest returns a valid request header for body.
func testRequest(body BodySum) RequestHeader {
	return RequestHeader{
		Version: Version, ID: "4f2e6a7c-2b1d-4c1e-9a53-0d7c5e1b9f00",
		Client: testClient, Service: testService,
		UserID: "PS1234567890", Issue: "case #42", RepresentedParty: "COM/ACME",
		Time: testNow, Method: http.MethodPost, Path: "/v1/returns/2025", RawQuery: "lang=ar&full=1",
		Headers: http.Header{
			"Accept":        {"application/json", "text/plain"},
			"Authorization": {"Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig"},
			"Content-Type":  {"application/json"},
			"Cookie":        {"a=1; b=2"},
		},
		BodyDigest: body.SHA256, BodySize: body.Size,
	}
}

// testResponse returns a valid response header answering req.
func testResponse(req RequestHeader, body BodySum) ResponseHeader {
	return ResponseHeader{
		Version: Version, RequestDigest: req.Digest(), Status: http.StatusCreated,
		Headers:    http.Header{"Content-Type": {"application/json"}, "Location": {"/v1/returns/2025/7"}},
		BodyDigest: body.SHA256, BodySize: body.Size, Time: testNow.Add(40 * time.Millisecond),
	}
}

func fakeAt(t time.Time) *clock.Fake { return clock.NewFake(t) }
