package globalconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/prometheus/client_golang/prometheus"
)

// LastGoodFile is the name, inside ClientConfig.Dir, of the last good copy
// of the signed document.
const LastGoodFile = "globalconf.jws"

// DefaultRefreshInterval is used by Run when neither its argument nor the
// current document gives an interval.
const DefaultRefreshInterval = 60 * time.Second

// ClientConfig configures a Client.
type ClientConfig struct {
	// Anchor is the trust anchor. Required.
	Anchor *Anchor
	// Dir is the directory holding the last good copy (LastGoodFile).
	// Required; it must exist.
	Dir string
	// HTTPClient downloads the document. Nil means a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// Clock tells the time for verification and expiry. Nil means the wall
	// clock.
	Clock clock.Clock
	// Logger receives download failures and configuration changes. Nil means
	// discard.
	Logger *slog.Logger
	// Registerer, when set, receives the gauges jisr_globalconf_age_seconds
	// (now − generatedAt of the document in use), jisr_globalconf_expires_in_seconds
	// (expiresAt − now) and jisr_globalconf_serial.
	Registerer prometheus.Registerer
}

// Client keeps a security server's global configuration current: it
// downloads, verifies and stores the document, and hands out the verified
// document until it expires. It is safe for concurrent use.
//
// Rules: URLs of the anchor are tried in order until one yields a usable
// answer; a download must verify against the anchor and must not carry a
// lower serial than the document in use (nor the same serial with another
// payload); the raw signed bytes of every accepted document are written to
// Dir atomically, then the document is switched in (if writing fails it is
// used anyway and Refresh reports the failure); a document is never handed
// out at or after its expiresAt (Current fails closed with ErrExpired).
type Client struct {
	anchor *Anchor
	dir    string
	http   *http.Client
	clock  clock.Clock
	log    *slog.Logger

	refreshMu sync.Mutex // serialises Refresh and Load
	cur       atomic.Pointer[state]
}

// state is one accepted document with its raw bytes and HTTP validator.
type state struct {
	doc  *Document
	raw  []byte
	etag string
}

// NewClient returns a Client. It does not touch the network or the disk;
// call Load, then Refresh or Run.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Anchor == nil {
		return nil, errors.New("globalconf: client: an anchor is required")
	}
	if err := cfg.Anchor.Validate(); err != nil {
		return nil, fmt.Errorf("globalconf: client: %w", err)
	}
	if cfg.Dir == "" {
		return nil, errors.New("globalconf: client: a directory is required")
	}
	c := &Client{
		anchor: cfg.Anchor,
		dir:    cfg.Dir,
		http:   cfg.HTTPClient,
		clock:  cfg.Clock,
		log:    cfg.Logger,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.clock == nil {
		c.clock = clock.System()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer != nil {
		if err := c.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("globalconf: client: registering metrics: %w", err)
		}
	}
	return c, nil
}

func (c *Client) register(r prometheus.Registerer) error {
	gauge := func(name, help string, f func(s *state, now time.Time) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			s := c.cur.Load()
			if s == nil {
				return 0
			}
			return f(s, c.clock.Now())
		})
	}
	for _, g := range []prometheus.Collector{
		gauge("jisr_globalconf_age_seconds", "Seconds since the global configuration in use was generated (0 when none).",
			func(s *state, now time.Time) float64 { return now.Sub(s.doc.GeneratedAt).Seconds() }),
		gauge("jisr_globalconf_expires_in_seconds", "Seconds until the global configuration in use expires; negative once expired (0 when none).",
			func(s *state, now time.Time) float64 { return s.doc.ExpiresAt.Sub(now).Seconds() }),
		gauge("jisr_globalconf_serial", "Serial of the global configuration in use (0 when none).",
			func(s *state, _ time.Time) float64 { return float64(s.doc.Serial) }),
	} {
		if err := r.Register(g); err != nil {
			return err
		}
	}
	return nil
}

// Current returns the document in use. It fails with an error wrapping
// ErrNoConfiguration when there is none and ErrExpired once its expiresAt
// has passed: a security server must then refuse exchanges
// (Server.ClientProxy.OutdatedGlobalConf). The document is shared and must
// not be modified.
func (c *Client) Current() (*Document, error) {
	s := c.cur.Load()
	if s == nil {
		return nil, ErrNoConfiguration
	}
	now := c.clock.Now()
	if !now.Before(s.doc.ExpiresAt) {
		return nil, fmt.Errorf("%w: serial %d expired at %s", ErrExpired, s.doc.Serial, s.doc.ExpiresAt.Format(time.RFC3339))
	}
	return s.doc, nil
}

// Load reads the last good copy from Dir and verifies it again against the
// anchor. A copy that verifies but has expired is still installed (its
// serial is the floor for rollback protection, and Current fails closed), and
// Load returns an error wrapping ErrExpired. A missing copy gives an error
// wrapping fs.ErrNotExist. Load never replaces a document of higher serial.
func (c *Client) Load() error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	raw, err := os.ReadFile(filepath.Join(c.dir, LastGoodFile))
	if err != nil {
		return fmt.Errorf("globalconf: loading last good copy: %w", err)
	}
	doc, err := verifyAuthentic(raw, c.anchor)
	if err != nil {
		return fmt.Errorf("globalconf: last good copy: %w", err)
	}
	now := c.clock.Now()
	timeErr := checkTime(doc, now)
	if errors.Is(timeErr, ErrNotYetValid) {
		return fmt.Errorf("globalconf: last good copy: %w", timeErr)
	}
	if cur := c.cur.Load(); cur != nil && cur.doc.Serial >= doc.Serial {
		return timeErr
	}
	c.cur.Store(&state{doc: doc, raw: raw})
	c.log.Info("global configuration loaded from disk", "serial", doc.Serial,
		"generated_at", doc.GeneratedAt, "expires_at", doc.ExpiresAt)
	if timeErr != nil {
		return fmt.Errorf("globalconf: last good copy: %w", timeErr)
	}
	return nil
}

