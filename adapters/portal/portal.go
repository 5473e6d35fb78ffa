package portal

import (
	"context"
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// Officer is a registration officer's account (from configuration).
type Officer struct {
	// Username signs in; PasswordHash is an argon2id hash (HashPassword;
	// `jisr portal hash-password` prints one).
	Username     string
	PasswordHash string
}

// SeedAccount is a citizen account created already active (the demo's
// citizens); an existing account is left as it is.
type SeedAccount struct {
	NationalID   string
	NameAR       string
	NameEN       string
	PasswordHash string
}

// Config configures the portal.
type Config struct {
	// Bus reaches the ministries (NewHTTPBus in production). Required.
	Bus Bus
	// Roots are the instance's trust anchors, for document verification.
	// Required.
	Roots *x509.CertPool
	// Issuers lists, per document type, the members allowed to issue it;
	// their document status is asked of the Interior service of the bus
	// (the only issuer of the demo world). Required.
	Issuers map[string][]xroad.MemberID
	// Database is where accounts, sessions and applications are kept.
	Database kit.Database
	// Officers may sign in to the registration console.
	Officers []Officer
	// Accounts are created active at start (demo).
	Accounts []SeedAccount
	// SecureCookies marks cookies Secure (set it when users reach the
	// portal over HTTPS, e.g. through a TLS-terminating proxy).
	SecureCookies bool
	// Argon2 are the cost parameters of new password hashes (zero:
	// DefaultArgon2).
	Argon2 Argon2Params
	// ActivationTTL is how long an activation code lasts (zero: 72 h).
	ActivationTTL time.Duration
	// MaxFailures failed sign-ins within LockFor lock an account for
	// LockFor (zero: 5 and 15 minutes).
	MaxFailures int
	LockFor     time.Duration
	// SessionIdle and SessionMax end sessions (zero: 30 minutes, 12 h).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// Clock, Log and Registerer: time, logs, metrics (nil: system clock,
	// discarded logs, no metrics).
	Clock      clock.Clock
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) defaults() error {
	if c.Bus == nil {
		return errors.New("portal: a bus is required")
	}
	if c.Roots == nil {
		return errors.New("portal: trust roots are required")
	}
	if len(c.Issuers) == 0 {
		return errors.New("portal: document issuers are required")
	}
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2()
	}
	if c.ActivationTTL == 0 {
		c.ActivationTTL = 72 * time.Hour
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = 5
	}
	if c.LockFor == 0 {
		c.LockFor = 15 * time.Minute
	}
	if c.SessionIdle == 0 {
		c.SessionIdle = 30 * time.Minute
	}
	if c.SessionMax == 0 {
		c.SessionMax = 12 * time.Hour
	}
	if c.Clock == nil {
		c.Clock = clock.System()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	for _, o := range c.Officers {
		if o.Username == "" {
			return errors.New("portal: an officer without a user name")
		}
		if _, _, _, err := parseHash(o.PasswordHash); err != nil {
			return fmt.Errorf("portal: officer %s: %w", o.Username, err)
		}
	}
	for _, a := range c.Accounts {
		if err := checkNationalID(a.NationalID); err != nil {
			return fmt.Errorf("portal: seed account: %w", err)
		}
		if _, _, _, err := parseHash(a.PasswordHash); err != nil {
			return fmt.Errorf("portal: seed account %s: %w", a.NationalID, err)
		}
	}
	return nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// Service is the Hukumati portal: its web pages and the journeys behind
// them.
type Service struct {
	cfg     Config
	clock   clock.Clock
	log     *slog.Logger
	db      *kit.DB
	bus     Bus
	text    catalogue
	pages   *pages
	metrics *metrics
	router  chi.Router
	// appLocks serialises the processing of one application (a double
	// submit waits for the first and then finds its steps done).
	appLocks keyedMutex

	dummyOnce sync.Once
	dummy     string
}

// New opens the portal's database, seeds accounts and builds the pages.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, kit.OpenTimeout)
	defer cancel()
	db, err := kit.Open(ctx, cfg.Database, sub, "portal_schema_version")
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	s := &Service{cfg: cfg, clock: cfg.Clock, log: cfg.Log.With("component", "portal"), db: db, bus: cfg.Bus, text: newCatalogue()}
	fail := func(err error) (*Service, error) {
		_ = db.Close()
		return nil, fmt.Errorf("portal: %w", err)
	}
	if s.pages, err = parsePages(s.text); err != nil {
		return fail(err)
	}
	if s.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return fail(err)
	}
	for _, a := range cfg.Accounts {
		if err := s.seedAccount(ctx, a); err != nil {
			return fail(err)
		}
	}
	s.router = s.routes()
	return s, nil
}

// Handler returns the portal's HTTP handler.
func (s *Service) Handler() http.Handler { return s.router }

// Close releases the database.
func (s *Service) Close() error { return s.db.Close() }

// keyedMutex is a set of mutexes by key, each kept while in use.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu    sync.Mutex
	users int
}

// lock locks key and returns its unlock function.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.users++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.users--
		if e.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// metrics are the portal's Prometheus collectors.
type metrics struct {
	busCalls      *prometheus.CounterVec
	applications  *prometheus.CounterVec
	signIns       *prometheus.CounterVec
	verifications *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		busCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jisr_portal_bus_calls_total",
			Help: "Calls the portal made through its security server, by ministry and outcome (ok, problem, fault, unreachable)."},
			[]string{"ministry", "outcome"}),
		applications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jisr_portal_applications_total",
			Help: "Journey submissions by service and resulting status."}, []string{"service", "status"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jisr_portal_sign_ins_total",
			Help: "Sign-in attempts by kind (citizen, officer) and outcome (ok, failed, locked)."}, []string{"kind", "outcome"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jisr_portal_verifications_total",
			Help: "Document verifications by verdict (valid, revoked, forged, error)."}, []string{"verdict"}),
	}
	if err := kit.Register(reg, m.busCalls, m.applications, m.signIns, m.verifications); err != nil {
		return nil, err
	}
	return m, nil
}

// call sends c through the bus and counts the outcome; see do.
func (s *Service) call(ctx context.Context, c Call, out any) (*Response, error) {
	resp, err := do(ctx, s.bus, c, out)
	outcome := "ok"
	var ce *CallError
	switch {
	case errors.As(err, &ce) && ce.BusFault:
		outcome = "fault"
	case errors.As(err, &ce):
		outcome = "problem"
	case errors.Is(err, ErrBusUnreachable):
		outcome = "unreachable"
	case err != nil:
		outcome = "error"
	}
	s.metrics.busCalls.WithLabelValues(string(c.Ministry), outcome).Inc()
	if err != nil {
		s.log.InfoContext(ctx, "bus call failed", "ministry", c.Ministry, "method", c.Method, "path", c.Path, "issue", c.Issue, "err", err)
	}
	return resp, err
}
