package peer

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ocsp"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	pkiocsp "github.com/jisr-bus/jisr/pki/ocsp"
)

// DocSource hands out the global configuration in use. Current fails (with
// any error; globalconf.Client returns one wrapping globalconf.ErrExpired or
// globalconf.ErrNoConfiguration) when there is no usable document, and
// everything in this package then fails closed with ErrNoConfiguration.
// *globalconf.Client satisfies it.
type DocSource interface {
	Current() (*globalconf.Document, error)
}

var _ DocSource = (*globalconf.Client)(nil)

// DefaultOCSPFetchTimeout bounds one OCSP lookup (all responders of a CA
// together) when OCSPCacheConfig.FetchTimeout is zero.
const DefaultOCSPFetchTimeout = 10 * time.Second

// OCSPCacheConfig configures an OCSPCache. Docs is required.
type OCSPCacheConfig struct {
	// Docs supplies the configuration: the responders of each approved CA
	// and Settings.OCSPFreshness.
	Docs DocSource
	// HTTPClient talks to the responders. Nil means a client with
	// FetchTimeout as its timeout.
	HTTPClient *http.Client
	// FetchTimeout bounds one lookup across all responders of a CA; zero
	// means DefaultOCSPFetchTimeout.
	FetchTimeout time.Duration
	// Clock judges freshness. Nil means the wall clock.
	Clock clock.Clock
	// Logger receives responder failures. Nil discards.
	Logger *slog.Logger
	// Registerer, when set, receives the counter
	// jisr_ss_ocsp_fetches_total{outcome} (one per responder asked;
	// outcome good, revoked, unknown, stale or error).
	Registerer prometheus.Registerer
}

// OCSPCache obtains OCSP responses for certificates of approved CAs and
// keeps them per (issuer, serial). It is safe for concurrent use and holds
// no goroutines between calls.
//
// Rules: a cached response is served while it is younger (by ThisUpdate)
// than half of Settings.OCSPFreshness. After that the next caller fetches a
// new one, asking the responders the configuration lists for the issuer's CA
// in the document's order (its canonical encoding sorts them by URL) until
// one returns a response that verifies (pki/ocsp.ParseResponse: signed by
// the issuer or a responder it delegated), is fresh and is good or revoked; concurrent callers for the same certificate share that fetch. If
// the fetch fails while the cached response is still fresh, the cached one is
// served and the next attempt waits freshness/16. Responses of status
// unknown are never cached.
type OCSPCache struct {
	docs    DocSource
	http    *http.Client
	timeout time.Duration
	clock   clock.Clock
	log     *slog.Logger
	fetches *prometheus.CounterVec // nil without a Registerer

	mu       sync.Mutex
	entries  map[cacheKey]*cacheEntry
	inflight map[cacheKey]*fetchCall
}

// cacheKey identifies one certificate: its issuer (by DER hash) and serial.
type cacheKey struct {
	issuer [sha256.Size]byte
	serial string
}

func keyFor(cert, issuer *x509.Certificate) cacheKey {
	return cacheKey{issuer: sha256.Sum256(issuer.Raw), serial: cert.SerialNumber.Text(16)}
}

// cacheEntry is the newest verified response (good or revoked) for one key.
type cacheEntry struct {
	resp *ocsp.Response
	der  []byte
	// nextAttempt is the earliest time a fetch may replace a response that
	// is past freshness/2 but still fresh.
	nextAttempt time.Time
}

// fetchCall is one shared fetch; done is closed when resp, der and err are
// set.
type fetchCall struct {
	done chan struct{}
	resp *ocsp.Response
	der  []byte
	err  error
}

// NewOCSPCache returns an empty cache.
func NewOCSPCache(cfg OCSPCacheConfig) (*OCSPCache, error) {
	if cfg.Docs == nil {
		return nil, errors.New("peer: OCSP cache: Docs is required")
	}
	c := &OCSPCache{
		docs:     cfg.Docs,
		http:     cfg.HTTPClient,
		timeout:  cfg.FetchTimeout,
		clock:    cfg.Clock,
		log:      cfg.Logger,
		entries:  make(map[cacheKey]*cacheEntry),
		inflight: make(map[cacheKey]*fetchCall),
	}
	if c.timeout <= 0 {
		c.timeout = DefaultOCSPFetchTimeout
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: c.timeout}
	}
	if c.clock == nil {
		c.clock = clock.System()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer != nil {
		cv, err := registerCounterVec(cfg.Registerer, prometheus.CounterOpts{
			Name: "jisr_ss_ocsp_fetches_total",
			Help: "OCSP responses requested by the security server, by outcome (good, revoked, unknown, stale, error).",
		}, "outcome")
		if err != nil {
			return nil, fmt.Errorf("peer: OCSP cache: registering metrics: %w", err)
		}
		c.fetches = cv
	}
	return c, nil
}

