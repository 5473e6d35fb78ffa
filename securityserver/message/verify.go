package message

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	xocsp "golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
)

// Verifier checks signed messages against the trust the global
// configuration establishes. It is read-only after construction and safe
// for concurrent use (Replay must be too).
type Verifier struct {
	// Roots are the approved CAs' certificates. Required: a nil pool is
	// refused rather than taken to mean the system roots.
	Roots *x509.CertPool
	// Intermediates are approved intermediate CA certificates, optional.
	// Intermediates sent in x5c are used too; the chain must still end at
	// one of Roots.
	Intermediates *x509.CertPool
	// OCSPResponders optionally returns the OCSP responder certificates the
	// configuration approves for an issuing CA (RFC 6960 §4.2.2.2, trusted
	// by local configuration). Responses signed by the issuer itself or by a
	// responder certificate the issuer delegated (ExtKeyUsage OCSPSigning)
	// are always accepted.
	OCSPResponders func(issuer *x509.Certificate) []*x509.Certificate
	// OCSPFreshness is the maximum age of a stapled OCSP response at
	// verification time (X-Road's ocspFreshnessSeconds). Required (> 0).
	OCSPFreshness time.Duration
	// MaxSkew is how far a message's time may lie from Clock.Now(), either
	// way. Required (> 0).
	MaxSkew time.Duration
	// Clock tells the verification time. Required.
	Clock clock.Clock
	// Replay, when set, is asked last by VerifyRequest, once everything
	// else has passed, so that only authentic requests consume message
	// ids. Its window should be at least MaxSkew.
	Replay ReplayGuard
	// Cache, when set, saves re-verifying the signatures of chains and
	// OCSP responses seen before (see VerifyCache).
	Cache *VerifyCache
}

// Verified describes an accepted message, for the message log and for
// binding the response.
type Verified struct {
	// Signer is the member whose sign certificate signed the message.
	Signer xroad.MemberID
	// Chain is the verified chain, from the sign certificate to an
	// approved root.
	Chain []*x509.Certificate
	// OCSP is the parsed stapled OCSP response, and OCSPDER its bytes.
	OCSP    *xocsp.Response
	OCSPDER []byte
	// Payload is the signed canonical header.
	Payload []byte
	// Digest is the SHA-256 digest of Payload; for a request it is what
	// the response's RequestDigest must be.
	Digest []byte
	// Signature is the compact JWS, as received.
	Signature string
}

// check validates the configuration; its errors are not refusals of the
// message and wrap no sentinel.
func (v *Verifier) check() error {
	switch {
	case v == nil:
		return errors.New("message: nil Verifier")
	case v.Roots == nil:
		return errors.New("message: Verifier.Roots is nil")
	case v.Clock == nil:
		return errors.New("message: Verifier.Clock is nil")
	case v.OCSPFreshness <= 0:
		return errors.New("message: Verifier.OCSPFreshness must be positive")
	case v.MaxSkew <= 0:
		return errors.New("message: Verifier.MaxSkew must be positive")
	}
	return nil
}

// VerifyRequest checks a request signature sig (HeaderSignature) against
// the decoded header h and the body received, in this order, returning at
// the first failure an error wrapping the sentinel named:
//
//  1. sig is a compact JWS with base64url parts, typ TypeRequest, and a
//     protected header of exactly {"alg","jisr.ocsp","typ","x5c"} as
//     SignRequest writes it; h is valid (ErrMalformed).
//  2. alg is the one for the x5c[0] key (ES256 for ECDSA P-256, RS256 for
//     RSA; a key type the sign profile does not allow: ErrCertProfile) and
//     the signature verifies with that key (ErrBadSignature).
//  3. The payload is byte for byte h.Canonical() (ErrTampered).
//  4. body has h.BodyDigest and h.BodySize (ErrBodyMismatch).
//  5. h.Time is within MaxSkew of Clock.Now() (ErrClockSkew).
//  6. x5c[0] chains to Roots at h.Time (ErrUntrustedChain).
//  7. x5c[0] fits profile.Sign (ErrCertProfile) and names h.Client's
//     member (ErrWrongSigner).
//  8. The stapled OCSP response is about x5c[0], signed by its issuer in
//     the verified chain, a responder the issuer delegated, or an approved
//     responder (ErrOCSPInvalid); says good (ErrRevoked); and is fresh at
//     Clock.Now() (ErrOCSPStale).
//  9. Replay, if set, has not seen h.ID from h.Client (ErrReplay,
//     ErrReplayCapacity, ErrClockSkew).
func (v *Verifier) VerifyRequest(sig string, h RequestHeader, body BodySum) (*Verified, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	vd, err := v.verify(sig, TypeRequest, h.Canonical(), h.BodyDigest, h.BodySize, body, h.Time, h.Client.Member())
	if err != nil {
		return nil, err
	}
	if v.Replay != nil {
		if err := v.Replay.Seen(h.Client, h.ID, h.Time); err != nil {
			return nil, err
		}
	}
	return vd, nil
}

