// Package mgmtproto is the wire format of jisr's management requests and the
// client security servers use to submit them to the central server.
//
// A management request is how a security server asks for a change of the
// central registry: registering its authentication certificate, registering
// or deleting a client, changing its addresses, entering or leaving
// maintenance mode, publishing a service description. The request is a JSON
// payload (Request, encoded canonically by MarshalPayload) signed as a JWS in
// the JSON general serialization (RFC 7515 §7.2.1). Every signature's
// protected header carries the signer's certificate chain (x5c, leaf first)
// and a stapled OCSP response for the leaf (jisr.ocsp), so the central server
// can check the signer without contacting anyone:
//
//   - every request is signed by the sign key of the responsible member
//     (Request.ResponsibleMember: the server owner, the client's member for
//     client requests, the provider's member for service descriptions);
//   - an authCertRegistration is signed a second time by the new
//     authentication key, whose certificate is in that signature's x5c:
//     proof of possession of both keys, because the security server cannot
//     authenticate with a certificate that is not registered yet.
//
// Sign produces the signed form, Parse decodes it without trusting anything,
// and Parsed.Verify checks signatures, certificate chains, profiles and OCSP
// against a Trust; it is what the central server (central/mgmt) builds on.
// Client submits signed requests over TLS 1.3 with the central server's
// certificate listed in the global configuration. The protocol is specified in docs/protocol.md ("Management requests").
//
// This package does not consult the registry: whether the member exists,
// whether the request id was seen before, whether the TLS peer may submit
// the request, and whether an OpenAPI document is valid are decided by the
// central server. It does not hold keys or fetch OCSP responses either; the
// caller passes them in a Signer.
package mgmtproto
