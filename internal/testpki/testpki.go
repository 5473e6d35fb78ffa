// Package testpki builds small throw-away certificate hierarchies for tests:
// a root CA, an intermediate issuing CA, a delegated OCSP responder
// certificate issued by the intermediate, end-entity certificates of jisr's
// auth and sign profiles (pki/profile.Apply), and OCSP responses signed by the
// delegated responder (golang.org/x/crypto/ocsp).
//
// It is imported only from tests (_test.go files and the *test helper
// packages that only tests import); production code must not use it.
// Everything is ECDSA P-256 and generated per call; nothing is cached across
// tests.
//
// Defaults, each changeable with an Option:
//
//   - subjects: O=Test, CN="Test Root CA", "Test Issuing CA", "Test OCSP
//     Responder" (Name);
//   - the CA and responder certificates are valid from a day before now for
//     ten years (Validity);
//   - leaves are valid from an hour before now for a year (LeafValidity);
//   - serial numbers: root 1, intermediate 2, responder 3, leaves 1001, 1002,
//     … in order of issue, so that serials ≤ 1000 are never leaves
//     (RandomSerials for random 120-bit serials throughout).
//
// The package must not import other jisr packages beyond pki/profile and
// internal/xroad: the tests of pki/ocsp and pki/tsa use it.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// OIDOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1), which the
// responder certificate carries.
var OIDOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// firstLeafSerial is the serial number before the first leaf's.
const firstLeafSerial = 1000

// PKI is a root CA, an intermediate issuing CA and the intermediate's
// delegated OCSP responder. The fields are set by New; tests may read them
// but should not change them.
type PKI struct {
	// Root is the self-signed trust anchor.
	Root *x509.Certificate
	// Issuer is the intermediate CA (path length 0) that issues leaves and
	// the responder certificate.
	Issuer *x509.Certificate
	// Responder is the delegated OCSP responder certificate: issued by
	// Issuer, ExtKeyUsage OCSPSigning and the id-pkix-ocsp-nocheck
	// extension.
	Responder *x509.Certificate
	// The private keys of Root, Issuer and Responder.
	RootKey, IssuerKey, ResponderKey *ecdsa.PrivateKey
	// NotBefore and NotAfter are the validity of Root, Issuer and Responder.
	NotBefore, NotAfter time.Time
	// LeafNotBefore and LeafNotAfter are the validity of the leaves Leaf
	// issues (and of Issue's templates that leave it zero).
	LeafNotBefore, LeafNotAfter time.Time

	random bool
	serial atomic.Int64
}

type config struct {
	name             string
	nb, na, lnb, lna time.Time
	random           bool
}

// Option changes a default of New.
type Option func(*config)

// Name sets the subjects: O=name and CN=name+" Root CA", " Issuing CA" and
// " OCSP Responder". The default is "Test".
func Name(name string) Option { return func(c *config) { c.name = name } }

// Validity sets the validity of the root, intermediate and responder
// certificates.
func Validity(notBefore, notAfter time.Time) Option {
	return func(c *config) { c.nb, c.na = notBefore, notAfter }
}

// LeafValidity sets the validity of the leaves.
func LeafValidity(notBefore, notAfter time.Time) Option {
	return func(c *config) { c.lnb, c.lna = notBefore, notAfter }
}

// RandomSerials gives every certificate a random 120-bit serial number
// instead of the sequential default, so that hierarchies made in the same
// test never share serials.
func RandomSerials() Option { return func(c *config) { c.random = true } }

