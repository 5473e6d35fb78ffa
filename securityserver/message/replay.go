package message

import (
	"container/heap"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// ReplayGuard remembers which message ids each client has used.
//
// Seen records that client sent message id with message time t and returns
// nil if it had not been seen within the guard's window. It returns an
// error wrapping ErrReplay if it had; ErrClockSkew if t lies further than
// the window from the guard's clock (so that the id could not be
// remembered for as long as the message would be accepted); and
// ErrReplayCapacity, or another error, if it cannot tell — callers must
// refuse the message on any error. Implementations must be safe for
// concurrent use, and the check and the record must be atomic: of two
// concurrent calls with the same client and id, at most one returns nil.
type ReplayGuard interface {
	Seen(client xroad.ClientID, id string, t time.Time) error
}

var _ ReplayGuard = (*ReplayCache)(nil)

// ReplayCache is an in-memory ReplayGuard for one security server node.
// It remembers (client, id) until the message time plus the window, by the
// injected clock, and at most a fixed number of entries. When it is full of
// unexpired entries it refuses (ErrReplayCapacity) rather than forgetting
// an id early. Several nodes sharing traffic need a shared guard instead
// (a database-backed one).
type ReplayCache struct {
	clk    clock.Clock
	window time.Duration
	max    int

	mu      sync.Mutex
	entries map[replayKey]time.Time // expiry
	byExp   expiryHeap
}

type replayKey struct {
	client xroad.ClientID
	id     string
}

// NewReplayCache returns a ReplayCache remembering ids for window after
// their message time, holding at most maxEntries. window should be at least
// the verifier's MaxSkew.
func NewReplayCache(clk clock.Clock, window time.Duration, maxEntries int) (*ReplayCache, error) {
	if clk == nil {
		return nil, errors.New("message: NewReplayCache: nil clock")
	}
	if window <= 0 || maxEntries <= 0 {
		return nil, fmt.Errorf("message: NewReplayCache: window (%v) and maxEntries (%d) must be positive", window, maxEntries)
	}
	return &ReplayCache{clk: clk, window: window, max: maxEntries, entries: make(map[replayKey]time.Time)}, nil
}

// Seen implements ReplayGuard.
func (c *ReplayCache) Seen(client xroad.ClientID, id string, t time.Time) error {
	now := c.clk.Now()
	if d := now.Sub(t); d > c.window || d < -c.window {
		return fmt.Errorf("%w: message time %s outside the replay window of %v around %s",
			ErrClockSkew, formatTime(t), c.window, formatTime(now))
	}
	k := replayKey{client, id}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if _, ok := c.entries[k]; ok {
		return fmt.Errorf("%w: id %q from %s", ErrReplay, id, client)
	}
	if len(c.entries) >= c.max {
		return fmt.Errorf("%w: %d unexpired entries", ErrReplayCapacity, len(c.entries))
	}
	exp := t.Add(c.window)
	c.entries[k] = exp
	heap.Push(&c.byExp, expiryEntry{key: k, exp: exp})
	return nil
}

// Len returns the number of ids remembered (expired ones included until
// the next Seen).
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// expire forgets every entry whose expiry is not after now.
func (c *ReplayCache) expire(now time.Time) {
	for c.byExp.Len() > 0 && !c.byExp[0].exp.After(now) {
		e := heap.Pop(&c.byExp).(expiryEntry)
		delete(c.entries, e.key)
	}
}

type expiryEntry struct {
	key replayKey
	exp time.Time
}

// expiryHeap is a min-heap of entries by expiry.
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiryEntry{}
	*h = old[:len(old)-1]
	return e
}
