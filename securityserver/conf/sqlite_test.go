package conf_test

import (
	"testing"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/conf/conftest"
)

func TestSQLite(t *testing.T) {
	conftest.Run(t, func(t *testing.T, clk clock.Clock) conf.Store {
		return storetest.Open(t, func() (conf.Store, error) {
			return conf.OpenSQLite(t.Context(), storetest.SQLitePath(t), conf.WithClock(clk))
		})
	})
}

// TestNewOnCallerDB checks that New migrates a database the caller opened,
// records its migrations in its own table, and that the Store's Close
// leaves that database open.
func TestNewOnCallerDB(t *testing.T) {
	ctx := t.Context()
	db, err := store.OpenSQLite(ctx, storetest.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := conf.New(ctx, db, store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddLocalGroup(ctx, conf.LocalGroup{}); err == nil {
		t.Fatal("want an error for an empty group")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	v, err := store.MigrationVersion(ctx, db, store.SQLite, conf.Migrations(), store.MigrationTable(conf.MigrationTable))
	if err != nil || v != 3 {
		t.Fatalf("migration version %d, %v; want 3", v, err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ss_counters`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("caller's database after Close: %d rows, %v", n, err)
	}
	// Opening again finds the schema current.
	if _, err := conf.New(ctx, db, store.SQLite); err != nil {
		t.Fatal(err)
	}
}
