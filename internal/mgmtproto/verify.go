package mgmtproto

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
)

// Errors Verify returns, each wrapped with context; test with errors.Is.
// Malformed requests are reported with ErrMalformed.
var (
	// ErrBadSignature: a signature does not verify with its certificate's
	// key, or its algorithm does not suit that key.
	ErrBadSignature = errors.New("mgmtproto: signature does not verify")
	// ErrMissingSignature: a signature the request type requires is
	// absent (the sign signature, or the auth signature of an
	// authCertRegistration).
	ErrMissingSignature = errors.New("mgmtproto: required signature missing")
	// ErrCertificate: a signer's certificate does not chain to a trusted
	// CA at the request's creation time or does not fit its profile.
	ErrCertificate = errors.New("mgmtproto: certificate not valid")
	// ErrWrongSigner: a valid certificate names another member or server
	// than the request needs, or the auth signature's certificate is not
	// the request's authCert.
	ErrWrongSigner = errors.New("mgmtproto: certificate names the wrong party")
	// ErrOCSP: the stapled OCSP response is not signed by the certificate's
	// issuer (or a responder it delegated), is about another certificate,
	// is not fresh, or reports the status unknown.
	ErrOCSP = errors.New("mgmtproto: OCSP response not acceptable")
	// ErrRevoked: the stapled OCSP response says the certificate is revoked.
	ErrRevoked = errors.New("mgmtproto: certificate revoked")
)

// Trust is what a verifier trusts: the approved certification authorities
// and how old an OCSP response may be.
type Trust struct {
	// Roots are the approved CAs' trust anchors.
	Roots *x509.CertPool
	// Intermediates are intermediate CA certificates of the approved CAs;
	// may be nil. Certificates from a signature's x5c are used as
	// intermediates too, but only Roots anchor a chain.
	Intermediates *x509.CertPool
	// OCSPMaxAge is how old (by thisUpdate) a stapled OCSP response may be;
	// zero or less means no limit beyond nextUpdate.
	OCSPMaxAge time.Duration
}

// Verified is what Verify established about a request.
type Verified struct {
	// Request is the verified request.
	Request *Request
	// Signer is the member whose sign certificate signed the request: the
	// request's responsible member.
	Signer xroad.MemberID
	// SignChain is the verified chain of the sign certificate, leaf first,
	// root last.
	SignChain []*x509.Certificate
	// AuthCert is the certificate of the auth signature
	// (authCertRegistration only; nil otherwise).
	AuthCert *x509.Certificate
}

