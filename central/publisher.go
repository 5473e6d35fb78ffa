package central

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/ports"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// PublishStore is what a Publisher needs from the registry: consistent
// reads, and PublishNext to store a signed document under the next serial.
type PublishStore interface {
	registry.ReadOnly
	// PublishNext is registry.Writer.PublishNext.
	PublishNext(ctx context.Context, expectedPrevSerial int64, c registry.PublishedConfig) (registry.PublishedConfig, error)
}

// PublisherConfig configures NewPublisher.
type PublisherConfig struct {
	// Store is the registry the documents are built from and stored in.
	Store PublishStore
	// Keys sign every document (all of them; see globalconf.Sign). At
	// least one.
	Keys []globalconf.SigningKey
	// Central is what documents say about the central server: management
	// URL, management TLS certificates, configuration URLs.
	Central globalconf.CentralServer
	// MaxClockSkew becomes the documents' maxClockSkewSeconds (whole
	// seconds).
	MaxClockSkew time.Duration
	// Clock dates documents; clock.System() if nil.
	Clock clock.Clock
	// Logger receives publication events; discarded if nil.
	Logger *slog.Logger
	// Registerer receives the publisher's metrics; none if nil.
	Registerer prometheus.Registerer
}

// Publisher builds the global configuration from the registry, signs it
// and stores it with registry PublishNext. Several publishers (one per
// central node) may share one database: at most one wins each serial, the
// others adopt the winner, and every node serves the stored bytes.
//
// A Publisher is safe for concurrent use.
type Publisher struct {
	store   PublishStore
	keys    []globalconf.SigningKey
	central globalconf.CentralServer
	skew    time.Duration
	clk     clock.Clock
	log     *slog.Logger

	mu     sync.Mutex // serialises Tick and Regenerate on this node
	metric publisherMetrics

	// seenMu guards seen, the latest configuration this node has seen, for
	// metrics and health (which must not wait for a publication).
	seenMu sync.Mutex
	seen   registry.PublishedConfig
}

type publisherMetrics struct {
	serial    prometheus.Gauge
	published prometheus.Counter
	errors    prometheus.Counter
}

// NewPublisher checks cfg and returns a Publisher.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Store == nil {
		return nil, errors.New("central: publisher: no store")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("central: publisher: no signing keys")
	}
	if cfg.MaxClockSkew < 0 || cfg.MaxClockSkew%time.Second != 0 {
		return nil, errors.New("central: publisher: max clock skew must be whole non-negative seconds")
	}
	p := &Publisher{
		store:   cfg.Store,
		keys:    slices.Clone(cfg.Keys),
		central: cfg.Central,
		skew:    cfg.MaxClockSkew,
		clk:     cfg.Clock,
		log:     cfg.Logger,
	}
	if p.clk == nil {
		p.clk = clock.System()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.central.ManagementTLSCertificates = slices.Clone(cfg.Central.ManagementTLSCertificates)
	p.central.ConfigurationURLs = slices.Clone(cfg.Central.ConfigurationURLs)
	p.metric = publisherMetrics{
		serial: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jisr_central_configuration_serial",
			Help: "Serial of the latest published global configuration this node has seen.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jisr_central_configuration_published_total",
			Help: "Global configuration documents this node signed and published.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jisr_central_configuration_publish_errors_total",
			Help: "Publication attempts that failed (lost races not included).",
		}),
	}
	if cfg.Registerer != nil {
		age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jisr_central_configuration_age_seconds",
			Help: "Seconds since the latest published global configuration was generated (0 before the first).",
		}, func() float64 {
			seen := p.lastSeen()
			if seen.Serial == 0 {
				return 0
			}
			return p.clk.Now().Sub(seen.GeneratedAt).Seconds()
		})
		expires := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jisr_central_configuration_expires_in_seconds",
			Help: "Seconds until the latest published global configuration expires (0 before the first).",
		}, func() float64 {
			seen := p.lastSeen()
			if seen.Serial == 0 {
				return 0
			}
			return seen.ExpiresAt.Sub(p.clk.Now()).Seconds()
		})
		for _, c := range []prometheus.Collector{p.metric.serial, p.metric.published, p.metric.errors, age, expires} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("central: publisher metrics: %w", err)
			}
		}
	}
	return p, nil
}

