package securityserver

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/daemon"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/opmon"
	"github.com/jisr-bus/jisr/securityserver/proxy"
)

// OpmonDBFile holds the operational monitoring records with the sqlite
// driver (in Dir); with postgres they share the security server's
// database.
const OpmonDBFile = "opmon.db"

// Defaults of the monitoring configuration.
const (
	defaultOpmonRetentionDays = 7
	defaultCertExpiryDays     = 14
)

// monitoring is the security server's operational monitoring: the record
// store, the recorder the proxies report to (with the exchange metrics),
// retention and the query API.
type monitoring struct {
	store     opmon.Store
	recorder  *opmon.Recorder
	retention *opmon.Retention
	handler   http.Handler
	// observer is what both proxies report every exchange to.
	observer proxy.Observer
}

// openMonitoring opens the operational monitoring store on the database
// the message log uses and builds the recorder, retention, query API and
// exchange metrics.
func openMonitoring(ctx context.Context, cfg *Config, clk clock.Clock, reg prometheus.Registerer, log *slog.Logger,
	docs proxy.Configuration, clients proxy.LocalClients) (_ *monitoring, err error) {
	m := &monitoring{}
	defer func() {
		if err != nil {
			_ = m.Close()
		}
	}()
	if cfg.Database.Driver == "postgres" {
		dsn, derr := readDSN(cfg.Database)
		if derr != nil {
			return nil, derr
		}
		m.store, err = opmon.OpenPostgres(ctx, dsn)
	} else {
		m.store, err = opmon.OpenSQLite(ctx, filepath.Join(cfg.Dir, OpmonDBFile))
	}
	if err != nil {
		return nil, fmt.Errorf("security server: operational monitoring: %w", err)
	}
	metrics, err := proxy.NewExchangeMetrics(reg, 0)
	if err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	if m.recorder, err = opmon.NewRecorder(opmon.RecorderConfig{Store: m.store, Conf: docs, Clock: clk,
		Logger: log, Registerer: reg}); err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	m.observer = proxy.Observers{metrics, m.recorder}
	if m.retention, err = opmon.NewRetention(opmon.RetentionConfig{Store: m.store,
		Keep: time.Duration(cfg.Opmon.RetentionDays) * 24 * time.Hour, Clock: clk, Logger: log, Registerer: reg}); err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	if m.handler, err = opmon.NewHandler(opmon.HandlerConfig{Records: m.store, Clients: clients,
		Access: opmon.Access{Owner: cfg.ID().Owner, MonitoringClient: cfg.Opmon.monitoringClient}, Clock: clk,
		Logger: log}); err != nil {
		return nil, fmt.Errorf("security server: %w", err)
	}
	return m, nil
}

// Close stores what the recorder holds and closes the store.
func (m *monitoring) Close() error {
	var errs []error
	if m.recorder != nil {
		errs = append(errs, m.recorder.Close())
	}
	if m.store != nil {
		errs = append(errs, m.store.Close())
	}
	return errors.Join(errs...)
}

// clientHandler is what the client-facing listeners serve: the operational
// monitoring query API under /opmon/v1/, the client proxy (r1,
// listClients) for everything else. It dispatches on the raw path prefix
// rather than through a ServeMux, which would clean and redirect r1 paths
// the client proxy must see as sent.
func (s *Service) clientHandler() http.Handler { return s.dispatch(s.client) }

// dispatch sends /opmon/v1/… to the query API and the rest to client.
func (s *Service) dispatch(client http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/opmon/v1/") {
			s.mon.handler.ServeHTTP(w, r)
			return
		}
		client.ServeHTTP(w, r)
	})
}

// certExpiry is the collector of jisr_ss_certificate_expires_in_seconds:
// seconds until notAfter of the server's auth certificate and of every
// sign certificate it holds.
type certExpiry struct {
	clk    clock.Clock
	server xroad.ServerID
	auth   func() *x509.Certificate
	sign   map[xroad.MemberID]*x509.Certificate
}

var certExpiryDesc = prometheus.NewDesc("jisr_ss_certificate_expires_in_seconds",
	"Seconds until the notAfter of each of the security server's own certificates (negative once expired).",
	[]string{"kind", "id"}, nil)

// Describe implements prometheus.Collector.
func (c *certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- certExpiryDesc }

// Collect implements prometheus.Collector.
func (c *certExpiry) Collect(ch chan<- prometheus.Metric) {
	now := c.clk.Now()
	if a := c.auth(); a != nil {
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, a.NotAfter.Sub(now).Seconds(), "auth", c.server.String())
	}
	for m, cert := range c.sign {
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, cert.NotAfter.Sub(now).Seconds(), "sign", m.String())
	}
}

// CheckReady runs the readiness checks of /readyz: the global configuration
// is current; the auth key and every sign key sign; no own certificate
// expires within readiness.certificateExpiryDays; the auth certificate has
// a good and fresh OCSP response to staple and every sign certificate is
// usable for signing now (good, fresh OCSP); the message log is open; the
// log is time-stamped within the grace period.
func (s *Service) CheckReady(ctx context.Context) *daemon.Health {
	h := daemon.NewHealth()
	now := s.clk.Now()
	_, err := s.gc.Current()
	h.Set("global-configuration", err)

	h.Set("key:auth", s.probeKey(ctx, AuthKeyLabel))
	within := time.Duration(s.cfg.Readiness.CertificateExpiryDays) * 24 * time.Hour
	auth := s.identity.AuthCertificate()
	h.Set("cert:auth", expiring(auth, now, within))
	err = nil
	if len(s.identity.TLSCertificate().OCSPStaple) == 0 {
		err = errors.New("no good and fresh OCSP response held for the auth certificate")
	}
	h.Set("ocsp:auth", err)
	for _, m := range slices.SortedFunc(maps.Keys(s.signCerts), func(a, b xroad.MemberID) int { return strings.Compare(a.String(), b.String()) }) {
		name := m.String()
		h.Set("key:sign:"+name, s.probeKey(ctx, signLabel(m)))
		h.Set("cert:sign:"+name, expiring(s.signCerts[m], now, within))
		_, _, _, err := s.identity.SignMaterial(m)
		h.Set("ocsp:sign:"+name, err)
	}
	h.Set("message-log", s.msglog.Ping(ctx))
	h.Set("timestamping", s.msglog.ts.Healthy(now))
	return h
}

// expiring fails when c expires within d of now.
func expiring(c *x509.Certificate, now time.Time, d time.Duration) error {
	if c == nil {
		return errors.New("no certificate")
	}
	if left := c.NotAfter.Sub(now); left < d {
		return fmt.Errorf("expires %s (in %s)", c.NotAfter.UTC().Format(time.RFC3339), left.Round(time.Hour))
	}
	return nil
}

// probeKey signs a fixed digest with the key labelled label, as a key
// store (or HSM) that cannot sign is not ready.
func (s *Service) probeKey(ctx context.Context, label string) error {
	k, err := s.store.Signer(ctx, label)
	if err != nil {
		return err
	}
	d := sha256.Sum256([]byte("jisr readiness probe"))
	_, err = k.Sign(rand.Reader, d[:], crypto.SHA256)
	return err
}
