package ocsp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/testpki"
)

// testPKI is testpki's root → issuer (intermediate CA) → leaves with a
// delegated OCSP responder, valid from an hour before now for a day.
type testPKI struct{ *testpki.PKI }

func newKey(t testing.TB) *ecdsa.PrivateKey { return testpki.NewKey(t) }

// newTestPKI builds a PKI whose certificates are valid around now.
func newTestPKI(t testing.TB, now time.Time) *testPKI {
	t.Helper()
	return &testPKI{testpki.New(t, now, testpki.Validity(now.Add(-time.Hour), now.Add(24*time.Hour)))}
}

// responderCert issues another delegated responder certificate for key
// (serial 3, like the real one), with the OCSPSigning EKU or, without
// ocspEKU, clientAuth instead.
func (p *testPKI) responderCert(t testing.TB, key crypto.Signer, ocspEKU bool) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      p.Responder.Subject,
		NotBefore:    p.NotBefore,
		NotAfter:     p.NotAfter,
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
	return p.Issue(t, tmpl, key.Public())
}

// leaf issues an end-entity certificate (outside the jisr profiles) with
// the given serial, valid as long as the CAs.
func (p *testPKI) leaf(t testing.TB, serial int64) *x509.Certificate {
	t.Helper()
	return p.Issue(t, &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{Country: []string{"XX"}, Organization: []string{"jisr test"}, CommonName: "member"},
		NotBefore:    p.NotBefore,
		NotAfter:     p.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, newKey(t).Public())
}

func writePEMs(t testing.TB, dir string, files map[string]*x509.Certificate) {
	t.Helper()
	for name, c := range files {
		testpki.WritePEM(t, filepath.Join(dir, name), c)
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
