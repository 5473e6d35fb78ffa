package message

import (
	"errors"
	"fmt"

	"github.com/jisr-bus/jisr/internal/xerr"
)

// Sentinel errors. Every refusal by this package wraps exactly one of them
// (test with errors.Is); ToXRoad maps each to an X-Road error code.
var (
	// ErrMalformed: a header, the canonical encoding, the JWS or its
	// protected header is missing, duplicated, badly encoded, too large or
	// otherwise not in the form docs/protocol.md prescribes.
	ErrMalformed = errors.New("malformed message")
	// ErrBadSignature: the JWS signature does not verify with the key of the
	// certificate it names.
	ErrBadSignature = errors.New("invalid signature value")
	// ErrTampered: the signature is valid, but its payload is not the
	// canonical encoding of the message header received, i.e. the metadata
	// or end-to-end headers were changed after signing.
	ErrTampered = errors.New("message header does not match the signed header")
	// ErrBodyMismatch: the body received does not have the signed digest or
	// size.
	ErrBodyMismatch = errors.New("body does not match the signed digest")
	// ErrClockSkew: the message time is further from the verifier's clock
	// than Verifier.MaxSkew (either way), or too old for the replay window.
	ErrClockSkew = errors.New("message time outside the allowed clock skew")
	// ErrUntrustedChain: the signer's certificate does not chain to an
	// approved CA, or the chain is not valid at the message time.
	ErrUntrustedChain = errors.New("signer certificate does not chain to an approved CA")
	// ErrCertProfile: the signer's certificate is not a sign certificate
	// (pki/profile.Sign).
	ErrCertProfile = errors.New("signer certificate does not fit the sign profile")
	// ErrWrongSigner: the signer's certificate names a member other than the
	// one that must sign (the client's member for a request, the provider's
	// for a response).
	ErrWrongSigner = errors.New("message signed by another member")
	// ErrOCSPInvalid: the stapled OCSP response cannot be parsed, is not
	// signed by the certificate's issuer or an approved responder, or is
	// about another certificate.
	ErrOCSPInvalid = errors.New("invalid OCSP response")
	// ErrRevoked: the OCSP response does not say "good": the certificate is
	// revoked, or unknown to its issuer's responder.
	ErrRevoked = errors.New("signer certificate is not in good standing")
	// ErrOCSPStale: the OCSP response is older than Verifier.OCSPFreshness,
	// past its NextUpdate, or dated in the future.
	ErrOCSPStale = errors.New("OCSP response is not fresh")
	// ErrReplay: a request with this message id was already accepted from
	// this client within the replay window.
	ErrReplay = errors.New("message id already used")
	// ErrReplayCapacity: the replay cache is full of unexpired entries; the
	// request is refused rather than accepted unchecked.
	ErrReplayCapacity = errors.New("replay cache full")
	// ErrResponseMismatch: the response is validly signed but answers
	// another request (its request digest is not ours).
	ErrResponseMismatch = errors.New("response bound to another request")
	// ErrBodyTooLarge is wrapped by *BodyTooLargeError.
	ErrBodyTooLarge = errors.New("body too large")
)

// BodyTooLargeError reports a body longer than a Spool's maximum size. It
// matches ErrBodyTooLarge with errors.Is.
type BodyTooLargeError struct {
	// Limit is the maximum size in bytes that was exceeded.
	Limit int64
}

// Error implements error.
func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("%v: more than %d bytes", ErrBodyTooLarge, e.Limit)
}

// Is reports whether target is ErrBodyTooLarge.
func (e *BodyTooLargeError) Is(target error) bool { return target == ErrBodyTooLarge }

// Side says which security server refuses, choosing the X-Road code prefix.
type Side int

const (
	// ServerProxy is the provider's security server refusing a request
	// from a consumer's security server: codes "Server.ServerProxy.*".
	ServerProxy Side = iota + 1
	// ClientProxy is the consumer's security server refusing a request of
	// its information system or a response from the provider's security
	// server: codes "Server.ClientProxy.*".
	ClientProxy
)

