package archive

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
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// maxChain bounds the manifest's x5c.
const maxChain = 4

// manifestHeader is the manifest JWS's protected header, exactly as jwx
// writes it (members sorted).
type manifestHeader struct {
	Alg string   `json:"alg"`
	Typ string   `json:"typ"`
	X5C []string `json:"x5c"`
}

// algorithmFor returns ES256 for ECDSA P-256 keys and RS256 for RSA keys.
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

// checkSigner checks that s can sign for server: a key matching a
// certificate that names the server (auth profile) or its owner (sign
// profile).
func checkSigner(s ManifestSigner, server xroad.ServerID) error {
	if s.Key == nil || len(s.Chain) == 0 || len(s.Chain) > maxChain {
		return fmt.Errorf("archive: the manifest signer needs a key and 1 to %d certificates", maxChain)
	}
	for _, c := range s.Chain {
		if c == nil {
			return errors.New("archive: nil certificate in the manifest signer's chain")
		}
	}
	pub, ok := s.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(s.Chain[0].PublicKey) {
		return errors.New("archive: the manifest signer's key does not match its certificate")
	}
	return certNamesServer(s.Chain[0], server)
}

// certNamesServer checks that cert is an auth certificate of server or a
// sign certificate of its owner.
func certNamesServer(cert *x509.Certificate, server xroad.ServerID) error {
	kind, id, err := profile.IDFromCert(cert)
	if err != nil {
		return fmt.Errorf("archive: manifest signer certificate: %w", err)
	}
	switch {
	case kind == profile.Auth && id == xroad.ID(server):
	case kind == profile.Sign && id == xroad.ID(server.Owner):
	default:
		return fmt.Errorf("archive: manifest signer certificate names %s, not server %s or its owner", id.Typed(), server)
	}
	return nil
}

// signManifest signs the manifest JSON as a compact JWS with x5c.
func signManifest(payload []byte, s ManifestSigner) (string, error) {
	alg, err := algorithmFor(s.Key.Public())
	if err != nil {
		return "", fmt.Errorf("archive: manifest signer: %w", err)
	}
	var chain cert.Chain
	for _, c := range s.Chain {
		if err := chain.AddString(base64.StdEncoding.EncodeToString(c.Raw)); err != nil {
			return "", fmt.Errorf("archive: manifest signer x5c: %w", err)
		}
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, ManifestType); err != nil {
		return "", fmt.Errorf("archive: manifest header: %w", err)
	}
	if err := hdr.Set(jws.X509CertChainKey, &chain); err != nil {
		return "", fmt.Errorf("archive: manifest header: %w", err)
	}
	compact, err := jws.Sign(payload, jws.WithKey(alg, s.Key, jws.WithProtectedHeaders(hdr)), jws.WithStrictECDSA(true))
	if err != nil {
		return "", fmt.Errorf("archive: sign manifest: %w", err)
	}
	if _, _, err := parseManifestJWS(compact); err != nil {
		return "", fmt.Errorf("archive: signed manifest does not parse: %w", err)
	}
	return string(compact), nil
}

// parseManifestJWS takes the manifest JWS apart (nothing verified).
func parseManifestJWS(compact []byte) (payload []byte, chain []*x509.Certificate, err error) {
	parts := strings.Split(string(compact), ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not a compact JWS")
	}
	var raw [3][]byte
	for i, s := range parts {
		if raw[i], err = base64.RawURLEncoding.Strict().DecodeString(s); err != nil {
			return nil, nil, fmt.Errorf("JWS part %d: %w", i+1, err)
		}
	}
	var h manifestHeader
	if err := strictUnmarshal(raw[0], &h); err != nil {
		return nil, nil, fmt.Errorf("protected header: %w", err)
	}
	if canon, err := json.Marshal(h); err != nil || !bytes.Equal(canon, raw[0]) {
		return nil, nil, errors.New(`protected header is not exactly {"alg","typ","x5c"}`)
	}
	if h.Typ != ManifestType {
		return nil, nil, fmt.Errorf("typ %q, want %q", h.Typ, ManifestType)
	}
	if len(h.X5C) == 0 || len(h.X5C) > maxChain {
		return nil, nil, fmt.Errorf("x5c has %d certificates, want 1 to %d", len(h.X5C), maxChain)
	}
	for i, s := range h.X5C {
		der, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, nil, fmt.Errorf("x5c[%d]: %w", i, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("x5c[%d]: %w", i, err)
		}
		chain = append(chain, c)
	}
	alg, err := algorithmFor(chain[0].PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signer certificate: %w", err)
	}
	if h.Alg != alg.String() {
		return nil, nil, fmt.Errorf("alg %q, the certificate's key needs %q", h.Alg, alg)
	}
	return raw[1], chain, nil
}

// verifyManifestJWS verifies the manifest's signature and its signer's
// chain to roots at time at, and returns the payload and the signer.
func verifyManifestJWS(compact []byte, roots, intermediates *x509.CertPool, at func(payload []byte) (time.Time, error)) ([]byte, *x509.Certificate, error) {
	payload, chain, err := parseManifestJWS(compact)
	if err != nil {
		return nil, nil, err
	}
	alg, _ := algorithmFor(chain[0].PublicKey)
	if _, err := jws.VerifyCompactFast(chain[0].PublicKey, compact, alg); err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	when, err := at(payload)
	if err != nil {
		return nil, nil, err
	}
	inter := x509.NewCertPool()
	if intermediates != nil {
		inter = intermediates.Clone()
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: when,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, nil, fmt.Errorf("signer certificate does not chain to an approved CA at %s: %w", formatTime(when), err)
	}
	return payload, chain[0], nil
}
