package ca

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"go.step.sm/crypto/jose"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// Token lifetimes.
const (
	DefaultTokenTTL = time.Hour
	MaxTokenTTL     = 7 * 24 * time.Hour
)

// NewEnrolmentToken returns a one-time token with which a security server
// obtains one certificate of profile kind naming id (a xroad.ServerID for
// Auth, a xroad.MemberID for Sign) through POST /1.0/sign. The token pins the
// certificate's subject alternative names: the identifier's URI and, for an
// auth certificate, dnsNames (DNS names or IP addresses; none allowed for a
// sign certificate). The CSR must request exactly these names. ttl ≤ 0 means
// DefaultTokenTTL; it may not exceed MaxTokenTTL. step-ca records the token's
// ID in the database when it is used and refuses it a second time, also after
// a restart; an unused token stays valid across restarts until it expires.
func (a *Authority) NewEnrolmentToken(kind profile.Kind, id xroad.ID, dnsNames []string, ttl time.Duration) (string, error) {
	k, id, err := profile.KindOf(id)
	if err != nil {
		return "", fmt.Errorf("ca: token: %w", err)
	}
	if k != kind {
		return "", fmt.Errorf("ca: token: %w: a %s certificate cannot name %s", profile.ErrProfile, kind, id.Typed())
	}
	if inst := profile.Instance(id); inst != a.bundle.Instance {
		return "", fmt.Errorf("ca: token: %s belongs to instance %q, this CA serves %q", id.Typed(), inst, a.bundle.Instance)
	}
	if kind == profile.Sign && len(dnsNames) > 0 {
		return "", fmt.Errorf("ca: token: %w: a sign certificate cannot name DNS names", profile.ErrProfile)
	}
	sans := []string{id.URI()}
	for _, n := range dnsNames {
		if err := checkHostName(n); err != nil {
			return "", fmt.Errorf("ca: token: %w", err)
		}
		sans = append(sans, strings.ToLower(n))
	}
	switch {
	case ttl <= 0:
		ttl = DefaultTokenTTL
	case ttl > MaxTokenTTL:
		return "", fmt.Errorf("ca: token: lifetime %s exceeds %s", ttl, MaxTokenTTL)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("ca: token: %w", err)
	}
	now := a.clock.Now()
	claims := jose.Claims{
		ID:        hex.EncodeToString(jti),
		Issuer:    ProvisionerEnrol,
		Subject:   id.Typed(),
		Audience:  jose.Audience{"https://" + hostPort(a.dnsNames[0]) + "/1.0/sign"},
		NotBefore: jose.NewNumericDate(now),
		IssuedAt:  jose.NewNumericDate(now),
		Expiry:    jose.NewNumericDate(now.Add(ttl)),
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(a.jwk.Algorithm),
		Key:       jose.NewOpaqueSigner(a.tokenKey),
	}, new(jose.SignerOptions).WithType("JWT").WithHeader("kid", a.jwk.KeyID))
	if err != nil {
		return "", fmt.Errorf("ca: token signer: %w", err)
	}
	tok, err := jose.Signed(signer).Claims(claims).Claims(map[string]any{"sans": sans}).CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("ca: sign token: %w", err)
	}
	return tok, nil
}

// hostPort brackets IPv6 literals for use in a URL.
func hostPort(h string) string {
	if ip := net.ParseIP(h); ip != nil && ip.To4() == nil {
		return "[" + h + "]"
	}
	return h
}

// checkHostName accepts an IP address or a DNS name (letters, digits,
// hyphens; no wildcard, no trailing dot).
func checkHostName(n string) error {
	if net.ParseIP(n) != nil {
		return nil
	}
	if n == "" || len(n) > 253 {
		return errors.New("invalid DNS name: empty or too long")
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid DNS name %q", n)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("invalid DNS name %q", n)
			}
		}
	}
	return nil
}
