// Package mgmt is the central server's side of management requests: the
// only way security servers change the registry.
//
// A Processor receives signed requests (internal/mgmtproto) over HTTPS,
// checks them completely before storing anything, stores accepted ones as
// PENDING in the registry, and applies a request to the registry when a
// registration officer approves it (or at once, with Config.AutoApprove).
// Applying and recording the decision happen in one registry transaction;
// a request whose preconditions no longer hold when it is approved (its
// server was deleted, its client is already registered, …) is recorded as
// FAILED with the reason, and the registry is left unchanged.
//
// # Checks on submission
//
// In this order; the first that fails decides the error code (see the
// table below):
//
//  1. the body is a signed request in the form of mgmtproto.Parse;
//  2. its createdAt is within Config.MaxClockSkew of the central clock;
//  3. a TLS-authenticated peer must be the request's server; every type
//     but authCertRegistration requires one (the peer's authentication
//     certificate chains to an approved CA, fits the auth profile and is
//     registered for that server: TLSConfig and Handler check it);
//  4. signatures, certificate chains (to the registry's approved CAs at
//     createdAt), profiles, signer identities and stapled OCSP responses
//     (good, fresh per the registry's OCSP freshness) as
//     mgmtproto.Parsed.Verify defines them;
//  5. serviceDescriptionPublish: the OpenAPI document loads and validates
//     (kin-openapi, external references refused);
//  6. in one registry transaction: the responsible member exists; an
//     authCertRegistration's certificate is not registered yet; a service's
//     provider subsystem is hosted by the request's server; the request id
//     was not submitted by that server before; then the request is stored.
//
// Replay protection (step 6) scans the management requests the server has
// submitted, because the registry schema has no column for the request id:
// the id is read from each stored payload. The cost grows with the number
// of requests a server has ever submitted (thousands are fine). Together
// with step 2, a captured request can be neither replayed later nor
// resubmitted within the window.
//
// # Error codes
//
// Refusals are *xerr.Error values, written to the wire by xerr.Write
// (status 400 for Client.*, 500 for Server.*):
//
//	Client.InvalidRequest               malformed body, wrong Content-Type, too large, auth cert already registered
//	Client.InvalidRequestTime           createdAt further than the maximum clock skew from the central clock
//	Client.InvalidSignatureValue        a signature does not verify
//	Client.MissingSignature             the sign signature, or the auth signature of an authCertRegistration, is missing
//	Client.CertValidation               a signer certificate: untrusted chain, wrong profile, wrong member or server,
//	                                    revoked, or its OCSP response unusable or stale
//	Client.UnknownMember                the responsible member is not in the registry
//	Client.DuplicateRequestId           the server already submitted a request with this id
//	Client.InvalidServiceDescription    the OpenAPI document does not load or validate
//	Server.ServerProxy.AccessDenied     no or another TLS-authenticated server; provider subsystem not on that server;
//	                                    status of a request that is not the caller's (or does not exist)
//	Server.DatabaseError                the registry failed
//	Server.InternalError                anything else
//
// This package does not authenticate registration officers (the admin API
// calls Approve and Reject), fetch OCSP responses (security servers staple
// them), or publish the global configuration.
package mgmt
