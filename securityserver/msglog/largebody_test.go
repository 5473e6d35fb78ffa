package msglog_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// TestBodiesAboveTheLoggedMaximum: a body larger than the logged maximum
// is logged by digest and size only — the record is accepted, not refused
// — while smaller bodies are stored.
func TestBodiesAboveTheLoggedMaximum(t *testing.T) {
	keys, err := msglog.NewStaticKeys("k", map[string][]byte{"k": bytes.Repeat([]byte{1}, msglog.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	l := sqliteDB(t).Open(t, msglog.WithKeys(keys), msglog.WithMaxLoggedBody(16))
	f := msglogtest.NewFixture(t)
	for _, tc := range []struct {
		name   string
		size   int
		logged bool
	}{
		{"at the maximum", 16, true},
		{"above the maximum", 17, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := bytes.Repeat([]byte{'x'}, tc.size)
			r := f.NewExchange(t, fmt.Sprintf("m-%d", tc.size), "", body, nil).Request(msglog.Consumer)
			if l.WantsBody(&r) != tc.logged {
				t.Fatalf("WantsBody = %v", !tc.logged)
			}
			if !tc.logged {
				r.Body = nil // the caller does not read what is not logged
			}
			if err := l.Append(t.Context(), &r); err != nil {
				t.Fatalf("Append: %v", err)
			}
			got, err := l.Get(t.Context(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.BodyLogged != tc.logged || got.BodySize != int64(tc.size) || (tc.logged && !bytes.Equal(got.Body, body)) {
				t.Fatalf("record: logged %v, size %d", got.BodyLogged, got.BodySize)
			}
		})
	}
	if _, err := msglog.OpenSQLite(t.Context(), t.TempDir()+"/x.db", msglog.WithKeys(keys), msglog.WithMaxLoggedBody(msglog.MaxBodySize+1)); err == nil {
		t.Error("a logged maximum above MaxBodySize accepted")
	}
}
