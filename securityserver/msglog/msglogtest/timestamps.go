package msglogtest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// stamper is a Timestamper on an env's log with a fake TSA and a
// registry of its own.
type stamper struct {
	*msglog.Timestamper
	tsa *FakeTSA
	reg *prometheus.Registry
}

func (e *env) stamper(l *msglog.Log, tsa *FakeTSA) *stamper {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	ts, err := msglog.NewTimestamper(msglog.TimestamperConfig{
		Log: l, TSA: tsa, TSAName: "http://tsa.test/", Clock: e.clk, Registerer: reg,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return &stamper{Timestamper: ts, tsa: tsa, reg: reg}
}

// stamp runs a round that must succeed.
func (s *stamper) stamp(t *testing.T) {
	t.Helper()
	if err := s.Stamp(t.Context()); err != nil {
		t.Fatalf("Stamp: %v", err)
	}
}

// metric returns the value of the gauge or counter name.
func (s *stamper) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		m := mf.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// span is a stored time-stamp's range.
type span struct{ from, to int64 }

// spans returns the ranges of the stored time-stamps, checking that their
// ids are 1, 2, 3, … and that each head hash is the hash of its last record.
func (e *env) spans(l *msglog.Log) []span {
	e.t.Helper()
	tss, err := l.Timestamps(e.ctx, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	out := []span{}
	for i, ts := range tss {
		r, err := l.Get(e.ctx, ts.To)
		if err != nil {
			e.t.Fatal(err)
		}
		if ts.ID != int64(i+1) || !bytes.Equal(ts.HeadHash, r.Hash) || ts.TSA != "http://tsa.test/" {
			e.t.Errorf("time-stamp %d: id %d, head %x (record %d has %x), TSA %q", i, ts.ID, ts.HeadHash, ts.To, r.Hash, ts.TSA)
		}
		out = append(out, span{ts.From, ts.To})
	}
	return out
}

func sameSpans(a, b []span) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// verifyStamps checks that VerifyTimestamps accepts the log up to record
// to, with n tokens.
func (e *env) verifyStamps(l *msglog.Log, tsa *FakeTSA, n, to int64) {
	e.t.Helper()
	res, err := l.VerifyTimestamps(e.ctx, tsa.Verify)
	if err != nil {
		e.t.Fatalf("VerifyTimestamps: %v", err)
	}
	if res.Tokens != n || res.To != to {
		e.t.Fatalf("VerifyTimestamps = %d tokens up to %d, want %d up to %d", res.Tokens, res.To, n, to)
	}
}

func testTimestamps(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, setup func(*testing.T, ...msglog.Option) *env)
	}{
		{"StampAfterAppends", testStampAfterAppends},
		{"NothingToStamp", testNothingToStamp},
		{"TSAOutage", testTSAOutage},
		{"VerifyDetectsTampering", testTimestampTamper},
		{"RefusesBrokenChain", testStampBrokenChain},
		{"ConcurrentAppends", testStampConcurrentAppends},
		{"TwoNodes", testStampTwoNodes},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, setup) })
	}
}

