package opmon_test

import (
	"testing"

	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver/opmon"
	"github.com/jisr-bus/jisr/securityserver/opmon/opmontest"
)

// TestSQLite runs the conformance suite on SQLite.
func TestSQLite(t *testing.T) {
	opmontest.Run(t, func(t *testing.T) func(t *testing.T) opmon.Store {
		path := storetest.SQLitePath(t)
		return func(t *testing.T) opmon.Store {
			return storetest.Open(t, func() (opmon.Store, error) { return opmon.OpenSQLite(t.Context(), path) })
		}
	})
}

// TestPostgres runs the conformance suite on PostgreSQL, each test in a
// schema of its own.
func TestPostgres(t *testing.T) {
	opmontest.Run(t, func(t *testing.T) func(t *testing.T) opmon.Store {
		dsn := storetest.PostgresDSN(t)
		return func(t *testing.T) opmon.Store {
			return storetest.Open(t, func() (opmon.Store, error) { return opmon.OpenPostgres(t.Context(), dsn) })
		}
	})
}
