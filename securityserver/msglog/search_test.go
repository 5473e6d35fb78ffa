package msglog_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// TestFindMetadata checks, on both databases, that FindMetadata selects
// exactly what Find selects, returns every field but the body, and that
// TimestampsCovering names the token of each stamped record.
func TestFindMetadata(t *testing.T) {
	for name, open := range map[string]func(t *testing.T, opts ...msglog.Option) (*msglog.Log, error){
		"sqlite": func(t *testing.T, opts ...msglog.Option) (*msglog.Log, error) {
			return msglog.OpenSQLite(t.Context(), storetest.SQLitePath(t), opts...)
		},
		"postgres": func(t *testing.T, opts ...msglog.Option) (*msglog.Log, error) {
			return msglog.OpenPostgres(t.Context(), storetest.PostgresDSN(t), opts...)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(msglogtest.Start)
			keys, err := msglog.NewStaticKeys("k1", map[string][]byte{"k1": bytes.Repeat([]byte{7}, msglog.KeySize)})
			if err != nil {
				t.Fatal(err)
			}
			l := storetest.Open(t, func() (*msglog.Log, error) { return open(t, msglog.WithClock(clk), msglog.WithKeys(keys)) })
			f := msglogtest.NewFixture(t)
			for i := range 3 {
				x := f.NewExchange(t, fmt.Sprintf("m-%d", i), fmt.Sprintf("user-%d", i%2), []byte(`{"q":"secret body"}`), []byte(`{"a":1}`))
				for _, r := range []msglog.Record{x.Request(msglog.Consumer), x.Response(msglog.Consumer)} {
					if err := l.Append(t.Context(), &r); err != nil {
						t.Fatal(err)
					}
				}
				clk.Add(time.Minute)
			}
			for _, q := range []msglog.Query{
				{},
				{MessageID: "m-1"},
				{UserID: "user-0"},
				{Issue: "issue-m-2"},
				{Client: msglogtest.Client, Service: msglogtest.Service.Unversioned()},
				{From: msglogtest.Start.Add(30 * time.Second), To: msglogtest.Start.Add(90 * time.Second)},
				{After: 2, Limit: 3},
			} {
				full, err := l.Find(t.Context(), q)
				if err != nil {
					t.Fatal(err)
				}
				meta, err := l.FindMetadata(t.Context(), q)
				if err != nil {
					t.Fatal(err)
				}
				if len(full) == 0 || len(meta) != len(full) {
					t.Fatalf("%+v: FindMetadata found %d records, Find %d", q, len(meta), len(full))
				}
				for i := range full {
					if full[i].Body == nil {
						t.Fatalf("record %d: Find returned no body", full[i].ID)
					}
					if meta[i].Body != nil || !meta[i].BodyLogged {
						t.Errorf("record %d: FindMetadata body %q, logged %v", meta[i].ID, meta[i].Body, meta[i].BodyLogged)
					}
					want := full[i]
					want.Body = nil
					if fmt.Sprintf("%+v", meta[i]) != fmt.Sprintf("%+v", want) {
						t.Errorf("record %d differs:\n meta %+v\n full %+v", meta[i].ID, meta[i], want)
					}
				}
			}
			if _, err := l.FindMetadata(t.Context(), msglog.Query{Limit: -1}); err == nil {
				t.Error("negative limit accepted")
			}

			// Stamp records 1-4, then 5-6.
			tsa := msglogtest.NewFakeTSA()
			ts, err := msglog.NewTimestamper(msglog.TimestamperConfig{Log: l, TSA: tsa, TSAName: "http://tsa.test/", Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			if none, err := l.TimestampsCovering(t.Context(), 1, 6); err != nil || len(none) != 0 {
				t.Fatalf("before stamping: %v %v", none, err)
			}
			if err := ts.Stamp(t.Context()); err != nil {
				t.Fatal(err)
			}
			x := f.NewExchange(t, "m-9", "user-9", nil, nil)
			r := x.Request(msglog.Consumer)
			if err := l.Append(t.Context(), &r); err != nil {
				t.Fatal(err)
			}
			if err := ts.Stamp(t.Context()); err != nil {
				t.Fatal(err)
			}
			got, err := l.TimestampsCovering(t.Context(), 6, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].ID != 1 || got[0].From != 1 || got[0].To != 6 || got[1].ID != 2 || got[1].From != 7 ||
				got[1].To != 7 || got[0].Token != nil || got[0].TSA != "http://tsa.test/" || len(got[0].HeadHash) == 0 {
				t.Errorf("TimestampsCovering(6, 7) = %+v", got)
			}
			if got, err := l.TimestampsCovering(t.Context(), 8, 9); err != nil || len(got) != 0 {
				t.Errorf("beyond the stamped records: %+v %v", got, err)
			}
		})
	}
}