// built is a document ready to sign, with what decides whether to publish it.
type built struct {
	doc      *globalconf.Document
	version  int64
	settings registry.Settings
	// hash identifies the content apart from serial and times, and the
	// signing key ids, so a change of keys or URLs republishes too.
	hash string
}

// Build reads the registry in one consistent snapshot and returns the
// document it describes, with serial 1 and times from now (the caller sets
// Serial, GeneratedAt and ExpiresAt before signing), and the registry
// version it was built from.
func (p *Publisher) Build(ctx context.Context) (*globalconf.Document, int64, error) {
	b, err := p.build(ctx, p.clk.Now())
	if err != nil {
		return nil, 0, err
	}
	return b.doc, b.version, nil
}

func (p *Publisher) build(ctx context.Context, now time.Time) (built, error) {
	var out built
	err := p.store.View(ctx, func(r registry.Reader) error {
		var err error
		if out.version, err = r.Version(ctx); err != nil {
			return err
		}
		if out.doc, out.settings, err = buildDocument(ctx, r, p.central, p.skew); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return built{}, fmt.Errorf("central: build configuration: %w", err)
	}
	out.doc.Serial = 1
	out.doc.GeneratedAt = now.UTC().Truncate(time.Second)
	out.doc.ExpiresAt = out.doc.GeneratedAt.Add(out.settings.ConfigurationLifetime)
	// The content hash: the canonical encoding with fixed serial and times,
	// plus the key ids.
	canon := *out.doc
	canon.GeneratedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	canon.ExpiresAt = canon.GeneratedAt.Add(out.settings.ConfigurationLifetime)
	payload, err := globalconf.Marshal(&canon)
	if err != nil {
		return built{}, fmt.Errorf("central: build configuration: %w", err)
	}
	h := sha256.New()
	h.Write(payload)
	for _, k := range p.keys {
		h.Write([]byte{0})
		h.Write([]byte(k.KeyID))
	}
	out.hash = hex.EncodeToString(h.Sum(nil))
	return out, nil
}

// buildDocument converts the registry's content into a document (serial and
// times unset).
func buildDocument(ctx context.Context, r registry.Reader, central globalconf.CentralServer, skew time.Duration) (*globalconf.Document, registry.Settings, error) {
	inst, err := r.Instance(ctx)
	if err != nil {
		return nil, registry.Settings{}, err
	}
	settings, err := r.Settings(ctx)
	if err != nil {
		return nil, registry.Settings{}, err
	}
	doc := &globalconf.Document{
		Schema:   globalconf.Schema,
		Instance: inst,
		CentralServer: globalconf.CentralServer{
			ManagementURL:             central.ManagementURL,
			ManagementTLSCertificates: slices.Clone(central.ManagementTLSCertificates),
			ConfigurationURLs:         slices.Clone(central.ConfigurationURLs),
		},
		Settings: globalconf.Settings{
			OCSPFreshnessSeconds:         seconds(settings.OCSPFreshness),
			TimestampingIntervalSeconds:  seconds(settings.TimestampingInterval),
			ConfigurationLifetimeSeconds: seconds(settings.ConfigurationLifetime),
			RefreshIntervalSeconds:       seconds(settings.ConfigurationRefreshInterval),
			MaxClockSkewSeconds:          seconds(skew),
		},
	}
	classes, err := r.MemberClasses(ctx)
	if err != nil {
		return nil, settings, err
	}
	for _, c := range classes {
		doc.MemberClasses = append(doc.MemberClasses, globalconf.MemberClass{Code: c.Code, Description: c.Description})
	}
	members, err := r.Members(ctx)
	if err != nil {
		return nil, settings, err
	}
	for _, m := range members {
		gm := globalconf.Member{Class: m.ID.Class, Code: m.ID.Code, Name: m.Name, Subsystems: []globalconf.Subsystem{}}
		for _, s := range m.Subsystems {
			gm.Subsystems = append(gm.Subsystems, globalconf.Subsystem{Code: s})
		}
		doc.Members = append(doc.Members, gm)
	}
	servers, err := r.SecurityServers(ctx)
	if err != nil {
		return nil, settings, err
	}
	for _, s := range servers {
		gs := globalconf.SecurityServer{
			Owner:          s.ID.Owner.String(),
			ServerCode:     s.ID.Code,
			Addresses:      make([]string, 0, len(s.Addresses)),
			AuthCertHashes: make([]string, 0, len(s.AuthCerts)),
			Clients:        make([]string, 0, len(s.Clients)),
			Maintenance:    s.Maintenance,
		}
		for _, a := range s.Addresses {
			gs.Addresses = append(gs.Addresses, withDefaultPort(a))
		}
		for _, c := range s.AuthCerts {
			gs.AuthCertHashes = append(gs.AuthCertHashes, c.Hash)
		}
		for _, c := range s.Clients {
			gs.Clients = append(gs.Clients, c.String())
		}
		doc.SecurityServers = append(doc.SecurityServers, gs)
	}
	groups, err := r.GlobalGroups(ctx)
	if err != nil {
		return nil, settings, err
	}
	for _, g := range groups {
		if g.ID.Code == xroad.SecurityServerOwners {
			continue // globalconf.Marshal derives it from the servers
		}
		gg := globalconf.GlobalGroup{Code: g.ID.Code, Description: g.Description, Members: make([]string, 0, len(g.Members))}
		for _, m := range g.Members {
			gg.Members = append(gg.Members, m.String())
		}
		doc.GlobalGroups = append(doc.GlobalGroups, gg)
	}
	cas, err := r.ApprovedCAs(ctx)
	if err != nil {
		return nil, settings, err
	}
	for _, c := range cas {
		gc := globalconf.ApprovedCA{Name: c.Name, Profile: c.Profile, Certificates: c.Roots, Intermediates: c.Intermediates,
			OCSPResponders: make([]globalconf.OCSPResponder, 0, len(c.OCSPResponders))}
		for _, o := range c.OCSPResponders {
			gc.OCSPResponders = append(gc.OCSPResponders, globalconf.OCSPResponder{URL: o.URL, Certificate: o.Cert})
		}
		doc.ApprovedCAs = append(doc.ApprovedCAs, gc)
	}
	tsas, err := r.ApprovedTSAs(ctx)
	if err != nil {
		return nil, settings, err
	}
	for _, t := range tsas {
		doc.ApprovedTSAs = append(doc.ApprovedTSAs, globalconf.ApprovedTSA{Name: t.Name, URL: t.URL, Certificate: t.Cert})
	}
	return doc, settings, nil
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// withDefaultPort gives an address registered without a port the default
// SS↔SS port: documents carry host:port.
func withDefaultPort(a string) string {
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	h := a
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return net.JoinHostPort(h, strconv.Itoa(ports.SSPeer))
}

// renewAt is when a document must be replaced even if nothing changed: at
// half its lifetime, or earlier if security servers refreshing every
// refresh interval need it (docs/protocol.md, global configuration §7: at least every lifetime − 2 ×
// refresh).
func renewAt(c registry.PublishedConfig, refresh time.Duration) time.Time {
	life := c.ExpiresAt.Sub(c.GeneratedAt)
	after := life / 2
	if alt := life - 2*refresh; alt > 0 && alt < after {
		after = alt
	}
	return c.GeneratedAt.Add(after)
}

// Tick publishes a new document if one is due and returns the latest
// published configuration and whether this call published it. A document
// is due when none exists, when the registry version or the content
// (registry, URLs, management certificates, signing keys) differs from the latest
// document's, or when the latest has reached renewal time (half its
// lifetime). Losing the race to another node is not an error: the
// winner is returned.
func (p *Publisher) Tick(ctx context.Context) (registry.PublishedConfig, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	latest, err := p.store.LatestPublished(ctx)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		latest = registry.PublishedConfig{}
	case err != nil:
		p.metric.errors.Inc()
		return registry.PublishedConfig{}, false, fmt.Errorf("central: latest configuration: %w", err)
	}
	b, err := p.build(ctx, now)
	if err != nil {
		p.metric.errors.Inc()
		return latest, false, err
	}
	due := latest.Serial == 0 ||
		latest.RegistryVersion != b.version ||
		latest.ContentHash != b.hash ||
		!now.Before(renewAt(latest, b.settings.ConfigurationRefreshInterval))
	if !due {
		p.see(latest)
		return latest, false, nil
	}
	return p.publish(ctx, latest.Serial, b)
}

// Regenerate signs and publishes a new document now, whatever the state,
// and returns it (or the document of a node that won the race).
func (p *Publisher) Regenerate(ctx context.Context) (registry.PublishedConfig, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	latest, err := p.store.LatestPublished(ctx)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		p.metric.errors.Inc()
		return registry.PublishedConfig{}, false, fmt.Errorf("central: latest configuration: %w", err)
	}
	b, err := p.build(ctx, p.clk.Now())
	if err != nil {
		p.metric.errors.Inc()
		return registry.PublishedConfig{}, false, err
	}
	return p.publish(ctx, latest.Serial, b)
}