func testStampAfterAppends(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	s := e.stamper(e.l, NewFakeTSA())
	e.exchange("m-1", "alice")
	e.clk.Add(time.Minute)
	s.stamp(t)
	e.exchange("m-2", "bob")
	e.exchange("m-3", "carol")
	e.clk.Add(time.Minute)
	s.stamp(t)
	if got, want := e.spans(e.l), []span{{1, 4}, {5, 12}}; !sameSpans(got, want) {
		t.Fatalf("time-stamps %v, want %v", got, want)
	}
	if s.tsa.Calls() != 2 {
		t.Errorf("%d TSA calls, want 2", s.tsa.Calls())
	}
	e.verifyStamps(e.l, s.tsa, 2, 12)
	if b := s.metric(t, "jisr_msglog_timestamp_backlog_records"); b != 0 {
		t.Errorf("backlog %v, want 0", b)
	}
	e.clk.Add(90 * time.Second)
	if age := s.metric(t, "jisr_msglog_last_timestamp_age_seconds"); math.Abs(age-90) > 0.001 {
		t.Errorf("last time-stamp age %v, want 90", age)
	}
	if err := s.Healthy(e.clk.Now()); err != nil {
		t.Errorf("Healthy: %v", err)
	}
	// The imprint of the second token, recomputed by hand.
	tss, err := e.l.Timestamps(e.ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := msglog.TimestampImprint(tss[0].HeadHash, 5, 12, tss[1].HeadHash)
	if err := s.tsa.Verify(tss[1].Token, want); err != nil {
		t.Errorf("second token is not over TimestampImprint(head 4, 5, 12, head 12): %v", err)
	}
}

func testNothingToStamp(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	s := e.stamper(e.l, NewFakeTSA())
	// Rounds must run: none for a whole grace period is a failure even
	// with nothing to stamp.
	e.clk.Add(msglog.DefaultTimestampGrace)
	if err := s.Healthy(e.clk.Now()); !errors.Is(err, msglog.ErrTimestampingFailed) {
		t.Errorf("Healthy with no round for a grace period = %v, want ErrTimestampingFailed", err)
	}
	s.stamp(t) // empty log
	if err := s.Healthy(e.clk.Now()); err != nil {
		t.Errorf("Healthy after a round: %v", err)
	}
	e.exchange("m-1", "alice")
	s.stamp(t)
	s.stamp(t) // nothing new
	e.clk.Add(time.Hour)
	s.stamp(t) // still nothing new
	if s.tsa.Calls() != 1 {
		t.Errorf("%d TSA calls, want 1", s.tsa.Calls())
	}
	if got, want := e.spans(e.l), []span{{1, 4}}; !sameSpans(got, want) {
		t.Errorf("time-stamps %v, want %v", got, want)
	}
	if f := s.metric(t, "jisr_msglog_timestamp_failures_total"); f != 0 {
		t.Errorf("failures %v, want 0", f)
	}
}

func testTSAOutage(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	tsa := NewFakeTSA()
	s := e.stamper(e.l, tsa)
	e.exchange("m-1", "alice")
	s.stamp(t)
	tsa.SetDown(true)
	e.exchange("m-2", "bob") // records 5..8, logged now: the oldest unstamped
	oldest := e.clk.Now()
	for i, want := range []struct {
		backlog float64
	}{{4}, {8}, {12}} {
		if i > 0 {
			e.clk.Add(time.Hour)
			e.exchange(fmt.Sprintf("m-%d", 3+i), "carol")
		}
		// Traffic goes on: the appends above succeed.
		err := s.Stamp(e.ctx)
		if !errors.Is(err, ErrTSADown) {
			t.Fatalf("round %d: Stamp = %v, want ErrTSADown", i, err)
		}
		if b := s.metric(t, "jisr_msglog_timestamp_backlog_records"); b != want.backlog {
			t.Errorf("round %d: backlog %v, want %v", i, b, want.backlog)
		}
		if f := s.metric(t, "jisr_msglog_timestamp_failures_total"); f != float64(i+1) {
			t.Errorf("round %d: failures %v, want %d", i, f, i+1)
		}
		if err := s.Healthy(e.clk.Now()); err != nil {
			t.Errorf("round %d: Healthy within grace = %v", i, err)
		}
	}
	if age := s.metric(t, "jisr_msglog_last_timestamp_age_seconds"); math.Abs(age-2*3600) > 0.001 {
		t.Errorf("last time-stamp age %v, want 7200", age)
	}
	e.clk.Set(oldest.Add(msglog.DefaultTimestampGrace - time.Second))
	if err := s.Healthy(e.clk.Now()); err != nil {
		t.Errorf("Healthy a second before the grace period ends = %v", err)
	}
	e.clk.Add(time.Second)
	err := s.Healthy(e.clk.Now())
	if !errors.Is(err, msglog.ErrTimestampingFailed) || !errors.Is(err, ErrTSADown) {
		t.Errorf("Healthy after the grace period = %v, want ErrTimestampingFailed wrapping the TSA's error", err)
	}

	// The TSA is back: one token covers the whole backlog.
	tsa.SetDown(false)
	calls := tsa.Calls()
	s.stamp(t)
	if tsa.Calls() != calls+1 {
		t.Errorf("%d TSA calls for the backlog, want 1", tsa.Calls()-calls)
	}
	if got, want := e.spans(e.l), []span{{1, 4}, {5, 16}}; !sameSpans(got, want) {
		t.Errorf("time-stamps %v, want %v", got, want)
	}
	if err := s.Healthy(e.clk.Now()); err != nil {
		t.Errorf("Healthy after the backlog is stamped = %v", err)
	}
	if b := s.metric(t, "jisr_msglog_timestamp_backlog_records"); b != 0 {
		t.Errorf("backlog %v, want 0", b)
	}
	e.verifyStamps(e.l, tsa, 2, 16)
}

func testTimestampTamper(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	junk := bytes.Repeat([]byte{0x42}, 32)
	for _, tc := range []struct {
		name   string
		tamper string // SQL on the raw handle; $1 = 32 bytes of junk
		wantID int64  // the time-stamp reported
		cause  error  // what the error must also wrap
	}{
		{"token edited", `UPDATE msglog_timestamps SET token = $1 WHERE id = 2`, 2, ErrFakeSignature},
		{"token over another range", `UPDATE msglog_timestamps SET token = (SELECT t.token FROM msglog_timestamps t WHERE t.id = 1) WHERE id = 2`, 2, ErrFakeImprint},
		{"head hash edited", `UPDATE msglog_timestamps SET head_hash = $1 WHERE id = 2`, 2, nil},
		{"gap between ranges", `UPDATE msglog_timestamps SET from_id = from_id + 1 WHERE id = 2`, 2, nil},
		{"overlapping ranges", `UPDATE msglog_timestamps SET from_id = from_id - 1 WHERE id = 3`, 3, nil},
		{"range end moved", `UPDATE msglog_timestamps SET to_id = to_id - 1 WHERE id = 3`, 3, nil},
		{"time-stamp deleted", `DELETE FROM msglog_timestamps WHERE id = 2`, 3, nil},
		{"record in a stamped range edited", `UPDATE msglog_records SET user_id = 'mallory' WHERE id = 6`, 2, msglog.ErrChainBroken},
		{"stamped tail deleted", `DELETE FROM msglog_records WHERE id = 12`, 3, msglog.ErrChainBroken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			tsa := NewFakeTSA()
			s := e.stamper(e.l, tsa)
			for i := range 3 {
				e.exchange(fmt.Sprintf("m-%d", i), "alice")
				s.stamp(t)
			}
			e.verifyStamps(e.l, tsa, 3, 12)
			var args []any
			if strings.Contains(tc.tamper, "$1") {
				args = append(args, junk)
			}
			if _, err := e.db.Raw.ExecContext(e.ctx, tc.tamper, args...); err != nil {
				t.Fatalf("tamper: %v", err)
			}
			_, err := e.l.VerifyTimestamps(e.ctx, tsa.Verify)
			te, ok := errors.AsType[*msglog.TimestampError](err)
			switch {
			case !ok || !errors.Is(err, msglog.ErrTimestampInvalid):
				t.Errorf("VerifyTimestamps = %v, want *TimestampError", err)
			case te.ID != tc.wantID:
				t.Errorf("VerifyTimestamps reported time-stamp %d (%v), want %d", te.ID, err, tc.wantID)
			case tc.cause != nil && !errors.Is(err, tc.cause):
				t.Errorf("VerifyTimestamps = %v, want it to wrap %v", err, tc.cause)
			}
		})
	}
}

