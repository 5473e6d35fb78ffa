package tsa

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"
)

// testPKI is root → intermediate → TSA certificate.
type testPKI struct {
	root, inter, tsa       *x509.Certificate
	rootKey, interKey, key crypto.Signer
	notBefore, notAfter    time.Time
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

func newTestPKI(t testing.TB, now time.Time) *testPKI {
	t.Helper()
	p := &testPKI{notBefore: now.Add(-time.Hour), notAfter: now.Add(24 * time.Hour)}
	rootKey, interKey, key := newKey(t), newKey(t), newKey(t)
	p.rootKey, p.interKey, p.key = rootKey, interKey, key
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
	p.inter = createCert(t, &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{Country: []string{"XX"}, Organization: []string{"jisr test"}, CommonName: "Test Intermediate CA"},
		NotBefore:             p.notBefore,
		NotAfter:              p.notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, p.root, interKey.Public(), rootKey)
	p.tsa = p.tsaCert(t, key, func(*x509.Certificate) {})
	return p
}

// tsaCert issues a TSA certificate for key from the intermediate; mutate may
// change the template (the default has the critical timeStamping EKU).
func (p *testPKI) tsaCert(t testing.TB, key crypto.Signer, mutate func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(3),
		Subject:         pkix.Name{Country: []string{"XX"}, Organization: []string{"jisr test"}, CommonName: "Test TSA"},
		NotBefore:       p.notBefore,
		NotAfter:        p.notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{TimeStampingEKUExtension()},
	}
	mutate(tmpl)
	return createCert(t, tmpl, p.inter, key.Public(), p.interKey)
}

func (p *testPKI) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	return pool
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

// memSerials is an in-memory SerialSource.
type memSerials struct {
	mu   sync.Mutex
	next int64
	err  error
}

func (m *memSerials) Next(context.Context) (*big.Int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	m.next++
	return big.NewInt(m.next), nil
}

var errDisk = errors.New("disk on fire")