func (p *Publisher) publish(ctx context.Context, prev int64, b built) (registry.PublishedConfig, bool, error) {
	b.doc.Serial = uint64(prev) + 1
	signed, err := globalconf.Sign(b.doc, p.keys)
	if err != nil {
		p.metric.errors.Inc()
		return registry.PublishedConfig{}, false, fmt.Errorf("central: sign configuration: %w", err)
	}
	pc, err := p.store.PublishNext(ctx, prev, registry.PublishedConfig{
		GeneratedAt:     b.doc.GeneratedAt,
		ExpiresAt:       b.doc.ExpiresAt,
		Document:        signed,
		ContentHash:     b.hash,
		RegistryVersion: b.version,
	})
	if errors.Is(err, registry.ErrPublishRace) {
		winner, lerr := p.store.LatestPublished(ctx)
		if lerr != nil {
			p.metric.errors.Inc()
			return registry.PublishedConfig{}, false, fmt.Errorf("central: read the winning configuration: %w", lerr)
		}
		p.log.Info("another node published the configuration first", "serial", winner.Serial)
		p.see(winner)
		return winner, false, nil
	}
	if err != nil {
		p.metric.errors.Inc()
		return registry.PublishedConfig{}, false, fmt.Errorf("central: publish configuration: %w", err)
	}
	p.metric.published.Inc()
	p.see(pc)
	p.log.Info("global configuration published", "serial", pc.Serial, "registryVersion", pc.RegistryVersion,
		"generatedAt", pc.GeneratedAt, "expiresAt", pc.ExpiresAt, "bytes", len(pc.Document))
	return pc, true, nil
}

