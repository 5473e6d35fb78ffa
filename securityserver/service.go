package securityserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/daemon"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/archive"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/message"
	"github.com/jisr-bus/jisr/securityserver/peer"
	"github.com/jisr-bus/jisr/securityserver/proxy"
)

// Service is a running security server. Build it with New, run it with
// Serve, release it with Close.
type Service struct {
	cfg      *Config
	clk      clock.Clock
	log      *slog.Logger
	registry *prometheus.Registry
	archiver *archive.Archiver
	// replayStore is the shared replay table (PostgreSQL), purged by Serve.
	replayStore conf.ReplayStore

	store     keys.Store
	gc        *globalconf.Client
	ocsp      *peer.OCSPCache
	identity  *peer.Identity
	peerSrv   *peer.Server
	transport *peer.Transport
	confStore conf.Store
	local     *LocalView
	msglog    *messageLog
	mon       *monitoring                          // operational monitoring (monitoring.go)
	signCerts map[xroad.MemberID]*x509.Certificate // sign certificates loaded, for readiness and metrics
	client    *proxy.ClientProxy
	server    *proxy.ServerProxy

	bound daemon.Bound
}

// Option configures New.
type Option func(*Service)

// WithClock injects the clock.
func WithClock(c clock.Clock) Option { return func(s *Service) { s.clk = c } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New opens the key store, the databases and the last good global
// configuration, loads the server's identity and builds both proxies.
func New(ctx context.Context, cfg *Config, opts ...Option) (_ *Service, err error) {
	s := &Service{cfg: cfg, clk: clock.System(), log: slog.New(slog.DiscardHandler), registry: prometheus.NewRegistry(),
		signCerts: map[xroad.MemberID]*x509.Certificate{}}
	for _, o := range opts {
		o(s)
	}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.store, err = keys.Open(cfg.Keys); err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	anchorBytes, err := os.ReadFile(cfg.Anchor)
	if err != nil {
		return nil, fmt.Errorf("security server: anchor: %w", err)
	}
	anchor, err := globalconf.ParseAnchor(anchorBytes)
	if err != nil {
		return nil, fmt.Errorf("security server: anchor: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, GlobalConfDir), 0o700); err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	s.gc, err = globalconf.NewClient(globalconf.ClientConfig{Anchor: anchor, Dir: filepath.Join(cfg.Dir, GlobalConfDir),
		HTTPClient: &http.Client{Timeout: 30 * time.Second}, Clock: s.clk, Logger: s.log.With("component", "globalconf"), Registerer: s.registry})
	if err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	if err := s.gc.Load(); err != nil && !errors.Is(err, globalconf.ErrNoConfiguration) && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("last good global configuration not usable", "err", err)
	}
	if err := s.gc.Refresh(ctx); err != nil {
		s.log.Warn("global configuration download failed; using the last good copy if any", "err", err)
	}
	if s.ocsp, err = peer.NewOCSPCache(peer.OCSPCacheConfig{Docs: s.gc, Clock: s.clk, Logger: s.log.With("component", "ocsp"), Registerer: s.registry}); err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	if err := s.loadIdentity(ctx); err != nil {
		return nil, err
	}
	if s.peerSrv, err = peer.NewServer(peer.ServerConfig{Docs: s.gc, Identity: s.identity, OCSP: s.ocsp, Clock: s.clk,
		Logger: s.log.With("component", "peer"), Registerer: s.registry}); err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	if s.transport, err = peer.NewTransport(peer.TransportConfig{Docs: s.gc, Identity: s.identity, OCSP: s.ocsp, Clock: s.clk,
		Logger: s.log.With("component", "peer"), Registerer: s.registry}); err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	if s.confStore, err = openConf(ctx, cfg, s.clk); err != nil {
		return nil, err
	}
	if s.local, err = NewLocalView(ctx, s.confStore); err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	if s.msglog, err = openMessageLog(ctx, cfg, s.clk, s.local, s.registry); err != nil {
		return nil, err
	}
	if err := s.msglog.startTimestamping(s.gc, s.registry, s.log.With("component", "timestamper")); err != nil {
		return nil, err
	}
	if !cfg.Archive.Disabled {
		if s.archiver, err = newArchiver(cfg, s.msglog.log, s.clk, s.identitySigner, s.registry, s.log.With("component", "archiver")); err != nil {
			return nil, fmt.Errorf("security server: %w", err)
		}
	}
	// Operational monitoring and metrics (monitoring.go).
	if s.mon, err = openMonitoring(ctx, cfg, s.clk, s.registry, s.log.With("component", "opmon"), s.gc, s.local); err != nil {
		return nil, err
	}
	s.registry.MustRegister(s.identity, &certExpiry{clk: s.clk, server: cfg.ID(), auth: s.identity.AuthCertificate, sign: s.signCerts})
	local, err := message.NewReplayCache(s.clk, replayWindow, 1_000_000)
	if err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	var replay message.ReplayGuard = local
	if rs, ok := s.confStore.(conf.ReplayStore); ok && cfg.Database.Driver == "postgres" {
		// Nodes sharing the database share the ids they accepted.
		replay, s.replayStore = &sharedReplay{local: local, store: rs}, rs
	}
	spool := filepath.Join(cfg.Dir, SpoolDir)
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	s.client = proxy.NewClientProxy(proxy.ClientConfig{ServerID: cfg.ID(), Conf: s.gc, Clients: s.local, Signer: s.identity,
		Transport: s.transport, Log: s.msglog, Clock: s.clk, Logger: s.log.With("component", "client-proxy"),
		MemoryLimit: cfg.MemoryLimit, MaxBodySize: cfg.MaxBodySize, TempDir: spool, Observer: s.mon.observer})
	s.server = proxy.NewServerProxy(proxy.ServerConfig{Conf: s.gc, Peers: s.peerSrv, Clients: s.local, Access: s.local,
		Metadata: s.local, Signer: s.identity, Log: s.msglog, Replay: replay, Clock: s.clk,
		Logger: s.log.With("component", "server-proxy"), MemoryLimit: cfg.MemoryLimit, MaxBodySize: cfg.MaxBodySize, TempDir: spool,
		ServerID: cfg.ID(), Observer: s.mon.observer})
	return s, nil
}

