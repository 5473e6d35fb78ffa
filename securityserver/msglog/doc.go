// Package msglog is the security server's durable message log: the record
// of every signed request and response that passes through a security
// server, on the consumer side and on the provider side, kept so that an
// auditor can later prove what was exchanged.
//
// A Log is append-only. Append returns only once the record is committed
// to the database (SQLite by default, PostgreSQL for clusters), so the proxy
// forwards a request or returns a response only after its record is
// durable: a crash at any instant never leaves an acknowledged exchange
// without its records. If the record cannot be committed, Append returns an
// error wrapping ErrLogUnavailable (or ErrInvalidRecord for a record that
// can never be logged), and the exchange must fail: the audit trail fails
// closed.
//
// Concurrent appends are committed together (group commit): one writer
// goroutine takes every record queued while the previous transaction was
// committing, up to a batch limit, and commits them in one transaction, so
// the cost of a durable commit is shared by all the exchanges waiting for
// it.
//
// Records are tamper-evident: each carries the hash of its predecessor and
// its own hash over a canonical encoding of its fields, forming one hash
// chain per log in commit order (docs/protocol.md ("Message log") specifies the
// encoding). VerifyChain recomputes it. Certificates and OCSP responses are
// stored once each, keyed by their SHA-256 digest; the compact JWS of every
// message is rebuilt from them byte for byte. Message bodies are stored
// encrypted with AES-256-GCM under keys from a KeyProvider, or not at all
// for subsystems whose body logging is off (metadata-only mode).
//
// Get and Find serve auditors and administrators, decrypting bodies when
// the key is available.
//
// A Timestamper obtains RFC 3161 time-stamp tokens over the chain head at
// an interval, one token per range of new records (docs/protocol.md ("Time-stamps") specifies
// the message imprint); VerifyTimestamps checks them against the chain.
// While the TSA fails, traffic goes on until the grace period passes, after
// which Timestamper.Healthy fails with ErrTimestampingFailed.
//
// Not yet: archiving to self-contained files, retention and cleaning, and
// the auditor's tools. The package does not verify
// signatures either: the proxy logs what message.Verifier accepted, or what
// it signed itself.
package msglog
