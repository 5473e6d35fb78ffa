package msglog

import (
	"errors"
	"fmt"
)

// Errors the log returns, to be tested with errors.Is. The proxy maps
// ErrLogUnavailable and ErrInvalidRecord to X-Road's LoggingFailed: either
// way the message was not logged and must not be forwarded or returned.
var (
	// ErrLogUnavailable is wrapped by every Append error after which the
	// record was not committed because of the log rather than the record:
	// the database failed or timed out, the encryption key could not be
	// had, the caller's context ended first, or the log is closed. The
	// cause is wrapped too. Appending the same record again may succeed.
	ErrLogUnavailable = errors.New("message log unavailable")
	// ErrClosed is wrapped (with ErrLogUnavailable) by Append after Close.
	ErrClosed = errors.New("message log closed")
	// ErrInvalidRecord is wrapped by Append errors for a record that can
	// never be logged: a missing or malformed field, metadata that differs
	// from the signed header, a signature that is not a jisr compact JWS, a
	// body that does not match its digest.
	ErrInvalidRecord = errors.New("invalid message log record")
	// ErrNotFound is wrapped by Get for an id no record has.
	ErrNotFound = errors.New("message log record not found")
	// ErrKeyNotFound is what a KeyProvider's Key wraps for a key id it does
	// not know; the log then returns the record without its body.
	ErrKeyNotFound = errors.New("message log key not found")
	// ErrCorrupt is wrapped by Get and Find when a stored record cannot be
	// read back as it was written: a body that fails to decrypt or does not
	// match its digest, a missing certificate or OCSP response, an
	// identifier that does not parse. It means the database was altered.
	ErrCorrupt = errors.New("message log record corrupt")
	// ErrChainBroken is wrapped by the *ChainError VerifyChain returns.
	ErrChainBroken = errors.New("message log hash chain broken")
	// ErrTimestampingFailed is wrapped by Timestamper.Healthy once a record
	// has stayed without a time-stamp for longer than the grace period.
	// The proxy maps it to X-Road's TimestampingFailed and refuses new
	// exchanges.
	ErrTimestampingFailed = errors.New("message log time-stamping failed")
	// ErrTimestampInvalid is wrapped by the *TimestampError
	// VerifyTimestamps returns.
	ErrTimestampInvalid = errors.New("message log time-stamp invalid")
)

// ChainError reports the first record at which VerifyChain found the hash
// chain broken. It wraps ErrChainBroken.
type ChainError struct {
	// ID is the first record that does not verify: missing, out of order,
	// not linked to its predecessor, or whose fields do not hash to its
	// stored hash. ID is one past the last record when the chain head does
	// not match the last record.
	ID int64
	// Reason says what is wrong.
	Reason string
}

// Error implements error.
func (e *ChainError) Error() string {
	return fmt.Sprintf("%v at record %d: %s", ErrChainBroken, e.ID, e.Reason)
}

// Unwrap returns ErrChainBroken.
func (e *ChainError) Unwrap() error { return ErrChainBroken }

// TimestampError reports the first stored time-stamp that VerifyTimestamps
// found invalid. It wraps ErrTimestampInvalid and, when there is one, the
// cause: the *ChainError of a broken range, or the error the verify
// function returned for the token.
type TimestampError struct {
	// ID is the time-stamp's position (1, 2, 3, …); From and To are the
	// records its range claims to cover.
	ID, From, To int64
	// Reason says what is wrong.
	Reason string
	// Err is the cause, or nil.
	Err error
}

// Error implements error.
func (e *TimestampError) Error() string {
	msg := fmt.Sprintf("%v: time-stamp %d (records %d..%d): %s", ErrTimestampInvalid, e.ID, e.From, e.To, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrTimestampInvalid and the cause, if any.
func (e *TimestampError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrTimestampInvalid}
	}
	return []error{ErrTimestampInvalid, e.Err}
}
