// Package daemon holds what jisr's long-running servers (PKI, central
// server, security server) share: opening their listeners, serving HTTP on
// each until the context ends, graceful shutdown, and the /healthz answer.
// It has no state of its own.
package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Listener is one HTTP(S) listener of a daemon.
type Listener struct {
	// Name identifies the listener in logs and in Listeners.Addr.
	Name string
	// Addr is the listen address ("host:port").
	Addr string
	// Handler serves it.
	Handler http.Handler
	// TLS, if set, makes it an HTTPS listener (HTTP/2 is negotiated when
	// its NextProtos offer "h2").
	TLS *tls.Config
}

// Bound maps listener names to the addresses actually bound (useful with
// port 0). It is safe for concurrent use.
type Bound struct {
	mu sync.Mutex
	m  map[string]net.Addr
}

// Addr returns the bound address of listener name, or "" before Serve has
// opened it.
func (b *Bound) Addr(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.m[name]; ok {
		return a.String()
	}
	return ""
}

func (b *Bound) set(name string, a net.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]net.Addr{}
	}
	b.m[name] = a
}

// ShutdownGrace is how long in-flight requests get after ctx ends.
const ShutdownGrace = 30 * time.Second

// Serve opens every listener (all or none), records the bound addresses in
// bound, calls ready, and serves until ctx ends or a server fails; then it
// shuts every server down gracefully and returns the first failure (nil
// after a normal stop). component prefixes errors.
func Serve(ctx context.Context, component string, log *slog.Logger, bound *Bound, ls []Listener, ready func()) error {
	opened := make([]net.Listener, 0, len(ls))
	for _, l := range ls {
		var lc net.ListenConfig
		nl, err := lc.Listen(ctx, "tcp", l.Addr)
		if err != nil {
			for _, o := range opened {
				_ = o.Close()
			}
			return fmt.Errorf("%s: listen %s on %s: %w", component, l.Name, l.Addr, err)
		}
		if l.TLS != nil {
			nl = tls.NewListener(nl, l.TLS)
		}
		opened = append(opened, nl)
	}
	servers := make([]*http.Server, len(ls))
	errc := make(chan error, len(ls))
	for i, l := range ls {
		bound.set(l.Name, opened[i].Addr())
		hs := &http.Server{
			Handler:           l.Handler,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       5 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		servers[i] = hs
		nl := opened[i]
		log.Info("listening", "service", l.Name, "addr", nl.Addr().String(), "tls", l.TLS != nil)
		go func() {
			if err := hs.Serve(nl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %s: %w", component, l.Name, err)
			}
		}()
	}
	if ready != nil {
		ready()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	for _, hs := range servers {
		_ = hs.Shutdown(shutdown)
	}
	return first
}

// Health is the /healthz answer of every jisr daemon.
type Health struct {
	// Status is "ok" or "fail".
	Status string `json:"status"`
	// Checks maps each check to "ok" or the reason it failed.
	Checks map[string]string `json:"checks"`
}

// NewHealth returns a passing Health with no checks yet.
func NewHealth() *Health { return &Health{Status: "ok", Checks: map[string]string{}} }

// Set records a check: nil passes, an error fails the whole answer.
func (h *Health) Set(name string, err error) {
	if err != nil {
		h.Status = "fail"
		h.Checks[name] = err.Error()
		return
	}
	h.Checks[name] = "ok"
}

// Write sends h as JSON: 200 when it passes, 503 otherwise.
func (h *Health) Write(w http.ResponseWriter) {
	code := http.StatusOK
	if h.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(h)
}

// DefaultReadyTimeout bounds one readiness evaluation when ReadyHandler is
// given 0.
const DefaultReadyTimeout = 10 * time.Second

// ReadyHandler serves /readyz: it runs check under the request's context
// bounded by timeout (DefaultReadyTimeout when 0), so that a hung database
// or key store shows as not ready instead of hanging the probe, and writes
// the answer as Health.Write does — 200 when every check passes, 503 with
// the reason of each failing check otherwise. Checks must honour the
// context.
func ReadyHandler(check func(context.Context) *Health, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		check(ctx).Write(w)
	})
}
