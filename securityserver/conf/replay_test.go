package conf_test

import (
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// testReplay: a claimed id is refused until it expires, then free; two
// claims at once (two nodes) succeed once; expired records are purged.
func testReplay(t *testing.T, open func(t *testing.T, clk clock.Clock) conf.Store) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	rs := open(t, clk).(conf.ReplayStore)
	ctx := t.Context()
	claim := func(client, id string, exp time.Time) bool {
		t.Helper()
		ok, err := rs.ClaimMessageID(ctx, client, id, exp)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	exp := t0.Add(10 * time.Minute)
	if !claim("PS/GOV/CAB/portal", "m-1", exp) {
		t.Fatal("first claim refused")
	}
	if claim("PS/GOV/CAB/portal", "m-1", exp) {
		t.Fatal("second claim of the same id accepted")
	}
	if !claim("PS/GOV/MOT/licensing", "m-1", exp) {
		t.Fatal("the same id from another client refused")
	}
	clk.Set(exp)
	if !claim("PS/GOV/CAB/portal", "m-1", exp.Add(10*time.Minute)) {
		t.Fatal("an expired id was not freed")
	}
	var wg sync.WaitGroup
	wins := make(chan bool, 8)
	for range 8 {
		wg.Go(func() {
			ok, err := rs.ClaimMessageID(ctx, "PS/GOV/CAB/portal", "race", exp.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		})
	}
	wg.Wait()
	close(wins)
	n := 0
	for ok := range wins {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of 8 concurrent claims succeeded, want 1", n)
	}
	purged, err := rs.PurgeMessageIDs(ctx, exp.Add(15*time.Minute))
	if err != nil || purged != 2 {
		t.Fatalf("purge = %d, %v; want 2 (MOT's and the re-claimed one; not \"race\")", purged, err)
	}
}

func TestReplaySQLite(t *testing.T) {
	testReplay(t, func(t *testing.T, clk clock.Clock) conf.Store {
		return storetest.Open(t, func() (conf.Store, error) {
			return conf.OpenSQLite(t.Context(), storetest.SQLitePath(t), conf.WithClock(clk))
		})
	})
}

func TestReplayPostgres(t *testing.T) {
	testReplay(t, func(t *testing.T, clk clock.Clock) conf.Store {
		return storetest.Open(t, func() (conf.Store, error) {
			return conf.OpenPostgres(t.Context(), storetest.PostgresDSN(t), conf.WithClock(clk))
		})
	})
}
