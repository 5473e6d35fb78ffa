// Package peer is the trust layer between security servers: the mutually
// authenticated TLS 1.3 connections over which one security server (the
// consumer, X-Road's client proxy) sends exchanges to another (the provider,
// X-Road's server proxy), and the OCSP machinery both sides need for it.
//
// A peer is accepted only if, under the global configuration current at
// handshake time (DocSource.Current):
//
//  1. the connection is TLS 1.3;
//  2. its certificate chain verifies, at the injected clock's time, up to a
//     trust anchor of an approved CA (Document.ApprovedCAPool, with the
//     document's intermediates and those the peer sent) — first by
//     crypto/tls's standard verification (RootCAs / ClientCAs built from the
//     document; InsecureSkipVerify is never used), then again inside
//     tls.Config.VerifyConnection against the document of that moment,
//     because VerifyConnection also runs on resumed sessions, whose chain
//     crypto/tls does not re-verify;
//  3. the leaf fits the auth certificate profile (profile.Check with
//     profile.Auth), which refuses sign certificates that Go's verifier
//     would accept for any usage;
//  4. the SHA-256 hash of the leaf is registered for a security server
//     (Document.ServerByAuthCertHash), and that server is the one the
//     certificate names in its URI SAN;
//  5. its OCSP status is good and no older than Settings.OCSPFreshness:
//     from the response the peer stapled when that verifies and is fresh,
//     otherwise from the OCSPCache. Both sides staple: in TLS 1.3 a
//     crypto/tls server asks for the client's staple too, and a crypto/tls
//     client sends the one in its tls.Certificate, so with jisr on both
//     ends neither side normally asks a responder during a handshake.
//
// The consumer additionally verifies the provider's certificate against the
// host name or IP address it dialled (standard hostname verification; auth
// certificates carry the server's DNS names and IP addresses), checks that
// the server registered for that certificate lists the dialled address, and
// Transport.Do / Transport.CheckPeer confirm that the peer is the security
// server the caller meant.
//
// Every failure is closed and maps to one sentinel error (ErrUnknownPeer,
// ErrUntrustedChain, ErrNotAuthCert, ErrRevoked, ErrOCSPUnavailable,
// ErrWrongPeer, ErrNoConfiguration, ErrNoSignKey); ToXRoad turns an error
// into X-Road's fault codes in one place.
//
// The pieces:
//
//   - OCSPCache fetches, verifies and caches OCSP responses per (issuer,
//     serial), with failover across the responders the configuration lists
//     and one shared fetch for concurrent callers;
//   - Identity holds the security server's own auth key and chain and its
//     members' sign keys and chains, keeps an OCSP response for each, staples
//     the auth response in TLS and hands sign material to message signing;
//   - Server builds the provider side's tls.Config and tells the HTTP handler
//     which peer sent a request (Server.PeerServer);
//   - Transport is the consumer side's http.RoundTripper: pooled HTTP/2
//     connections (one handshake per peer address, not per exchange), rebuilt
//     whenever the configuration serial changes so that every live connection
//     was admitted under the configuration in use.
//
// This package is not message security: it does not sign or verify messages
// (it only hands out the sign material), decide access rights, route
// exchanges to providers, download the global configuration, or hold keys
// (keys come from a key store as crypto.Signer). Responses of OCSP responders
// that are trusted only through a certificate pinned in the configuration
// (OCSPResponder.Certificate) and not delegated by the issuer are not
// accepted yet, because pki/ocsp verifies issuer-signed and delegated
// responses only; such a responder is skipped in favour of the next one.
package peer
