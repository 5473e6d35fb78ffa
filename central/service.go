package central

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/daemon"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/pki/keys"
)

// Management is the management-request endpoint security servers submit
// signed requests to, and the decider the admin API calls: central/mgmt's
// Processor.
type Management interface {
	RequestDecider
	// Handler serves POST /managementrequests and GET
	// /managementrequests/{id}.
	Handler() http.Handler
	// TLSConfig returns the listener's TLS configuration presenting cert
	// (TLS 1.3, client certificates verified against the registry).
	TLSConfig(cert tls.Certificate) *tls.Config
}

// ManagementDeps is what a ManagementFactory gets to build the processor.
type ManagementDeps struct {
	Store       registry.Store
	Clock       clock.Clock
	Logger      *slog.Logger
	AutoApprove bool
	Registerer  prometheus.Registerer
}

// ManagementFactory builds the management-request processor; see
// WithManagement.
type ManagementFactory func(ManagementDeps) (Management, error)

// Service is one central server node: the registry, configuration
// publishing and serving, the admin API and the management-request
// endpoint. Several nodes may share one PostgreSQL registry. Create it with
// New, run it with Serve, release it with Close.
type Service struct {
	cfg       Config
	clk       clock.Clock
	log       *slog.Logger
	store     registry.Store
	ownsStore bool
	keyStore  keys.Store
	signers   []globalconf.SigningKey
	metrics   *prometheus.Registry
	publisher *Publisher
	api       *API
	mgmt      Management
	mgmtCert  tls.Certificate
	newMgmt   ManagementFactory

	bound daemon.Bound
}

// Option configures New.
type Option func(*Service)