// Check reports whether resp says the certificate may be relied on at now:
// nil for a good response no older than freshness (see pki/ocsp.VerifyFresh),
// an error wrapping ErrRevoked for a revoked one (stale or not: revocation is
// final), and an error wrapping ErrOCSPUnavailable for a stale, expired,
// future-dated or unknown-status response. It does not verify signatures;
// resp must come from pki/ocsp.ParseResponse or Fetch.
func Check(resp *ocsp.Response, now time.Time, freshness time.Duration) error {
	if resp == nil {
		return fmt.Errorf("%w: no response", ErrOCSPUnavailable)
	}
	if resp.Status == ocsp.Revoked {
		return fmt.Errorf("%w: serial %x revoked at %s (reason %d)", ErrRevoked,
			resp.SerialNumber, resp.RevokedAt.UTC().Format(time.RFC3339), resp.RevocationReason)
	}
	if err := pkiocsp.VerifyFresh(resp, now, freshness); err != nil {
		return fmt.Errorf("%w: %w", ErrOCSPUnavailable, err)
	}
	if resp.Status != ocsp.Good {
		return fmt.Errorf("%w: responder answered status unknown for serial %x", ErrOCSPUnavailable, resp.SerialNumber)
	}
	return nil
}

// Status returns a verified, good response no older than the current
// configuration's OCSP freshness for cert, issued by issuer, with its DER
// encoding (for stapling or for the message log). issuer must be a
// certificate of an approved CA (trust anchor or intermediate) as listed in
// the configuration; its responders are asked.
//
// Errors wrap ErrNoConfiguration (no usable configuration), ErrRevoked
// (the certificate is revoked) or ErrOCSPUnavailable (anything else that
// leaves no good and fresh response), or are ctx's error when ctx ends while
// waiting (the shared fetch itself continues, bounded by FetchTimeout).
func (c *OCSPCache) Status(ctx context.Context, cert, issuer *x509.Certificate) (*ocsp.Response, []byte, error) {
	doc, err := currentDoc(c.docs)
	if err != nil {
		return nil, nil, err
	}
	return c.status(ctx, doc, cert, issuer, doc.OCSPResponders(issuer))
}

// status is Status under a given document and responder list.
func (c *OCSPCache) status(ctx context.Context, doc *globalconf.Document, cert, issuer *x509.Certificate, responders []globalconf.OCSPResponder) (*ocsp.Response, []byte, error) {
	if cert == nil || issuer == nil {
		return nil, nil, fmt.Errorf("%w: certificate and issuer are required", ErrOCSPUnavailable)
	}
	freshness := doc.Settings.OCSPFreshness()
	key := keyFor(cert, issuer)
	now := c.clock.Now()

	c.mu.Lock()
	e := c.entries[key]
	if e != nil && (now.Sub(e.resp.ThisUpdate) < freshness/2 || now.Before(e.nextAttempt)) {
		if err := Check(e.resp, now, freshness); err == nil || errors.Is(err, ErrRevoked) {
			c.mu.Unlock()
			return e.result(err)
		}
	}
	call, ok := c.inflight[key]
	if !ok {
		if len(responders) == 0 {
			c.mu.Unlock()
			return nil, nil, fmt.Errorf("%w: no OCSP responder configured for issuer %q", ErrOCSPUnavailable, issuer.Subject)
		}
		call = &fetchCall{done: make(chan struct{})}
		c.inflight[key] = call
		go c.fetch(context.WithoutCancel(ctx), key, call, freshness, cert, issuer, responders)
	}
	c.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("peer: waiting for OCSP status: %w", ctx.Err())
	}
	if call.err == nil || errors.Is(call.err, ErrRevoked) {
		return call.resp, call.der, call.err
	}
	// The fetch failed: fall back on a cached response that is still fresh.
	now = c.clock.Now()
	c.mu.Lock()
	e = c.entries[key]
	c.mu.Unlock()
	if e != nil {
		if err := Check(e.resp, now, freshness); err == nil || errors.Is(err, ErrRevoked) {
			return e.result(err)
		}
	}
	return nil, nil, call.err
}