// X-Road error codes (without prefix) used by ToXRoad; they are the names in
// X-Road's ErrorCodes.java.
const (
	codeInvalidRequest          = "InvalidRequest"
	codeInvalidResponse         = "InvalidResponse"
	codeInvalidSignatureValue   = "InvalidSignatureValue"
	codeCertValidation          = "CertValidation"
	codeIncorrectValidationInfo = "IncorrectValidationInfo"
	codeInconsistentResponse    = "InconsistentResponse"
	codeInternalError           = "InternalError"
)

// classify returns the X-Road code (without prefix; "" meaning
// InvalidRequest or InvalidResponse by side) and the caller-safe message for
// the first sentinel err wraps, in a fixed order.
func classify(err error) (code, message string, ok bool) {
	switch {
	case errors.Is(err, ErrMalformed):
		return "", "malformed signed message", true
	case errors.Is(err, ErrBadSignature):
		return codeInvalidSignatureValue, "signature does not verify", true
	case errors.Is(err, ErrTampered):
		return codeInvalidSignatureValue, "message headers do not match the signed headers", true
	case errors.Is(err, ErrBodyMismatch):
		return codeInvalidSignatureValue, "message body does not match the signed digest", true
	case errors.Is(err, ErrClockSkew):
		return "", "message time outside the allowed clock skew", true
	case errors.Is(err, ErrUntrustedChain):
		return codeCertValidation, "signer certificate does not chain to an approved CA", true
	case errors.Is(err, ErrCertProfile):
		return codeCertValidation, "signer certificate is not a sign certificate", true
	case errors.Is(err, ErrWrongSigner):
		return codeCertValidation, "message signed by another member", true
	case errors.Is(err, ErrRevoked):
		return codeCertValidation, "signer certificate is revoked or unknown", true
	case errors.Is(err, ErrOCSPInvalid):
		return codeIncorrectValidationInfo, "invalid OCSP response for the signer certificate", true
	case errors.Is(err, ErrOCSPStale):
		return codeIncorrectValidationInfo, "OCSP response for the signer certificate is not fresh", true
	case errors.Is(err, ErrReplay):
		return "", "message id already used", true
	case errors.Is(err, ErrReplayCapacity):
		return codeInternalError, "replay protection unavailable", true
	case errors.Is(err, ErrResponseMismatch):
		return codeInconsistentResponse, "response does not answer the request sent", true
	case errors.Is(err, ErrBodyTooLarge):
		return "", "message body too large", true
	}
	return "", "", false
}

// ToXRoad maps an error of this package to the X-Road error a security
// server returns, with the cause kept as the internal error. side chooses
// the prefix: ServerProxy ("Server.ServerProxy.") when the provider refuses
// a request, ClientProxy ("Server.ClientProxy.") when the consumer refuses a
// response. The codes, per sentinel:
//
//	ErrMalformed, ErrClockSkew, ErrReplay, ErrBodyTooLarge
//	                                  InvalidRequest (ServerProxy) or
//	                                  InvalidResponse (ClientProxy)
//	ErrBadSignature, ErrTampered, ErrBodyMismatch
//	                                  InvalidSignatureValue
//	ErrUntrustedChain, ErrCertProfile, ErrWrongSigner, ErrRevoked
//	                                  CertValidation
//	ErrOCSPInvalid, ErrOCSPStale      IncorrectValidationInfo
//	ErrResponseMismatch               InconsistentResponse
//	ErrReplayCapacity, anything else  InternalError
//
// An error that already is (or wraps) an *xerr.Error is returned unchanged;
// nil gives nil.
func ToXRoad(err error, side Side) *xerr.Error {
	if err == nil {
		return nil
	}
	var xe *xerr.Error
	if errors.As(err, &xe) {
		return xe
	}
	prefix, invalid := xerr.PrefixServerProxy, codeInvalidRequest
	if side == ClientProxy {
		prefix, invalid = xerr.PrefixClientProxy, codeInvalidResponse
	}
	code, msg, ok := classify(err)
	if !ok {
		return xerr.New(prefix+codeInternalError, "internal error", err)
	}
	if code == "" {
		code = invalid
	}
	return xerr.New(prefix+code, msg, err)
}
