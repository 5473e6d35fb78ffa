// Package document issues and verifies the signed codes that make the demo
// world's certified documents (birth certificates, civil-registry extracts)
// checkable by anyone: the code printed on a document, as text and as a QR
// image, is a compact JWS (RFC 7515) over the document's essentials —
// issuer, type, unique number, national ID, name, time of issue — signed
// with the issuing ministry's member signing key, with the certificate
// chain in the x5c header.
//
// Verify decides whether a code is valid, revoked or forged, given the
// instance's trust roots (the CAs the global configuration approves) and a
// way to ask the issuer for the document's status:
//
//  1. the code must parse in exactly the form Sign writes it (canonical
//     header and payload, no extra members);
//  2. the signature must verify with the key of the first x5c certificate;
//  3. that certificate must fit jisr's sign profile, chain to the trust
//     roots as of the document's issue time, and name the member that the
//     payload names as issuer; the member must be one allowed to issue that
//     type of document;
//  4. the issuer's registry must know the document number, hold the same
//     code (by SHA-256), and say whether it has been revoked.
//
// Any failure of 1–3, an unknown number or a different code is "forged";
// a registered code marked revoked is "revoked"; otherwise "valid". When
// the issuer cannot be asked, Verify returns an error instead of a verdict:
// a verifier must not call a document valid it could not check.
//
// Step 4 is what makes a stolen or expired signing key insufficient for a
// forger: only documents the ministry registered are valid. It also lets a
// document outlive its signing certificate: the chain is checked at the
// time of issue, not at the time of verification.
package document

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/jisr-bus/jisr/adapters/nationalid"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// JOSEType is the "typ" protected header of every document code. It binds
// the signature to documents: a ministry's signature over a message or a
// management request cannot be passed off as a document, nor the reverse.
const JOSEType = "jisr.document+json"

// Version is the payload version this package writes and reads.
const Version = 1

// Document types.
const (
	TypeBirthCertificate     = "birth-certificate"
	TypeCivilRegistryExtract = "civil-registry-extract"
)

// Kinds of a birth certificate.
const (
	KindNew  = "new"
	KindCopy = "copy"
)

// Limits of the code.
const (
	// MaxCodeSize bounds a code: two P-256 certificates and the claims fit
	// in under 3 KiB.
	MaxCodeSize = 8 << 10
	// MaxChainLength bounds the x5c.
	MaxChainLength = 4
	// MaxNumberLength bounds a document number.
	MaxNumberLength = 64
	// MaxNameLength bounds each language's name.
	MaxNameLength = 256
)

// Name is a person's name in Arabic and English.
type Name struct {
	AR string `json:"ar"`
	EN string `json:"en"`
}

// Claims are what a document code asserts. The JSON member order is the
// canonical order of the payload.
type Claims struct {
	// Version is the payload version (Version).
	Version int `json:"v"`
	// Issuer is the issuing member in header form ("PS/GOV/MOI"); Sign
	// sets it from the signing certificate.
	Issuer string `json:"iss"`
	// Type is the document type (TypeBirthCertificate, …).
	Type string `json:"type"`
	// Number is the document's unique number at its issuer.
	Number string `json:"num"`
	// Kind is KindNew or KindCopy for a birth certificate; empty for
	// other types.
	Kind string `json:"kind,omitempty"`
	// NationalID is the national ID of the person the document is about.
	NationalID string `json:"nid"`
	// Name is that person's full name.
	Name Name `json:"name"`
	// IssuedAt is the time of issue, Unix seconds.
	IssuedAt int64 `json:"iat"`
}

// IssuedTime returns IssuedAt as a time.
func (c *Claims) IssuedTime() time.Time { return time.Unix(c.IssuedAt, 0).UTC() }