// VerifyResponse checks a response signature sig against the decoded
// header h, the body received and req, the request this security server
// sent, under rules 1 to 8 of VerifyRequest with typ TypeResponse and the
// provider's member (req.Service.Provider.Member()) as the expected signer;
// then h.RequestDigest must be req.Digest() (ErrResponseMismatch).
func (v *Verifier) VerifyResponse(sig string, h ResponseHeader, body BodySum, req RequestHeader) (*Verified, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	vd, err := v.verify(sig, TypeResponse, h.Canonical(), h.BodyDigest, h.BodySize, body, h.Time, req.Service.Provider.Member())
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(h.RequestDigest, req.Digest()) {
		return nil, fmt.Errorf("%w: response answers request digest %s, we sent %s",
			ErrResponseMismatch, formatDigest(h.RequestDigest), formatDigest(req.Digest()))
	}
	return vd, nil
}

// verify applies rules 1 to 8.
func (v *Verifier) verify(sig, typ string, canonical, bodyDigest []byte, bodySize int64, body BodySum,
	at time.Time, member xroad.MemberID) (*Verified, error) {
	p, err := parseCompact(sig, typ, v.Cache)
	if err != nil {
		return nil, err
	}
	leaf := p.chain[0]
	alg, err := algorithmFor(leaf.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertProfile, err)
	}
	if p.header.Alg != alg.String() {
		return nil, fmt.Errorf("%w: alg %q, the certificate's key needs %q", ErrBadSignature, p.header.Alg, alg)
	}
	if _, err := jws.VerifyCompactFast(leaf.PublicKey, []byte(sig), alg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if !bytes.Equal(p.payload, canonical) {
		return nil, fmt.Errorf("%w: signed header (%d bytes) and received header (%d bytes) differ from byte %d",
			ErrTampered, len(p.payload), len(canonical), firstDifference(p.payload, canonical))
	}
	if body.Size != bodySize || !bytes.Equal(body.SHA256, bodyDigest) {
		return nil, fmt.Errorf("%w: signed %s (%d bytes), received %s (%d bytes)", ErrBodyMismatch,
			formatDigest(bodyDigest), bodySize, formatDigest(body.SHA256), body.Size)
	}
	now := v.Clock.Now()
	if d := now.Sub(at); d > v.MaxSkew || d < -v.MaxSkew {
		return nil, fmt.Errorf("%w: message time %s, now %s, allowed skew %v", ErrClockSkew,
			formatTime(at), formatTime(now), v.MaxSkew)
	}
	chain, err := v.verifyChain(p.chain, at)
	if err != nil {
		return nil, err
	}
	signer, err := profile.MemberIDFromCert(leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertProfile, err)
	}
	if signer != member {
		return nil, fmt.Errorf("%w: signed by %s, expected %s", ErrWrongSigner, signer, member)
	}
	resp, err := v.checkOCSP(p.ocsp, leaf, chain[1], now)
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256(p.payload)
	return &Verified{
		Signer: signer, Chain: chain, OCSP: resp, OCSPDER: p.ocsp,
		Payload: p.payload, Digest: d[:], Signature: sig,
	}, nil
}

// verifyChain verifies x5c[0] up to an approved root at time at and returns
// the first verified chain (at least leaf and root).
func (v *Verifier) verifyChain(x5c []*x509.Certificate, at time.Time) ([]*x509.Certificate, error) {
	var key [32]byte
	if v.Cache != nil {
		var chain []*x509.Certificate
		var ok bool
		if chain, key, ok = v.Cache.chain(x5c, v.Roots, v.Intermediates, at); ok {
			return chain, nil
		}
	}
	inter := x509.NewCertPool()
	if v.Intermediates != nil {
		inter = v.Intermediates.Clone()
	}
	for _, c := range x5c[1:] {
		inter.AddCert(c)
	}
	chains, err := x5c[0].Verify(x509.VerifyOptions{
		Roots:         v.Roots,
		Intermediates: inter,
		CurrentTime:   at,
		// Sign certificates carry no ExtKeyUsage (pki/profile); what they
		// may be used for is checked by profile.Sign, not here.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedChain, err)
	}
	if len(chains) == 0 || len(chains[0]) < 2 {
		return nil, fmt.Errorf("%w: no chain from the certificate to a distinct root", ErrUntrustedChain)
	}
	if v.Cache != nil {
		v.Cache.putChain(key, v.Roots, v.Intermediates, chains[0])
	}
	return chains[0], nil
}

// checkOCSP applies rule 8.
func (v *Verifier) checkOCSP(der []byte, leaf, issuer *x509.Certificate, now time.Time) (*xocsp.Response, error) {
	parse := ocsp.ParseResponse
	if v.Cache != nil {
		parse = v.Cache.parseOCSP
	}
	resp, err := parse(der, leaf, issuer)
	if err != nil && v.OCSPResponders != nil {
		resp, err = parseByApprovedResponder(der, leaf, v.OCSPResponders(issuer), now, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOCSPInvalid, err)
	}
	if err := checkCertID(resp, leaf, issuer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOCSPInvalid, err)
	}
	if resp.Status != xocsp.Good {
		status := "unknown"
		if resp.Status == xocsp.Revoked {
			status = "revoked at " + resp.RevokedAt.UTC().Format(time.RFC3339)
		}
		return nil, fmt.Errorf("%w: OCSP status of serial %s: %s", ErrRevoked, leaf.SerialNumber, status)
	}
	if err := ocsp.VerifyFresh(resp, now, v.OCSPFreshness); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOCSPStale, err)
	}
	return resp, nil
}

