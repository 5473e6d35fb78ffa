package globalconf

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeCentral serves a signed document through Handler and records what it
// was asked.
type fakeCentral struct {
	mu       sync.Mutex
	signed   []byte
	status   int // when non-zero, answer with this status instead
	requests int
	inm      []string
	srv      *httptest.Server
}

func newFakeCentral(t *testing.T) *fakeCentral {
	t.Helper()
	c := &fakeCentral{}
	h := Handler(func() ([]byte, string, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.signed == nil {
			return nil, "", errors.New("nothing to serve")
		}
		return c.signed, ETag(c.signed), nil
	})
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.requests++
		c.inm = append(c.inm, r.Header.Get("If-None-Match"))
		status := c.status
		c.mu.Unlock()
		if status != 0 {
			http.Error(w, "down", status)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *fakeCentral) url() string { return c.srv.URL + "/globalconf" }

func (c *fakeCentral) serve(signed []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signed = signed
}

func (c *fakeCentral) seen() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, append([]string(nil), c.inm...)
}

// clientEnv is one security server's view: key, anchor, clock, directory.
type clientEnv struct {
	key    SigningKey
	anchor *Anchor
	clk    *clock.Fake
	dir    string
	hc     *http.Client
}

func newClientEnv(t *testing.T, urls ...string) *clientEnv {
	t.Helper()
	k := newKey(t, "k1")
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &clientEnv{
		key:    k,
		anchor: anchorFor(t, urls, k),
		clk:    clock.NewFake(t0.Add(time.Minute)),
		dir:    t.TempDir(),
		hc:     &http.Client{Transport: tr, Timeout: 10 * time.Second},
	}
}

func (e *clientEnv) client(t *testing.T, reg prometheus.Registerer) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{Anchor: e.anchor, Dir: e.dir, HTTPClient: e.hc, Clock: e.clk, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// docAt returns a signed document with the given serial, generated at gen.
func (e *clientEnv) docAt(t *testing.T, serial uint64, gen time.Time) []byte {
	t.Helper()
	d := testDoc(t)
	d.Serial = serial
	d.GeneratedAt = gen
	d.ExpiresAt = gen.Add(10 * time.Minute)
	return mustSign(t, d, e.key)
}

func currentSerial(t *testing.T, c *Client) uint64 {
	t.Helper()
	d, err := c.Current()
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	return d.Serial
}

func TestClientETagAndNotModified(t *testing.T) {
	cs := newFakeCentral(t)
	e := newClientEnv(t, cs.url())
	c := e.client(t, nil)
	if _, err := c.Current(); !errors.Is(err, ErrNoConfiguration) {
		t.Fatalf("Current before any refresh = %v, want ErrNoConfiguration", err)
	}
	signed := e.docAt(t, 1, t0)
	cs.serve(signed)
	ctx := context.Background()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatalf("second Refresh (304): %v", err)
	}
	n, inm := cs.seen()
	if n != 2 || inm[0] != "" || inm[1] != ETag(signed) {
		t.Errorf("requests %d with If-None-Match %q, want 2 with [\"\" %s]", n, inm, ETag(signed))
	}
	if got := currentSerial(t, c); got != 1 {
		t.Errorf("serial %d, want 1", got)
	}
	// 304 does not extend the life of an expired document.
	e.clk.Set(t0.Add(10 * time.Minute))
	if err := c.Refresh(ctx); !errors.Is(err, ErrExpired) {
		t.Errorf("Refresh (304, expired) = %v, want ErrExpired", err)
	}
	// A newer document cures it.
	cs.serve(e.docAt(t, 2, t0.Add(10*time.Minute)))
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := currentSerial(t, c); got != 2 {
		t.Errorf("serial %d, want 2", got)
	}
}

