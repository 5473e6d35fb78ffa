package enrol

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// ACMEOptions says how to reach the CA's ACME server.
type ACMEOptions struct {
	// DirectoryURL is the ACME directory, e.g.
	// "https://ca.ps.example:4443/acme/acme/directory".
	DirectoryURL string
	// HTTPClient must trust the CA's TLS certificate.
	HTTPClient *http.Client
	// AccountKey is the ACME account key (ECDSA P-256 or RSA); the account
	// is registered on first use, agreeing to the terms of service.
	AccountKey crypto.Signer
	// Solver answers http-01 challenges; mount it on the server's port 80.
	Solver *HTTP01Solver
	// Roots are the trust anchors the returned chain must end at.
	Roots *x509.CertPool
	// Clock is used to verify the result; clock.System() if nil.
	Clock clock.Clock
	// ValidationTimeout bounds the wait for the CA to validate a challenge
	// (step-ca keeps a challenge pending while it cannot fetch the answer);
	// DefaultValidationTimeout if zero.
	ValidationTimeout time.Duration
}

// DefaultValidationTimeout is the default ACMEOptions.ValidationTimeout.
const DefaultValidationTimeout = time.Minute

// HTTP01Solver is an http.Handler answering ACME http-01 challenges under
// /.well-known/acme-challenge/. A security server mounts it on its port-80
// listener. It is safe for concurrent use; the zero value is ready.
type HTTP01Solver struct {
	mu     sync.Mutex
	tokens map[string]string
}

const challengePrefix = "/.well-known/acme-challenge/"

// ServeHTTP answers a pending challenge, 404 otherwise.
func (s *HTTP01Solver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, challengePrefix)
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	resp, ok := s.tokens[token]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(resp))
}

func (s *HTTP01Solver) set(token, resp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = map[string]string{}
	}
	s.tokens[token] = resp
}

func (s *HTTP01Solver) remove(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
}

// ACMECSR returns the DER certificate request the ACME path finalizes with:
// the single DNS name as SAN and the requested identifier's typed form in
// the subject serialNumber attribute. (step-ca counts a subject CommonName
// as a DNS identifier of the order, so the identifier cannot go there.)
func ACMECSR(signer crypto.Signer, id xroad.ID, dnsName string) ([]byte, error) {
	_, id, err := profile.KindOf(id)
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:  pkix.Name{SerialNumber: id.Typed()},
		DNSNames: []string{strings.ToLower(dnsName)},
	}
	return createCSR(signer, tmpl)
}

// WithACME obtains a certificate of profile kind naming id over ACME: it
// registers the account if needed, orders dnsName, answers the http-01
// challenge through opts.Solver, finalizes with ACMECSR and verifies the
// chain like WithToken. The CA issues only if dnsName is registered for the
// security server (auth: id is that server; sign: id is its owner).
func WithACME(ctx context.Context, opts ACMEOptions, signer crypto.Signer, kind profile.Kind, id xroad.ID, dnsName string) ([]*x509.Certificate, error) {
	k, id, err := profile.KindOf(id)
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	if k != kind {
		return nil, fmt.Errorf("enrol: %w: a %s certificate cannot name %s", profile.ErrProfile, kind, id.Typed())
	}
	if opts.Solver == nil || opts.AccountKey == nil || opts.DirectoryURL == "" {
		return nil, errors.New("enrol: ACMEOptions.DirectoryURL, AccountKey and Solver are required")
	}
	csr, err := ACMECSR(signer, id, dnsName)
	if err != nil {
		return nil, err
	}
	cl := &acme.Client{
		Key: opts.AccountKey, DirectoryURL: opts.DirectoryURL, HTTPClient: opts.HTTPClient,
		RetryBackoff: retryBackoff,
	}
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return nil, fmt.Errorf("enrol: ACME register: %w", err)
	}
	order, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(dnsName))
	if err != nil {
		return nil, fmt.Errorf("enrol: ACME order: %w", err)
	}
	for _, u := range order.AuthzURLs {
		if err := solve(ctx, cl, opts.Solver, u, opts.ValidationTimeout); err != nil {
			return nil, err
		}
	}
	if order, err = cl.WaitOrder(ctx, order.URI); err != nil {
		return nil, fmt.Errorf("enrol: ACME order: %w", err)
	}
	ders, _, err := cl.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		return nil, fmt.Errorf("%w: ACME finalize: %w", ErrRefused, err)
	}
	chain := make([]*x509.Certificate, 0, len(ders))
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("enrol: ACME certificate: %w", err)
		}
		chain = append(chain, c)
	}
	if err := Verify(chain, opts.Roots, kind, id, signer.Public(), clk(opts.Clock).Now()); err != nil {
		return nil, err
	}
	return chain, nil
}

// retryBackoff retries a failed ACME request (5xx, 429) at most
// maxACMERetries times, honouring Retry-After up to a bound, instead of
// until the context ends.
func retryBackoff(n int, _ *http.Request, resp *http.Response) time.Duration {
	if n > maxACMERetries {
		return -1
	}
	d := time.Duration(n) * time.Second
	if resp != nil {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			d = time.Duration(s) * time.Second
		}
	}
	return min(d, 10*time.Second)
}

const maxACMERetries = 3

// solve completes one authorization with http-01.
func solve(ctx context.Context, cl *acme.Client, solver *HTTP01Solver, authzURL string, timeout time.Duration) error {
	z, err := cl.GetAuthorization(ctx, authzURL)
	if err != nil {
		return fmt.Errorf("enrol: ACME authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return nil
	}
	var chal *acme.Challenge
	for _, c := range z.Challenges {
		if c.Type == "http-01" {
			chal = c
			break
		}
	}
	if chal == nil {
		return fmt.Errorf("enrol: ACME authorization for %s offers no http-01 challenge", z.Identifier.Value)
	}
	resp, err := cl.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		return fmt.Errorf("enrol: ACME http-01: %w", err)
	}
	solver.set(chal.Token, resp)
	defer solver.remove(chal.Token)
	if _, err := cl.Accept(ctx, chal); err != nil {
		return fmt.Errorf("enrol: ACME accept: %w", err)
	}
	if timeout <= 0 {
		timeout = DefaultValidationTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := cl.WaitAuthorization(wctx, z.URI); err != nil {
		return fmt.Errorf("enrol: ACME authorization for %s: %w", z.Identifier.Value, err)
	}
	return nil
}