func (e *cacheEntry) result(err error) (*ocsp.Response, []byte, error) {
	if err != nil {
		return nil, nil, err
	}
	return e.resp, e.der, nil
}

// fetch asks the responders in order, records the result in the cache and
// completes call.
func (c *OCSPCache) fetch(ctx context.Context, key cacheKey, call *fetchCall, freshness time.Duration,
	cert, issuer *x509.Certificate, responders []globalconf.OCSPResponder) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var errs []error
	for _, r := range responders {
		resp, der, err := pkiocsp.Fetch(ctx, c.http, r.URL, cert, issuer)
		if err != nil {
			c.count("error")
			c.log.Warn("OCSP responder failed", "url", r.URL, "serial", key.serial, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", r.URL, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		err = Check(resp, c.clock.Now(), freshness)
		switch {
		case err == nil:
			c.count("good")
		case errors.Is(err, ErrRevoked):
			c.count("revoked")
		case resp.Status == ocsp.Unknown:
			c.count("unknown")
		default:
			c.count("stale")
		}
		if err == nil || errors.Is(err, ErrRevoked) {
			call.resp, call.der, call.err = resp, der, err
			c.store(key, resp, der, freshness)
			c.finish(key, call)
			return
		}
		c.log.Warn("OCSP response not usable", "url", r.URL, "serial", key.serial, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", r.URL, err))
	}
	call.err = fmt.Errorf("%w: every responder failed: %w", ErrOCSPUnavailable, errors.Join(errs...))
	c.mu.Lock()
	if e := c.entries[key]; e != nil {
		e.nextAttempt = c.clock.Now().Add(retryDelay(freshness))
	}
	c.mu.Unlock()
	c.finish(key, call)
}

// retryDelay is how long a response past freshness/2 is served before the
// next fetch attempt.
func retryDelay(freshness time.Duration) time.Duration { return freshness / 16 }

// store caches resp unless a newer response is already cached.
func (c *OCSPCache) store(key cacheKey, resp *ocsp.Response, der []byte, freshness time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[key]; old != nil && old.resp.ThisUpdate.After(resp.ThisUpdate) {
		return
	}
	c.entries[key] = &cacheEntry{resp: resp, der: der, nextAttempt: c.clock.Now().Add(retryDelay(freshness))}
}

func (c *OCSPCache) finish(key cacheKey, call *fetchCall) {
	c.mu.Lock()
	delete(c.inflight, key)
	c.mu.Unlock()
	close(call.done)
}

// offer adds a response obtained otherwise (a staple), already verified for
// cert and issuer and judged usable by Check, to the cache.
func (c *OCSPCache) offer(cert, issuer *x509.Certificate, resp *ocsp.Response, der []byte, freshness time.Duration) {
	c.store(keyFor(cert, issuer), resp, der, freshness)
}

// Forget drops cached responses for certificates no longer in use (a
// replaced own certificate, say). Entries are otherwise kept; there is one
// per certificate seen, which the configuration bounds.
func (c *OCSPCache) Forget(cert, issuer *x509.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, keyFor(cert, issuer))
}

func (c *OCSPCache) count(outcome string) {
	if c.fetches != nil {
		c.fetches.WithLabelValues(outcome).Inc()
	}
}

// currentDoc returns the current document or an error wrapping
// ErrNoConfiguration.
func currentDoc(docs DocSource) (*globalconf.Document, error) {
	doc, err := docs.Current()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoConfiguration, err)
	}
	if doc == nil {
		return nil, ErrNoConfiguration
	}
	return doc, nil
}

// registerCounterVec registers a counter vector, or returns the one already
// registered under the same name (the server and transport of one security
// server share their handshake counter).
func registerCounterVec(r prometheus.Registerer, opts prometheus.CounterOpts, labels ...string) (*prometheus.CounterVec, error) {
	cv := prometheus.NewCounterVec(opts, labels)
	if err := r.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return cv, nil
}