// check validates the claims' fields (not the issuer's identity).
func (c *Claims) check() error {
	if c.Version != Version {
		return fmt.Errorf("payload version %d, want %d", c.Version, Version)
	}
	switch c.Type {
	case TypeBirthCertificate:
		if c.Kind != KindNew && c.Kind != KindCopy {
			return fmt.Errorf("birth certificate kind %q, want %s or %s", c.Kind, KindNew, KindCopy)
		}
	case TypeCivilRegistryExtract:
		if c.Kind != "" {
			return errors.New("an extract has no kind")
		}
	default:
		return fmt.Errorf("unknown document type %q", c.Type)
	}
	if c.Number == "" || len(c.Number) > MaxNumberLength || !printable(c.Number) {
		return errors.New("document number missing, too long or not printable ASCII")
	}
	if _, err := nationalid.Parse(c.NationalID); err != nil {
		return fmt.Errorf("national ID: %w", err)
	}
	if c.Name.AR == "" || c.Name.EN == "" || len(c.Name.AR) > MaxNameLength || len(c.Name.EN) > MaxNameLength {
		return errors.New("name missing or too long")
	}
	if c.IssuedAt <= 0 {
		return errors.New("time of issue missing")
	}
	if _, err := xroad.ParseMember(c.Issuer); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// protectedHeader is the only protected header Sign writes and Parse
// accepts, in canonical member order.
type protectedHeader struct {
	Alg string   `json:"alg"`
	Typ string   `json:"typ"`
	X5C []string `json:"x5c"`
}

// Issuer signs document codes for one member.
type Issuer struct {
	key    crypto.Signer
	chain  []*x509.Certificate
	member xroad.MemberID
	alg    jwa.SignatureAlgorithm
	x5c    cert.Chain
}

// NewIssuer returns an Issuer signing with key, whose certificate is
// chain[0] (then its issuers, not necessarily the root). The certificate
// must fit jisr's sign profile (pki/profile): the member it names is the
// documents' issuer.
func NewIssuer(key crypto.Signer, chain []*x509.Certificate) (*Issuer, error) {
	if key == nil || len(chain) == 0 || chain[0] == nil {
		return nil, errors.New("document: an issuer needs a key and its certificate chain")
	}
	if len(chain) > MaxChainLength {
		return nil, fmt.Errorf("document: certificate chain longer than %d", MaxChainLength)
	}
	member, err := profile.MemberIDFromCert(chain[0])
	if err != nil {
		return nil, fmt.Errorf("document: signing certificate: %w", err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := key.Public().(equaler); !ok || !e.Equal(chain[0].PublicKey) {
		return nil, errors.New("document: the key does not match the signing certificate")
	}
	alg, err := algorithmFor(key.Public())
	if err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	is := &Issuer{key: key, chain: chain, member: member, alg: alg}
	for i, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("document: certificate %d of the chain is missing", i)
		}
		if err := is.x5c.AddString(base64.StdEncoding.EncodeToString(c.Raw)); err != nil {
			return nil, fmt.Errorf("document: certificate %d of the chain: %w", i, err)
		}
	}
	return is, nil
}

// Member returns the member the issuer signs for.
func (is *Issuer) Member() xroad.MemberID { return is.member }

// NotAfter returns the expiry of the signing certificate: documents cannot
// be signed after it.
func (is *Issuer) NotAfter() time.Time { return is.chain[0].NotAfter }

// Sign returns the code for c: Version and Issuer are set here, the other
// fields must be valid, and IssuedAt must fall within the signing
// certificate's validity.
func (is *Issuer) Sign(c Claims) (string, error) {
	c.Version = Version
	c.Issuer = is.member.String()
	if err := c.check(); err != nil {
		return "", fmt.Errorf("document: sign: %w", err)
	}
	if t := c.IssuedTime(); t.Before(is.chain[0].NotBefore) || t.After(is.chain[0].NotAfter) {
		return "", errors.New("document: sign: the signing certificate is not valid at the time of issue")
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("document: sign: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, JOSEType); err != nil {
		return "", fmt.Errorf("document: sign: %w", err)
	}
	if err := hdr.Set(jws.X509CertChainKey, &is.x5c); err != nil {
		return "", fmt.Errorf("document: sign: %w", err)
	}
	compact, err := jws.Sign(payload, jws.WithKey(is.alg, is.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("document: sign: %w", err)
	}
	code := string(compact)
	// Check what was produced against the strict parser, so a change in
	// how jwx writes headers shows up here and not at a verifier.
	p, err := Parse(code)
	if err != nil {
		return "", fmt.Errorf("document: sign: produced an unparsable code: %w", err)
	}
	if err := p.verifySignature(); err != nil {
		return "", fmt.Errorf("document: sign: %w", err)
	}
	return code, nil
}

// algorithmFor returns the JWS algorithm for a key the sign profile
// accepts: ES256 for ECDSA P-256, RS256 for RSA of at least 2048 bits.
func algorithmFor(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return jwa.ES256(), nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return jwa.RS256(), nil
		}
	}
	return jwa.SignatureAlgorithm{}, fmt.Errorf("key type %T not supported; want ECDSA P-256 or RSA ≥ 2048", pub)
}

// ErrMalformed is wrapped by Parse errors.
var ErrMalformed = errors.New("document: malformed code")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Parsed is a code decoded without trusting it.
type Parsed struct {
	// Claims are the payload's claims.
	Claims Claims
	// Chain is the x5c: the signer's certificate first.
	Chain []*x509.Certificate

	alg     jwa.SignatureAlgorithm
	compact string
}

// Parse decodes a code without verifying anything. It accepts only the
// form Sign writes: compact serialization, base64url without padding, a
// protected header of exactly {"alg","typ","x5c"} with typ JOSEType and alg
// ES256 or RS256, 1 to MaxChainLength certificates, and a payload that is
// exactly the canonical JSON of valid Claims. White space around the code
// is ignored (codes are typed in and scanned).
func Parse(code string) (*Parsed, error) {
	code = strings.TrimSpace(code)
	if len(code) > MaxCodeSize {
		return nil, malformed("code longer than %d bytes", MaxCodeSize)
	}
	parts := strings.Split(code, ".")
	if len(parts) != 3 {
		return nil, malformed("not a compact JWS (want three dot-separated parts)")
	}
	b64 := base64.RawURLEncoding.Strict()
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, malformed("header is not base64url")
	}
	var h protectedHeader
	if err := strictJSON(hb, &h); err != nil {
		return nil, malformed("header: %v", err)
	}
	if canon, err := json.Marshal(h); err != nil || !bytes.Equal(canon, hb) {
		return nil, malformed(`header is not exactly {"alg","typ","x5c"}`)
	}
	if h.Typ != JOSEType {
		return nil, malformed("typ %q, want %q", h.Typ, JOSEType)
	}
	p := &Parsed{compact: code}
	switch h.Alg {
	case jwa.ES256().String():
		p.alg = jwa.ES256()
	case jwa.RS256().String():
		p.alg = jwa.RS256()
	default:
		return nil, malformed("alg %q not accepted", h.Alg)
	}
	if len(h.X5C) == 0 || len(h.X5C) > MaxChainLength {
		return nil, malformed("x5c must hold 1 to %d certificates", MaxChainLength)
	}
	for i, c := range h.X5C {
		der, err := base64.StdEncoding.Strict().DecodeString(c)
		if err != nil {
			return nil, malformed("x5c[%d] is not standard base64", i)
		}
		crt, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, malformed("x5c[%d]: %v", i, err)
		}
		p.Chain = append(p.Chain, crt)
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, malformed("payload is not base64url")
	}
	if err := strictJSON(pb, &p.Claims); err != nil {
		return nil, malformed("payload: %v", err)
	}
	if canon, err := json.Marshal(p.Claims); err != nil || !bytes.Equal(canon, pb) {
		return nil, malformed("payload is not in canonical form")
	}
	if err := p.Claims.check(); err != nil {
		return nil, malformed("payload: %v", err)
	}
	if _, err := b64.DecodeString(parts[2]); err != nil {
		return nil, malformed("signature is not base64url")
	}
	return p, nil
}

// Code returns the code as parsed (white space trimmed).
func (p *Parsed) Code() string { return p.compact }

// verifySignature checks the signature with the first certificate's key.
func (p *Parsed) verifySignature() error {
	pub := p.Chain[0].PublicKey
	alg, err := algorithmFor(pub)
	if err != nil {
		return err
	}
	if alg != p.alg {
		return fmt.Errorf("alg %s does not suit the certificate's key", p.alg)
	}
	if _, err := jws.VerifyCompactFast(pub, []byte(p.compact), alg); err != nil {
		return fmt.Errorf("signature does not verify: %w", err)
	}
	return nil
}

// Digest returns the lower-case hex SHA-256 of a code (white space
// trimmed): what an issuer registers and a status report carries.
func Digest(code string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(code)))
	return hex.EncodeToString(sum[:])
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}
