package msglog_test

import (
	"testing"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// sqliteDB is the conformance suite's factory for SQLite.
func sqliteDB(t *testing.T) msglogtest.DB {
	path := storetest.SQLitePath(t)
	raw, err := store.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return msglogtest.DB{
		Raw: raw,
		Open: func(t *testing.T, opts ...msglog.Option) *msglog.Log {
			l, err := msglog.OpenSQLite(t.Context(), path, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := l.Close(); err != nil {
					t.Error(err)
				}
			})
			return l
		},
	}
}

func TestSQLite(t *testing.T) {
	msglogtest.Run(t, sqliteDB)
}