func testStampBrokenChain(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	s := e.stamper(e.l, NewFakeTSA())
	e.exchange("m-1", "alice")
	s.stamp(t)
	e.exchange("m-2", "bob")
	for _, tc := range []struct {
		name, tamper, undo string
	}{
		{"head behind the last time-stamp", `UPDATE msglog_head SET last_id = 2`, `UPDATE msglog_head SET last_id = 8`},
		{"chain does not continue the stamped head", `UPDATE msglog_records SET prev_hash = hash WHERE id = 5`,
			`UPDATE msglog_records SET prev_hash = (SELECT r.hash FROM msglog_records r WHERE r.id = 4) WHERE id = 5`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.db.Raw.ExecContext(e.ctx, tc.tamper); err != nil {
				t.Fatal(err)
			}
			calls := s.tsa.Calls()
			if err := s.Stamp(e.ctx); err == nil {
				t.Error("Stamp over a broken chain succeeded")
			}
			if s.tsa.Calls() != calls {
				t.Error("Stamp asked the TSA over a broken chain")
			}
			if _, err := e.db.Raw.ExecContext(e.ctx, tc.undo); err != nil {
				t.Fatal(err)
			}
		})
	}
	s.stamp(t)
	e.verifyStamps(e.l, s.tsa, 2, 8)
}

