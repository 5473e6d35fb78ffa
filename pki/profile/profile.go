// Package profile defines jisr's two end-entity certificate profiles and the
// rule that maps a certificate to an X-Road identifier.
//
// An authentication ("auth") certificate belongs to exactly one security
// server and is used for TLS between security servers. A signing ("sign")
// certificate belongs to exactly one member and is used to sign messages.
//
// # Identity
//
// The identity of a certificate is read from one place only: a URI subject
// alternative name of the form returned by xroad.ID.URI, e.g.
//
//	auth: xroad:SERVER:PS/GOV/MOI/ss1
//	sign: xroad:MEMBER:PS/GOV/MOI
//
// A certificate matches a profile only if it carries exactly one URI SAN, that
// URI is an "xroad:" URI of the profile's object type in canonical form, and
// nothing else in the certificate contradicts the profile (see Check). The
// subject is informational: Apply sets CommonName to the identifier's header
// form ("PS/GOV/MOI/ss1") and Organization to the X-Road instance ("PS");
// Check refuses a CommonName that names anything else, but never derives the
// identity from the subject.
//
// # Profiles
//
// Auth: KeyUsage digitalSignature (plus keyEncipherment for RSA keys);
// ExtKeyUsage exactly serverAuth and clientAuth; the URI SAN; optionally DNS
// names and IP addresses (the server's addresses); no e-mail addresses.
//
// Sign: KeyUsage digitalSignature and contentCommitment (non-repudiation);
// no ExtKeyUsage extension at all, as in X-Road's signing profile; the URI SAN
// and no other SAN. Note that Go's x509 verifier treats a certificate without
// ExtKeyUsage as valid for any usage, so a relying party that must not accept
// a sign certificate for TLS has to call Check with Auth (which refuses it:
// it has no serverAuth/clientAuth and carries contentCommitment). The absence
// of an ExtKeyUsage is also what lets a sign certificate authenticate a
// step-ca renewal request (see pki/enrol).
//
// Both: not a CA; ECDSA P-256 keys (the default) or RSA keys of at least 2048
// bits; every other key type is refused.
//
// This package is deliberately light (standard library and internal/xroad
// only) because security servers import it. It does not verify chains,
// validity periods or revocation; that is the caller's job.
package profile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Kind names a certificate profile.
type Kind int

// The profiles.
const (
	// Auth is a security server's authentication (TLS) certificate.
	Auth Kind = iota + 1
	// Sign is a member's message signing certificate.
	Sign
)

// String returns "auth" or "sign".
func (k Kind) String() string {
	switch k {
	case Auth:
		return "auth"
	case Sign:
		return "sign"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// ParseKind parses "auth" or "sign".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "auth":
		return Auth, nil
	case "sign":
		return Sign, nil
	}
	return 0, fmt.Errorf("%w: unknown certificate profile %q", ErrProfile, s)
}

// ObjectType returns the X-Road object type a certificate of kind k names:
// xroad.TypeServer for Auth, xroad.TypeMember for Sign.
func (k Kind) ObjectType() xroad.ObjectType {
	switch k {
	case Auth:
		return xroad.TypeServer
	case Sign:
		return xroad.TypeMember
	}
	return ""
}

// ErrProfile is wrapped by every error reporting that a certificate, template
// or key does not fit a profile; test with errors.Is.
var ErrProfile = errors.New("certificate profile violation")

func violation(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProfile, fmt.Sprintf(format, args...))
}

// KindOf returns the profile for an identifier: Auth for a xroad.ServerID,
// Sign for a xroad.MemberID (or a xroad.ClientID without subsystem). The
// identifier is validated and returned in its canonical value type.
func KindOf(id xroad.ID) (Kind, xroad.ID, error) {
	if id == nil {
		return 0, nil, violation("no identifier")
	}
	var k Kind
	switch v := id.(type) {
	case xroad.ServerID:
		k = Auth
	case xroad.MemberID:
		k = Sign
	case xroad.ClientID:
		if v.IsSubsystem() {
			return 0, nil, violation("%s: certificates name members or security servers, not subsystems", id.Typed())
		}
		id, k = v.Member(), Sign
	default:
		return 0, nil, violation("%s: certificates name members or security servers only", id.Typed())
	}
	if err := id.Validate(); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrProfile, err)
	}
	return k, id, nil
}

