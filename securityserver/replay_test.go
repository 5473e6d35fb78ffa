package securityserver

import (
	"errors"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/message"
)

// TestSharedReplayAcrossNodes: two nodes over one database (each with its
// own in-memory cache) — a message id accepted by one is refused by the
// other, and by itself; other ids pass on both.
func TestSharedReplayAcrossNodes(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	dsn := storetest.PostgresDSN(t)
	node := func() *sharedReplay {
		st := storetest.Open(t, func() (conf.Store, error) { return conf.OpenPostgres(t.Context(), dsn, conf.WithClock(clk)) })
		local, err := message.NewReplayCache(clk, replayWindow, 100)
		if err != nil {
			t.Fatal(err)
		}
		return &sharedReplay{local: local, store: st.(conf.ReplayStore)}
	}
	a, b := node(), node()
	client := xroad.MemberID{Instance: "PS", Class: "GOV", Code: "CAB"}.Subsystem("portal")
	if err := a.Seen(client, "m-1", t0); err != nil {
		t.Fatalf("node A, first delivery: %v", err)
	}
	for name, g := range map[string]*sharedReplay{"the same node": a, "the other node": b} {
		if err := g.Seen(client, "m-1", t0); !errors.Is(err, message.ErrReplay) {
			t.Errorf("replay to %s: %v, want ErrReplay", name, err)
		}
	}
	if err := b.Seen(client, "m-2", t0); err != nil {
		t.Errorf("node B, a new id: %v", err)
	}
}