func testStampConcurrentAppends(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	s := e.stamper(e.l, NewFakeTSA())
	recs := e.f.Records(t, 60, 10)
	var wg sync.WaitGroup
	errs := make([]error, len(recs))
	for i := range recs {
		wg.Go(func() { errs[i] = e.l.Append(e.ctx, &recs[i]) })
	}
	for range 10 {
		s.stamp(t)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	s.stamp(t)
	res, err := e.l.VerifyTimestamps(e.ctx, s.tsa.Verify)
	if err != nil || res.To != 60 {
		t.Fatalf("VerifyTimestamps = %+v, %v; want records up to 60", res, err)
	}
	if b := s.metric(t, "jisr_msglog_timestamp_backlog_records"); b != 0 {
		t.Errorf("backlog %v, want 0", b)
	}
}

// testStampTwoNodes runs two nodes' Timestampers on one database: node A
// asks its TSA, node B stamps meanwhile, and A's token is then not stored.
func testStampTwoNodes(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	la := e.l
	lb := e.db.Open(t, msglog.WithClock(e.clk), msglog.WithKeys(keys(t, "A", "A")))
	tsa := NewFakeTSA()
	a, b := e.stamper(la, tsa), e.stamper(lb, tsa)
	e.exchange("m-1", "alice") // records 1..4, through node A

	inTSA, release := make(chan struct{}), make(chan struct{})
	tsa.SetBeforeIssue(func() {
		tsa.SetBeforeIssue(nil)
		close(inTSA)
		<-release
	})
	done := make(chan error, 1)
	go func() { done <- a.Stamp(e.ctx) }()
	<-inTSA
	// Node B appends and stamps while A's round waits for its token.
	x := e.f.NewExchange(t, "m-2", "bob", []byte("{}"), []byte("{}"))
	r := x.Request(msglog.Provider)
	if err := lb.Append(e.ctx, &r); err != nil {
		t.Fatal(err)
	}
	if err := b.Stamp(e.ctx); err != nil {
		t.Fatalf("node B: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("node A's racing round: %v", err)
	}
	if got, want := e.spans(la), []span{{1, 5}}; !sameSpans(got, want) {
		t.Fatalf("time-stamps %v, want only node B's %v", got, want)
	}
	// Both nodes go on stamping after each other.
	e.exchange("m-3", "carol") // 6..9 through A
	b.stamp(t)
	a.stamp(t) // nothing new
	e.exchange("m-4", "dave")
	a.stamp(t)
	if got, want := e.spans(lb), []span{{1, 5}, {6, 9}, {10, 13}}; !sameSpans(got, want) {
		t.Fatalf("time-stamps %v, want %v", got, want)
	}
	e.verifyStamps(lb, tsa, 3, 13)
	if err := a.Healthy(e.clk.Now()); err != nil {
		t.Errorf("node A Healthy: %v", err)
	}
}
