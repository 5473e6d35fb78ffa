package mgmtproto

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// MediaType is the Content-Type of a signed request on the wire.
const MediaType = "application/jose+json"

// JOSEType is the "typ" protected header of every signature. It binds the
// signature to management requests, so a member's signature over a
// management request cannot be passed off as anything else.
const JOSEType = "jisr.mgmt+json"

// HeaderOCSP is the protected header member carrying the standard base64 DER
// OCSP response for the signer's certificate.
const HeaderOCSP = "jisr.ocsp"

// Limits of the signed form.
const (
	// MaxSignatures is the most signatures a request may carry (the sign
	// signature, and the auth signature of an authCertRegistration).
	MaxSignatures = 2
	// MaxChainLength is the most certificates an x5c may hold.
	MaxChainLength = 5
	maxCertSize    = 16 << 10
	maxOCSPSize    = 16 << 10
	// maxHeaderSize bounds a base64url protected header: certificates and
	// OCSP response in standard base64 inside JSON, then base64url again.
	maxHeaderSize = ((MaxChainLength*maxCertSize+maxOCSPSize)*4/3 + 1024) * 4 / 3
)

// Signer is one signature to put on a request.
type Signer struct {
	// Key is the private key (software key store or HSM): ECDSA P-256
	// (signed with ES256) or RSA of at least 2048 bits (RS256).
	Key crypto.Signer
	// Chain is the key's certificate first, then its issuers up to (but
	// not necessarily including) the root, as it goes into x5c.
	Chain []*x509.Certificate
	// OCSP is a DER OCSP response about Chain[0] from its issuer's
	// responder, stapled as proof that the certificate is not revoked. It
	// must be fresh enough for the central server's OCSP freshness setting.
	OCSP []byte
}

// envelope is the JWS JSON general serialization (RFC 7515 §7.2.1) as this
// package writes and reads it: no unprotected headers, payload always
// present and base64url encoded.
type envelope struct {
	Payload    string              `json:"payload"`
	Signatures []envelopeSignature `json:"signatures"`
}

type envelopeSignature struct {
	Protected string `json:"protected"`
	Signature string `json:"signature"`
}

// protectedHeader is the only protected header this package writes and
// accepts. The member order is the canonical one (jwx writes members sorted
// by name, and so does this struct).
type protectedHeader struct {
	Alg  string   `json:"alg"`
	OCSP string   `json:"jisr.ocsp"`
	Typ  string   `json:"typ"`
	X5C  []string `json:"x5c"`
}

// algorithmFor returns the JWS algorithm used for a public key: ES256 for
// ECDSA P-256, RS256 for RSA of at least 2048 bits. These are the keys the
// certificate profiles accept.
func algorithmFor(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return jwa.ES256(), nil
		}
		return jwa.SignatureAlgorithm{}, fmt.Errorf("ECDSA curve %s not supported; use P-256", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return jwa.RS256(), nil
		}
		return jwa.SignatureAlgorithm{}, fmt.Errorf("RSA key of %d bits; at least 2048 are required", k.N.BitLen())
	}
	return jwa.SignatureAlgorithm{}, fmt.Errorf("key type %T not supported; use ECDSA P-256 or RSA", pub)
}

// Sign encodes req (MarshalPayload) and signs it once with every signer, in
// order, returning the JWS in the JSON general serialization (one signature
// per signer, even for one). Each protected header is exactly
// {"alg","jisr.ocsp","typ","x5c"}. Sign checks that each signer's key
// matches its certificate and that the result parses, but not that the
// signers are the ones the request type needs or that their certificates
// are trusted: that is Parsed.Verify's job.
func Sign(req Request, signers []Signer) ([]byte, error) {
	if len(signers) == 0 || len(signers) > MaxSignatures {
		return nil, fmt.Errorf("mgmtproto: sign: want 1 to %d signers, got %d", MaxSignatures, len(signers))
	}
	payload, err := MarshalPayload(&req)
	if err != nil {
		return nil, fmt.Errorf("mgmtproto: sign: %w", err)
	}
	env := envelope{Signatures: make([]envelopeSignature, 0, len(signers))}
	for i, s := range signers {
		protected, b64payload, sig, err := signOne(payload, s)
		if err != nil {
			return nil, fmt.Errorf("mgmtproto: sign: signer %d: %w", i, err)
		}
		env.Payload = b64payload
		env.Signatures = append(env.Signatures, envelopeSignature{Protected: protected, Signature: sig})
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("mgmtproto: sign: %w", err)
	}
	// Check what was produced, so a change in how jwx writes headers shows
	// up here and not at the central server.
	p, err := Parse(out)
	if err != nil {
		return nil, fmt.Errorf("mgmtproto: sign: produced an unparsable request: %w", err)
	}
	if err := p.VerifySignatures(); err != nil {
		return nil, fmt.Errorf("mgmtproto: sign: %w", err)
	}
	return out, nil
}