func TestClientFailover(t *testing.T) {
	down := newFakeCentral(t)
	down.status = http.StatusServiceUnavailable
	gone := newFakeCentral(t)
	gone.srv.Close() // connection refused
	up := newFakeCentral(t)
	e := newClientEnv(t, gone.url(), down.url(), up.url())
	up.serve(e.docAt(t, 1, t0))
	c := e.client(t, nil)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got := currentSerial(t, c); got != 1 {
		t.Errorf("serial %d, want 1", got)
	}
	if n, _ := down.seen(); n != 1 {
		t.Errorf("second URL asked %d times, want 1", n)
	}

	// A first URL serving a forged document does not stop the second.
	forger := newKey(t, "k1") // same kid, other key
	bad := newFakeCentral(t)
	bad.serve(mustSign(t, testDoc(t), forger))
	good := newFakeCentral(t)
	e2 := newClientEnv(t, bad.url(), good.url())
	good.serve(e2.docAt(t, 1, t0))
	c2 := e2.client(t, nil)
	if err := c2.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh past a forged document: %v", err)
	}

	// When every URL fails, each failure is reported.
	up.status = http.StatusInternalServerError
	bad2 := newFakeCentral(t)
	bad2.serve(mustSign(t, testDoc(t), forger))
	e3 := newClientEnv(t, bad2.url(), up.url())
	err := e3.client(t, nil).Refresh(context.Background())
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "500") {
		t.Errorf("Refresh with every URL failing = %v, want ErrBadSignature and the 500", err)
	}
}

func TestClientRollback(t *testing.T) {
	cs := newFakeCentral(t)
	e := newClientEnv(t, cs.url())
	c := e.client(t, nil)
	ctx := context.Background()
	s2 := e.docAt(t, 2, t0)
	cs.serve(s2)
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		signed []byte
		want   error
	}{
		{"lower serial", e.docAt(t, 1, t0), ErrRollback},
		{"same serial, other content", e.docAt(t, 2, t0.Add(time.Second)), ErrRollback},
		{"same document, signed again", e.docAt(t, 2, t0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs.serve(tt.signed)
			if err := c.Refresh(ctx); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Refresh = %v, want %v", err, tt.want)
			}
			if got := currentSerial(t, c); got != 2 {
				t.Errorf("serial %d, want 2", got)
			}
			if b, _ := os.ReadFile(filepath.Join(e.dir, LastGoodFile)); string(b) != string(s2) {
				t.Error("last good copy changed")
			}
		})
	}
}

func TestClientLastGoodSurvivesRestart(t *testing.T) {
	cs := newFakeCentral(t)
	e := newClientEnv(t, cs.url())
	first := e.client(t, nil)
	if err := first.Load(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load on empty dir = %v, want fs.ErrNotExist", err)
	}
	cs.serve(e.docAt(t, 3, t0))
	if err := first.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(e.dir)
	if len(entries) != 1 || entries[0].Name() != LastGoodFile {
		t.Errorf("dir holds %v, want only %s", entries, LastGoodFile)
	}

	// Restart: central unreachable, the last good copy is enough.
	cs.srv.Close()
	second := e.client(t, nil)
	if err := second.Load(); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := currentSerial(t, second); got != 3 {
		t.Errorf("serial after restart %d, want 3", got)
	}
	if err := second.Refresh(context.Background()); err == nil {
		t.Error("Refresh with central down succeeded")
	}
	if got := currentSerial(t, second); got != 3 {
		t.Errorf("serial after failed refresh %d, want 3", got)
	}

	// The copy on disk is verified again: a tampered copy is refused.
	path := filepath.Join(e.dir, LastGoodFile)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), `"payload":"ey`, `"payload":"ex`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	third := e.client(t, nil)
	if err := third.Load(); err == nil {
		t.Error("Load of a tampered copy succeeded")
	}
	if _, err := third.Current(); !errors.Is(err, ErrNoConfiguration) {
		t.Errorf("Current after failed Load = %v, want ErrNoConfiguration", err)
	}
}

