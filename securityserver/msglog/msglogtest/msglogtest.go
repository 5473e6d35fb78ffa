// Package msglogtest is the conformance suite for the message log: Run
// checks a msglog.Log on a database (SQLite or PostgreSQL) so that both
// backends behave identically, errors included. It also holds fixtures
// (signed exchanges) for the package's other tests and benchmarks.
//
// It is imported only from _test.go files.
package msglogtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// DB is a fresh, empty database for one test.
type DB struct {
	// Open opens a msglog.Log on the database with the given options. It
	// may be called again after the previous Log is closed, to reopen the
	// same log. Every Log it returns is closed in t.Cleanup too.
	Open func(t *testing.T, opts ...msglog.Option) *msglog.Log
	// Raw is a separate handle on the same database, for checking and
	// tampering with what the log stored.
	Raw *sql.DB
}

// Factory returns a fresh, empty database for t.
type Factory func(t *testing.T) DB

// keys returns the suite's keys named in ids ("A", "B"), current being
// the one new bodies are encrypted under.
func keys(t *testing.T, current string, ids ...string) *msglog.StaticKeys {
	t.Helper()
	all := map[string][]byte{"A": bytes.Repeat([]byte{0xa}, msglog.KeySize), "B": bytes.Repeat([]byte{0xb}, msglog.KeySize)}
	m := map[string][]byte{}
	for _, id := range ids {
		m[id] = all[id]
	}
	k, err := msglog.NewStaticKeys(current, m)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// env is one test's database, log, clock and fixture.
type env struct {
	t   *testing.T
	ctx context.Context
	db  DB
	l   *msglog.Log
	clk *clock.Fake
	f   *Fixture
}

// Run runs the conformance suite against the databases newDB returns.
func Run(t *testing.T, newDB Factory) {
	f := NewFixture(t)
	setup := func(t *testing.T, opts ...msglog.Option) *env {
		e := &env{t: t, ctx: t.Context(), db: newDB(t), clk: clock.NewFake(Start.Add(123456789 * time.Nanosecond)), f: f}
		e.l = e.db.Open(t, append([]msglog.Option{msglog.WithClock(e.clk), msglog.WithKeys(keys(t, "A", "A"))}, opts...)...)
		return e
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, setup func(*testing.T, ...msglog.Option) *env)
	}{
		{"RoundTrip", testRoundTrip},
		{"BodyPolicy", testBodyPolicy},
		{"InvalidRecords", testInvalidRecords},
		{"ConcurrentAppends", testConcurrentAppends},
		{"Find", testFind},
		{"Dedup", testDedup},
		{"Tamper", testTamper},
		{"ReopenAndKeyRotation", testReopen},
		{"Closed", testClosed},
		{"DatabaseFailure", testDatabaseFailure},
		{"Timestamps", testTimestamps},
		{"Purge", testPurge},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, setup) })
	}
}

func (e *env) append(r *msglog.Record) {
	e.t.Helper()
	if err := e.l.Append(e.ctx, r); err != nil {
		e.t.Fatalf("Append: %v", err)
	}
}

// exchange appends a request and its response, each on both sides, and
// returns the four records.
func (e *env) exchange(id, user string) []msglog.Record {
	e.t.Helper()
	x := e.f.NewExchange(e.t, id, user, []byte(`{"q":"`+id+`"}`), []byte(`{"a":"`+id+`"}`))
	recs := []msglog.Record{x.Request(msglog.Consumer), x.Request(msglog.Provider), x.Response(msglog.Provider), x.Response(msglog.Consumer)}
	for i := range recs {
		e.append(&recs[i])
	}
	return recs
}

// verify checks that the whole chain verifies up to the head, at want.
func (e *env) verify(want int64) {
	e.t.Helper()
	res, err := e.l.VerifyChain(e.ctx, 0, 0)
	if err != nil {
		e.t.Fatalf("VerifyChain: %v", err)
	}
	if res.From != 1 || res.To != want || !res.Head {
		e.t.Fatalf("VerifyChain = %+v, want 1..%d at the head", res, want)
	}
}