// instanceOf returns the X-Road instance of a member or server identifier.
func instanceOf(id xroad.ID) string {
	switch v := id.(type) {
	case xroad.ServerID:
		return v.Owner.Instance
	case xroad.MemberID:
		return v.Instance
	}
	return ""
}

// Instance returns the X-Road instance an identifier accepted by KindOf
// belongs to, or "" for any other identifier.
func Instance(id xroad.ID) string { return instanceOf(id) }

// CheckPublicKey accepts ECDSA P-256 and RSA keys of at least 2048 bits.
func CheckPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return violation("ECDSA key on curve %s; only P-256 is accepted", k.Curve.Params().Name)
		}
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return violation("RSA key of %d bits; at least 2048 are required", k.N.BitLen())
		}
		return nil
	default:
		return violation("key type %T not accepted; use ECDSA P-256 or RSA", pub)
	}
}

// keyUsage returns the exact KeyUsage of profile k for a public key.
func keyUsage(k Kind, pub crypto.PublicKey) x509.KeyUsage {
	switch k {
	case Auth:
		if _, ok := pub.(*rsa.PublicKey); ok {
			return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		}
		return x509.KeyUsageDigitalSignature
	case Sign:
		return x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	}
	return 0
}

// Subject returns the subject Apply gives a certificate naming id:
// CN = header form of id, O = its instance.
func Subject(id xroad.ID) pkix.Name {
	return pkix.Name{CommonName: id.String(), Organization: []string{instanceOf(id)}}
}

// Apply makes a certificate template fit profile kind for identifier id: it
// sets the subject, the single xroad URI SAN, KeyUsage and ExtKeyUsage,
// removes e-mail SANs and (for Sign) DNS names and IP addresses, and clears
// the CA flags. tmpl.PublicKey must already be set: Apply refuses key types
// the profiles do not accept and picks KeyUsage by key type. DNS names and IP
// addresses of an Auth template are kept. It fails if id is not of the
// profile's type.
func Apply(tmpl *x509.Certificate, kind Kind, id xroad.ID) error {
	k, id, err := KindOf(id)
	if err != nil {
		return err
	}
	if k != kind {
		return violation("a %s certificate cannot name %s", kind, id.Typed())
	}
	if err := CheckPublicKey(tmpl.PublicKey); err != nil {
		return err
	}
	u, err := url.Parse(id.URI())
	if err != nil {
		return fmt.Errorf("%w: identifier URI %q: %w", ErrProfile, id.URI(), err)
	}
	tmpl.Subject = Subject(id)
	tmpl.RawSubject = nil
	tmpl.URIs = []*url.URL{u}
	tmpl.EmailAddresses = nil
	tmpl.KeyUsage = keyUsage(kind, tmpl.PublicKey)
	tmpl.UnknownExtKeyUsage = nil
	switch kind {
	case Auth:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	case Sign:
		tmpl.ExtKeyUsage = nil
		tmpl.DNSNames = nil
		tmpl.IPAddresses = nil
	}
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	tmpl.MaxPathLen = 0
	tmpl.MaxPathLenZero = false
	// Drop raw extensions that would override what was just set.
	tmpl.ExtraExtensions = slices.DeleteFunc(tmpl.ExtraExtensions, func(e pkix.Extension) bool {
		return e.Id.Equal(oidSubjectAltName) || e.Id.Equal(oidKeyUsage) ||
			e.Id.Equal(oidExtKeyUsage) || e.Id.Equal(oidBasicConstraints)
	})
	return nil
}

var (
	oidKeyUsage         = []int{2, 5, 29, 15}
	oidSubjectAltName   = []int{2, 5, 29, 17}
	oidBasicConstraints = []int{2, 5, 29, 19}
	oidExtKeyUsage      = []int{2, 5, 29, 37}
)

