// Package globalconf is jisr's global configuration: the one signed document
// a security server needs to take part in the bus. It holds the instance's
// registry as the security servers see it (members, subsystems, security
// servers with their addresses and authentication-certificate hashes, global
// groups), the trust services (approved CAs with their OCSP responders,
// approved time-stamping authorities) and the operating settings.
//
// The package provides, for both sides of the exchange:
//
//   - the document (Document), its validation (Document.Validate) and its
//     canonical encoding (Marshal, ParseDocument): the same registry content
//     always gives the same bytes;
//   - signing by the central server (Sign): a JWS in the JSON general
//     serialization with one signature per configuration key, so keys can be
//     rotated without a flag day;
//   - the anchor (Anchor): instance, download URLs and verification keys,
//     delivered to security servers out of band;
//   - verification (Verify), which fails with exactly one of the sentinel
//     errors below so callers can map failures with errors.Is;
//   - the security server's download client (Client): failover across the
//     anchor's URLs, conditional requests, rollback protection, a last good
//     copy on disk, and fail-closed expiry;
//   - the central server's HTTP handler (Handler).
//
// The wire format is specified in docs/protocol.md ("Global configuration").
//
// This package is not the registry: it does not store members or approve
// management requests (that is central/), it does not hold private keys (keys
// come from a key store as crypto.Signer), and it does not decide access
// rights or check OCSP status; it only publishes and answers questions about
// what the central server signed.
package globalconf

import "errors"

// Sentinel errors; test with errors.Is. An error from Verify,
// ParseDocument, ParseAnchor, Client.Load or Client.Current wraps at most one
// of the verification sentinels (ErrMalformed, ErrUnknownKey,
// ErrBadSignature, ErrExpired, ErrNotYetValid, ErrWrongInstance). An error
// from Client.Refresh joins the errors of every URL tried, so it may match
// several.
var (
	// ErrMalformed: the input is not a JWS in the JSON general serialization,
	// a header or the payload is not the expected JSON, or the document or
	// anchor does not pass validation.
	ErrMalformed = errors.New("globalconf: malformed")
	// ErrUnknownKey: no signature was made by a key of the anchor.
	ErrUnknownKey = errors.New("globalconf: not signed by an anchored key")
	// ErrBadSignature: a signature claims an anchored key (by kid) but does not
	// verify with it, or uses another algorithm than the anchor pins for it.
	// The document has been tampered with, or the key material is confused.
	ErrBadSignature = errors.New("globalconf: bad signature")
	// ErrExpired: the document's expiresAt is not after the current time.
	ErrExpired = errors.New("globalconf: configuration expired")
	// ErrNotYetValid: the document's generatedAt lies further in the future
	// than the document's maxClockSkewSeconds allows.
	ErrNotYetValid = errors.New("globalconf: configuration not yet valid")
	// ErrWrongInstance: the document is for another instance than the anchor.
	ErrWrongInstance = errors.New("globalconf: wrong instance")

	// ErrRollback: a download carried a lower serial than the document in use,
	// or the same serial with different content. The client keeps its
	// current document.
	ErrRollback = errors.New("globalconf: rollback refused")
	// ErrNoConfiguration: the client has no verified document yet (neither
	// loaded from disk nor downloaded).
	ErrNoConfiguration = errors.New("globalconf: no configuration")
)