// Verify checks everything about p that needs no registry:
//
//  1. every signature verifies with its certificate's key (ErrBadSignature);
//  2. exactly one signature is by a sign certificate, and, for
//     authCertRegistration only, exactly one more is by an auth certificate
//     (a missing one: ErrMissingSignature; any other combination:
//     ErrMalformed);
//  3. each signer certificate fits its profile and chains to trust.Roots at
//     the request's CreatedAt (ErrCertificate);
//  4. the sign certificate names Request.ResponsibleMember; the auth
//     certificate names Request.Server and is Request.AuthCert
//     (ErrWrongSigner);
//  5. each stapled OCSP response is signed by the certificate's issuer or a
//     responder the issuer delegated, is about that certificate, is fresh at
//     now per trust.OCSPMaxAge (ErrOCSP), and says good (revoked:
//     ErrRevoked; unknown: ErrOCSP).
//
// It does not judge CreatedAt against now, replays, or whether the members
// and servers exist; the central server does.
func (p *Parsed) Verify(trust Trust, now time.Time) (*Verified, error) {
	if trust.Roots == nil {
		return nil, fmt.Errorf("%w: no trusted roots", ErrCertificate)
	}
	if err := p.VerifySignatures(); err != nil {
		return nil, err
	}
	req := p.Request
	var signSig, authSig *Signature
	for i := range p.Signatures {
		s := &p.Signatures[i]
		kind, _, err := profile.IDFromCert(s.Chain[0])
		if err != nil {
			return nil, fmt.Errorf("%w: signature %d: %w", ErrCertificate, i, err)
		}
		switch {
		case kind == profile.Sign && signSig == nil:
			signSig = s
		case kind == profile.Auth && authSig == nil && req.Type == TypeAuthCertRegistration:
			authSig = s
		default:
			return nil, malformed("signature %d (%s certificate) is not expected on a %s request", i, kind, req.Type)
		}
	}
	if signSig == nil {
		return nil, fmt.Errorf("%w: no signature by a sign certificate of %s", ErrMissingSignature, req.ResponsibleMember())
	}
	if req.Type == TypeAuthCertRegistration && authSig == nil {
		return nil, fmt.Errorf("%w: an authCertRegistration needs a second signature by the new auth key", ErrMissingSignature)
	}

	chain, err := signSig.verifyCertificate(trust, req.CreatedAt, now)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	member, err := profile.MemberIDFromCert(chain[0])
	if err != nil {
		return nil, fmt.Errorf("%w: sign certificate: %w", ErrCertificate, err)
	}
	if want := req.ResponsibleMember(); member != want {
		return nil, fmt.Errorf("%w: request is signed by %s, a %s request must be signed by %s",
			ErrWrongSigner, member, req.Type, want)
	}
	v := &Verified{Request: req, Signer: member, SignChain: chain}

	if authSig != nil {
		achain, err := authSig.verifyCertificate(trust, req.CreatedAt, now)
		if err != nil {
			return nil, fmt.Errorf("auth certificate: %w", err)
		}
		server, err := profile.ServerIDFromCert(achain[0])
		if err != nil {
			return nil, fmt.Errorf("%w: auth certificate: %w", ErrCertificate, err)
		}
		if server != req.Server {
			return nil, fmt.Errorf("%w: auth certificate names %s, request is for %s", ErrWrongSigner, server, req.Server)
		}
		if !bytes.Equal(achain[0].Raw, req.AuthCert) {
			return nil, fmt.Errorf("%w: the auth signature is not by the certificate in authCert", ErrWrongSigner)
		}
		v.AuthCert = achain[0]
	}
	return v, nil
}

// verifyCertificate verifies s's leaf against trust at time at and its
// stapled OCSP response at now, and returns the verified chain.
func (s *Signature) verifyCertificate(trust Trust, at, now time.Time) ([]*x509.Certificate, error) {
	leaf := s.Chain[0]
	inter := x509.NewCertPool()
	if trust.Intermediates != nil {
		inter = trust.Intermediates.Clone()
	}
	for _, c := range s.Chain[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         trust.Roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	// Several chains may exist (cross-signed CAs); the OCSP response must
	// come from the issuer of one of them.
	var lastErr error
	for _, chain := range chains {
		if len(chain) < 2 {
			// A trust anchor used as a leaf: not an end-entity certificate.
			lastErr = fmt.Errorf("%w: certificate is itself a trust anchor", ErrCertificate)
			continue
		}
		if lastErr = checkOCSP(s.OCSP, leaf, chain[1], now, trust.OCSPMaxAge); lastErr == nil {
			return chain, nil
		}
	}
	return nil, lastErr
}

// checkOCSP checks a stapled response about leaf from issuer at now.
func checkOCSP(der []byte, leaf, issuer *x509.Certificate, now time.Time, maxAge time.Duration) error {
	resp, err := ocsp.ParseResponse(der, leaf, issuer)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOCSP, err)
	}
	if err := ocsp.VerifyFresh(resp, now, maxAge); err != nil {
		return fmt.Errorf("%w: %w", ErrOCSP, err)
	}
	switch resp.Status {
	case xocsp.Good:
		return nil
	case xocsp.Revoked:
		return fmt.Errorf("%w: serial %s revoked at %s", ErrRevoked, leaf.SerialNumber, resp.RevokedAt.UTC().Format(time.RFC3339))
	default:
		return fmt.Errorf("%w: the responder does not know serial %s", ErrOCSP, leaf.SerialNumber)
	}
}
