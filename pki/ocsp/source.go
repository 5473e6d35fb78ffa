package ocsp

import (
	"context"
	"math/big"
	"time"
)

// CertStatus is what a StatusSource knows about one certificate serial.
type CertStatus struct {
	// Known is false when the CA never issued a certificate with this serial;
	// the responder then answers "unknown".
	Known bool
	// Revoked is true once the certificate has been revoked.
	Revoked bool
	// RevokedAt is the revocation time (zero unless Revoked).
	RevokedAt time.Time
	// Reason is the RFC 5280 CRLReason code (0 = unspecified).
	Reason int
}

// StatusSource reports the status of certificates issued by one CA.
//
// CertStatus returns an error only when the status cannot be determined
// (storage failure); an unissued serial is CertStatus{Known: false}, not an
// error. The responder answers "tryLater" on error.
type StatusSource interface {
	CertStatus(ctx context.Context, serial *big.Int) (CertStatus, error)
}
