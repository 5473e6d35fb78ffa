package ca

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/smallstep/certificates/authority/provisioner"
	stepdb "github.com/smallstep/certificates/db"
	"github.com/smallstep/nosql/database"

	"github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
)

// step-ca's table names (its on-disk schema, stable across releases).
const (
	stepCertsTable   = "x509_certs"
	stepRevokedTable = "revoked_x509_certs"
)

// Errors of Revoke; test with errors.Is.
var (
	ErrUnknownCertificate = errors.New("ca: no certificate with that serial was issued")
	ErrAlreadyRevoked     = errors.New("ca: certificate already revoked")
)

var _ ocsp.StatusSource = (*Authority)(nil)

// Revoke records the revocation of a certificate this CA issued, at the
// clock's current time, with an RFC 5280 CRLReason code (0–10 except 7) and a
// free-text reason. It fails with ErrUnknownCertificate or ErrAlreadyRevoked.
func (a *Authority) Revoke(ctx context.Context, serial *big.Int, reason int, reasonText string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if serial == nil || serial.Sign() <= 0 {
		return fmt.Errorf("%w: invalid serial", ErrUnknownCertificate)
	}
	if reason < 0 || reason > 10 || reason == 7 {
		return fmt.Errorf("ca: revoke: invalid CRLReason %d", reason)
	}
	cert, err := a.db.GetCertificate(serial.String())
	if err != nil {
		if database.IsErrNotFound(err) {
			return fmt.Errorf("%w: %s", ErrUnknownCertificate, serial)
		}
		return fmt.Errorf("ca: revoke %s: %w", serial, err)
	}
	rci := &stepdb.RevokedCertificateInfo{
		Serial:     serial.String(),
		ReasonCode: reason,
		Reason:     reasonText,
		ExpiresAt:  cert.NotAfter,
	}
	if ext, ok := provisioner.GetProvisionerExtension(cert); ok {
		rci.ProvisionerID = ext.Name
	}
	if err := a.db.Revoke(rci); err != nil {
		if errors.Is(err, stepdb.ErrAlreadyExists) {
			return fmt.Errorf("%w: %s", ErrAlreadyRevoked, serial)
		}
		return fmt.Errorf("ca: revoke %s: %w", serial, err)
	}
	return nil
}

// CertStatus implements ocsp.StatusSource from the CA's records: Known if
// this CA issued the serial (including the OCSP, TSA and TLS certificates of
// Init), Revoked with time and reason once revoked.
func (a *Authority) CertStatus(ctx context.Context, serial *big.Int) (ocsp.CertStatus, error) {
	if err := ctx.Err(); err != nil {
		return ocsp.CertStatus{}, err
	}
	if serial == nil || serial.Sign() <= 0 {
		return ocsp.CertStatus{}, nil
	}
	key := []byte(serial.String())
	if _, err := a.db.Get([]byte(stepCertsTable), key); err != nil {
		if database.IsErrNotFound(err) {
			return ocsp.CertStatus{}, nil
		}
		return ocsp.CertStatus{}, fmt.Errorf("ca: status of %s: %w", serial, err)
	}
	raw, err := a.db.Get([]byte(stepRevokedTable), key)
	if err != nil {
		if database.IsErrNotFound(err) {
			return ocsp.CertStatus{Known: true}, nil
		}
		return ocsp.CertStatus{}, fmt.Errorf("ca: status of %s: %w", serial, err)
	}
	var rci stepdb.RevokedCertificateInfo
	if err := json.Unmarshal(raw, &rci); err != nil {
		return ocsp.CertStatus{}, fmt.Errorf("ca: status of %s: revocation record: %w", serial, err)
	}
	return ocsp.CertStatus{Known: true, Revoked: true, RevokedAt: rci.RevokedAt, Reason: rci.ReasonCode}, nil
}

// Certificate returns a certificate this CA issued, by serial.
func (a *Authority) Certificate(serial *big.Int) (*x509.Certificate, error) {
	c, err := a.db.GetCertificate(serial.String())
	if err != nil {
		if database.IsErrNotFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrUnknownCertificate, serial)
		}
		return nil, fmt.Errorf("ca: %w", err)
	}
	return c, nil
}

// authDB wraps step-ca's database so that every issuance and revocation,
// whichever API path it came through, is counted, timed by the injected
// clock and reported to OnRevoke.
type authDB struct {
	*stepdb.DB
	a *Authority
}

// StoreCertificateChain is called by step-ca after signing.
func (d *authDB) StoreCertificateChain(p provisioner.Interface, chain ...*x509.Certificate) error {
	if err := d.DB.StoreCertificateChain(p, chain...); err != nil {
		return err
	}
	d.a.countIssued(chain[0])
	return nil
}

// StoreRenewedCertificate is called by step-ca after a renewal.
func (d *authDB) StoreRenewedCertificate(old *x509.Certificate, chain ...*x509.Certificate) error {
	if err := d.DB.StoreRenewedCertificate(old, chain...); err != nil {
		return err
	}
	d.a.countIssued(chain[0])
	return nil
}

// Revoke records a revocation at the injected clock's time.
func (d *authDB) Revoke(rci *stepdb.RevokedCertificateInfo) error {
	rci.RevokedAt = d.a.clock.Now().UTC()
	if err := d.DB.Revoke(rci); err != nil {
		return err
	}
	if d.a.metrics != nil {
		d.a.metrics.revoked.Inc()
	}
	if d.a.cfg.OnRevoke != nil {
		if s, ok := new(big.Int).SetString(rci.Serial, 10); ok {
			d.a.cfg.OnRevoke(s)
		}
	}
	return nil
}

type metrics struct {
	reg     prometheus.Registerer
	issued  *prometheus.CounterVec
	revoked prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jisr_pki_certificates_issued_total",
			Help: "Certificates issued by the instance CA, by profile (auth, sign).",
		}, []string{"profile"}),
		revoked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jisr_pki_certificates_revoked_total",
			Help: "Certificates revoked by the instance CA.",
		}),
	}
	if err := reg.Register(m.issued); err != nil {
		return nil, fmt.Errorf("ca: metrics: %w", err)
	}
	if err := reg.Register(m.revoked); err != nil {
		reg.Unregister(m.issued)
		return nil, fmt.Errorf("ca: metrics: %w", err)
	}
	return m, nil
}

func (a *Authority) countIssued(c *x509.Certificate) {
	if a.metrics == nil {
		return
	}
	label := "other"
	if k, _, err := profile.IDFromCert(c); err == nil {
		label = k.String()
	}
	a.metrics.issued.WithLabelValues(label).Inc()
}

func (a *Authority) unregister() {
	if a.metrics != nil {
		a.metrics.reg.Unregister(a.metrics.issued)
		a.metrics.reg.Unregister(a.metrics.revoked)
	}
}
