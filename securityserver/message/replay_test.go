package message

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
)

func TestReplayCache(t *testing.T) {
	clk := clock.NewFake(testNow)
	const window = 5 * time.Minute
	c, err := NewReplayCache(clk, window, 3)
	if err != nil {
		t.Fatal(err)
	}
	other := consumerMember.Subsystem("other")
	type step struct {
		name    string
		advance time.Duration
		other   bool
		id      string
		msgAge  time.Duration
		want    error
	}
	for _, s := range []step{
		{name: "first use", id: "a"},
		{name: "replay", id: "a", want: ErrReplay},
		{name: "same id, other client", other: true, id: "a"},
		{name: "another id", id: "b"},
		{name: "full", id: "c", want: ErrReplayCapacity},
		{name: "still remembered just before expiry", advance: window - time.Millisecond, id: "a", want: ErrReplay},
		{name: "message older than the window", id: "old", msgAge: window + time.Millisecond, want: ErrClockSkew},
		{name: "message from beyond the window", id: "future", msgAge: -window - time.Millisecond, want: ErrClockSkew},
		{name: "expired, room again", advance: time.Millisecond, id: "c"},
		{name: "expired id accepted again", id: "a", msgAge: window},
	} {
		clk.Add(s.advance)
		client := testClient
		if s.other {
			client = other
		}
		err := c.Seen(client, s.id, clk.Now().Add(-s.msgAge))
		if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
			t.Fatalf("%s: got %v, want %v", s.name, err, s.want)
		}
	}
	if c.Len() > 3 {
		t.Errorf("Len = %d beyond the bound", c.Len())
	}
}

func TestReplayCacheConcurrent(t *testing.T) {
	c, err := NewReplayCache(clock.NewFake(testNow), time.Minute, 1000)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, ids = 8, 50
	var mu sync.Mutex
	accepted := make(map[string]int)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < ids; i++ {
				id := fmt.Sprint(i)
				if err := c.Seen(testClient, id, testNow); err == nil {
					mu.Lock()
					accepted[id]++
					mu.Unlock()
				} else if !errors.Is(err, ErrReplay) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := 0; i < ids; i++ {
		if n := accepted[fmt.Sprint(i)]; n != 1 {
			t.Errorf("id %d accepted %d times", i, n)
		}
	}
}

func TestNewReplayCacheRefusesBadConfig(t *testing.T) {
	for _, tt := range []struct {
		clk    clock.Clock
		window time.Duration
		max    int
	}{{nil, time.Minute, 1}, {clock.System(), 0, 1}, {clock.System(), time.Minute, 0}} {
		if _, err := NewReplayCache(tt.clk, tt.window, tt.max); err == nil {
			t.Errorf("accepted %+v", tt)
		}
	}
}