// loadIdentity reads the auth key and certificate and every sign
// certificate in certs/ with its key.
func (s *Service) loadIdentity(ctx context.Context) error {
	authKey, err := s.store.Signer(ctx, AuthKeyLabel)
	if err != nil {
		return fmt.Errorf("security server: auth key: %w", err)
	}
	authChain, err := readChain(s.cfg.authCertPath())
	if err != nil {
		return fmt.Errorf("security server: auth certificate (run `jisr ss enrol`): %w", err)
	}
	if got, err := profile.ServerIDFromCert(authChain[0]); err != nil || got != s.cfg.ID() {
		return fmt.Errorf("security server: the auth certificate names %v (%v), not %s", got, err, s.cfg.ID())
	}
	if s.identity, err = peer.NewIdentity(authKey, authChain, s.ocsp, s.clk); err != nil {
		return fmt.Errorf("security server: %w", err)
	}
	files, _ := filepath.Glob(filepath.Join(s.cfg.Dir, CertsDir, signCertPrefix+"*"+certFileSuffix))
	for _, f := range files {
		chain, err := readChain(f)
		if err != nil {
			return fmt.Errorf("security server: %s: %w", f, err)
		}
		m, err := profile.MemberIDFromCert(chain[0])
		if err != nil {
			return fmt.Errorf("security server: %s: %w", f, err)
		}
		key, err := s.store.Signer(ctx, signLabel(m))
		if err != nil {
			return fmt.Errorf("security server: sign key of %s: %w", m, err)
		}
		if err := s.identity.AddSignKey(m, key, chain); err != nil {
			return fmt.Errorf("security server: sign key of %s: %w", m, err)
		}
		s.signCerts[m] = chain[0]
	}
	if err := s.identity.Refresh(ctx); err != nil {
		s.log.Warn("OCSP for own certificates not available yet", "err", err)
	}
	return nil
}