// WithClock injects the clock (default clock.System()).
func WithClock(c clock.Clock) Option { return func(s *Service) { s.clk = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithStore makes the service use an open registry instead of opening the
// configured database; the service does not close it.
func WithStore(st registry.Store) Option { return func(s *Service) { s.store = st } }

// WithManagement installs the management-request processor. Without it the
// management listener answers 503 and the admin API's approve and reject
// operations answer 503.
func WithManagement(f ManagementFactory) Option { return func(s *Service) { s.newMgmt = f } }

// New opens the registry and the key store and builds the publisher, the
// admin API and (with WithManagement) the management-request processor.
// cfg must have passed Validate. The registry must have been initialised
// (`jisr central init`) for cfg.Instance.
func New(ctx context.Context, cfg Config, opts ...Option) (_ *Service, err error) {
	s := &Service{cfg: cfg, clk: clock.System(), log: slog.New(slog.DiscardHandler), metrics: prometheus.NewRegistry()}
	for _, o := range opts {
		o(s)
	}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	s.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.store == nil {
		if s.store, err = OpenRegistry(ctx, cfg.Database, s.clk); err != nil {
			return nil, err
		}
		s.ownsStore = true
	}
	inst, err := s.store.Instance(ctx)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, errors.New("central: the registry has no instance code (run `jisr central init`)")
	}
	if err != nil {
		return nil, fmt.Errorf("central: %w", err)
	}
	if inst != cfg.Instance {
		return nil, fmt.Errorf("central: configuration is for instance %q but the registry holds %q", cfg.Instance, inst)
	}
	if s.keyStore, err = keys.Open(cfg.Keys); err != nil {
		return nil, fmt.Errorf("central: configuration keys: %w", err)
	}
	if s.signers, err = signingKeys(ctx, s.keyStore, cfg.ConfigurationKeys); err != nil {
		return nil, err
	}
	if s.mgmtCert, err = tls.LoadX509KeyPair(cfg.Management.TLSCertFile, cfg.Management.TLSKeyFile); err != nil {
		return nil, fmt.Errorf("central: management TLS certificate: %w", err)
	}
	mgmtCerts, err := managementCerts(cfg.Management)
	if err != nil {
		return nil, err
	}
	s.publisher, err = NewPublisher(PublisherConfig{
		Store: s.store,
		Keys:  s.signers,
		Central: globalconf.CentralServer{
			ManagementURL:             cfg.PublicURLs.Management,
			ManagementTLSCertificates: mgmtCerts,
			ConfigurationURLs:         cfg.PublicURLs.Configuration,
		},
		MaxClockSkew: cfg.Publishing.MaxClockSkew,
		Clock:        s.clk,
		Logger:       s.log.With("component", "publisher"),
		Registerer:   s.metrics,
	})
	if err != nil {
		return nil, err
	}
	var decider RequestDecider
	if s.newMgmt != nil {
		s.mgmt, err = s.newMgmt(ManagementDeps{Store: s.store, Clock: s.clk, Logger: s.log.With("component", "mgmt"),
			AutoApprove: cfg.AutoApprove, Registerer: s.metrics})
		if err != nil {
			return nil, fmt.Errorf("central: management requests: %w", err)
		}
		decider = s.mgmt
	}
	s.api, err = NewAPI(APIConfig{
		Store: s.store, Publisher: s.publisher, Decider: decider, Clock: s.clk,
		Logger: s.log.With("component", "admin-api"), Registerer: s.metrics,
		Health:  http.HandlerFunc(s.serveHealth),
		Metrics: promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{Registry: s.metrics}),
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenRegistry opens the registry database cfg describes (migrating its
// schema) with clk stamping its times (clock.System() if nil).
func OpenRegistry(ctx context.Context, cfg DatabaseConfig, clk clock.Clock) (registry.Store, error) {
	if clk == nil {
		clk = clock.System()
	}
	switch cfg.Driver {
	case DriverPostgres:
		dsn, err := cfg.dsn()
		if err != nil {
			return nil, fmt.Errorf("central: %w", err)
		}
		st, err := registry.OpenPostgres(ctx, dsn, registry.WithClock(clk))
		if err != nil {
			return nil, fmt.Errorf("central: %w", err)
		}
		return st, nil
	case DriverSQLite, "":
		st, err := registry.OpenSQLite(ctx, cfg.Path, registry.WithClock(clk))
		if err != nil {
			return nil, fmt.Errorf("central: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("central: unknown database driver %q", cfg.Driver)
}

// signingKeys fetches the configuration keys by label; the label is the
// key id.
func signingKeys(ctx context.Context, st keys.Store, labels []string) ([]globalconf.SigningKey, error) {
	out := make([]globalconf.SigningKey, 0, len(labels))
	for _, l := range labels {
		signer, err := st.Signer(ctx, l)
		if err != nil {
			return nil, fmt.Errorf("central: configuration key %q: %w", l, err)
		}
		if _, err := globalconf.DefaultAlgorithm(signer.Public()); err != nil {
			return nil, fmt.Errorf("central: configuration key %q: %w", l, err)
		}
		out = append(out, globalconf.SigningKey{KeyID: l, Signer: signer})
	}
	return out, nil
}

// managementCertHashes returns the SHA-256 (lower-case hex) of the leaf of
// the management TLS certificate and of every extra certificate.
func managementCerts(m ManagementConfig) ([][]byte, error) {
	var out [][]byte
	for _, f := range append([]string{m.TLSCertFile}, m.ExtraTLSCertFiles...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("central: management TLS certificate: %w", err)
		}
		block, _ := pem.Decode(b)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("central: management TLS certificate %s: no PEM CERTIFICATE", f)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("central: management TLS certificate %s: %w", f, err)
		}
		out = append(out, block.Bytes)
	}
	return out, nil
}

// Close releases the key store and, unless it was given with WithStore, the
// registry.
func (s *Service) Close() error {
	var errs []error
	if s.keyStore != nil {
		errs = append(errs, s.keyStore.Close())
	}
	if s.store != nil && s.ownsStore {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// Store returns the registry the service uses.
func (s *Service) Store() registry.Store { return s.store }

// Publisher returns the configuration publisher.
func (s *Service) Publisher() *Publisher { return s.publisher }

// API returns the admin API.
func (s *Service) API() *API { return s.api }

// Metrics returns the Prometheus registry holding the service's metrics.
func (s *Service) Metrics() *prometheus.Registry { return s.metrics }

// Anchor returns the anchor for this node's configuration: instance,
// configuration URLs, and the public keys of the configuration keys.
func (s *Service) Anchor() (*globalconf.Anchor, error) {
	pubs := make(map[string]crypto.PublicKey, len(s.signers))
	for _, k := range s.signers {
		pubs[k.KeyID] = k.Signer.Public()
	}
	return globalconf.NewAnchor(s.cfg.Instance, s.clk.Now(), s.cfg.PublicURLs.Configuration, pubs)
}

// ExportAnchor returns the anchor security servers of cfg's instance are
// bootstrapped with, reading only the key store (not the database): the
// instance, cfg.PublicURLs.Configuration in order, and the public keys of
// cfg.ConfigurationKeys under their labels, generated at now.
func ExportAnchor(ctx context.Context, cfg Config, now time.Time) (*globalconf.Anchor, error) {
	st, err := keys.Open(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("central: configuration keys: %w", err)
	}
	defer st.Close()
	signers, err := signingKeys(ctx, st, cfg.ConfigurationKeys)
	if err != nil {
		return nil, err
	}
	pubs := make(map[string]crypto.PublicKey, len(signers))
	for _, k := range signers {
		pubs[k.KeyID] = k.Signer.Public()
	}
	a, err := globalconf.NewAnchor(cfg.Instance, now, cfg.PublicURLs.Configuration, pubs)
	if err != nil {
		return nil, fmt.Errorf("central: anchor: %w", err)
	}
	return a, nil
}

// Addr returns the bound address of a listener ("admin", "configuration",
// "management") once Serve has opened it, or "".
func (s *Service) Addr(name string) string { return s.bound.Addr(name) }

// Serve publishes the configuration when due (checking every
// publishing.interval), listens on the three configured addresses and
// serves until ctx is cancelled, then shuts down gracefully (in-flight
// requests get 10 s). ready, if not nil, is called once every listener is
// open.
func (s *Service) Serve(ctx context.Context, ready func()) error {
	confMux := http.NewServeMux()
	confMux.Handle("GET "+ConfigurationPath, s.publisher.Handler())
	confMux.Handle("HEAD "+ConfigurationPath, s.publisher.Handler())
	confMux.HandleFunc("GET /healthz", s.serveHealth)
	confMux.Handle("GET /readyz", daemon.ReadyHandler(s.CheckHealth, 0))

	mgmtMux := http.NewServeMux()
	mgmtMux.HandleFunc("GET /healthz", s.serveHealth)
	var mgmtTLS *tls.Config
	if s.mgmt != nil {
		mgmtMux.Handle("/", s.mgmt.Handler())
		mgmtTLS = s.mgmt.TLSConfig(s.mgmtCert)
	} else {
		s.log.Warn("no management-request processor: the management listener answers 503")
		mgmtMux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "management requests are not available on this node", http.StatusServiceUnavailable)
		})
		mgmtTLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{s.mgmtCert}, Time: s.clk.Now}
	}
	pubCtx, stopPublishing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.publisher.Run(pubCtx, s.cfg.Publishing.Interval) })
	err := daemon.Serve(ctx, "central", s.log, &s.bound, []daemon.Listener{
		// The web console (/console/, consolemount.go) calls the admin API and /readyz through the handler it wraps.
		{Name: "admin", Addr: s.cfg.Listen.Admin, Handler: s.withConsole(withReady(s.api.Handler(), daemon.ReadyHandler(s.CheckHealth, 0)))},
		{Name: "configuration", Addr: s.cfg.Listen.Configuration, Handler: confMux},
		{Name: "management", Addr: s.cfg.Listen.Management, Handler: mgmtMux, TLS: mgmtTLS},
	}, ready)
	stopPublishing()
	wg.Wait()
	return err
}

// CheckHealth runs the health checks: the database answers, every
// configuration key signs, and the latest published configuration exists
// and has not expired.
func (s *Service) CheckHealth(ctx context.Context) *daemon.Health {
	h := daemon.NewHealth()
	set := h.Set
	_, err := s.store.Version(ctx)
	set("database", err)
	for _, k := range s.signers {
		d := sha256.Sum256([]byte("jisr health probe"))
		_, err := k.Signer.Sign(nil, d[:], crypto.SHA256)
		set("key:"+k.KeyID, err)
	}
	pc, err := s.store.LatestPublished(ctx)
	if err == nil && !s.clk.Now().Before(pc.ExpiresAt) {
		err = fmt.Errorf("serial %d expired at %s", pc.Serial, pc.ExpiresAt.Format(time.RFC3339))
	}
	set("configuration", err)
	return h
}

func (s *Service) serveHealth(w http.ResponseWriter, r *http.Request) {
	s.CheckHealth(r.Context()).Write(w)
}

// withReady answers GET /readyz with ready (the readiness checks: database
// reachable, configuration keys sign, latest configuration not expired)
// and hands everything else to h.
func withReady(h, ready http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && r.Method == http.MethodGet {
			ready.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