// IDFromURIs reads the identity from a certificate's URI SANs: there must be
// exactly one URI, an "xroad:" URI of a member or security server in canonical
// form. It returns the profile the identifier implies.
func IDFromURIs(uris []*url.URL) (Kind, xroad.ID, error) {
	if len(uris) != 1 {
		return 0, nil, violation("want exactly one URI subject alternative name, got %d", len(uris))
	}
	s := uris[0].String()
	if !strings.HasPrefix(s, xroad.URIScheme+":") {
		return 0, nil, violation("URI %q is not an %s: URI", s, xroad.URIScheme)
	}
	id, err := xroad.ParseURI(s)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrProfile, err)
	}
	k, id, err := KindOf(id)
	if err != nil {
		return 0, nil, err
	}
	if id.URI() != s {
		return 0, nil, violation("URI %q is not in canonical form %q", s, id.URI())
	}
	return k, id, nil
}

// IDFromCert checks cert against the profile its identifier implies and
// returns both. It is Check for callers that accept either kind.
func IDFromCert(cert *x509.Certificate) (Kind, xroad.ID, error) {
	if cert == nil {
		return 0, nil, violation("no certificate")
	}
	k, id, err := IDFromURIs(cert.URIs)
	if err != nil {
		return 0, nil, err
	}
	if err := checkRest(cert, k, id); err != nil {
		return 0, nil, err
	}
	return k, id, nil
}

// Check reports whether cert fits profile kind (see the package
// documentation). It does not verify the chain, validity or revocation.
func Check(cert *x509.Certificate, kind Kind) error {
	k, _, err := IDFromCert(cert)
	if err != nil {
		return err
	}
	if k != kind {
		return violation("certificate is a %s certificate, not a %s certificate", k, kind)
	}
	return nil
}

// ServerIDFromCert returns the security server an auth certificate names.
// It fails unless cert fits the Auth profile.
func ServerIDFromCert(cert *x509.Certificate) (xroad.ServerID, error) {
	k, id, err := IDFromCert(cert)
	if err != nil {
		return xroad.ServerID{}, err
	}
	s, ok := id.(xroad.ServerID)
	if k != Auth || !ok {
		return xroad.ServerID{}, violation("not an auth certificate: it names %s", id.Typed())
	}
	return s, nil
}

// MemberIDFromCert returns the member a sign certificate names. It fails
// unless cert fits the Sign profile.
func MemberIDFromCert(cert *x509.Certificate) (xroad.MemberID, error) {
	k, id, err := IDFromCert(cert)
	if err != nil {
		return xroad.MemberID{}, err
	}
	m, ok := id.(xroad.MemberID)
	if k != Sign || !ok {
		return xroad.MemberID{}, violation("not a sign certificate: it names %s", id.Typed())
	}
	return m, nil
}

// checkRest checks everything but the URI SAN, which the caller has read.
func checkRest(cert *x509.Certificate, k Kind, id xroad.ID) error {
	if err := CheckPublicKey(cert.PublicKey); err != nil {
		return err
	}
	if cert.IsCA {
		return violation("%s certificate must not be a CA", k)
	}
	if cn := cert.Subject.CommonName; cn != "" && cn != id.String() {
		return violation("subject CN %q does not match the identifier %q", cn, id.String())
	}
	if len(cert.EmailAddresses) > 0 {
		return violation("%s certificate must not carry e-mail addresses", k)
	}
	if len(cert.UnknownExtKeyUsage) > 0 {
		return violation("%s certificate carries unexpected extended key usages %v", k, cert.UnknownExtKeyUsage)
	}
	if want := keyUsage(k, cert.PublicKey); cert.KeyUsage != want {
		return violation("%s certificate KeyUsage is %#x, want %#x", k, cert.KeyUsage, want)
	}
	switch k {
	case Auth:
		want := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		got := slices.Clone(cert.ExtKeyUsage)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return violation("auth certificate ExtKeyUsage is %v, want serverAuth and clientAuth", cert.ExtKeyUsage)
		}
	case Sign:
		if len(cert.ExtKeyUsage) > 0 {
			return violation("sign certificate must not carry an ExtKeyUsage, has %v", cert.ExtKeyUsage)
		}
		if len(cert.DNSNames) > 0 || len(cert.IPAddresses) > 0 {
			return violation("sign certificate must not carry DNS names or IP addresses")
		}
	}
	return nil
}
