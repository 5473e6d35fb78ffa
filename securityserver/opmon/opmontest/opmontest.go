// Package opmontest is the conformance suite every opmon.Store
// implementation passes: the SQLite and PostgreSQL stores run the same
// tests. It is imported only from _test.go files.
package opmontest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/opmon"
)

// Factory returns an opener for a fresh, empty database of its own: every
// call of the opener opens another Store on that same database (as another
// node of the security server would), closed when the test ends.
type Factory func(t *testing.T) (open func(t *testing.T) opmon.Store)

// t0 is the time the suite's records are stored at.
var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

var (
	portal = xroad.ClientID{Instance: "PS", Class: "GOV", Code: "CAB", Subsystem: "portal"}
	civil  = xroad.ClientID{Instance: "PS", Class: "GOV", Code: "MOI", Subsystem: "civil-registry"}
	mot    = xroad.ClientID{Instance: "PS", Class: "GOV", Code: "MOT", Subsystem: "licensing"}
)

// full is a record with every field set.
func full(at time.Time, client xroad.ClientID, provider xroad.ClientID, id string) opmon.Record {
	in := at.Add(-time.Second)
	return opmon.Record{
		MonitoringDataTs:         at,
		SecurityServerInternalIP: "10.0.0.7",
		SecurityServerType:       opmon.TypeClient,
		RequestIn:                in, RequestOut: in.Add(3 * time.Millisecond),
		ResponseIn: in.Add(40 * time.Millisecond), ResponseOut: in.Add(42 * time.Millisecond),
		Client: client, Service: xroad.ServiceID{Provider: provider, Code: "persons", Version: "v1"},
		RestMethod: "GET", RestPath: "/v1/persons/4001",
		RepresentedParty: "GOV/MOH",
		MessageID:        id, MessageUserID: "PS4001", MessageIssue: "ticket-17", MessageProtocolVersion: "jisr/1",
		ClientSecurityServerAddress: "ss1.cab.ps:5500", ServiceSecurityServerAddress: "ss1.moi.ps:5500",
		RequestSize: 0, ResponseSize: 512,
		Succeeded: true, StatusCode: 200, XRequestID: "req-" + id,
	}
}

// Run runs the suite.
func Run(t *testing.T, f Factory) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, f(t)) })
	t.Run("Filters", func(t *testing.T) { testFilters(t, f(t)) })
	t.Run("ConcurrentNodes", func(t *testing.T) { testConcurrentNodes(t, f(t)) })
	t.Run("DeleteBefore", func(t *testing.T) { testDeleteBefore(t, f(t)) })
}

