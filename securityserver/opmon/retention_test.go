package opmon

import (
	"context"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
)

// TestRetentionClean keeps what is younger than the retention period by
// the injected clock and deletes the rest.
func TestRetentionClean(t *testing.T) {
	s := storetest.Open(t, func() (Store, error) { return OpenSQLite(t.Context(), storetest.SQLitePath(t)) })
	var recs []Record
	for _, age := range []time.Duration{10 * 24 * time.Hour, 8 * 24 * time.Hour, 6 * 24 * time.Hour, time.Hour} {
		recs = append(recs, FromEvent(event("client", age.String()), t0.Add(-age), nil))
	}
	if err := s.Insert(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	r, err := NewRetention(RetentionConfig{Store: s, Clock: clk}) // default: 7 days
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Clean(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("deleted %d (%v), want 2", n, err)
	}
	left, err := s.Find(t.Context(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0].MessageID != (144*time.Hour).String() {
		t.Fatalf("left %d records, first %q", len(left), left[0].MessageID)
	}
	clk.Add(6*24*time.Hour + time.Minute) // the 6-day-old record is now older than 7 days
	if n, err := r.Clean(t.Context()); err != nil || n != 1 {
		t.Fatalf("second round deleted %d (%v), want 1", n, err)
	}
	if got := counter(t, r.deleted); got != 3 {
		t.Errorf("counted %v deletions, want 3", got)
	}
}

// batchPruner pretends to hold n old records.
type batchPruner struct{ left, calls int }

func (p *batchPruner) DeleteBefore(_ context.Context, _ time.Time, max int) (int64, error) {
	p.calls++
	n := min(p.left, max)
	p.left -= n
	return int64(n), nil
}

// TestRetentionCleansInBatches checks that a large backlog is deleted in
// bounded statements until none is left.
func TestRetentionCleansInBatches(t *testing.T) {
	p := &batchPruner{left: 2*deleteBatch + 7}
	r, err := NewRetention(RetentionConfig{Store: p, Keep: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Clean(t.Context())
	if err != nil || n != 2*deleteBatch+7 || p.calls != 3 {
		t.Errorf("deleted %d in %d calls (%v), want %d in 3", n, p.calls, err, 2*deleteBatch+7)
	}
}
