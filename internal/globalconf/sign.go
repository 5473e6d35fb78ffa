package globalconf

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// MediaType is the Content-Type of a signed document on the wire.
const MediaType = "application/jose+json"

// JOSEType is the "typ" protected header of every signature. It binds the
// signature to this document type, so a configuration key's signature
// cannot be passed off as anything else and vice versa.
const JOSEType = "jisr.globalconf+json"

// MinRSABits is the smallest RSA modulus accepted for signing and in
// anchors.
const MinRSABits = 2048

// SigningKey is one configuration signing key of the central server.
type SigningKey struct {
	// KeyID is the key's "kid": the name under which anchors list its public
	// key. It must be unique among the keys signing one document.
	KeyID string
	// Signer holds the private key (software key store or HSM).
	Signer crypto.Signer
	// Algorithm optionally chooses the JWS algorithm. When empty it is
	// DefaultAlgorithm of the public key: ES256 for P-256, ES384 for P-384,
	// RS256 for RSA, EdDSA for Ed25519. PS256 may be chosen for RSA keys;
	// the anchor must then list the key with PS256 too (Anchor.AddKey).
	Algorithm string
}

// DefaultAlgorithm returns the JWS algorithm used for a public key when none
// is chosen: ES256 (ECDSA P-256), ES384 (ECDSA P-384), RS256 (RSA of at
// least MinRSABits), EdDSA (Ed25519).
func DefaultAlgorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		}
		return "", fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return "", fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), MinRSABits)
		}
		return "RS256", nil
	case ed25519.PublicKey:
		return "EdDSA", nil
	}
	return "", fmt.Errorf("unsupported public key type %T", pub)
}

// checkAlgorithm reports whether alg may be used with pub, and returns the
// jwa value for it.
func checkAlgorithm(alg string, pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	def, err := DefaultAlgorithm(pub)
	if err != nil {
		return jwa.SignatureAlgorithm{}, err
	}
	ok := alg == def || (def == "RS256" && alg == "PS256")
	if !ok {
		return jwa.SignatureAlgorithm{}, fmt.Errorf("algorithm %q cannot be used with a %T", alg, pub)
	}
	a, found := jwa.LookupSignatureAlgorithm(alg)
	if !found {
		return jwa.SignatureAlgorithm{}, fmt.Errorf("unknown algorithm %q", alg)
	}
	return a, nil
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
// accepts for a signature by an anchored key.
type protectedHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// Sign validates doc and returns it signed by every key, as a JWS in the JSON
// general serialization (RFC 7515 §7.2.1) with one signature per key (even
// when there is only one key). The payload is Marshal(doc); each signature's
// protected header is exactly {"alg", "kid", "typ": JOSEType}. Signing
// with several keys at once is how keys are rotated: anchors that know any
// one of them accept the document.
func Sign(doc *Document, keys []SigningKey) ([]byte, error) {
	if len(keys) == 0 {
		return nil, errors.New("globalconf: sign: no signing keys")
	}
	payload, err := Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("globalconf: sign: %w", err)
	}
	env := envelope{Signatures: make([]envelopeSignature, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k.KeyID == "" || k.Signer == nil {
			return nil, errors.New("globalconf: sign: a signing key needs a KeyID and a Signer")
		}
		if seen[k.KeyID] {
			return nil, fmt.Errorf("globalconf: sign: duplicate key id %q", k.KeyID)
		}
		seen[k.KeyID] = true
		protected, b64payload, sig, err := signOne(payload, k)
		if err != nil {
			return nil, fmt.Errorf("globalconf: sign with key %q: %w", k.KeyID, err)
		}
		env.Payload = b64payload
		env.Signatures = append(env.Signatures, envelopeSignature{Protected: protected, Signature: sig})
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("globalconf: sign: %w", err)
	}
	return out, nil
}

// signOne signs payload with one key through jwx and returns the three
// base64url parts of the compact form.
func signOne(payload []byte, k SigningKey) (protected, b64payload, sig string, err error) {
	pub := k.Signer.Public()
	name := k.Algorithm
	if name == "" {
		if name, err = DefaultAlgorithm(pub); err != nil {
			return "", "", "", err
		}
	}
	alg, err := checkAlgorithm(name, pub)
	if err != nil {
		return "", "", "", err
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, k.KeyID); err != nil {
		return "", "", "", err
	}
	if err := hdr.Set(jws.TypeKey, JOSEType); err != nil {
		return "", "", "", err
	}
	compact, err := jws.Sign(payload, jws.WithKey(alg, k.Signer, jws.WithProtectedHeaders(hdr)), jws.WithStrictECDSA(true))
	if err != nil {
		return "", "", "", err
	}
	parts := bytes.Split(compact, []byte("."))
	if len(parts) != 3 {
		return "", "", "", errors.New("unexpected compact serialization")
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}