// signOne signs payload through jwx and returns the three base64url parts of
// the compact form.
func signOne(payload []byte, s Signer) (protected, b64payload, sig string, err error) {
	if s.Key == nil || len(s.Chain) == 0 || s.Chain[0] == nil {
		return "", "", "", errors.New("a signer needs a key and a certificate chain")
	}
	if len(s.Chain) > MaxChainLength {
		return "", "", "", fmt.Errorf("certificate chain longer than %d", MaxChainLength)
	}
	if len(s.OCSP) == 0 || len(s.OCSP) > maxOCSPSize {
		return "", "", "", fmt.Errorf("a signer needs an OCSP response of 1 to %d bytes", maxOCSPSize)
	}
	pub := s.Key.Public()
	if !publicKeysEqual(pub, s.Chain[0].PublicKey) {
		return "", "", "", errors.New("the key does not match the certificate Chain[0]")
	}
	alg, err := algorithmFor(pub)
	if err != nil {
		return "", "", "", err
	}
	var chain cert.Chain
	for i, c := range s.Chain {
		if c == nil || len(c.Raw) > maxCertSize {
			return "", "", "", fmt.Errorf("certificate %d of the chain is missing or larger than %d bytes", i, maxCertSize)
		}
		if err := chain.AddString(base64.StdEncoding.EncodeToString(c.Raw)); err != nil {
			return "", "", "", fmt.Errorf("certificate %d of the chain: %w", i, err)
		}
	}
	hdr := jws.NewHeaders()
	for _, kv := range []struct {
		k string
		v any
	}{
		{jws.TypeKey, JOSEType},
		{jws.X509CertChainKey, &chain},
		{HeaderOCSP, base64.StdEncoding.EncodeToString(s.OCSP)},
	} {
		if err := hdr.Set(kv.k, kv.v); err != nil {
			return "", "", "", fmt.Errorf("setting header %s: %w", kv.k, err)
		}
	}
	compact, err := jws.Sign(payload, jws.WithKey(alg, s.Key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", "", "", err
	}
	parts := bytes.Split(compact, []byte("."))
	if len(parts) != 3 {
		return "", "", "", errors.New("unexpected compact serialization")
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}

// publicKeysEqual compares two public keys of the types the profiles allow.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// Parsed is a signed request decoded without trusting anything: the
// signatures are not verified and the certificates not checked until
// VerifySignatures or Verify is called.
type Parsed struct {
	// Request is the decoded payload.
	Request *Request
	// Payload is the payload exactly as signed (canonical JSON).
	Payload []byte
	// Signatures are the signatures in the order they appear.
	Signatures []Signature

	env envelope
}

// Signature is one signature of a Parsed request, with what its protected
// header claims.
type Signature struct {
	// Algorithm is the JWS "alg": ES256 or RS256.
	Algorithm string
	// Chain is the x5c: the signer's certificate first, then issuers.
	Chain []*x509.Certificate
	// OCSP is the stapled DER OCSP response (jisr.ocsp) for Chain[0].
	OCSP []byte

	alg       jwa.SignatureAlgorithm
	protected string
	signature string
}

// Parse decodes a signed request without trusting it. It accepts only the
// form Sign writes (docs/protocol.md): the JSON general serialization in
// canonical form ({"payload","signatures"} and {"protected","signature"}
// only, in this order, no white space), 1 to MaxSignatures signatures,
// base64url without padding, each protected header exactly
// {"alg","jisr.ocsp","typ","x5c"} with typ JOSEType, alg ES256 or RS256, 1 to
// MaxChainLength certificates and an OCSP response, and a canonical payload
// (ParsePayload). Parse(b) succeeding implies Marshal returns b. Errors wrap
// ErrMalformed.
func Parse(signed []byte) (*Parsed, error) {
	if len(signed) > MaxSignedSize {
		return nil, malformed("signed request larger than %d bytes", MaxSignedSize)
	}
	var env envelope
	if err := strictUnmarshal(signed, &env); err != nil {
		return nil, fmt.Errorf("%w: not a JWS in the JSON general serialization: %w", ErrMalformed, err)
	}
	if canon, err := json.Marshal(env); err != nil || !bytes.Equal(canon, signed) {
		return nil, malformed("JWS is not in canonical form")
	}
	if len(env.Signatures) == 0 || len(env.Signatures) > MaxSignatures {
		return nil, malformed("want 1 to %d signatures, got %d", MaxSignatures, len(env.Signatures))
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	req, err := ParsePayload(payload)
	if err != nil {
		return nil, err
	}
	p := &Parsed{Request: req, Payload: payload, env: env, Signatures: make([]Signature, 0, len(env.Signatures))}
	for i, es := range env.Signatures {
		s, err := parseSignature(es)
		if err != nil {
			return nil, fmt.Errorf("signature %d: %w", i, err)
		}
		p.Signatures = append(p.Signatures, s)
	}
	return p, nil
}

func parseSignature(es envelopeSignature) (Signature, error) {
	if _, err := base64.RawURLEncoding.Strict().DecodeString(es.Signature); err != nil {
		return Signature{}, fmt.Errorf("%w: signature value: %w", ErrMalformed, err)
	}
	if len(es.Protected) > maxHeaderSize {
		return Signature{}, malformed("protected header larger than %d bytes", maxHeaderSize)
	}
	hb, err := base64.RawURLEncoding.Strict().DecodeString(es.Protected)
	if err != nil {
		return Signature{}, fmt.Errorf("%w: protected header: %w", ErrMalformed, err)
	}
	var h protectedHeader
	if err := strictUnmarshal(hb, &h); err != nil {
		return Signature{}, fmt.Errorf("%w: protected header: %w", ErrMalformed, err)
	}
	if canon, err := json.Marshal(h); err != nil || !bytes.Equal(canon, hb) {
		return Signature{}, malformed(`protected header is not exactly {"alg","jisr.ocsp","typ","x5c"}`)
	}
	if h.Typ != JOSEType {
		return Signature{}, malformed("typ %q, want %q", h.Typ, JOSEType)
	}
	s := Signature{Algorithm: h.Alg, protected: es.Protected, signature: es.Signature}
	switch h.Alg {
	case jwa.ES256().String():
		s.alg = jwa.ES256()
	case jwa.RS256().String():
		s.alg = jwa.RS256()
	default:
		return Signature{}, malformed("alg %q not accepted; want ES256 or RS256", h.Alg)
	}
	if len(h.X5C) == 0 || len(h.X5C) > MaxChainLength {
		return Signature{}, malformed("x5c must hold 1 to %d certificates, has %d", MaxChainLength, len(h.X5C))
	}
	for i, c := range h.X5C {
		der, err := base64.StdEncoding.Strict().DecodeString(c)
		if err != nil || len(der) > maxCertSize {
			return Signature{}, malformed("x5c[%d] is not standard base64 of at most %d bytes", i, maxCertSize)
		}
		crt, err := x509.ParseCertificate(der)
		if err != nil {
			return Signature{}, fmt.Errorf("%w: x5c[%d]: %w", ErrMalformed, i, err)
		}
		s.Chain = append(s.Chain, crt)
	}
	if s.OCSP, err = base64.StdEncoding.Strict().DecodeString(h.OCSP); err != nil || len(s.OCSP) == 0 || len(s.OCSP) > maxOCSPSize {
		return Signature{}, malformed("%s must be standard base64 of 1 to %d bytes", HeaderOCSP, maxOCSPSize)
	}
	return s, nil
}

// Marshal returns the signed request in its wire form: exactly the bytes
// Parse was given.
func (p *Parsed) Marshal() []byte {
	b, err := json.Marshal(p.env)
	if err != nil {
		// envelope holds strings only; encoding it cannot fail.
		panic(err)
	}
	return b
}

// VerifySignatures checks every signature cryptographically against the
// public key of its certificate Chain[0]. It does not check the
// certificates themselves (see Verify). Errors wrap ErrBadSignature.
func (p *Parsed) VerifySignatures() error {
	for i := range p.Signatures {
		if err := p.Signatures[i].verify(p.env.Payload); err != nil {
			return fmt.Errorf("signature %d: %w", i, err)
		}
	}
	return nil
}

// verify checks the signature over the base64url payload with the leaf
// certificate's key, which must suit the header's algorithm.
func (s *Signature) verify(b64payload string) error {
	pub := s.Chain[0].PublicKey
	alg, err := algorithmFor(pub)
	if err != nil {
		return fmt.Errorf("%w: certificate key: %w", ErrBadSignature, err)
	}
	if alg != s.alg {
		return fmt.Errorf("%w: alg %s does not suit the certificate's key (%s)", ErrBadSignature, s.alg, alg)
	}
	compact := s.protected + "." + b64payload + "." + s.signature
	if _, err := jws.VerifyCompactFast(pub, []byte(compact), s.alg); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}
