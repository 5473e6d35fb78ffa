package proxy

import (
	"context"
	"errors"
	"net"

	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/securityserver/message"
	"github.com/jisr-bus/jisr/securityserver/peer"
)

// X-Road error codes (the names of X-Road's ErrorCodes.java) this package
// produces besides those of peer.ToXRoad and message.ToXRoad. The full
// table, with the situations that produce each, is in the package
// documentation.
const (
	CodeBadRequest            = "BadRequest"
	CodeMissingHeaderField    = "MissingHeaderField"
	CodeUnknownMember         = "UnknownMember"
	CodeUnknownService        = "UnknownService"
	CodeAccessDenied          = "AccessDenied"
	CodeServiceDisabled       = "ServiceDisabled"
	CodeServiceFailed         = "ServiceFailed"
	CodeNetworkError          = "NetworkError"
	CodeOutdatedGlobalConf    = "OutdatedGlobalConf"
	CodeSslAuthenticationFail = "SslAuthenticationFailed"
	CodeInvalidSecurityServer = "InvalidSecurityServer"
	CodeMaintenanceMode       = "MaintenanceMode"
	CodeLoggingFailed         = "LoggingFailed"
	CodeTimestampingFailed    = "TimestampingFailed"
	CodeInvalidResponse       = "InvalidResponse"
	CodeIOError               = "IOError"
	CodeInternalError         = "InternalError"
	CodeCannotCreateSignature = "CannotCreateSignature"
)

// clientErr is a fault of the information system's request (400).
func clientErr(code, msg string, cause error) *xerr.Error {
	return xerr.New(xerr.PrefixClient+code, msg, cause)
}

// cpErr is a fault raised by the client proxy (500).
func cpErr(code, msg string, cause error) *xerr.Error {
	return xerr.New(xerr.PrefixClientProxy+code, msg, cause)
}

// logErr is the fault for a message log that did not commit: LoggingFailed,
// or TimestampingFailed when the log refuses records for lack of
// time-stamps.
func logErr(side peer.Side, msg string, cause error) *xerr.Error {
	code := CodeLoggingFailed
	if errors.Is(cause, ErrTimestampingFailed) {
		code = CodeTimestampingFailed
	}
	if side == peer.ServerProxy {
		return spErr(code, msg, cause)
	}
	return cpErr(code, msg, cause)
}

// spErr is a fault raised by the server proxy (500).
func spErr(code, msg string, cause error) *xerr.Error {
	return xerr.New(xerr.PrefixServerProxy+code, msg, cause)
}

// signErr maps an error of message signing or of a Signer to the boundary
// error: the peer sentinels (no key, revoked, stale OCSP, no configuration)
// through peer.ToXRoad, anything else as Signer.CannotCreateSignature.
func signErr(err error, side peer.Side) *xerr.Error {
	for _, s := range []error{peer.ErrNoSignKey, peer.ErrNoConfiguration, peer.ErrRevoked,
		peer.ErrOCSPUnavailable, peer.ErrUntrustedChain} {
		if errors.Is(err, s) {
			return peer.ToXRoad(err, side)
		}
	}
	var xe *xerr.Error
	if errors.As(err, &xe) {
		return xe
	}
	return xerr.New(xerr.PrefixSigner+CodeCannotCreateSignature, "cannot create signature", err)
}

// bodyErr maps a failure to spool a body: too large is the sender's fault,
// anything else an I/O error of the side that read it.
func bodyErr(err error, tooLarge func() *xerr.Error, prefix string) *xerr.Error {
	if errors.Is(err, message.ErrBodyTooLarge) {
		return tooLarge()
	}
	return xerr.New(prefix+CodeIOError, "cannot read message body", err)
}

// isDialError reports whether err happened while connecting, so that
// nothing of the request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// isTimeout reports whether err is a deadline or timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
