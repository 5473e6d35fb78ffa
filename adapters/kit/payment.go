package kit

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/adapters/nationalid"
	"github.com/jisr-bus/jisr/internal/xerr"
)

// The service codes of the fee schedule (adapters/finance) that payment
// orders name as their purpose, and that ministries check a payment against.
const (
	ServiceBirthCertificateNew  = "moi.birth-certificate.new"
	ServiceBirthCertificateCopy = "moi.birth-certificate.copy"
	ServiceCivilRegistryExtract = "moi.civil-registry-extract"
	ServiceDrivingLicenceRenew  = "mot.driving-licence.renewal"
	ServiceTrafficFine          = "mot.traffic-fine"
	ServiceInsuranceRenewal     = "moh.insurance.renewal"
	ServiceHomeDelivery         = "post.delivery.address"
	ServicePickup               = "post.delivery.pickup"
)

// PaymentCheck is what a ministry requires of a payment order before it
// delivers a paid service.
type PaymentCheck struct {
	// OrderID is the payment order reference the citizen (or the portal)
	// handed over.
	OrderID string
	// Service is the fee-schedule service code the order must have been
	// paid for.
	Service string
	// Payer, if not zero, is the national ID the order must have been
	// paid on behalf of.
	Payer nationalid.ID
	// Reference, if not empty, is the case the order must name as its
	// purpose (a fine's number, say).
	Reference string
	// Amount, if not zero, is the least the order must have been paid
	// for, in the same currency.
	Amount Money
}

// PaymentProof is what a verifier established about a paid order.
type PaymentProof struct {
	OrderID       string
	ReceiptNumber string
	// Service, Payer and Reference are the order's purpose and payer.
	Service   string
	Payer     string
	Reference string
	Amount    Money
	PaidAt    time.Time
}

// ErrPaymentNotAcceptable is wrapped by PaymentVerifier errors that are the
// caller's fault: no such order, not paid, or paid for another service,
// payer or a smaller amount.
var ErrPaymentNotAcceptable = errors.New("payment not acceptable")

// PaymentVerifier checks payment order references at the Monetary
// Authority's payments service. adapters/payments.Client implements it over
// HTTP (directly, or through the security servers once the bus wiring is
// in place).
//
// VerifyPaid returns the proof when the order exists, is paid and matches
// c. Its error wraps ErrPaymentNotAcceptable when the order does not qualify;
// any other error means the verifier could not answer (network, payments
// service down), and the caller must not treat the payment as refused.
type PaymentVerifier interface {
	VerifyPaid(ctx context.Context, c PaymentCheck) (PaymentProof, error)
}

// PaymentError turns a PaymentVerifier error into the boundary error an
// adapter answers with: 422 Client.PaymentNotAcceptable for an order that
// does not qualify, 503 Server.Unavailable when the verifier could not
// answer.
func PaymentError(err error) *xerr.Error {
	if errors.Is(err, ErrPaymentNotAcceptable) {
		return Errorf("Client.PaymentNotAcceptable", http.StatusUnprocessableEntity, err, "the payment order does not pay for this service: %s", reasonOf(err))
	}
	return Errorf(CodeUnavailable, http.StatusServiceUnavailable, err, "the payment could not be verified now; try again later")
}

// reasonOf returns the message of the error that wraps
// ErrPaymentNotAcceptable directly (the verifier's reason), without the
// sentinel's text.
func reasonOf(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if pe, ok := e.(interface{ PaymentReason() string }); ok {
			return pe.PaymentReason()
		}
	}
	return "refused"
}

// PaymentRefusal is an error wrapping ErrPaymentNotAcceptable with a reason
// safe to show to the caller.
type PaymentRefusal struct{ Reason string }

func (p *PaymentRefusal) Error() string { return "payment not acceptable: " + p.Reason }

// Unwrap returns ErrPaymentNotAcceptable.
func (p *PaymentRefusal) Unwrap() error { return ErrPaymentNotAcceptable }

// PaymentReason returns the caller-safe reason.
func (p *PaymentRefusal) PaymentReason() string { return p.Reason }

// Requester returns the citizen on whose behalf a request is made: the
// national ID in X-Road-UserId, as nine digits or, in X-Road's convention
// of prefixing the country code, "PS" and nine digits. Adapters that act
// for a citizen (issuing a document, renewing a licence) require it; its
// absence or a malformed value is a 400.
func Requester(r *http.Request) (nationalid.ID, error) {
	v := strings.TrimPrefix(r.Header.Get(HeaderUserID), UserIDCountryPrefix)
	if v == "" {
		return nationalid.ID{}, BadRequest("%s (the national ID of the citizen the request is made for) is required", HeaderUserID)
	}
	id, err := nationalid.Parse(v)
	if err != nil {
		return nationalid.ID{}, Errorf(CodeBadRequest, http.StatusBadRequest, err, "%s is not a valid national ID", HeaderUserID)
	}
	return id, nil
}

// UserIDCountryPrefix is the country code X-Road user ids may start with.
const UserIDCountryPrefix = "PS"

// NationalIDParam parses a national ID taken from a path or query
// parameter; a malformed one is a 400 naming the parameter.
func NationalIDParam(name, v string) (nationalid.ID, error) {
	id, err := nationalid.Parse(v)
	if err != nil {
		return nationalid.ID{}, Errorf(CodeBadRequest, http.StatusBadRequest, err, "%s is not a valid national ID (nine digits, the last a check digit)", name)
	}
	return id, nil
}
