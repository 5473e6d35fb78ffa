package msglogtest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// testPurge deletes archived, old stamped ranges: never the newest range,
// never beyond what is archived, never what is younger than the cutoff;
// the chain and the time-stamps still verify afterwards, and the log goes
// on appending and stamping.
func testPurge(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	s := e.stamper(e.l, NewFakeTSA())
	// Three stamped ranges of one exchange each (records 1-4, 5-8, 9-12),
	// a minute apart.
	for _, id := range []string{"m-1", "m-2", "m-3"} {
		e.exchange(id, "alice")
		e.clk.Add(time.Minute)
		s.stamp(t)
	}
	now := e.clk.Now()
	purge := func(archivedTo int64, before time.Time) msglog.PurgeResult {
		t.Helper()
		res, err := e.l.Purge(e.ctx, archivedTo, before)
		if err != nil {
			t.Fatalf("Purge(%d, %v): %v", archivedTo, before, err)
		}
		return res
	}
	// Nothing archived, or nothing old enough: nothing goes.
	if res := purge(0, now); res.Records != 0 || res.Purged.LastID != 0 {
		t.Fatalf("purge with nothing archived: %+v", res)
	}
	if res := purge(12, e.clk.Now().Add(-time.Hour)); res.Records != 0 {
		t.Fatalf("purge of records younger than the cutoff: %+v", res)
	}
	// Archived up to 7 (inside the second range): only the first range.
	res := purge(7, now)
	if res.Records != 4 || res.Timestamps != 1 || res.Purged.LastID != 4 || res.Purged.LastStampID != 1 {
		t.Fatalf("purge(7) = %+v, want records 1-4 and time-stamp 1", res)
	}
	if _, err := e.l.Get(e.ctx, 4); !errors.Is(err, msglog.ErrNotFound) {
		t.Errorf("record 4 after purge: %v, want ErrNotFound", err)
	}
	// Everything archived: the newest range (9-12) stays.
	res = purge(12, now)
	if res.Records != 4 || res.Purged.LastID != 8 || res.Purged.LastStampID != 2 {
		t.Fatalf("purge(12) = %+v, want records 5-8 and time-stamp 2", res)
	}
	if r, err := e.l.Get(e.ctx, 9); err != nil || !bytes.Equal(r.PrevHash, res.Purged.LastHash) {
		t.Fatalf("record 9 after purge: %v (prev %x, purge mark %x)", err, r.PrevHash, res.Purged.LastHash)
	}
	chain, err := e.l.VerifyChain(e.ctx, 0, 0)
	if err != nil || chain.From != 9 || chain.To != 12 || !chain.Head {
		t.Fatalf("VerifyChain after purge = %+v, %v; want 9..12 at the head", chain, err)
	}
	e.verifyStamps(e.l, s.tsa, 1, 12)
	// Appending and stamping go on from where they were.
	e.exchange("m-4", "bob")
	e.clk.Add(time.Minute)
	s.stamp(t)
	e.verifyStamps(e.l, s.tsa, 2, 16)
	if chain, err := e.l.VerifyChain(e.ctx, 0, 0); err != nil || chain.To != 16 {
		t.Fatalf("VerifyChain after more appends = %+v, %v", chain, err)
	}
	// Tampering with the first kept record is still detected.
	if _, err := e.db.Raw.ExecContext(e.ctx, `UPDATE msglog_records SET prev_hash = $1 WHERE id = 9`, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	var ce *msglog.ChainError
	if _, err := e.l.VerifyChain(e.ctx, 0, 0); !errors.As(err, &ce) || ce.ID != 9 {
		t.Fatalf("VerifyChain after altering record 9's link: %v, want a ChainError at 9", err)
	}
}
