package peer

import (
	"context"
	"errors"

	"github.com/jisr-bus/jisr/internal/xerr"
)

// Sentinel errors; test with errors.Is. An error returned by this package
// for a refused peer, a failed OCSP lookup or missing configuration wraps
// exactly one of them (the first check that failed); other failures (the
// network, a canceled context) wrap none.
var (
	// ErrNoConfiguration: there is no usable global configuration (none yet,
	// or the current one has expired). Nothing is trusted without one.
	ErrNoConfiguration = errors.New("peer: no valid global configuration")
	// ErrUntrustedChain: the peer's certificate chain does not verify up to
	// an approved CA of the current configuration (unknown CA, expired or
	// not yet valid certificate, wrong key usage, …).
	ErrUntrustedChain = errors.New("peer: certificate chain not trusted")
	// ErrNotAuthCert: the peer's certificate does not fit the auth
	// certificate profile (a sign certificate, say).
	ErrNotAuthCert = errors.New("peer: not an authentication certificate")
	// ErrUnknownPeer: the peer's certificate is not registered for any
	// security server in the current configuration, or names another server
	// than the one it is registered for, or the peer sent no certificate.
	ErrUnknownPeer = errors.New("peer: unknown security server")
	// ErrWrongPeer: the peer is a registered security server, but not the
	// one the caller meant, or not one registered at the address dialled.
	ErrWrongPeer = errors.New("peer: not the intended security server")
	// ErrRevoked: a valid OCSP response says the certificate is revoked.
	ErrRevoked = errors.New("peer: certificate revoked")
	// ErrOCSPUnavailable: no valid, good and fresh OCSP response could be
	// obtained (responders unreachable or failing, responses stale, badly
	// signed or of status unknown, or no responder configured for the
	// issuer).
	ErrOCSPUnavailable = errors.New("peer: no fresh OCSP response")
	// ErrNoSignKey: the Identity holds no sign key for the member asked for.
	ErrNoSignKey = errors.New("peer: no sign key for member")
)

// Side says on which side of an exchange a security server stands, for
// ToXRoad's choice of fault-code prefix.
type Side int

const (
	// ClientProxy is the consumer's security server: it accepted the request
	// from an information system and connects to the provider
	// ("Server.ClientProxy.*" faults).
	ClientProxy Side = iota + 1
	// ServerProxy is the provider's security server: it accepted the
	// connection from the consumer's ("Server.ServerProxy.*" faults).
	ServerProxy
)

// X-Road fault codes (without prefix) that ToXRoad produces.
const (
	CodeSslAuthenticationFailed = "SslAuthenticationFailed"
	CodeCertValidation          = "CertValidation"
	CodeOcspFailed              = "OcspFailed"
	CodeOutdatedGlobalConf      = "OutdatedGlobalConf"
	CodeNetworkError            = "NetworkError"
	CodeCannotCreateSignature   = "CannotCreateSignature"
)

// ToXRoad maps an error of this package to the boundary error X-Road would
// report, with the code prefixed for side (Server.ClientProxy. or
// Server.ServerProxy.; Signer. for ErrNoSignKey):
//
//	ErrNoConfiguration                           → OutdatedGlobalConf
//	ErrUnknownPeer, ErrWrongPeer, ErrNotAuthCert → SslAuthenticationFailed
//	ErrUntrustedChain, ErrRevoked                → CertValidation
//	ErrOCSPUnavailable                           → OcspFailed
//	ErrNoSignKey                                 → Signer.CannotCreateSignature
//	anything else                                → NetworkError
//
// The message is fixed text safe to show to the caller; err itself is kept
// as the internal cause (logged, never sent). An *xerr.Error already in
// err's chain is returned as is. ToXRoad(nil, side) is nil.
func ToXRoad(err error, side Side) *xerr.Error {
	if err == nil {
		return nil
	}
	var xe *xerr.Error
	if errors.As(err, &xe) {
		return xe
	}
	prefix := xerr.PrefixServerProxy
	if side == ClientProxy {
		prefix = xerr.PrefixClientProxy
	}
	code, msg := CodeNetworkError, "connection between security servers failed"
	switch {
	case errors.Is(err, ErrNoConfiguration):
		code, msg = CodeOutdatedGlobalConf, "global configuration is expired or missing"
	case errors.Is(err, ErrUnknownPeer):
		code, msg = CodeSslAuthenticationFailed, "peer security server is not registered in the global configuration"
	case errors.Is(err, ErrWrongPeer):
		code, msg = CodeSslAuthenticationFailed, "peer security server is not the intended one"
	case errors.Is(err, ErrNotAuthCert):
		code, msg = CodeSslAuthenticationFailed, "peer presented no authentication certificate"
	case errors.Is(err, ErrUntrustedChain):
		code, msg = CodeCertValidation, "peer certificate is not issued by an approved certification authority"
	case errors.Is(err, ErrRevoked):
		code, msg = CodeCertValidation, "certificate is revoked"
	case errors.Is(err, ErrOCSPUnavailable):
		code, msg = CodeOcspFailed, "no fresh OCSP response for certificate"
	case errors.Is(err, ErrNoSignKey):
		prefix, code, msg = xerr.PrefixSigner, CodeCannotCreateSignature, "no signing key for member"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		msg = "connection between security servers timed out or was canceled"
	}
	return xerr.New(prefix+code, msg, err)
}

// outcome returns the metric label for the result of a check.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNoConfiguration):
		return "no_configuration"
	case errors.Is(err, ErrUntrustedChain):
		return "untrusted_chain"
	case errors.Is(err, ErrNotAuthCert):
		return "not_auth_cert"
	case errors.Is(err, ErrUnknownPeer):
		return "unknown_peer"
	case errors.Is(err, ErrWrongPeer):
		return "wrong_peer"
	case errors.Is(err, ErrRevoked):
		return "revoked"
	case errors.Is(err, ErrOCSPUnavailable):
		return "ocsp_unavailable"
	default:
		return "error"
	}
}
