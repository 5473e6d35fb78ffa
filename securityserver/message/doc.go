// Package message is jisr's signed message format between security servers
// ("jisr/1"): what a consumer security server sends to a provider security
// server for one X-Road REST r1 exchange, what comes back, and how either
// side checks what it received.
//
// Every request and every response carries a JWS (RFC 7515, compact
// serialization) made with the sending member's sign key. Its payload is the
// canonical encoding of a RequestHeader or ResponseHeader: protocol version,
// message id, client, service, user id, issue, represented party, time,
// method, path, query, end-to-end HTTP headers and the body's SHA-256 digest
// and size; a response header also carries the digest of the request it
// answers, so it cannot be replayed against another request. The signer's
// certificate chain (x5c) and a stapled OCSP response ("jisr.ocsp") travel in
// the JWS protected header, so the signature is checkable offline by any JOSE
// library given the certificate, and completely by Verifier given the
// approved CAs. docs/protocol.md ("Signed messages between security servers") is the wire specification.
//
// The package provides:
//
//   - Spool, which reads a body once, to memory up to a limit and then to a
//     temporary file, computing its SHA-256 and SHA-512 digests on the way;
//   - RequestHeader and ResponseHeader with their canonical encoding
//     (Canonical, ParseCanonicalRequest, ParseCanonicalResponse) and their
//     HTTP mapping (EncodeRequest, DecodeRequest, EncodeResponse,
//     DecodeResponse), with EndToEnd and FilterHeaders deciding which HTTP
//     headers travel end to end;
//   - SignRequest and SignResponse, and Verifier.VerifyRequest and
//     Verifier.VerifyResponse, each refusal wrapping one exported sentinel
//     error;
//   - ReplayGuard and its in-memory implementation ReplayCache;
//   - RequestHash, X-Road's X-Road-Request-Hash for REST clients;
//   - ToXRoad, the one place where this package's errors become X-Road
//     error codes.
//
// It is not a proxy: it does not open connections, route, check access
// rights, write the message log, fetch OCSP responses or read the global
// configuration. The caller supplies keys, certificates, the stapled OCSP
// response, the approved CAs and the clock, and forwards what it decoded
// (RequestHeader.Headers, never the raw received headers).
package message
