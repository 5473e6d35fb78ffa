package registry_test

import (
	"testing"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/central/registry/registrytest"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	registrytest.Run(t, func(t *testing.T, clk clock.Clock) registry.Store {
		return storetest.Open(t, func() (registry.Store, error) {
			return registry.OpenSQLite(t.Context(), storetest.SQLitePath(t), registry.WithClock(clk))
		})
	})
}

// TestNewOnCallerDB checks that New migrates a database the caller opened
// and that the Store's Close leaves that database open.
func TestNewOnCallerDB(t *testing.T) {
	ctx := t.Context()
	db, err := store.OpenSQLite(ctx, storetest.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := registry.New(ctx, db, store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMemberClass(ctx, registry.MemberClass{Code: "GOV"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM member_classes`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("caller's database after Close: %d rows, %v", n, err)
	}
	// Opening again finds the schema current.
	if _, err := registry.New(ctx, db, store.SQLite); err != nil {
		t.Fatal(err)
	}
}
