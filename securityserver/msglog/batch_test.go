package msglog_test

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// gatedLog opens a SQLite log whose writer blocks at the start of its
// first batch until release is called; batches receives each batch's size.
func gatedLog(t *testing.T) (l *msglog.Log, raw *sql.DB, batches chan int, release func()) {
	t.Helper()
	db := sqliteDB(t)
	l = db.Open(t, msglog.MetadataOnly())
	gate := make(chan struct{})
	batches = make(chan int, 100)
	var once sync.Once
	msglog.SetBeforeCommit(l, func(n int) {
		batches <- n
		once.Do(func() { <-gate })
	})
	return l, db.Raw, batches, func() { close(gate) }
}

// waitQueued spins until n appends are queued behind the blocked writer.
func waitQueued(l *msglog.Log, n int) {
	for msglog.QueueLen(l) < n {
		runtime.Gosched()
	}
}

// TestFailedBatchFailsEveryWaiter makes one record of a batch fail in the
// database (a trigger): every append of that batch must fail with
// ErrLogUnavailable, none be committed, and the chain continue without a
// gap.
func TestFailedBatchFailsEveryWaiter(t *testing.T) {
	ctx := t.Context()
	f := msglogtest.NewFixture(t)
	l, raw, batches, release := gatedLog(t)
	if _, err := raw.ExecContext(ctx, `CREATE TRIGGER poison BEFORE INSERT ON msglog_records
		WHEN NEW.message_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned record'); END`); err != nil {
		t.Fatal(err)
	}
	recs := f.Records(t, 5, 10)
	poison := f.NewExchange(t, "poison", "", nil, nil).Request(msglog.Consumer)
	recs = append(recs, poison)

	var wg sync.WaitGroup
	errs := make([]error, len(recs))
	wg.Go(func() { errs[0] = l.Append(ctx, &recs[0]) })
	if n := <-batches; n != 1 {
		t.Fatalf("first batch of %d", n)
	}
	// The writer is blocked: queue the others, poison included, so that
	// they form the second batch.
	for i := 1; i < len(recs); i++ {
		wg.Go(func() { errs[i] = l.Append(ctx, &recs[i]) })
	}
	waitQueued(l, len(recs)-1)
	release()
	wg.Wait()
	if n := <-batches; n != len(recs)-1 {
		t.Fatalf("second batch of %d, want %d", n, len(recs)-1)
	}
	if errs[0] != nil || recs[0].ID != 1 {
		t.Fatalf("first append: %v, id %d", errs[0], recs[0].ID)
	}
	for i := 1; i < len(recs); i++ {
		if !errors.Is(errs[i], msglog.ErrLogUnavailable) || !strings.Contains(errs[i].Error(), "poisoned record") || recs[i].ID != 0 {
			t.Errorf("append %d of the failed batch: %v (id %d)", i, errs[i], recs[i].ID)
		}
	}
	next := f.Records(t, 1, 10)[0]
	if err := l.Append(ctx, &next); err != nil || next.ID != 2 {
		t.Fatalf("append after the failed batch: %v, id %d; want id 2", err, next.ID)
	}
	if res, err := l.VerifyChain(ctx, 0, 0); err != nil || res.To != 2 {
		t.Fatalf("VerifyChain = %+v, %v", res, err)
	}
}

// TestCloseDrains closes the log while appends are queued: each of them
// is committed before Close returns.
func TestCloseDrains(t *testing.T) {
	ctx := t.Context()
	f := msglogtest.NewFixture(t)
	l, raw, batches, release := gatedLog(t)
	recs := f.Records(t, 8, 10)
	var wg sync.WaitGroup
	errs := make([]error, len(recs))
	wg.Go(func() { errs[0] = l.Append(ctx, &recs[0]) })
	<-batches // the writer holds the first record and waits
	for i := 1; i < len(recs); i++ {
		wg.Go(func() { errs[i] = l.Append(ctx, &recs[i]) })
	}
	waitQueued(l, len(recs)-1)
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	for !msglog.IsClosed(l) {
		runtime.Gosched()
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("append %d: %v", i, err)
		}
	}
	var n int
	if err := raw.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM msglog_records`).Scan(&n); err != nil || n != len(recs) {
		t.Fatalf("%d records committed (%v), want %d", n, err, len(recs))
	}
}