// sameRecord fails unless got (from Get or Find) equals want (as Append
// filled it in).
func sameRecord(t *testing.T, got, want msglog.Record) {
	t.Helper()
	norm := func(r msglog.Record) msglog.Record {
		r.Time, r.LoggedAt = r.Time.UTC(), r.LoggedAt.UTC()
		if len(r.Body) == 0 {
			r.Body = nil
		}
		return r
	}
	got, want = norm(got), norm(want)
	if reflect.DeepEqual(got, want) {
		return
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("record %d: %s = %v, want %v", want.ID, gv.Type().Field(i).Name, gv.Field(i).Interface(), wv.Field(i).Interface())
		}
	}
}

func testRoundTrip(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	e.verify(0)
	recs := e.exchange("m-1", "alice")
	prev := msglog.GenesisHash()
	for i, r := range recs {
		if r.ID != int64(i+1) {
			t.Errorf("record %d: ID %d", i, r.ID)
		}
		if !r.LoggedAt.Equal(e.clk.Now().Truncate(time.Microsecond)) {
			t.Errorf("record %d: LoggedAt %v, clock %v", r.ID, r.LoggedAt, e.clk.Now())
		}
		if !bytes.Equal(r.PrevHash, prev) || !bytes.Equal(msglog.RecordHash(&r), r.Hash) {
			t.Errorf("record %d: not chained: prev %x (want %x), hash %x", r.ID, r.PrevHash, prev, r.Hash)
		}
		prev = r.Hash
		if !r.BodyLogged || r.BodyKeyID != "A" || len(r.Chain) != 2 || len(r.OCSP) == 0 {
			t.Errorf("record %d: body logged %v key %q chain %d ocsp %d", r.ID, r.BodyLogged, r.BodyKeyID, len(r.Chain), len(r.OCSP))
		}
	}
	if recs[0].Signer != ConsumerMember || recs[2].Signer != ProviderMember {
		t.Errorf("signers %s, %s", recs[0].Signer, recs[2].Signer)
	}
	for _, want := range recs {
		got, err := e.l.Get(e.ctx, want.ID)
		if err != nil {
			t.Fatalf("Get(%d): %v", want.ID, err)
		}
		sameRecord(t, got, want)
	}
	// A record of an empty body.
	x := e.f.NewExchange(t, "m-empty", "", nil, nil)
	r := x.Request(msglog.Consumer)
	e.append(&r)
	got, err := e.l.Get(e.ctx, r.ID)
	if err != nil || !got.BodyLogged || len(got.Body) != 0 {
		t.Fatalf("empty body: %+v, %v", got, err)
	}
	if _, err := e.l.Get(e.ctx, 99); !errors.Is(err, msglog.ErrNotFound) {
		t.Errorf("Get(99) = %v, want ErrNotFound", err)
	}
	e.verify(5)
}

