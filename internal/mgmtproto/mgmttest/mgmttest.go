// Package mgmttest is a small in-memory PKI for tests of management
// requests: a root, an intermediate issuing CA with a delegated OCSP
// responder, auth and sign leaf certificates made with pki/profile.Apply,
// and OCSP responses made with golang.org/x/crypto/ocsp.
//
// It is imported only from _test.go files. Everything is ECDSA P-256 and
// generated per call; nothing is cached across tests.
package mgmttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// PKI is a root CA, an intermediate issuing CA and the intermediate's
// delegated OCSP responder.
type PKI struct {
	t testing.TB
	// Root is the trust anchor.
	Root *x509.Certificate
	// Intermediate issues leaves.
	Intermediate *x509.Certificate
	// Responder signs OCSP responses for the intermediate's leaves.
	Responder *x509.Certificate

	rootKey, interKey, responderKey *ecdsa.PrivateKey
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
func NewKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

func create(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewPKI creates a CA hierarchy named name, valid from a year before now
// for ten years.
func NewPKI(t testing.TB, name string, now time.Time) *PKI {
	t.Helper()
	p := &PKI{t: t, rootKey: NewKey(t), interKey: NewKey(t), responderKey: NewKey(t)}
	nb, na := now.Add(-365*24*time.Hour), now.Add(10*365*24*time.Hour)
	rootTmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name + " Root CA"},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	p.Root = create(t, rootTmpl, rootTmpl, &p.rootKey.PublicKey, p.rootKey)
	p.Intermediate = create(t, &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name + " Issuing CA"},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, p.Root, &p.interKey.PublicKey, p.rootKey)
	p.Responder = create(t, &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name + " OCSP Responder"},
		NotBefore: nb, NotAfter: na,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
	}, p.Intermediate, &p.responderKey.PublicKey, p.interKey)
	return p
}

// Issue returns a leaf of profile kind naming id (a xroad.ServerID for
// Auth, a xroad.MemberID for Sign), valid from an hour before now for a
// year. An auth certificate gets DNS name localhost and IP 127.0.0.1.
func (p *PKI) Issue(kind profile.Kind, id xroad.ID, now time.Time) Leaf {
	t := p.t
	t.Helper()
	key := NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		PublicKey:    &key.PublicKey,
	}
	if kind == profile.Auth {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if err := profile.Apply(tmpl, kind, id); err != nil {
		t.Fatal(err)
	}
	c := create(t, tmpl, p.Intermediate, &key.PublicKey, p.interKey)
	return Leaf{Key: key, Cert: c, Chain: []*x509.Certificate{c, p.Intermediate}}
}

// OCSP returns a response about cert (issued by the intermediate) with the
// given status (ocsp.Good, ocsp.Revoked, ocsp.Unknown), thisUpdate at and
// nextUpdate an hour later, signed by the delegated responder.
func (p *PKI) OCSP(cert *x509.Certificate, status int, at time.Time) []byte {
	p.t.Helper()
	tmpl := ocsp.Response{
		Status:       status,
		SerialNumber: cert.SerialNumber,
		ThisUpdate:   at,
		NextUpdate:   at.Add(time.Hour),
		Certificate:  p.Responder,
		IssuerHash:   crypto.SHA1,
	}
	if status == ocsp.Revoked {
		tmpl.RevokedAt = at.Add(-time.Minute)
		tmpl.RevocationReason = ocsp.KeyCompromise
	}
	der, err := ocsp.CreateResponse(p.Intermediate, p.Responder, tmpl, p.responderKey)
	if err != nil {
		p.t.Fatal(err)
	}
	return der
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
// 127.0.0.1, and the lower-case hex SHA-256 of its DER (the pin).
func ServerTLS(t testing.TB, now time.Time) (tls.Certificate, string) {
	t.Helper()
	key := NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: "central management"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	c := create(t, tmpl, tmpl, &key.PublicKey, key)
	sum := sha256.Sum256(c.Raw)
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}, hex.EncodeToString(sum[:])
}
