package msglog_test

import (
	"testing"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// postgresDB is the conformance suite's factory for PostgreSQL: a schema
// of the test's own.
func postgresDB(t *testing.T) msglogtest.DB {
	dsn := storetest.PostgresDSN(t)
	raw, err := store.OpenPostgresDB(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return msglogtest.DB{
		Raw: raw.DB,
		Open: func(t *testing.T, opts ...msglog.Option) *msglog.Log {
			l, err := msglog.OpenPostgres(t.Context(), dsn, opts...)
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

func TestPostgres(t *testing.T) {
	msglogtest.Run(t, postgresDB)
}