func testBodyPolicy(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	// Bodies of the provider's subsystem are not logged: on the provider
	// side only.
	e := setup(t, msglog.WithBodyPolicy(func(local xroad.ClientID) bool { return local != Service.Provider }))
	recs := e.exchange("m-1", "alice")
	for _, r := range recs {
		wantBody := r.Side == msglog.Consumer
		if e.l.WantsBody(&r) != wantBody || r.BodyLogged != wantBody {
			t.Errorf("record %d (%s): WantsBody %v, BodyLogged %v, want %v", r.ID, r.Side, e.l.WantsBody(&r), r.BodyLogged, wantBody)
		}
		got, err := e.l.Get(e.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.BodyLogged != wantBody || (got.Body != nil) != wantBody {
			t.Errorf("record %d read back: BodyLogged %v, body %q", r.ID, got.BodyLogged, got.Body)
		}
	}
	// Metadata-only: no key needed, no body required.
	m := setup(t, msglog.MetadataOnly())
	x := e.f.NewExchange(t, "m-2", "", []byte("secret"), nil)
	r := x.Request(msglog.Consumer)
	r.Body = nil
	m.append(&r)
	var n int
	if err := m.db.Raw.QueryRowContext(m.ctx, `SELECT COUNT(*) FROM msglog_records WHERE body_ciphertext IS NOT NULL`).Scan(&n); err != nil || n != 0 {
		t.Errorf("metadata-only log stored %d bodies (%v)", n, err)
	}
	m.verify(1)
}

func testInvalidRecords(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	x := e.f.NewExchange(t, "m-1", "alice", []byte("request"), []byte("response"))
	other := e.f.NewExchange(t, "m-2", "bob", []byte("other"), []byte("other"))
	for _, tc := range []struct {
		name   string
		mutate func(r *msglog.Record)
	}{
		{"user id differs from header", func(r *msglog.Record) { r.UserID = "mallory" }},
		{"message id differs", func(r *msglog.Record) { r.MessageID = "m-9" }},
		{"client differs", func(r *msglog.Record) { r.Client = ProviderMember.Subsystem("x") }},
		{"time differs", func(r *msglog.Record) { r.Time = r.Time.Add(time.Millisecond) }},
		{"request line differs", func(r *msglog.Record) { r.Path = "/other" }},
		{"request with status", func(r *msglog.Record) { r.Status = 200 }},
		{"signature of another message", func(r *msglog.Record) { r.Signature = other.ReqSig }},
		{"signature not a JWS", func(r *msglog.Record) { r.Signature = "abc" }},
		{"signature not base64", func(r *msglog.Record) { r.Signature = "a.b.c!" }},
		{"signer differs from certificate", func(r *msglog.Record) { r.Signer = ProviderMember }},
		{"body differs from digest", func(r *msglog.Record) { r.Body = []byte("tampered") }},
		{"body missing", func(r *msglog.Record) { r.Body = nil }},
		{"bad direction", func(r *msglog.Record) { r.Direction = "SIDEWAYS" }},
		{"bad side", func(r *msglog.Record) { r.Side = "" }},
		{"NUL in issue", func(r *msglog.Record) { r.Issue = "a\x00b" }},
		{"invalid client", func(r *msglog.Record) { r.Client = xroad.ClientID{} }},
		{"short body digest", func(r *msglog.Record) { r.BodySHA256 = r.BodySHA256[:8] }},
		{"response as request", func(r *msglog.Record) { *r = x.Response(msglog.Consumer); r.Direction = msglog.Request }},
		{"response with request line", func(r *msglog.Record) { *r = x.Response(msglog.Consumer); r.Method = "GET" }},
		{"response status differs", func(r *msglog.Record) { *r = x.Response(msglog.Consumer); r.Status = 500 }},
		{"response to another request", func(r *msglog.Record) {
			*r = x.Response(msglog.Consumer)
			r.RequestDigest = other.Req.Digest()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := x.Request(msglog.Consumer)
			tc.mutate(&r)
			err := e.l.Append(e.ctx, &r)
			if !errors.Is(err, msglog.ErrInvalidRecord) || errors.Is(err, msglog.ErrLogUnavailable) {
				t.Fatalf("Append = %v, want ErrInvalidRecord", err)
			}
			if r.ID != 0 || r.Hash != nil {
				t.Errorf("refused record was given ID %d, hash %x", r.ID, r.Hash)
			}
		})
	}
	if err := e.l.Append(e.ctx, nil); !errors.Is(err, msglog.ErrInvalidRecord) {
		t.Errorf("Append(nil) = %v", err)
	}
	e.verify(0)
	r := x.Request(msglog.Consumer)
	e.append(&r)
	if r.ID != 1 {
		t.Errorf("first valid record has ID %d", r.ID)
	}
	e.verify(1)
}

func testConcurrentAppends(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	const n = 1000
	recs := e.f.Records(t, n, 256)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range recs {
		wg.Go(func() { errs[i] = e.l.Append(e.ctx, &recs[i]) })
	}
	wg.Wait()
	seen := make([]bool, n+1)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		id := recs[i].ID
		if id < 1 || id > n || seen[id] {
			t.Fatalf("append %d: id %d out of range or duplicate", i, id)
		}
		seen[id] = true
	}
	e.verify(n)
	st := e.l.Stats()
	t.Logf("%d records in %d batches", st.Records, st.Batches)
	if st.Records != n || st.Batches >= n || st.FailedBatches != 0 {
		t.Errorf("Stats = %+v: want %d records in fewer batches, none failed", st, n)
	}
	// Spot-check a record read back against what Append reported.
	got, err := e.l.Get(e.ctx, recs[n/2].ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, got, recs[n/2])
}

