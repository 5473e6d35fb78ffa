package document

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// Status is what an issuer's registry says about a document number.
type Status string

// Registry statuses.
const (
	StatusValid   Status = "valid"
	StatusRevoked Status = "revoked"
)

// StatusReport is an issuer's answer about one document.
type StatusReport struct {
	Number string
	Type   string
	Status Status
	// RevokedAt and Reason are set for a revoked document.
	RevokedAt time.Time
	Reason    string
	// CodeSHA256 is Digest of the code the issuer issued under Number.
	CodeSHA256 string
}

// ErrUnknownDocument is wrapped by a StatusSource error when the issuer has
// no document with that number.
var ErrUnknownDocument = errors.New("document: the issuer has no such document")

// StatusSource asks a document's issuer for its status: adapters/interior
// answers at GET /v1/documents/{number}/status, and StatusClient asks it
// over HTTP (through the bus, in the portal).
//
// DocumentStatus returns an error wrapping ErrUnknownDocument when the
// issuer does not know the number; any other error means the issuer could
// not be asked.
type StatusSource interface {
	DocumentStatus(ctx context.Context, issuer xroad.MemberID, number string) (StatusReport, error)
}

// Verdict is the outcome of Verify.
type Verdict string

// Verdicts.
const (
	// Valid: genuine, registered by its issuer, not revoked.
	Valid Verdict = "valid"
	// Revoked: genuine, but its issuer has revoked it.
	Revoked Verdict = "revoked"
	// Forged: not a document the issuer signed and registered, or altered.
	Forged Verdict = "forged"
)

// Result is what Verify found.
type Result struct {
	Verdict Verdict
	// Reason says in plain English why the code is forged or revoked
	// (empty when valid); it is meant for the verifying person, not a log.
	Reason string
	// Claims are the document's claims when the signature verified (for
	// Valid and Revoked, and for codes forged only in steps 3–4); nil
	// when the code could not even be read or its signature failed.
	Claims *Claims
	// Issuer is the member whose certificate signed a Valid or Revoked
	// code.
	Issuer xroad.MemberID
	// RevokedAt is when a Revoked document was revoked.
	RevokedAt time.Time
}

// VerifyOptions is what a verifier trusts.
type VerifyOptions struct {
	// Roots are the approved CAs' trust anchors (the instance's roots from
	// the global configuration). Required.
	Roots *x509.CertPool
	// Intermediates are further intermediate CA certificates; may be nil
	// (the x5c's certificates are used too, but only Roots anchor).
	Intermediates *x509.CertPool
	// Issuers lists, per document type, the members allowed to issue it
	// (a birth certificate from the Ministry of Transport is forged even
	// if well signed). A type missing from the map is refused.
	Issuers map[string][]xroad.MemberID
	// Status asks the issuer for the document's status. Required.
	Status StatusSource
	// Now is the verification time, for the "not issued in the future"
	// check (with MaxSkew). Required.
	Now time.Time
	// MaxSkew is how far in the future a time of issue may be (clock
	// differences); zero means one minute.
	MaxSkew time.Duration
}

// Verify decides whether code is a valid, revoked or forged document (see
// the package documentation for the steps). It returns an error, and no
// verdict, only when opts is incomplete or the issuer could not be asked
// about a code that is otherwise genuine.
func Verify(ctx context.Context, code string, opts VerifyOptions) (Result, error) {
	if opts.Roots == nil || opts.Status == nil || opts.Now.IsZero() {
		return Result{}, errors.New("document: verify: roots, a status source and the time are required")
	}
	skew := opts.MaxSkew
	if skew == 0 {
		skew = time.Minute
	}
	forged := func(c *Claims, format string, args ...any) (Result, error) {
		return Result{Verdict: Forged, Claims: c, Reason: fmt.Sprintf(format, args...)}, nil
	}
	p, err := Parse(code)
	if err != nil {
		return forged(nil, "the code is not a well-formed document code")
	}
	if err := p.verifySignature(); err != nil {
		return forged(nil, "the signature does not match the document's content")
	}
	c := &p.Claims
	issued := c.IssuedTime()
	if issued.After(opts.Now.Add(skew)) {
		return forged(c, "the document claims to be issued in the future")
	}
	member, err := profile.MemberIDFromCert(p.Chain[0])
	if err != nil {
		return forged(c, "the document is not signed with a ministry's signing certificate")
	}
	inter := x509.NewCertPool()
	if opts.Intermediates != nil {
		inter = opts.Intermediates.Clone()
	}
	for _, ic := range p.Chain[1:] {
		inter.AddCert(ic)
	}
	if _, err := p.Chain[0].Verify(x509.VerifyOptions{
		Roots:         opts.Roots,
		Intermediates: inter,
		CurrentTime:   issued,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return forged(c, "the signing certificate is not issued by a trusted authority or was not valid when the document was issued")
	}
	if c.Issuer != member.String() {
		return forged(c, "the document names another issuer than the one that signed it")
	}
	if !slices.ContainsFunc(opts.Issuers[c.Type], func(m xroad.MemberID) bool { return m == member }) {
		return forged(c, "%s may not issue this type of document", member)
	}
	rep, err := opts.Status.DocumentStatus(ctx, member, c.Number)
	if errors.Is(err, ErrUnknownDocument) {
		return forged(c, "the issuer has no document with this number")
	}
	if err != nil {
		return Result{}, fmt.Errorf("document: verify: ask %s about %s: %w", member, c.Number, err)
	}
	if rep.Number != c.Number || rep.Type != c.Type || subtle.ConstantTimeCompare([]byte(rep.CodeSHA256), []byte(Digest(p.Code()))) != 1 {
		return forged(c, "the issuer registered a different document under this number")
	}
	switch rep.Status {
	case StatusValid:
		return Result{Verdict: Valid, Claims: c, Issuer: member}, nil
	case StatusRevoked:
		reason := "the issuer has revoked this document"
		if rep.Reason != "" {
			reason += ": " + rep.Reason
		}
		return Result{Verdict: Revoked, Claims: c, Issuer: member, RevokedAt: rep.RevokedAt, Reason: reason}, nil
	}
	return Result{}, fmt.Errorf("document: verify: %s reported status %q for %s", member, rep.Status, c.Number)
}