func (p *Publisher) see(c registry.PublishedConfig) {
	p.seenMu.Lock()
	defer p.seenMu.Unlock()
	if c.Serial >= p.seen.Serial {
		p.seen = c
		p.metric.serial.Set(float64(c.Serial))
	}
}

// lastSeen returns the latest configuration this node has read or
// published.
func (p *Publisher) lastSeen() registry.PublishedConfig {
	p.seenMu.Lock()
	defer p.seenMu.Unlock()
	return p.seen
}

// Latest returns the latest published configuration from the registry (not
// from this node's memory, so that every node serves the same bytes).
func (p *Publisher) Latest(ctx context.Context) (registry.PublishedConfig, error) {
	c, err := p.store.LatestPublished(ctx)
	if err != nil {
		return registry.PublishedConfig{}, err
	}
	p.see(c)
	return c, nil
}

// Run calls Tick every interval (and once at once) until ctx is done.
// Failures are logged and retried at the next tick.
func (p *Publisher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, _, err := p.Tick(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("configuration publishing failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Handler serves the latest published document with globalconf.Handler
// (ETag, If-None-Match, 503 when there is none or it has expired). It reads
// the registry on every request, so all nodes over one database serve the
// same bytes.
func (p *Publisher) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		globalconf.Handler(func() ([]byte, string, error) {
			c, err := p.Latest(r.Context())
			if err != nil {
				return nil, "", err
			}
			if !p.clk.Now().Before(c.ExpiresAt) {
				return nil, "", errors.New("latest configuration has expired")
			}
			return c.Document, globalconf.ETag(c.Document), nil
		}).ServeHTTP(w, r)
	})
}
