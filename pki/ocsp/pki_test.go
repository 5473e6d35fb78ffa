package ocsp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testPKI is root → issuer (intermediate CA) → leaves, plus a delegated OCSP
// responder certificate issued by issuer.
type testPKI struct {
	root, issuer, responder *x509.Certificate
	rootKey, issuerKey      crypto.Signer
	responderKey            crypto.Signer
	notBefore, notAfter     time.Time
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func createCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
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

// newTestPKI builds a PKI whose certificates are valid around now.
func newTestPKI(t testing.TB, now time.Time) *testPKI {
	t.Helper()
	p := &testPKI{notBefore: now.Add(-time.Hour), notAfter: now.Add(24 * time.Hour)}
	rootKey, issuerKey, respKey := newKey(t), newKey(t), newKey(t)
	p.rootKey, p.issuerKey, p.responderKey = rootKey, issuerKey, respKey
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"XX"}, Organization: []string{"jisr test"}, CommonName: "Test Root CA"},
		NotBefore:             p.notBefore,
		NotAfter:              p.notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	p.root = createCert(t, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	p.issuer = createCert(t, &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{Country: []string{"XX"}, Organization: []string{"jisr test"}, CommonName: "Test Issuing CA"},
		NotBefore:             p.notBefore,
		NotAfter:              p.notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, p.root, issuerKey.Public(), rootKey)
	p.responder = p.responderCert(t, respKey, true)
	return p
}

// responderCert issues a delegated responder certificate for key.
func (p *testPKI) responderCert(t testing.TB, key crypto.Signer, ocspEKU bool) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{Country: []string{"XX"}, Organization: []string{"jisr test"}, CommonName: "Test OCSP Responder"},
		NotBefore:    p.notBefore,
		NotAfter:     p.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{
			Id:    oidOCSPNoCheck,
			Value: asn1.NullBytes,
		}},
	}
	if ocspEKU {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return createCert(t, tmpl, p.issuer, key.Public(), p.issuerKey)
}

// leaf issues an end-entity certificate with the given serial.
func (p *testPKI) leaf(t testing.TB, serial int64) *x509.Certificate {
	t.Helper()
	k := newKey(t)
	return createCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{Country: []string{"XX"}, Organization: []string{"jisr test"}, CommonName: "member"},
		NotBefore:    p.notBefore,
		NotAfter:     p.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, p.issuer, k.Public(), p.issuerKey)
}

func writePEM(t testing.TB, path string, certs ...*x509.Certificate) {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writePEMs(t testing.TB, dir string, files map[string]*x509.Certificate) {
	t.Helper()
	for name, c := range files {
		writePEM(t, filepath.Join(dir, name), c)
	}
}

// fakeSource is an in-memory StatusSource.
type fakeSource struct {
	mu     sync.Mutex
	status map[string]CertStatus
	err    error
	calls  int
	// during, if set, runs inside CertStatus before it answers.
	during func()
}

func newFakeSource(serials ...int64) *fakeSource {
	s := &fakeSource{status: make(map[string]CertStatus)}
	for _, n := range serials {
		s.status[big.NewInt(n).String()] = CertStatus{Known: true}
	}
	return s
}

func (s *fakeSource) CertStatus(_ context.Context, serial *big.Int) (CertStatus, error) {
	s.mu.Lock()
	s.calls++
	during := s.during
	st, err := s.status[serial.String()], s.err
	s.mu.Unlock()
	if during != nil {
		during()
	}
	return st, err
}

func (s *fakeSource) set(serial int64, st CertStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[big.NewInt(serial).String()] = st
}

func (s *fakeSource) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *fakeSource) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

var errStorage = errors.New("storage unavailable")
