package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// target is one address of one provider security server.
type target struct {
	server xroad.ServerID
	addr   string // host:port of its SS↔SS listener
}

// selectTargets returns the addresses an exchange with service may be sent
// to, as X-Road chooses them: every address of every security server that
// hosts the provider and is not in maintenance mode, or, when pin is not
// nil (X-Road-Security-Server), the addresses of that server only. Errors
// are boundary errors: UnknownMember when no server hosts the provider,
// InvalidSecurityServer when the pinned server is unknown or does not host
// the provider, MaintenanceMode when every candidate is in maintenance.
func selectTargets(doc *globalconf.Document, provider xroad.ClientID, pin *xroad.ServerID) ([]target, *xerr.Error) {
	servers := doc.ServersFor(provider)
	if len(servers) == 0 {
		return nil, cpErr(CodeUnknownMember, "could not find addresses for service provider \""+provider.String()+"\"", nil)
	}
	if pin != nil {
		srv, ok := doc.ServerByID(*pin)
		if !ok {
			return nil, cpErr(CodeInvalidSecurityServer, "could not find security server \""+pin.String()+"\"", nil)
		}
		hosts := false
		for _, s := range servers {
			hosts = hosts || s.ID == srv.ID
		}
		if !hosts {
			return nil, cpErr(CodeInvalidSecurityServer, "security server \""+pin.String()+"\" does not host \""+provider.String()+"\"", nil)
		}
		servers = []globalconf.Server{srv}
	}
	var out []target
	maintenance := 0
	for _, s := range servers {
		if s.Maintenance {
			maintenance++
			continue
		}
		for _, a := range s.Addresses {
			out = append(out, target{server: s.ID, addr: a})
		}
	}
	if len(out) == 0 {
		if maintenance > 0 {
			return nil, cpErr(CodeMaintenanceMode, "every security server of \""+provider.String()+"\" is in maintenance mode", nil)
		}
		return nil, cpErr(CodeUnknownMember, "could not find addresses for service provider \""+provider.String()+"\"", nil)
	}
	return out, nil
}

// health remembers provider addresses that recently failed to connect, so
// that exchanges skip them for a while. It is safe for concurrent use.
type health struct {
	clk     clock.Clock
	downFor time.Duration
	next    atomic.Uint64 // round-robin position

	mu   sync.Mutex
	down map[string]time.Time // address → skipped until
}

func newHealth(clk clock.Clock, downFor time.Duration) *health {
	return &health{clk: clk, downFor: downFor, down: make(map[string]time.Time)}
}

// order returns targets in the order to try them: the healthy ones first,
// rotated round robin so that successive exchanges spread over them, then
// those marked down (oldest mark first), as a last resort.
func (h *health) order(ts []target) []target {
	if len(ts) == 0 {
		return nil
	}
	start := int(h.next.Add(1)-1) % len(ts)
	now := h.clk.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	healthy := make([]target, 0, len(ts))
	var down []target
	for i := range ts {
		t := ts[(start+i)%len(ts)]
		if until, ok := h.down[t.addr]; ok && now.Before(until) {
			down = append(down, t)
			continue
		}
		delete(h.down, t.addr)
		healthy = append(healthy, t)
	}
	return append(healthy, down...)
}

// markDown records that addr failed to connect.
func (h *health) markDown(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down[addr] = h.clk.Now().Add(h.downFor)
}

// markUp records that addr answered.
func (h *health) markUp(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.down, addr)
}

// isDown reports whether addr is currently marked down.
func (h *health) isDown(addr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.down[addr]
	return ok && h.clk.Now().Before(until)
}
