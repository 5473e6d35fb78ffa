// Package ca is the instance certificate authority of a jisr (X-Road style)
// instance, built on an embedded smallstep step-ca authority.
//
// Init creates the instance PKI once: a self-signed root, an intermediate that
// signs everything else, the OCSP responder's and the time-stamping
// authority's certificates, a TLS certificate for the CA's own HTTPS API and
// the key that signs one-time enrolment tokens. New opens an Authority over
// that PKI and a bbolt database; the Authority issues security servers'
// authentication certificates and members' signing certificates (see
// pki/profile) through two paths:
//
//   - one-time enrolment tokens (step-ca JWK provisioner "enrol"): the CA
//     operator calls NewEnrolmentToken for an identifier and hands the token to
//     the security server out of band; the token pins the identifier, so the
//     CSR cannot claim another one, and step-ca refuses a token used twice;
//   - ACME (RFC 8555, provisioner "acme", http-01 only): the operator calls
//     AllowACME to say which DNS name may enrol for which security server; the
//     server proves control of the name and asks for its auth certificate or
//     its owner's sign certificate.
//
// Every certificate passes one provisioner.CertificateEnforcer just before it
// is signed; it derives the identifier, checks it against the token or the
// ACME registration, and applies the profile, so nothing that breaks a profile
// is signed whatever the request says. The Authority also implements
// pki/ocsp.StatusSource over step-ca's issuance and revocation records.
//
// # On-disk layout
//
// Init writes PEM files into InitOptions.Dir (mode 0644, never overwritten):
//
//	root-ca.pem          the root certificate (self-signed)
//	intermediate-ca.pem  the intermediate (issuing) CA certificate
//	ocsp.pem             OCSP responder certificate, then the intermediate
//	tsa.pem              TSA certificate, then the intermediate
//	ca-tls.pem           the CA API's TLS certificate, then the intermediate
//	enrol-token.pub.pem  public key of the enrolment-token signing key (PKIX)
//
// The root's Organization is the instance code. Private keys never touch this
// directory: they live in the key store under the labels LabelRoot,
// LabelIntermediate, LabelOCSP, LabelTSA, LabelTLS and LabelEnrolToken.
//
// New keeps its state in Config.DataDir:
//
//	ca.db   bbolt database: issued and revoked certificates, used token IDs,
//	        ACME accounts/orders/challenges and the ACME registrations
//	        (table "jisr_acme_names")
//
// # Time
//
// Validity periods of everything this package signs, revocation times and
// token lifetimes come from the injected clock. Three checks inside step-ca use
// the wall clock and cannot be injected: the expiry of enrolment and renewal
// tokens (with one minute of leeway), the validity window of renewed
// certificates, and ACME object expiry.
//
// # What this package is not
//
// It is not the OCSP responder (pki/ocsp), the TSA (pki/tsa) or the security
// server's client side (pki/enrol). It exposes no step-ca admin API, SSH CA,
// SCEP or CRL endpoint.
//
// # Package-level state
//
// This package has none. step-ca keeps some of its own: a lazily initialised
// system certificate pool, and test hooks (acme.InsecurePortHTTP01 …) that
// this package never sets.
package ca