// testRoundTrip stores a complete record and a refusal with unknown
// fields and reads both back unchanged.
func testRoundTrip(t *testing.T, open func(t *testing.T) opmon.Store) {
	s := open(t)
	ctx := t.Context()
	if err := s.Insert(ctx, nil); err != nil {
		t.Fatalf("empty insert: %v", err)
	}
	refused := opmon.Record{
		MonitoringDataTs: t0, SecurityServerType: opmon.TypeProducer, RequestIn: t0, ResponseOut: t0.Add(time.Millisecond),
		RestMethod: "GET", RequestSize: -1, ResponseSize: -1,
		FaultCode: "Client.BadRequest", FaultString: "invalid r1 service path: ‹bad›", StatusCode: 400,
	}
	want := []opmon.Record{full(t0, portal, civil, "m1"), refused}
	recs := append([]opmon.Record(nil), want...)
	if err := s.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if recs[0].ID <= 0 || recs[1].ID != recs[0].ID+1 {
		t.Fatalf("ids %d %d, want increasing by one from 1", recs[0].ID, recs[1].ID)
	}
	got, err := s.Find(ctx, opmon.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("found %d records, want 2", len(got))
	}
	for i := range want {
		want[i].ID = recs[i].ID
		if !equal(got[i], want[i]) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// equal compares records, times by instant.
func equal(a, b opmon.Record) bool {
	for _, p := range [][2]*time.Time{{&a.MonitoringDataTs, &b.MonitoringDataTs}, {&a.RequestIn, &b.RequestIn},
		{&a.RequestOut, &b.RequestOut}, {&a.ResponseIn, &b.ResponseIn}, {&a.ResponseOut, &b.ResponseOut}} {
		if !p[0].Equal(*p[1]) {
			return false
		}
		*p[0], *p[1] = time.Time{}, time.Time{}
	}
	return a == b
}

// ids returns the message ids of recs.
func ids(recs []opmon.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.MessageID
	}
	return out
}

func sameIDs(got []opmon.Record, want ...string) bool {
	g := ids(got)
	if len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

// testFilters checks every Query field alone and together.
func testFilters(t *testing.T, open func(t *testing.T) opmon.Store) {
	s := open(t)
	ctx := t.Context()
	recs := []opmon.Record{
		full(t0, portal, civil, "a"),                  // portal → civil
		full(t0.Add(time.Minute), civil, mot, "b"),    // civil → mot
		full(t0.Add(2*time.Minute), mot, civil, "c"),  // mot → civil
		full(t0.Add(3*time.Minute), portal, mot, "d"), // portal → mot
		full(t0.Add(4*time.Minute), mot, mot, "e"),    // mot → mot
	}
	if err := s.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		q    opmon.Query
		want []string
	}{
		{"everything", opmon.Query{}, []string{"a", "b", "c", "d", "e"}},
		{"from inclusive", opmon.Query{From: t0.Add(time.Minute)}, []string{"b", "c", "d", "e"}},
		{"to exclusive", opmon.Query{To: t0.Add(2 * time.Minute)}, []string{"a", "b"}},
		{"range", opmon.Query{From: t0.Add(time.Minute), To: t0.Add(3*time.Minute + time.Second)}, []string{"b", "c", "d"}},
		{"party as client or provider", opmon.Query{Party: civil}, []string{"a", "b", "c"}},
		{"party only as client", opmon.Query{Party: portal}, []string{"a", "d"}},
		{"party that is nowhere", opmon.Query{Party: xroad.ClientID{Instance: "PS", Class: "GOV", Code: "CAB", Subsystem: "other"}}, nil},
		{"member is not its subsystem", opmon.Query{Party: civil.Member().Client()}, nil},
		{"provider", opmon.Query{Provider: mot}, []string{"b", "d", "e"}},
		{"party and provider", opmon.Query{Party: portal, Provider: mot}, []string{"d"}},
		{"after id", opmon.Query{AfterID: recs[2].ID}, []string{"d", "e"}},
		{"limit", opmon.Query{Limit: 2}, []string{"a", "b"}},
		{"page", opmon.Query{AfterID: recs[0].ID, Limit: 2, Party: mot}, []string{"b", "c"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Find(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if !sameIDs(got, c.want...) {
				t.Errorf("got %v, want %v", ids(got), c.want)
			}
		})
	}
}

// testConcurrentNodes inserts from several stores on one database at once
// (several nodes of one security server): ids are unique, and a reader
// paging by id while they write never misses a record.
func testConcurrentNodes(t *testing.T, open func(t *testing.T) opmon.Store) {
	const nodes, batches, per = 3, 20, 7
	stores := make([]opmon.Store, nodes)
	for i := range stores {
		stores[i] = open(t)
	}
	reader := open(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, nodes*batches)
	for n := range nodes {
		wg.Go(func() {
			for b := range batches {
				recs := make([]opmon.Record, per)
				for i := range recs {
					recs[i] = full(t0, portal, civil, fmt.Sprintf("n%d-b%d-%d", n, b, i))
				}
				if err := stores[n].Insert(ctx, recs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// Page through while the nodes write: every page continues after the
	// last id seen, and no id may ever appear below it later.
	seen := map[string]bool{}
	var last int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		page, err := reader.Find(ctx, opmon.Query{AfterID: last, Limit: 13})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if r.ID <= last || seen[r.MessageID] {
				t.Fatalf("id %d after %d (message %s seen before: %v)", r.ID, last, r.MessageID, seen[r.MessageID])
			}
			seen[r.MessageID], last = true, r.ID
		}
		if finished && len(page) == 0 {
			break
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != nodes*batches*per {
		t.Fatalf("the paging reader saw %d records, want %d", len(seen), nodes*batches*per)
	}
}

// testDeleteBefore deletes the oldest records only, at most max at a
// time.
func testDeleteBefore(t *testing.T, open func(t *testing.T) opmon.Store) {
	s := open(t)
	ctx := t.Context()
	var recs []opmon.Record
	for i := range 10 {
		recs = append(recs, full(t0.Add(time.Duration(i)*time.Hour), portal, civil, fmt.Sprint(i)))
	}
	if err := s.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteBefore(ctx, t0.Add(5*time.Hour), 3)
	if err != nil || n != 3 {
		t.Fatalf("first batch deleted %d (%v), want 3", n, err)
	}
	n, err = s.DeleteBefore(ctx, t0.Add(5*time.Hour), 3)
	if err != nil || n != 2 {
		t.Fatalf("second batch deleted %d (%v), want 2", n, err)
	}
	got, err := s.Find(ctx, opmon.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if !sameIDs(got, "5", "6", "7", "8", "9") {
		t.Errorf("left %v, want 5…9", ids(got))
	}
	if _, err := s.DeleteBefore(ctx, t0, 0); err == nil {
		t.Error("a batch of 0 was accepted")
	}
}