func TestClientFailsClosed(t *testing.T) {
	cs := newFakeCentral(t)
	e := newClientEnv(t, cs.url())
	c := e.client(t, nil)
	cs.serve(e.docAt(t, 5, t0))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.clk.Set(t0.Add(10*time.Minute - time.Nanosecond))
	if _, err := c.Current(); err != nil {
		t.Fatalf("Current just before expiry: %v", err)
	}
	e.clk.Set(t0.Add(10 * time.Minute))
	if _, err := c.Current(); !errors.Is(err, ErrExpired) {
		t.Fatalf("Current at expiry = %v, want ErrExpired", err)
	}
	// The central server keeps serving the same, now expired, document.
	cs.mu.Lock()
	cs.inm = nil
	cs.mu.Unlock()
	if err := c.Refresh(context.Background()); !errors.Is(err, ErrExpired) {
		t.Errorf("Refresh = %v, want ErrExpired", err)
	}
	if _, err := c.Current(); !errors.Is(err, ErrExpired) {
		t.Errorf("Current after failed refresh = %v, want ErrExpired", err)
	}

	// After a restart, an expired last good copy is loaded (it is the
	// rollback floor) but not used.
	restarted := e.client(t, nil)
	if err := restarted.Load(); !errors.Is(err, ErrExpired) {
		t.Errorf("Load of expired copy = %v, want ErrExpired", err)
	}
	if _, err := restarted.Current(); !errors.Is(err, ErrExpired) {
		t.Errorf("Current after loading an expired copy = %v, want ErrExpired", err)
	}
	cs.serve(e.docAt(t, 4, t0.Add(10*time.Minute)))
	if err := restarted.Refresh(context.Background()); !errors.Is(err, ErrRollback) {
		t.Errorf("Refresh to a lower serial after restart = %v, want ErrRollback", err)
	}
}

func TestClientMetrics(t *testing.T) {
	cs := newFakeCentral(t)
	e := newClientEnv(t, cs.url())
	reg := prometheus.NewRegistry()
	c := e.client(t, reg)
	if _, err := NewClient(ClientConfig{Anchor: e.anchor, Dir: e.dir, Registerer: reg}); err == nil {
		t.Error("registering the gauges twice succeeded")
	}
	cs.serve(e.docAt(t, 7, t0))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"jisr_globalconf_age_seconds":        60,
		"jisr_globalconf_expires_in_seconds": 540,
		"jisr_globalconf_serial":             7,
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]float64)
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 1 && mf.GetMetric()[0].GetGauge() != nil {
			got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
}

// signalHandler is a slog.Handler that reports every record's message.
type signalHandler struct{ msgs chan<- string }

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	h.msgs <- r.Message
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

func TestClientRun(t *testing.T) {
	cs := newFakeCentral(t)
	e := newClientEnv(t, cs.url())
	cs.serve(e.docAt(t, 1, t0))
	msgs := make(chan string, 16)
	c, err := NewClient(ClientConfig{Anchor: e.anchor, Dir: e.dir, HTTPClient: e.hc, Clock: e.clk,
		Logger: slog.New(signalHandler{msgs})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, 0) }()
	// Run refreshes at once; its log record says when.
	if msg := <-msgs; msg != "global configuration updated" {
		t.Fatalf("first log record %q", msg)
	}
	if got := currentSerial(t, c); got != 1 {
		t.Errorf("serial %d, want 1", got)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}

func TestNewClientRefuses(t *testing.T) {
	e := newClientEnv(t)
	for name, cfg := range map[string]ClientConfig{
		"no anchor":      {Dir: e.dir},
		"no dir":         {Anchor: e.anchor},
		"invalid anchor": {Anchor: &Anchor{}, Dir: e.dir},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewClient(cfg); err == nil {
				t.Error("NewClient succeeded")
			}
		})
	}
}

func TestClientStoreFailure(t *testing.T) {
	cs := newFakeCentral(t)
	e := newClientEnv(t, cs.url())
	e.dir = filepath.Join(e.dir, "missing") // CreateTemp fails here
	c := e.client(t, nil)
	cs.serve(e.docAt(t, 1, t0))
	err := c.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "storing last good copy") {
		t.Errorf("Refresh = %v, want a storage error", err)
	}
	if got := currentSerial(t, c); got != 1 {
		t.Errorf("serial %d, want 1 (an authentic document is used even when it cannot be stored)", got)
	}
}
