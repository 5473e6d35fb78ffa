package pki

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/daemon"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/ca"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/pki/tsa"
)

// Service is a running instance PKI. Create it with New, run it with Serve.
type Service struct {
	cfg       Config
	log       *slog.Logger
	clk       clock.Clock
	store     keys.Store
	authority *ca.Authority
	responder *ocsp.Responder
	tsa       *tsa.Server
	serials   *tsa.FileSerialSource
	registry  *prometheus.Registry
	adminKey  []byte // SHA-256 of the admin token
	caTLS     *tls.Config

	bound daemon.Bound
}

// Option configures New.
type Option func(*Service)

// WithClock injects the clock (default clock.System()).
func WithClock(c clock.Clock) Option { return func(s *Service) { s.clk = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New opens the key store and the CA database and builds the CA, the OCSP
// responder and the TSA. cfg must have passed Validate. Close releases what
// New opened.
func New(cfg Config, opts ...Option) (_ *Service, err error) {
	s := &Service{cfg: cfg, clk: clock.System(), log: slog.New(slog.DiscardHandler), registry: prometheus.NewRegistry()}
	for _, o := range opts {
		o(s)
	}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	token, err := readSecretFile(cfg.Admin.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("pki: admin token: %w", err)
	}
	sum := sha256.Sum256([]byte(token))
	s.adminKey = sum[:]

	if s.store, err = keys.Open(cfg.Keys); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	ctx := context.Background()
	signer := func(label string) (crypto.Signer, error) { return s.store.Signer(ctx, label) }

	var challengeDial func(ctx context.Context, network, addr string) (net.Conn, error)
	if p := cfg.CA.ChallengePort; p != 0 {
		d := &net.Dialer{Timeout: 10 * time.Second}
		challengeDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return d.DialContext(ctx, network, net.JoinHostPort(host, strconv.Itoa(p)))
		}
	}
	s.authority, err = ca.New(ca.Config{
		Dir:             filepath.Join(cfg.Dir, CertsDir),
		DataDir:         filepath.Join(cfg.Dir, DBDir),
		Signer:          signer,
		Clock:           s.clk,
		CertLifetime:    cfg.CA.CertLifetime,
		OCSPURL:         cfg.CA.OCSPURL,
		ChallengeDialer: challengeDial,
		Registerer:      s.registry,
		OnRevoke: func(serial *big.Int) {
			if s.responder != nil {
				s.responder.Invalidate(serial)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	b := s.authority.Bundle()

	ocspSigner, err := signer(ca.LabelOCSP)
	if err != nil {
		return nil, fmt.Errorf("pki: OCSP key: %w", err)
	}
	s.responder, err = ocsp.New(ocsp.Config{
		Issuer:        b.Intermediate,
		ResponderCert: b.OCSP,
		Signer:        ocspSigner,
		Source:        s.authority,
		Validity:      cfg.OCSP.Validity,
		CacheFor:      cfg.OCSP.CacheFor,
		Clock:         s.clk,
		Registerer:    s.registry,
		Logger:        s.log.With("component", "ocsp"),
	})
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}

	tsaSigner, err := signer(ca.LabelTSA)
	if err != nil {
		return nil, fmt.Errorf("pki: TSA key: %w", err)
	}
	policy := tsa.DefaultPolicy()
	if cfg.TSA.Policy != "" {
		if policy, err = ParseOID(cfg.TSA.Policy); err != nil {
			return nil, fmt.Errorf("pki: tsa policy: %w", err)
		}
	}
	if s.serials, err = tsa.FileSerials(filepath.Join(cfg.Dir, TSASerialFile)); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	s.tsa, err = tsa.New(tsa.Config{
		Certificate: b.TSA,
		Chain:       []*x509.Certificate{b.Intermediate},
		Signer:      tsaSigner,
		Policy:      policy,
		Accuracy:    cfg.TSA.Accuracy,
		Serials:     s.serials,
		Clock:       s.clk,
		Registerer:  s.registry,
		Logger:      s.log.With("component", "tsa"),
	})
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if s.caTLS, err = s.authority.TLSConfig(); err != nil {
		return nil, fmt.Errorf("pki: CA TLS: %w", err)
	}
	return s, nil
}

// Close releases the key store, the CA database and the TSA serial file.
func (s *Service) Close() error {
	var errs []error
	if s.authority != nil {
		errs = append(errs, s.authority.Close())
	}
	if s.serials != nil {
		errs = append(errs, s.serials.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// Authority returns the CA (for in-process callers such as the demo).
func (s *Service) Authority() *ca.Authority { return s.authority }

// Registry returns the Prometheus registry holding the service's metrics.
func (s *Service) Registry() *prometheus.Registry { return s.registry }

// Addr returns the bound address of a listener ("ca", "ocsp", "tsa",
// "admin") once Serve has opened it, or "".
func (s *Service) Addr(name string) string { return s.bound.Addr(name) }

// Serve listens on the four configured addresses and serves until ctx is
// cancelled, then shuts down gracefully. ready, if not nil, is called once
// every listener is open.
func (s *Service) Serve(ctx context.Context, ready func()) error {
	return daemon.Serve(ctx, "pki", s.log, &s.bound, []daemon.Listener{
		{Name: "ca", Addr: s.cfg.CA.Listen, Handler: s.withHealth(s.authority.Handler()), TLS: s.caTLS},
		{Name: "ocsp", Addr: s.cfg.OCSP.Listen, Handler: s.withHealth(s.responder)},
		{Name: "tsa", Addr: s.cfg.TSA.Listen, Handler: s.withHealth(s.tsa)},
		{Name: "admin", Addr: s.cfg.Admin.Listen, Handler: s.adminHandler()},
	}, ready)
}

// withHealth answers GET /healthz and GET /readyz itself and hands
// everything else to h.
func (s *Service) withHealth(h http.Handler) http.Handler {
	ready := daemon.ReadyHandler(s.CheckHealth, 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
			s.serveHealth(w, r)
			return
		}
		if r.URL.Path == "/readyz" && r.Method == http.MethodGet {
			ready.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// CheckHealth runs the health checks: the CA database answers, the OCSP and
// TSA keys sign, and no PKI certificate expires within 30 days.
func (s *Service) CheckHealth(ctx context.Context) *daemon.Health {
	h := daemon.NewHealth()
	_, err := s.authority.CertStatus(ctx, big.NewInt(1))
	h.Set("ca-database", err)
	for _, label := range []string{ca.LabelOCSP, ca.LabelTSA, ca.LabelIntermediate} {
		h.Set("key:"+label, s.probeKey(ctx, label))
	}
	b := s.authority.Bundle()
	now := s.clk.Now()
	for name, c := range map[string]*x509.Certificate{"root": b.Root, "intermediate": b.Intermediate, "ocsp": b.OCSP, "tsa": b.TSA, "ca-tls": b.TLS} {
		var err error
		if left := c.NotAfter.Sub(now); left < 30*24*time.Hour {
			err = fmt.Errorf("expires %s (in %s)", c.NotAfter.UTC().Format(time.RFC3339), left.Round(time.Hour))
		}
		h.Set("cert:"+name, err)
	}
	return h
}

func (s *Service) probeKey(ctx context.Context, label string) error {
	k, err := s.store.Signer(ctx, label)
	if err != nil {
		return err
	}
	d := sha256.Sum256([]byte("jisr health probe"))
	_, err = k.Sign(nil, d[:], crypto.SHA256)
	return err
}

func (s *Service) serveHealth(w http.ResponseWriter, r *http.Request) {
	s.CheckHealth(r.Context()).Write(w)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// adminHandler is the operator API. Every route but /healthz and /metrics
// requires "Authorization: Bearer <admin token>".
func (s *Service) adminHandler() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", s.serveHealth)
	r.Method(http.MethodGet, "/readyz", daemon.ReadyHandler(s.CheckHealth, 0))
	r.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	r.Group(func(r chi.Router) {
		r.Use(s.requireAdmin)
		r.Post("/v1/tokens", s.handleToken)
		r.Post("/v1/acme/allow", s.handleACMEAllow)
		r.Post("/v1/revoke", s.handleRevoke)
		r.Get("/v1/certificates/{serial}", s.handleStatus)
	})
	return r
}

func (s *Service) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(sum[:], s.adminKey) != 1 {
			s.log.Warn("admin API: refused request without valid token", "path", r.URL.Path, "remote", r.RemoteAddr)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or invalid admin token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

type apiError struct {
	Error string `json:"error"`
}

// TokenRequest asks for a one-time enrolment token.
type TokenRequest struct {
	// Kind is "auth" or "sign".
	Kind string `json:"kind"`
	// ID is the typed identifier: "SERVER:PS/GOV/MOI/ss1" for auth,
	// "MEMBER:PS/GOV/MOI" for sign.
	ID string `json:"id"`
	// DNSNames are the auth certificate's DNS names / IP addresses.
	DNSNames []string `json:"dnsNames,omitempty"`
	// TTL is the token's validity (Go duration); default ca.tokenLifetime.
	TTL string `json:"ttl,omitempty"`
}

// TokenResponse carries the token.
type TokenResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if !decode(w, r, &req) {
		return
	}
	kind, err := profile.ParseKind(req.Kind)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	id, err := xroad.ParseTyped(req.ID)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	ttl := s.cfg.CA.TokenLifetime
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 {
			writeJSON(w, http.StatusBadRequest, apiError{"ttl: want a positive Go duration"})
			return
		}
	}
	tok, err := s.authority.NewEnrolmentToken(kind, id, req.DNSNames, ttl)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	s.log.Info("enrolment token issued", "kind", kind.String(), "id", id.Typed(), "dns", req.DNSNames, "ttl", ttl.String())
	writeJSON(w, http.StatusOK, TokenResponse{Token: tok, ExpiresAt: s.clk.Now().Add(ttl).UTC()})
}

// ACMEAllowRequest registers the DNS name a security server may enrol for
// through ACME.
type ACMEAllowRequest struct {
	// Server is the security server in header form, "PS/GOV/MOI/ss1".
	Server string `json:"server"`
	// DNSName is the name the server proves control of with http-01.
	DNSName string `json:"dnsName"`
}

func (s *Service) handleACMEAllow(w http.ResponseWriter, r *http.Request) {
	var req ACMEAllowRequest
	if !decode(w, r, &req) {
		return
	}
	server, err := xroad.ParseServer(req.Server)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	if err := s.authority.AllowACME(server, req.DNSName); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	s.log.Info("ACME enrolment allowed", "server", server.String(), "dns", req.DNSName)
	writeJSON(w, http.StatusOK, req)
}

// RevokeRequest revokes a certificate.
type RevokeRequest struct {
	// Serial is the serial number in decimal, or hex with a 0x prefix.
	Serial string `json:"serial"`
	// Reason is the RFC 5280 CRLReason code (0 unspecified, 1 keyCompromise,
	// 4 superseded, 5 cessationOfOperation, …).
	Reason int `json:"reason"`
	// Text is a free-form note recorded with the revocation.
	Text string `json:"text,omitempty"`
}

// CertificateStatus is the admin API's view of one serial.
type CertificateStatus struct {
	Serial    string     `json:"serial"`
	Status    string     `json:"status"` // good, revoked or unknown
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	Reason    int        `json:"reason,omitempty"`
}

func (s *Service) handleRevoke(w http.ResponseWriter, r *http.Request) {
	var req RevokeRequest
	if !decode(w, r, &req) {
		return
	}
	serial, err := ParseSerial(req.Serial)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	if req.Reason < 0 || req.Reason > 10 || req.Reason == 7 {
		writeJSON(w, http.StatusBadRequest, apiError{"reason must be an RFC 5280 CRLReason code"})
		return
	}
	if err := s.authority.Revoke(r.Context(), serial, req.Reason, req.Text); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	s.log.Info("certificate revoked", "serial", serial.String(), "reason", req.Reason)
	s.writeStatus(w, r, serial)
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	serial, err := ParseSerial(chi.URLParam(r, "serial"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	s.writeStatus(w, r, serial)
}

func (s *Service) writeStatus(w http.ResponseWriter, r *http.Request, serial *big.Int) {
	st, err := s.authority.CertStatus(r.Context(), serial)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{"status unavailable"})
		s.log.Error("certificate status", "serial", serial.String(), "err", err)
		return
	}
	out := CertificateStatus{Serial: serial.String(), Status: "unknown"}
	switch {
	case st.Known && st.Revoked:
		out.Status, out.Reason = "revoked", st.Reason
		t := st.RevokedAt.UTC()
		out.RevokedAt = &t
	case st.Known:
		out.Status = "good"
	}
	writeJSON(w, http.StatusOK, out)
}

// ParseSerial parses a certificate serial number in decimal or 0x-prefixed
// hex (colons allowed, as openssl prints them).
func ParseSerial(s string) (*big.Int, error) {
	s = strings.TrimSpace(s)
	n := new(big.Int)
	var ok bool
	if h, isHex := strings.CutPrefix(strings.ToLower(s), "0x"); isHex {
		_, ok = n.SetString(strings.ReplaceAll(h, ":", ""), 16)
	} else {
		_, ok = n.SetString(s, 10)
	}
	if !ok || n.Sign() <= 0 {
		return nil, fmt.Errorf("serial %q: want a positive decimal or 0x-prefixed hex number", s)
	}
	return n, nil
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"bad request body: " + err.Error()})
		return false
	}
	return true
}