// Close releases everything New opened.
func (s *Service) Close() error {
	var errs []error
	if s.msglog != nil {
		errs = append(errs, s.msglog.Close())
	}
	if s.mon != nil {
		errs = append(errs, s.mon.Close())
	}
	if s.confStore != nil {
		errs = append(errs, s.confStore.Close())
	}
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	if s.server != nil {
		s.server.CloseIdleConnections()
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// Addr returns the bound address of listener name (clientHTTP,
// clientHTTPS, peer, admin) once Serve has opened it.
func (s *Service) Addr(name string) string { return s.bound.Addr(name) }

// Serve opens the listeners and serves until ctx ends, then drains. In the
// background it refreshes the global configuration, its own OCSP responses
// and the local configuration.
func (s *Service) Serve(ctx context.Context, ready func()) error {
	clientTLS, err := tls.LoadX509KeyPair(filepath.Join(s.cfg.Dir, CertsDir, ClientTLSCert), filepath.Join(s.cfg.Dir, CertsDir, ClientTLSKey))
	if err != nil {
		return fmt.Errorf("security server: client HTTPS certificate: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.gc.Run(ctx, s.cfg.RefreshInterval) })
	wg.Go(func() { _ = s.identity.Run(ctx) })
	wg.Go(func() { s.watchLocal(ctx) })
	wg.Go(func() { _ = s.msglog.ts.Run(ctx) })
	wg.Go(func() { _ = s.mon.retention.Run(ctx) })
	if s.archiver != nil {
		wg.Go(func() { s.archiver.Run(ctx) })
	}
	if s.replayStore != nil {
		wg.Go(func() { runReplayPurge(ctx, s.replayStore, s.clk.Now) })
	}
	err = daemon.Serve(ctx, "security server", s.log, &s.bound, []daemon.Listener{
		{Name: "clientHTTP", Addr: s.cfg.Listen.ClientHTTP, Handler: s.clientHandler()},
		{Name: "clientHTTPS", Addr: s.cfg.Listen.ClientHTTPS, Handler: s.clientHandler(), TLS: &tls.Config{MinVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{clientTLS}, ClientAuth: tls.RequestClientCert, NextProtos: []string{"h2", "http/1.1"}}},
		{Name: "peer", Addr: s.cfg.Listen.Peer, Handler: s.server, TLS: s.peerSrv.TLSConfig()},
		{Name: "admin", Addr: s.cfg.Listen.Admin, Handler: s.adminHandler()},
	}, ready)
	cancel()
	wg.Wait()
	return err
}

// watchLocal reloads the local configuration when another process (the
// CLI, another node) changed it, and promotes clients whose registration
// the global configuration now shows.
func (s *Service) watchLocal(ctx context.Context) {
	t := time.NewTicker(defaultConfPoll)
	defer t.Stop()
	for {
		if err := s.reconcile(ctx); err != nil {
			s.log.Warn("local configuration", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reconcile moves clients in REGISTRATION_IN_PROGRESS to REGISTERED once
// the global configuration lists them on this server, then reloads the
// view.
func (s *Service) reconcile(ctx context.Context) error {
	if doc, err := s.gc.Current(); err == nil {
		if srv, ok := doc.ServerByID(s.cfg.ID()); ok {
			for _, c := range srv.Clients {
				lc, ok := s.local.View().Client(c)
				if ok && lc.Status == conf.StatusRegistrationInProgress {
					lc.Status = conf.StatusRegistered
					if err := s.confStore.UpdateClient(ctx, lc); err != nil {
						return err
					}
					s.log.Info("client registered", "client", c.String())
				}
			}
		}
	}
	return s.local.Reload(ctx)
}

// CheckHealth reports whether the server can exchange messages.
func (s *Service) CheckHealth(ctx context.Context) *daemon.Health {
	h := daemon.NewHealth()
	_, err := s.gc.Current()
	h.Set("global-configuration", err)
	_, _, _, err = s.identity.SignMaterial(s.cfg.ID().Owner)
	h.Set("sign-key", err)
	h.Set("message-log", s.msglog.Ping(ctx))
	h.Set("timestamping", s.msglog.ts.Healthy(s.clk.Now()))
	err = nil
	if c := s.identity.AuthCertificate(); c != nil && c.NotAfter.Sub(s.clk.Now()) < 14*24*time.Hour {
		err = fmt.Errorf("expires %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	h.Set("auth-certificate", err)
	return h
}

func (s *Service) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	health := func(w http.ResponseWriter, r *http.Request) { s.CheckHealth(r.Context()).Write(w) }
	mux.HandleFunc("GET /healthz", health)
	mux.Handle("GET /readyz", daemon.ReadyHandler(s.CheckReady, 0))
	s.adminAPI(mux)
	s.mountConsole(mux) // web console at /console/ (consolemount.go), over this mux
	return mux
}

func readChain(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no certificates", path)
	}
	return out, nil
}

func writeChain(path string, chain []*x509.Certificate) error {
	var b strings.Builder
	for _, c := range chain {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func openConf(ctx context.Context, cfg *Config, clk clock.Clock) (conf.Store, error) {
	if clk == nil {
		clk = clock.System()
	}
	var (
		st  conf.Store
		err error
	)
	if cfg.Database.Driver == "postgres" {
		dsn, derr := readDSN(cfg.Database)
		if derr != nil {
			return nil, derr
		}
		st, err = conf.OpenPostgres(ctx, dsn, conf.WithClock(clk))
	} else {
		st, err = conf.OpenSQLite(ctx, filepath.Join(cfg.Dir, ConfDBFile), conf.WithClock(clk))
	}
	if err != nil {
		return nil, fmt.Errorf("security server: local configuration: %w", err)
	}
	return st, nil
}

func readDSN(d DatabaseConfig) (string, error) {
	if d.DSNEnv != "" {
		v := os.Getenv(d.DSNEnv)
		if v == "" {
			return "", fmt.Errorf("security server: database: $%s is empty", d.DSNEnv)
		}
		return v, nil
	}
	b, err := os.ReadFile(d.DSNFile)
	if err != nil {
		return "", fmt.Errorf("security server: database: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
