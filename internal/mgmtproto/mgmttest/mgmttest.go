// Package mgmttest is a small in-memory PKI for tests of management
// requests: a root, an intermediate issuing CA with a delegated OCSP
// responder, auth and sign leaf certificates made with pki/profile.Apply,
// and OCSP responses made with golang.org/x/crypto/ocsp. It is the
// management-request view of internal/testpki (with random serials, so that
// hierarchies made in one test never share serials).
//
// It is imported only from _test.go files. Everything is ECDSA P-256 and
// generated per call; nothing is cached across tests.
package mgmttest

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/testpki"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// PKI is a root CA, an intermediate issuing CA and the intermediate's
// delegated OCSP responder (a testpki hierarchy with random serials).
type PKI struct {
	t testing.TB
	// Root is the trust anchor.
	Root *x509.Certificate
	// Intermediate issues leaves.
	Intermediate *x509.Certificate
	// Responder signs OCSP responses for the intermediate's leaves.
	Responder *x509.Certificate

	pki *testpki.PKI
}

// Leaf is an end-entity certificate with its key and chain.
type Leaf struct {
	// Key is the private key.
	Key *ecdsa.PrivateKey
	// Cert is the certificate.
	Cert *x509.Certificate
	// Chain is Cert then the intermediate (not the root), as x5c carries it.
	Chain []*x509.Certificate
}

// NewKey returns a fresh ECDSA P-256 key.
func NewKey(t testing.TB) *ecdsa.PrivateKey { return testpki.NewKey(t) }

// NewPKI creates a CA hierarchy named name, valid from a year before now
// for ten years.
func NewPKI(t testing.TB, name string, now time.Time) *PKI {
	t.Helper()
	p := testpki.New(t, now, testpki.Name(name), testpki.RandomSerials(),
		testpki.Validity(now.Add(-365*24*time.Hour), now.Add(10*365*24*time.Hour)))
	return &PKI{t: t, Root: p.Root, Intermediate: p.Issuer, Responder: p.Responder, pki: p}
}

// Issue returns a leaf of profile kind naming id (a xroad.ServerID for
// Auth, a xroad.MemberID for Sign), valid from an hour before now for a
// year. An auth certificate gets DNS name localhost and IP 127.0.0.1.
func (p *PKI) Issue(kind profile.Kind, id xroad.ID, now time.Time) Leaf {
	t := p.t
	t.Helper()
	key, tmpl := p.pki.LeafTemplate(t, kind, id, "localhost", "127.0.0.1")
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(365*24*time.Hour)
	c := p.pki.Issue(t, tmpl, &key.PublicKey)
	return Leaf{Key: key, Cert: c, Chain: []*x509.Certificate{c, p.Intermediate}}
}

// OCSP returns a response about cert (issued by the intermediate) with the
// given status (ocsp.Good, ocsp.Revoked, ocsp.Unknown), thisUpdate at and
// nextUpdate an hour later, signed by the delegated responder.
func (p *PKI) OCSP(cert *x509.Certificate, status int, at time.Time) []byte {
	p.t.Helper()
	return p.pki.OCSP(p.t, cert, status, at)
}

// Signer returns a mgmtproto.Signer for leaf with a good OCSP response made
// at at.
func (p *PKI) Signer(leaf Leaf, at time.Time) mgmtproto.Signer {
	return mgmtproto.Signer{Key: leaf.Key, Chain: leaf.Chain, OCSP: p.OCSP(leaf.Cert, ocsp.Good, at)}
}

// TLSCertificate returns leaf as a tls.Certificate with its chain.
func TLSCertificate(leaf Leaf) *tls.Certificate {
	c := &tls.Certificate{PrivateKey: leaf.Key, Leaf: leaf.Cert}
	for _, x := range leaf.Chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// ServerTLS returns a self-signed TLS server certificate for localhost and
// 127.0.0.1, and its DER (what the global configuration lists and clients
// trust).
func ServerTLS(t testing.TB, now time.Time) (tls.Certificate, []byte) {
	t.Helper()
	key := NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: testpki.RandomSerial(t), Subject: pkix.Name{CommonName: "central management"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	c := testpki.CreateCert(t, tmpl, tmpl, &key.PublicKey, key)
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}, c.Raw
}