func testFind(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	t0 := e.clk.Now().Truncate(time.Microsecond)
	a := e.exchange("m-1", "alice") // ids 1-4
	e.clk.Add(time.Hour)
	b := e.exchange("m-2", "bob") // ids 5-8
	e.clk.Add(time.Hour)
	c := e.exchange("m-1", "alice") // ids 9-12: a reused message id
	ids := func(rs []msglog.Record) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	all := ids(append(append(append([]msglog.Record{}, a...), b...), c...))
	for _, tc := range []struct {
		name string
		q    msglog.Query
		want []int64
	}{
		{"everything", msglog.Query{}, all},
		{"message id", msglog.Query{MessageID: "m-2"}, ids(b)},
		{"reused message id", msglog.Query{MessageID: "m-1"}, ids(append(append([]msglog.Record{}, a...), c...))},
		{"client", msglog.Query{Client: Client}, all},
		{"other client", msglog.Query{Client: ProviderMember.Client()}, nil},
		{"service any version", msglog.Query{Service: Service.Unversioned()}, all},
		{"service version", msglog.Query{Service: Service}, all},
		{"other service version", msglog.Query{Service: xroad.ServiceID{Provider: Service.Provider, Code: Service.Code, Version: "v2"}}, nil},
		{"user id", msglog.Query{UserID: "bob"}, ids(b)},
		{"issue", msglog.Query{Issue: "issue-m-2"}, ids(b)},
		{"time range", msglog.Query{From: t0.Add(30 * time.Minute), To: t0.Add(90 * time.Minute)}, ids(b)},
		{"from inclusive", msglog.Query{From: t0.Add(2 * time.Hour)}, ids(c)},
		{"to exclusive", msglog.Query{To: t0.Add(time.Hour)}, ids(a)},
		{"combined", msglog.Query{UserID: "alice", From: t0.Add(time.Hour)}, ids(c)},
		{"page", msglog.Query{Limit: 3}, all[:3]},
		{"next page", msglog.Query{Limit: 3, After: 3}, all[3:6]},
		{"page with filter", msglog.Query{MessageID: "m-1", After: 2, Limit: 3}, []int64{3, 4, 9}},
		{"limit above maximum", msglog.Query{Limit: msglog.MaxLimit + 1}, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.l.Find(e.ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !slicesEqual(ids(got), tc.want) {
				t.Errorf("Find = %v, want %v", ids(got), tc.want)
			}
		})
	}
	got, err := e.l.Find(e.ctx, msglog.Query{UserID: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		sameRecord(t, got[i], b[i])
	}
	if _, err := e.l.Find(e.ctx, msglog.Query{Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testDedup(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	for i := range 5 {
		e.exchange(fmt.Sprintf("m-%d", i), "")
	}
	count := func(table string) int {
		var n int
		if err := e.db.Raw.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Two leaf certificates and the CA's; one OCSP response per member.
	if c, o := count("msglog_certs"), count("msglog_ocsp"); c != 3 || o != 2 {
		t.Errorf("20 records stored %d certificates and %d OCSP responses, want 3 and 2", c, o)
	}
	// The stored JWS is much smaller than the JWS: certificates and OCSP
	// responses are not repeated.
	var stored, payload int
	if err := e.db.Raw.QueryRowContext(e.ctx,
		`SELECT length(jws_signature) + length(cert_hashes) + length(jws_alg) + length(jws_typ), length(signed_header)
		 FROM msglog_records WHERE id = 1 AND jws_protected IS NULL`).Scan(&stored, &payload); err != nil {
		t.Fatalf("record 1 keeps its protected header verbatim, or: %v", err)
	}
	r, err := e.l.Get(e.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compact JWS %d bytes, stored as %d bytes beside the %d-byte signed header", len(r.Signature), stored, payload)
}

func testTamper(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	type check struct {
		tamper string // SQL run on the raw handle, $1 = 32 bytes of junk
		wantID int64  // VerifyChain's first broken record, 0: chain intact
		getID  int64  // a record Get must refuse with ErrCorrupt, 0: none
	}
	for _, tc := range []struct {
		name string
		c    check
	}{
		{"field edited", check{tamper: `UPDATE msglog_records SET user_id = 'mallory' WHERE id = 3`, wantID: 3}},
		{"time edited", check{tamper: `UPDATE msglog_records SET message_time = message_time + 1000 WHERE id = 5`, wantID: 5}},
		{"body digest edited", check{tamper: `UPDATE msglog_records SET body_sha256 = $1 WHERE id = 2`, wantID: 2, getID: 2}},
		{"hash recomputed without the link", check{tamper: `UPDATE msglog_records SET prev_hash = $1 WHERE id = 4`, wantID: 4}},
		{"record deleted", check{tamper: `DELETE FROM msglog_records WHERE id = 3`, wantID: 3}},
		{"last record deleted", check{tamper: `DELETE FROM msglog_records WHERE id = 8`, wantID: 8}},
		{"head rewound", check{tamper: `UPDATE msglog_head SET last_id = 7`, wantID: 8}},
		{"certificate replaced", check{tamper: `UPDATE msglog_certs SET der = $1`, wantID: 1}},
		{"certificate deleted", check{tamper: `DELETE FROM msglog_certs`, wantID: 1, getID: 1}},
		{"signature edited", check{tamper: `UPDATE msglog_records SET jws_signature = $1 WHERE id = 6`, wantID: 6}},
		{"ciphertext edited", check{tamper: `UPDATE msglog_records SET body_ciphertext = $1 WHERE id = 2`, getID: 2}},
		{"ciphertexts swapped", check{tamper: `UPDATE msglog_records SET
			body_nonce = (SELECT r.body_nonce FROM msglog_records r WHERE r.id = 1),
			body_ciphertext = (SELECT r.body_ciphertext FROM msglog_records r WHERE r.id = 1) WHERE id = 5`, getID: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			e.exchange("m-1", "alice")
			e.exchange("m-2", "bob")
			e.verify(8)
			junk := bytes.Repeat([]byte{0x42}, 32)
			args := []any{}
			if strings.Contains(tc.c.tamper, "$1") {
				args = append(args, junk)
			}
			if _, err := e.db.Raw.ExecContext(e.ctx, tc.c.tamper, args...); err != nil {
				t.Fatalf("tamper: %v", err)
			}
			_, err := e.l.VerifyChain(e.ctx, 0, 0)
			var ce *msglog.ChainError
			switch {
			case tc.c.wantID == 0 && err != nil:
				t.Errorf("VerifyChain = %v, want intact chain", err)
			case tc.c.wantID != 0 && (!errors.As(err, &ce) || !errors.Is(err, msglog.ErrChainBroken)):
				t.Errorf("VerifyChain = %v, want *ChainError", err)
			case tc.c.wantID != 0 && ce.ID != tc.c.wantID:
				t.Errorf("VerifyChain broken at %d (%s), want %d", ce.ID, ce.Reason, tc.c.wantID)
			}
			if tc.c.getID != 0 {
				if _, err := e.l.Get(e.ctx, tc.c.getID); !errors.Is(err, msglog.ErrCorrupt) {
					t.Errorf("Get(%d) = %v, want ErrCorrupt", tc.c.getID, err)
				}
			}
		})
	}
	t.Run("partial ranges", func(t *testing.T) {
		e := setup(t)
		e.exchange("m-1", "alice")
		e.exchange("m-2", "bob")
		res, err := e.l.VerifyChain(e.ctx, 3, 6)
		if err != nil || res.From != 3 || res.To != 6 || res.Head {
			t.Fatalf("VerifyChain(3, 6) = %+v, %v", res, err)
		}
		if _, err := e.db.Raw.ExecContext(e.ctx, `UPDATE msglog_records SET issue = 'x' WHERE id = 7`); err != nil {
			t.Fatal(err)
		}
		if _, err := e.l.VerifyChain(e.ctx, 3, 6); err != nil {
			t.Errorf("VerifyChain(3, 6) after tampering with 7: %v", err)
		}
		if _, err := e.l.VerifyChain(e.ctx, 5, 100); !errors.Is(err, msglog.ErrChainBroken) {
			t.Errorf("VerifyChain(5, 100) = %v, want broken", err)
		}
	})
}

func testReopen(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	first := e.exchange("m-1", "alice")
	if err := e.l.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen with key B current, A retired.
	e.l = e.db.Open(t, msglog.WithClock(e.clk), msglog.WithKeys(keys(t, "B", "A", "B")))
	second := e.exchange("m-2", "bob")
	if second[0].ID != 5 || !bytes.Equal(second[0].PrevHash, first[3].Hash) || second[0].BodyKeyID != "B" {
		t.Fatalf("after reopening: id %d, prev %x, key %q; want 5, %x, B", second[0].ID, second[0].PrevHash, first[3].Hash, second[0].BodyKeyID)
	}
	e.verify(8)
	for _, r := range append(first, second...) {
		got, err := e.l.Get(e.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameRecord(t, got, r)
	}
	if err := e.l.Close(); err != nil {
		t.Fatal(err)
	}
	// With only key B, records under A come back without their bodies.
	e.l = e.db.Open(t, msglog.WithClock(e.clk), msglog.WithKeys(keys(t, "B", "B")))
	got, err := e.l.Get(e.ctx, 1)
	if err != nil || got.Body != nil || !got.BodyLogged || got.BodyKeyID != "A" {
		t.Fatalf("record under a missing key: body %q, logged %v, key %q, %v", got.Body, got.BodyLogged, got.BodyKeyID, err)
	}
	// With no keys at all (metadata-only), likewise.
	if err := e.l.Close(); err != nil {
		t.Fatal(err)
	}
	e.l = e.db.Open(t, msglog.WithClock(e.clk), msglog.MetadataOnly())
	if got, err := e.l.Get(e.ctx, 5); err != nil || got.Body != nil || !got.BodyLogged {
		t.Fatalf("record without a KeyProvider: %+v, %v", got, err)
	}
}

func testClosed(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	recs := e.f.Records(t, 3, 10)
	e.append(&recs[0])
	if err := e.l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err := e.l.Append(e.ctx, &recs[1])
	if !errors.Is(err, msglog.ErrClosed) || !errors.Is(err, msglog.ErrLogUnavailable) {
		t.Errorf("Append after Close = %v, want ErrClosed and ErrLogUnavailable", err)
	}
	e.l = e.db.Open(t, msglog.WithClock(e.clk), msglog.WithKeys(keys(t, "A", "A")))
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if err := e.l.Append(ctx, &recs[2]); !errors.Is(err, msglog.ErrLogUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context = %v", err)
	}
	e.verify(1)
}

func testDatabaseFailure(t *testing.T, setup func(*testing.T, ...msglog.Option) *env) {
	e := setup(t)
	recs := e.f.Records(t, 21, 10)
	e.append(&recs[0])
	// Take the chain head away: every transaction fails.
	if _, err := e.db.Raw.ExecContext(e.ctx, `ALTER TABLE msglog_head RENAME TO msglog_head_away`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range 20 {
		wg.Go(func() { errs[i] = e.l.Append(e.ctx, &recs[1+i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, msglog.ErrLogUnavailable) || recs[1+i].ID != 0 {
			t.Errorf("append %d during the outage = %v (id %d), want ErrLogUnavailable", i, err, recs[1+i].ID)
		}
	}
	if st := e.l.Stats(); st.FailedBatches == 0 || st.Records != 1 {
		t.Errorf("Stats = %+v", st)
	}
	var n int
	if err := e.db.Raw.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM msglog_records`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d records stored after the outage (%v), want 1", n, err)
	}
	if _, err := e.db.Raw.ExecContext(e.ctx, `ALTER TABLE msglog_head_away RENAME TO msglog_head`); err != nil {
		t.Fatal(err)
	}
	// The log recovers, without a gap.
	e.append(&recs[1])
	if recs[1].ID != 2 {
		t.Errorf("first record after the outage has id %d, want 2", recs[1].ID)
	}
	e.verify(2)
}