// New creates a hierarchy whose certificates are valid around now (see the
// package documentation for the defaults).
func New(t testing.TB, now time.Time, opts ...Option) *PKI {
	t.Helper()
	c := config{
		name: "Test",
		nb:   now.Add(-24 * time.Hour), na: now.Add(10 * 365 * 24 * time.Hour),
		lnb: now.Add(-time.Hour), lna: now.Add(365 * 24 * time.Hour),
	}
	for _, o := range opts {
		o(&c)
	}
	p := &PKI{
		RootKey: NewKey(t), IssuerKey: NewKey(t), ResponderKey: NewKey(t),
		NotBefore: c.nb, NotAfter: c.na, LeafNotBefore: c.lnb, LeafNotAfter: c.lna,
		random: c.random,
	}
	p.serial.Store(firstLeafSerial)
	subject := func(cn string) pkix.Name {
		return pkix.Name{Organization: []string{c.name}, CommonName: c.name + " " + cn}
	}
	rootTmpl := &x509.Certificate{
		SerialNumber:          p.fixedSerial(t, 1),
		Subject:               subject("Root CA"),
		NotBefore:             p.NotBefore,
		NotAfter:              p.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	p.Root = CreateCert(t, rootTmpl, rootTmpl, p.RootKey.Public(), p.RootKey)
	p.Issuer = CreateCert(t, &x509.Certificate{
		SerialNumber:          p.fixedSerial(t, 2),
		Subject:               subject("Issuing CA"),
		NotBefore:             p.NotBefore,
		NotAfter:              p.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, p.Root, p.IssuerKey.Public(), p.RootKey)
	p.Responder = CreateCert(t, &x509.Certificate{
		SerialNumber:    p.fixedSerial(t, 3),
		Subject:         subject("OCSP Responder"),
		NotBefore:       p.NotBefore,
		NotAfter:        p.NotAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		ExtraExtensions: []pkix.Extension{{Id: OIDOCSPNoCheck, Value: asn1.NullBytes}},
	}, p.Issuer, p.ResponderKey.Public(), p.IssuerKey)
	return p
}

func (p *PKI) fixedSerial(t testing.TB, n int64) *big.Int {
	if p.random {
		return RandomSerial(t)
	}
	return big.NewInt(n)
}

// NextSerial returns the serial number of the next leaf.
func (p *PKI) NextSerial(t testing.TB) *big.Int {
	if p.random {
		return RandomSerial(t)
	}
	return big.NewInt(p.serial.Add(1))
}

// LeafTemplate returns a new key and the template Leaf would issue for it:
// profile kind naming id (a xroad.ServerID for Auth, a xroad.MemberID for
// Sign), the next serial and the leaf validity. hosts are the auth
// certificate's DNS names and IP addresses (a host that parses as an IP
// address is one); profile.Apply drops them from sign certificates. Tests
// that need a leaf from another CA sign the template themselves.
func (p *PKI) LeafTemplate(t testing.TB, kind profile.Kind, id xroad.ID, hosts ...string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key := NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: p.NextSerial(t),
		NotBefore:    p.LeafNotBefore,
		NotAfter:     p.LeafNotAfter,
		PublicKey:    key.Public(),
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if err := profile.Apply(tmpl, kind, id); err != nil {
		t.Fatal(err)
	}
	return key, tmpl
}

// Leaf issues a certificate of profile kind naming id from the intermediate
// (see LeafTemplate for hosts) and returns its key and its chain: the leaf,
// then the intermediate (not the root), as it is sent in TLS or x5c.
func (p *PKI) Leaf(t testing.TB, kind profile.Kind, id xroad.ID, hosts ...string) (*ecdsa.PrivateKey, []*x509.Certificate) {
	t.Helper()
	key, tmpl := p.LeafTemplate(t, kind, id, hosts...)
	return key, []*x509.Certificate{CreateCert(t, tmpl, p.Issuer, key.Public(), p.IssuerKey), p.Issuer}
}

// Issue signs tmpl for pub with the intermediate, as is: for certificates
// outside the profiles (TLS-only leaves, TSA or rogue responder
// certificates). A nil SerialNumber becomes the next leaf serial and a zero
// NotBefore/NotAfter the leaf validity.
func (p *PKI) Issue(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = p.NextSerial(t)
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = p.LeafNotBefore
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = p.LeafNotAfter
	}
	return CreateCert(t, tmpl, p.Issuer, pub, p.IssuerKey)
}

// OCSP returns a DER OCSP response about cert (issued by the intermediate)
// signed by the delegated responder, which it embeds: status is ocsp.Good,
// ocsp.Revoked or ocsp.Unknown, thisUpdate is thisUpdate, nextUpdate an hour
// later, the CertID hash SHA-1. A revoked certificate was revoked a minute
// before thisUpdate for keyCompromise.
func (p *PKI) OCSP(t testing.TB, cert *x509.Certificate, status int, thisUpdate time.Time) []byte {
	t.Helper()
	tmpl := ocsp.Response{
		Status:       status,
		SerialNumber: cert.SerialNumber,
		ThisUpdate:   thisUpdate,
		NextUpdate:   thisUpdate.Add(time.Hour),
		Certificate:  p.Responder,
		IssuerHash:   crypto.SHA1,
	}
	if status == ocsp.Revoked {
		tmpl.RevokedAt = thisUpdate.Add(-time.Minute)
		tmpl.RevocationReason = ocsp.KeyCompromise
	}
	der, err := ocsp.CreateResponse(p.Issuer, p.Responder, tmpl, p.ResponderKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Roots returns a pool holding Root.
func (p *PKI) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Root)
	return pool
}

// NewKey returns a fresh ECDSA P-256 key.
func NewKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RandomSerial returns a random positive serial number below 2^120+1.
func RandomSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// CreateCert signs tmpl for pub with parent and parentKey (tmpl == parent
// for a self-signed certificate) and returns the parsed certificate.
func CreateCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// WritePEM writes certs to path as concatenated PEM CERTIFICATE blocks, mode
// 0600.
func WritePEM(t testing.TB, path string, certs ...*x509.Certificate) {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
