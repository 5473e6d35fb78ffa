package message

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
)

// JOSE "typ" values: they bind a signature to its message kind, so a
// request signature cannot pass for a response signature or anything else.
const (
	TypeRequest  = "jisr-request+jws"
	TypeResponse = "jisr-response+jws"
)

// HeaderOCSP is the name of the private protected-header parameter carrying
// the stapled OCSP response (standard base64 of its DER). It is not listed
// in "crit": a JOSE library that does not know it still verifies the
// signature; jisr verifiers require it.
const HeaderOCSP = "jisr.ocsp"

// MaxChainLength bounds the number of certificates in x5c (the signer's
// certificate and its intermediates).
const MaxChainLength = 4

// MaxOCSPLength bounds the stapled OCSP response.
const MaxOCSPLength = ocsp.MaxResponseSize

// Signer is what signs a message on behalf of a member.
type Signer struct {
	// Key is the member's sign key (software key or HSM). ECDSA P-256 keys
	// sign with ES256, RSA keys (≥ 2048 bits) with RS256.
	Key crypto.Signer
	// Chain is the member's sign certificate followed by the intermediate
	// CA certificates up to, but not necessarily including, the root. It is
	// sent in x5c.
	Chain []*x509.Certificate
	// OCSP is a DER OCSP response for Chain[0], stapled to the signature.
	// The caller keeps it fresh; the verifier refuses a stale one.
	OCSP []byte
}

// algorithmFor returns the JWS algorithm jisr uses for a public key: ES256
// for ECDSA P-256, RS256 for RSA of at least 2048 bits (the sign profile's
// key types).
func algorithmFor(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	if err := profile.CheckPublicKey(pub); err != nil {
		return jwa.SignatureAlgorithm{}, err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return jwa.ES256(), nil
		}
	case *rsa.PublicKey:
		return jwa.RS256(), nil
	}
	return jwa.SignatureAlgorithm{}, fmt.Errorf("unsupported public key type %T", pub)
}

// check reports whether s can sign: a key, a chain whose first certificate
// fits the sign profile and holds the key's public half, and an OCSP
// response. It returns the member the certificate names.
func (s Signer) check() (xroad.MemberID, error) {
	if s.Key == nil {
		return xroad.MemberID{}, errors.New("no key")
	}
	if len(s.Chain) == 0 || len(s.Chain) > MaxChainLength {
		return xroad.MemberID{}, fmt.Errorf("want 1 to %d certificates, got %d", MaxChainLength, len(s.Chain))
	}
	for i, c := range s.Chain {
		if c == nil {
			return xroad.MemberID{}, fmt.Errorf("certificate %d is nil", i)
		}
	}
	leaf := s.Chain[0]
	m, err := profile.MemberIDFromCert(leaf)
	if err != nil {
		return xroad.MemberID{}, err
	}
	pub, ok := s.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return xroad.MemberID{}, errors.New("key does not match the sign certificate")
	}
	if len(s.OCSP) == 0 || len(s.OCSP) > MaxOCSPLength {
		return xroad.MemberID{}, fmt.Errorf("want an OCSP response of 1 to %d bytes, got %d", MaxOCSPLength, len(s.OCSP))
	}
	return m, nil
}

// SignRequest validates h and signs its canonical encoding with s, returning
// the compact JWS for HeaderSignature. The protected header is
// {"alg","jisr.ocsp","typ":TypeRequest,"x5c"}. It refuses to sign for a
// client of another member than s's certificate names.
func SignRequest(h RequestHeader, s Signer) (string, error) {
	if err := h.Validate(); err != nil {
		return "", fmt.Errorf("message: sign request: %w", err)
	}
	m, err := s.check()
	if err != nil {
		return "", fmt.Errorf("message: sign request: %w", err)
	}
	if m != h.Client.Member() {
		return "", fmt.Errorf("message: sign request: certificate names %s, client %s belongs to %s",
			m, h.Client, h.Client.Member())
	}
	return sign(h.Canonical(), TypeRequest, s)
}

// SignResponse validates h and signs its canonical encoding with s,
// returning the compact JWS for HeaderSignature. The protected header is
// {"alg","jisr.ocsp","typ":TypeResponse,"x5c"}. h.RequestDigest must be the
// digest of the request answered (Verified.Digest of that request).
func SignResponse(h ResponseHeader, s Signer) (string, error) {
	if err := h.Validate(); err != nil {
		return "", fmt.Errorf("message: sign response: %w", err)
	}
	if _, err := s.check(); err != nil {
		return "", fmt.Errorf("message: sign response: %w", err)
	}
	return sign(h.Canonical(), TypeResponse, s)
}

// sign makes the compact JWS with jwx.
func sign(payload []byte, typ string, s Signer) (string, error) {
	alg, err := algorithmFor(s.Key.Public())
	if err != nil {
		return "", fmt.Errorf("message: sign: %w", err)
	}
	var chain cert.Chain
	for _, c := range s.Chain {
		if err := chain.AddString(base64.StdEncoding.EncodeToString(c.Raw)); err != nil {
			return "", fmt.Errorf("message: sign: x5c: %w", err)
		}
	}
	hdr := jws.NewHeaders()
	for _, kv := range []struct {
		k string
		v any
	}{
		{jws.TypeKey, typ},
		{jws.X509CertChainKey, &chain},
		{HeaderOCSP, base64.StdEncoding.EncodeToString(s.OCSP)},
	} {
		if err := hdr.Set(kv.k, kv.v); err != nil {
			return "", fmt.Errorf("message: sign: header %s: %w", kv.k, err)
		}
	}
	compact, err := jws.Sign(payload, jws.WithKey(alg, s.Key, jws.WithProtectedHeaders(hdr)), jws.WithStrictECDSA(true))
	if err != nil {
		return "", fmt.Errorf("message: sign: %w", err)
	}
	// Refuse to emit what our own verifier would refuse as malformed.
	if _, err := parseCompact(string(compact), typ, nil); err != nil {
		return "", fmt.Errorf("message: sign: produced JWS does not parse: %w", err)
	}
	return string(compact), nil
}