// parseByApprovedResponder accepts a response signed by one of the
// approved responder certificates, valid at now. first is the error of the
// issuer path, reported when no approved responder signed.
func parseByApprovedResponder(der []byte, leaf *x509.Certificate, approved []*x509.Certificate,
	now time.Time, first error) (*xocsp.Response, error) {
	if len(approved) == 0 {
		return nil, first
	}
	resp, err := xocsp.ParseResponseForCert(der, leaf, nil)
	if err != nil {
		return nil, fmt.Errorf("ocsp: parsing response: %w", err)
	}
	if resp.SerialNumber == nil || resp.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		return nil, errors.New("ocsp: response is about another serial number")
	}
	for _, rc := range approved {
		if rc == nil || now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
			continue
		}
		if resp.CheckSignatureFrom(rc) == nil {
			return resp, nil
		}
	}
	return nil, fmt.Errorf("not signed by the issuer, a delegated responder or an approved responder: %w", first)
}

// protectedHeader is the only protected header this package writes and
// accepts; its field order is the member order jwx writes (sorted).
type protectedHeader struct {
	Alg  string   `json:"alg"`
	OCSP string   `json:"jisr.ocsp"`
	Typ  string   `json:"typ"`
	X5C  []string `json:"x5c"`
}

// parsedJWS is a compact JWS taken apart (nothing verified yet).
type parsedJWS struct {
	header  protectedHeader
	payload []byte
	chain   []*x509.Certificate
	ocsp    []byte
}

// parseCompact applies rule 1 of VerifyRequest, except the validation of h.
// cache, when not nil, hands out certificates parsed before.
func parseCompact(sig, typ string, cache *VerifyCache) (*parsedJWS, error) {
	if sig == "" {
		return nil, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	if err := checkSignatureText(sig); err != nil {
		return nil, err
	}
	parts := strings.Split(sig, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: compact JWS has %d parts, want 3", ErrMalformed, len(parts))
	}
	var raw [3][]byte
	for i, s := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: JWS part %d: %w", ErrMalformed, i+1, err)
		}
		raw[i] = b
	}
	p := &parsedJWS{payload: raw[1]}
	if err := strictUnmarshal(raw[0], &p.header); err != nil {
		return nil, fmt.Errorf("%w: protected header: %w", ErrMalformed, err)
	}
	if canon, err := json.Marshal(p.header); err != nil || !bytes.Equal(canon, raw[0]) {
		return nil, fmt.Errorf("%w: protected header is not exactly {\"alg\",\"jisr.ocsp\",\"typ\",\"x5c\"}", ErrMalformed)
	}
	if p.header.Typ != typ {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrMalformed, p.header.Typ, typ)
	}
	if _, ok := jwa.LookupSignatureAlgorithm(p.header.Alg); !ok {
		return nil, fmt.Errorf("%w: unknown alg %q", ErrMalformed, p.header.Alg)
	}
	if n := len(p.header.X5C); n == 0 || n > MaxChainLength {
		return nil, fmt.Errorf("%w: x5c has %d certificates, want 1 to %d", ErrMalformed, n, MaxChainLength)
	}
	for i, s := range p.header.X5C {
		der, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: x5c[%d]: %w", ErrMalformed, i, err)
		}
		c, err := cache.parseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: x5c[%d]: %w", ErrMalformed, i, err)
		}
		p.chain = append(p.chain, c)
	}
	der, err := base64.StdEncoding.Strict().DecodeString(p.header.OCSP)
	if err != nil || len(der) == 0 || len(der) > MaxOCSPLength {
		return nil, fmt.Errorf("%w: %s is not the base64 of 1 to %d bytes", ErrMalformed, HeaderOCSP, MaxOCSPLength)
	}
	p.ocsp = der
	if len(p.payload) > MaxCanonicalSize {
		return nil, fmt.Errorf("%w: payload larger than %d bytes", ErrMalformed, MaxCanonicalSize)
	}
	return p, nil
}

// firstDifference returns the index of the first byte where a and b differ.
func firstDifference(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
