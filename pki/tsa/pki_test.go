package tsa

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/testpki"
)

// testPKI is testpki's root → intermediate (valid from an hour before now for
// a day) and a TSA certificate issued by the intermediate.
type testPKI struct {
	*testpki.PKI
	tsa *x509.Certificate
	key crypto.Signer // tsa's key
}

func newKey(t testing.TB) *ecdsa.PrivateKey { return testpki.NewKey(t) }

func newTestPKI(t testing.TB, now time.Time) *testPKI {
	t.Helper()
	p := &testPKI{PKI: testpki.New(t, now, testpki.Validity(now.Add(-time.Hour), now.Add(24*time.Hour)))}
	key := newKey(t)
	p.key = key
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
		NotBefore:       p.NotBefore,
		NotAfter:        p.NotAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{TimeStampingEKUExtension()},
	}
	mutate(tmpl)
	return p.Issue(t, tmpl, key.Public())
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
