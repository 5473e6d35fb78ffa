package enrol

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/pki/profile"
)

// renewTokenTTL is the lifetime of a renewal token.
const renewTokenTTL = 5 * time.Minute

// Renew renews a token-enrolled certificate before it expires, keeping its
// key and identifier: it signs a one-time step-ca renewal token (a JWT with
// the "x5cInsecure" header carrying chain, signed by signer, the
// certificate's key) and sends it to POST {CAURL}/1.0/renew. This works for
// both profiles, since it needs no TLS client authentication. chain is the
// current chain, leaf first (root optional). The new chain is verified like
// WithToken's. ACME certificates are not renewable this way: order anew.
func Renew(ctx context.Context, opts Options, chain []*x509.Certificate, signer crypto.Signer) ([]*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("enrol: renew: empty chain")
	}
	leaf := chain[0]
	kind, id, err := profile.IDFromCert(leaf)
	if err != nil {
		return nil, fmt.Errorf("enrol: renew: %w", err)
	}
	tok, err := renewToken(opts, chain, signer)
	if err != nil {
		return nil, err
	}
	out, err := post(ctx, opts, "/1.0/renew", nil, tok)
	if err != nil {
		return nil, err
	}
	if err := Verify(out, opts.Roots, kind, id, signer.Public(), clk(opts.Clock).Now()); err != nil {
		return nil, err
	}
	return out, nil
}

// renewToken builds step-ca's x5cInsecure renewal token (see
// authority.AuthorizeRenewToken in smallstep/certificates).
func renewToken(opts Options, chain []*x509.Certificate, signer crypto.Signer) (string, error) {
	leaf := chain[0]
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := leaf.PublicKey.(equaler); !ok || !e.Equal(signer.Public()) {
		return "", errors.New("enrol: renew: key does not match the certificate")
	}
	alg, err := jwsAlg(signer.Public())
	if err != nil {
		return "", err
	}
	var x5c []string
	for _, c := range chain {
		if c.IsCA && c.CheckSignatureFrom(c) == nil {
			continue // the root is not sent
		}
		x5c = append(x5c, base64.StdEncoding.EncodeToString(c.Raw))
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("enrol: renew: %w", err)
	}
	now := clk(opts.Clock).Now()
	header, err := json.Marshal(map[string]any{"alg": alg, "typ": "JWT", "x5cInsecure": x5c})
	if err != nil {
		return "", fmt.Errorf("enrol: renew: %w", err)
	}
	claims, err := json.Marshal(map[string]any{
		"iss": "step-ca-client/1.0",
		"sub": leaf.Subject.CommonName,
		"aud": []string{strings.TrimSuffix(opts.CAURL, "/") + "/1.0/renew"},
		"jti": hex.EncodeToString(jti),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(renewTokenTTL).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("enrol: renew: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sig, err := jwsSign(signer, []byte(signing))
	if err != nil {
		return "", fmt.Errorf("enrol: renew: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

func jwsAlg(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name == "P-256" {
			return "ES256", nil
		}
	case *rsa.PublicKey:
		return "RS256", nil
	}
	return "", fmt.Errorf("enrol: key type %T not supported for renewal tokens", pub)
}

// jwsSign signs with ES256 (r||s, RFC 7518 §3.4) or RS256.
func jwsSign(signer crypto.Signer, msg []byte) ([]byte, error) {
	digest := sha256.Sum256(msg)
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	if _, ok := signer.Public().(*ecdsa.PublicKey); !ok {
		return sig, nil
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) > 0 {
		return nil, errors.New("malformed ECDSA signature")
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}