// errNotModified is returned by fetch for a 304 answer.
var errNotModified = errors.New("not modified")

// Refresh downloads the document from the anchor's URLs in order and
// installs it when it is newer. For each URL: a transport error, a non-200
// answer, a document that fails Verify or a rollback (ErrRollback) moves on
// to the next URL; 304 Not Modified (the client sends If-None-Match with the
// ETag of the document in use) ends the round successfully if the document
// in use has not expired, else moves on; the same document again ends the
// round successfully; a newer one is stored in Dir (temporary file, fsync,
// rename, directory fsync) and then installed.
//
// When every URL fails, the error joins each URL's error (errors.Is finds
// each sentinel). When the new document is installed but could not be
// stored, the error says so; the new document is in use regardless.
func (c *Client) Refresh(ctx context.Context) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	var errs []error
	for _, u := range c.anchor.ConfigurationURLs {
		err := c.refreshFrom(ctx, u)
		if err == nil {
			return nil
		}
		var se *storeError
		if errors.As(err, &se) {
			return fmt.Errorf("globalconf: refresh from %s: %w", u, err)
		}
		c.log.Warn("global configuration download failed", "url", u, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("globalconf: refresh failed: %w", errors.Join(errs...))
}

// storeError marks a failure to write the last good copy after the
// document was accepted.
type storeError struct{ err error }

func (e *storeError) Error() string { return "storing last good copy: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

func (c *Client) refreshFrom(ctx context.Context, u string) error {
	cur := c.cur.Load()
	etag := ""
	if cur != nil {
		etag = cur.etag
	}
	raw, newTag, err := c.fetch(ctx, u, etag)
	now := c.clock.Now()
	if errors.Is(err, errNotModified) {
		if cur == nil {
			return errors.New("304 Not Modified without a current document")
		}
		if !now.Before(cur.doc.ExpiresAt) {
			return fmt.Errorf("304 Not Modified but serial %d %w at %s",
				cur.doc.Serial, ErrExpired, cur.doc.ExpiresAt.Format(time.RFC3339))
		}
		return nil
	}
	if err != nil {
		return err
	}
	doc, err := Verify(raw, c.anchor, now)
	if err != nil {
		return err
	}
	if cur != nil {
		if doc.Serial < cur.doc.Serial {
			return fmt.Errorf("%w: serial %d is lower than %d in use", ErrRollback, doc.Serial, cur.doc.Serial)
		}
		if doc.Serial == cur.doc.Serial {
			// The same document again, possibly with fresh signatures
			// (ECDSA is randomised): nothing to install, but remember the
			// validator. Other content under the same serial is refused.
			if !bytes.Equal(payloadOf(raw), payloadOf(cur.raw)) {
				return fmt.Errorf("%w: serial %d with different content", ErrRollback, doc.Serial)
			}
			c.cur.Store(&state{doc: cur.doc, raw: cur.raw, etag: newTag})
			return nil
		}
	}
	next := &state{doc: doc, raw: raw, etag: newTag}
	storeErr := writeFileAtomic(c.dir, LastGoodFile, raw)
	c.cur.Store(next)
	c.log.Info("global configuration updated", "url", u, "serial", doc.Serial,
		"generated_at", doc.GeneratedAt, "expires_at", doc.ExpiresAt)
	if storeErr != nil {
		c.log.Error("global configuration in use but not stored", "serial", doc.Serial, "err", storeErr)
		return &storeError{err: storeErr}
	}
	return nil
}

// payloadOf returns the payload member of a signed document that already
// verified, or nil.
func payloadOf(raw []byte) []byte {
	var env envelope
	if err := strictUnmarshal(raw, &env); err != nil {
		return nil
	}
	return []byte(env.Payload)
}

// fetch GETs one URL. It returns errNotModified for 304.
func (c *Client) fetch(ctx context.Context, u, etag string) (body []byte, newTag string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", MediaType)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, "", errNotModified
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, "", fmt.Errorf("HTTP status %s", resp.Status)
	}
	const limit = MaxDocumentSize*4/3 + 64*1024
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("reading body: %w", err)
	}
	if len(body) > limit {
		return nil, "", fmt.Errorf("%w: body larger than %d bytes", ErrMalformed, limit)
	}
	return body, resp.Header.Get("ETag"), nil
}

// Run refreshes now and then every interval until ctx is done; failures
// are logged and retried at the next tick. When interval is not positive it
// uses the refreshIntervalSeconds of the document in use at start, or
// DefaultRefreshInterval. Run returns ctx.Err().
func (c *Client) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultRefreshInterval
		if s := c.cur.Load(); s != nil {
			interval = s.doc.Settings.RefreshInterval()
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("global configuration refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// writeFileAtomic replaces dir/name with data so that a crash leaves either
// the old or the new content: write a temporary file, fsync it, rename it
// over the target, fsync the directory.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
