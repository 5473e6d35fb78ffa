// Package archive turns stretches of the security server's message log
// (securityserver/msglog) into self-contained, signed archive files, and
// verifies them without trusting the operator who wrote them.
//
// An archive (format jisr-archive/1, specified in docs/protocol.md ("Message-log archives")) is one
// deterministic ustar file holding a contiguous range of records in a
// canonical JSON encoding, their logged bodies, every certificate and OCSP
// response their signatures carry, the RFC 3161 time-stamp tokens over the
// range, and, last, a manifest listing the SHA-256 digest of every other
// entry, signed by the security server as a JWS with x5c. Manifests chain:
// each names the digest of the previous archive's manifest.
//
// Write produces an archive from a Source (*msglog.Log is one). An archive
// always ends at a time-stamped record, so that everything in it is
// covered by a token from an independent time-stamping authority.
//
// Verify checks an archive against a Trust (the approved CAs, a
// time-stamp verifier and optionally the expected previous manifest):
// the manifest's signature and entry list, the records' order, contiguity
// and hash chain (msglog.RecordHash), every record's JWS against its own
// certificate chain and stapled OCSP response at the record's signed time,
// the bodies against their digests, and the tokens over the chain. It
// stops at the first failure and returns it as a *VerifyError naming the
// entry and, where one is at fault, the record.
//
// ExportExchange and VerifyEvidence do the same for one exchange: a small
// evidence file (the same format, kind "evidence") with the request and
// response records, the chain from them to a time-stamped head and the
// token over it.
//
// Encrypt and Decrypt wrap a whole file as a JWE (ECDH-ES+A256KW, A256GCM)
// to an auditor's public key.
package archive
