// Package enrol is a security server's side of certificate enrolment with
// the instance CA (pki/ca): it builds CSRs for the auth and sign profiles
// (pki/profile), obtains certificates with a one-time enrolment token or over
// ACME (http-01), renews token-enrolled certificates, and verifies every
// certificate it receives before returning it: the chain must end at the
// given roots, the certificate must fit the requested profile, name exactly
// the requested identifier and certify the caller's key.
//
// It speaks plain HTTP/JSON to step-ca's API and uses golang.org/x/crypto/acme;
// it does not import smallstep, so security servers stay light. It neither
// stores keys nor certificates: callers pass crypto.Signers from their key
// store and persist what they get back.
package enrol

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// ErrRefused wraps the CA's refusal of a request (an HTTP error answer).
var ErrRefused = errors.New("enrol: CA refused the request")

// ErrVerify wraps every failure to verify a certificate the CA returned.
var ErrVerify = errors.New("enrol: certificate from CA failed verification")

// maxResponse bounds what is read from the CA.
const maxResponse = 1 << 20

// Options says how to reach the CA's API.
type Options struct {
	// CAURL is the CA's base URL, e.g. "https://ca.ps.example:4443".
	CAURL string
	// HTTPClient must trust the CA's TLS certificate (the instance root).
	// http.DefaultClient if nil.
	HTTPClient *http.Client
	// Roots are the trust anchors the returned chain must end at.
	Roots *x509.CertPool
	// Clock is used to verify validity and to date renewal tokens;
	// clock.System() if nil.
	Clock clock.Clock
}

func (o *Options) client() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return http.DefaultClient
}

func clk(c clock.Clock) clock.Clock {
	if c == nil {
		return clock.System()
	}
	return c
}

// CSR returns a DER certificate request for profile kind naming id, as the
// token path expects it: Subject CN = id.Typed(), the identifier's URI as a
// SAN and, for an auth certificate, dnsNames (DNS names or IP addresses) —
// exactly the SANs of the enrolment token. The key must be ECDSA P-256 or
// RSA ≥ 2048 bits.
func CSR(signer crypto.Signer, kind profile.Kind, id xroad.ID, dnsNames []string) ([]byte, error) {
	k, id, err := profile.KindOf(id)
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	if k != kind {
		return nil, fmt.Errorf("enrol: %w: a %s certificate cannot name %s", profile.ErrProfile, kind, id.Typed())
	}
	if kind == profile.Sign && len(dnsNames) > 0 {
		return nil, fmt.Errorf("enrol: %w: a sign certificate cannot name DNS names", profile.ErrProfile)
	}
	u, err := url.Parse(id.URI())
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: id.Typed()}, URIs: []*url.URL{u}}
	addHosts(tmpl, dnsNames)
	return createCSR(signer, tmpl)
}

func addHosts(tmpl *x509.CertificateRequest, names []string) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, strings.ToLower(n))
		}
	}
}

func createCSR(signer crypto.Signer, tmpl *x509.CertificateRequest) ([]byte, error) {
	if signer == nil {
		return nil, errors.New("enrol: no key")
	}
	if err := profile.CheckPublicKey(signer.Public()); err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, signer)
	if err != nil {
		return nil, fmt.Errorf("enrol: create CSR: %w", err)
	}
	return der, nil
}

// WithToken obtains a certificate with a one-time enrolment token: it sends a
// CSR (see CSR) and the token to POST {CAURL}/1.0/sign and returns the chain
// (leaf first, root excluded) after Verify.
func WithToken(ctx context.Context, opts Options, token string, signer crypto.Signer, kind profile.Kind, id xroad.ID, dnsNames []string) ([]*x509.Certificate, error) {
	der, err := CSR(signer, kind, id, dnsNames)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]string{
		"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
		"ott": token,
	})
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	chain, err := post(ctx, opts, "/1.0/sign", body, "")
	if err != nil {
		return nil, err
	}
	if err := Verify(chain, opts.Roots, kind, id, signer.Public(), clk(opts.Clock).Now()); err != nil {
		return nil, err
	}
	return chain, nil
}

// signResponse is step-ca's answer to sign and renew.
type signResponse struct {
	Crt       string   `json:"crt"`
	CA        string   `json:"ca"`
	CertChain []string `json:"certChain"`
}

// post sends a request to the CA API and parses a sign response.
func post(ctx context.Context, opts Options, path string, body []byte, bearer string) ([]*x509.Certificate, error) {
	if opts.CAURL == "" {
		return nil, errors.New("enrol: Options.CAURL is required")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(opts.CAURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := opts.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("enrol: %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("enrol: %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		return nil, fmt.Errorf("%w: %s: %s: %s", ErrRefused, path, resp.Status, e.Message)
	}
	var sr signResponse
	if err := json.Unmarshal(raw, &sr); err != nil {
		return nil, fmt.Errorf("enrol: %s: response: %w", path, err)
	}
	pems := sr.CertChain
	if len(pems) == 0 {
		pems = []string{sr.Crt, sr.CA}
	}
	var chain []*x509.Certificate
	for _, p := range pems {
		cs, err := parsePEMCerts([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("enrol: %s: %w", path, err)
		}
		chain = append(chain, cs...)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("enrol: %s: no certificate in response", path)
	}
	return chain, nil
}

func parsePEMCerts(raw []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			return out, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

// Verify checks a chain returned by the CA (leaf first): it must verify to
// roots at now, the leaf must fit profile kind, name exactly id and certify
// pub. All failures wrap ErrVerify.
func Verify(chain []*x509.Certificate, roots *x509.CertPool, kind profile.Kind, id xroad.ID, pub crypto.PublicKey, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: empty chain", ErrVerify)
	}
	if roots == nil {
		return fmt.Errorf("%w: no roots given", ErrVerify)
	}
	_, want, err := profile.KindOf(id)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	if err := profile.Check(leaf, kind); err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	_, got, err := profile.IDFromCert(leaf)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	if got != want {
		return fmt.Errorf("%w: certificate names %s, requested %s", ErrVerify, got.Typed(), want.Typed())
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := leaf.PublicKey.(equaler); !ok || !e.Equal(pub) {
		return fmt.Errorf("%w: certificate does not certify our key", ErrVerify)
	}
	return nil
}

// NeedsRenewal reports whether cert should be renewed at now: once the given
// fraction of its lifetime has passed (fraction outside (0,1] means 2/3), or
// when it is already expired.
func NeedsRenewal(cert *x509.Certificate, now time.Time, fraction float64) bool {
	if fraction <= 0 || fraction > 1 {
		fraction = 2.0 / 3
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	return !now.Before(cert.NotBefore.Add(time.Duration(float64(life) * fraction)))
}
