package store_test

import (
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/store/storetest"
)

func TestVersioned(t *testing.T) {
	for d, db := range openBoth(t) {
		t.Run(d.String(), func(t *testing.T) {
			ctx := t.Context()
			if _, err := db.ExecContext(ctx, `CREATE TABLE test_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
				INSERT INTO test_counters VALUES ('v', 0)`); err != nil {
				t.Fatal(err)
			}
			v := store.Versioned{DB: db, Dialect: d, Table: "test_counters", Counter: "v", ErrPrefix: "test"}
			version := func() (n int64) {
				t.Helper()
				if err := v.View(ctx, func(tx *sql.Tx) error {
					return tx.QueryRowContext(ctx, `SELECT value FROM test_counters WHERE name = 'v'`).Scan(&n)
				}); err != nil {
					t.Fatal(err)
				}
				return n
			}
			insert := func(name string, changed bool, fail error) error {
				return v.Update(ctx, func(tx *sql.Tx) (bool, error) {
					if _, err := tx.ExecContext(ctx, `INSERT INTO parents (name, size) VALUES ($1, 0)`, name); err != nil {
						return false, err
					}
					return changed, fail
				})
			}
			if err := insert("a", true, nil); err != nil || version() != 1 {
				t.Fatalf("changed: %v, version %d; want 1", err, version())
			}
			if err := insert("b", false, nil); err != nil || version() != 1 {
				t.Fatalf("unchanged: %v, version %d; want 1", err, version())
			}
			boom := errors.New("boom")
			if err := insert("c", true, boom); err != boom || version() != 1 {
				t.Fatalf("failed: %v, version %d; want boom, 1", err, version())
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM parents WHERE name = 'c'`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("failed write committed: %d rows, %v", n, err)
			}
			// PostgreSQL enforces View's read-only transaction (SQLite's
			// driver does not).
			if d == store.Postgres {
				if err := v.View(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO parents (name, size) VALUES ('d', 0)`)
					return err
				}); err == nil {
					t.Fatal("View wrote")
				}
			}

			bad := v
			bad.Table = "no_such_table"
			err := bad.Update(ctx, func(*sql.Tx) (bool, error) { return true, nil })
			if err == nil || !strings.HasPrefix(err.Error(), "test: take write lock: ") {
				t.Fatalf("missing table: %v", err)
			}
			bad = v
			bad.Counter = "missing" // the lock touches no row; the bump finds none
			err = bad.Update(ctx, func(*sql.Tx) (bool, error) { return true, nil })
			if !errors.Is(err, sql.ErrNoRows) || !strings.HasPrefix(err.Error(), "test: advance counter missing: ") {
				t.Fatalf("missing counter: %v", err)
			}
		})
	}
}

func TestUpdateValue(t *testing.T) {
	committed := func(fn func(int) error) error { return fn(1) }
	aborted := func(fn func(int) error) error { _ = fn(1); return errors.New("rolled back") }
	get := func(x int) (string, error) { return "value", nil }
	if v, err := store.UpdateValue(committed, get); v != "value" || err != nil {
		t.Fatalf("committed: %q, %v", v, err)
	}
	if v, err := store.UpdateValue(aborted, get); v != "" || err == nil {
		t.Fatalf("rolled back: %q, %v; want the zero value and the error", v, err)
	}
}

func TestOpenMigrated(t *testing.T) {
	ctx := t.Context()
	targets := map[store.Dialect]string{store.SQLite: storetest.SQLitePath(t)}
	if os.Getenv(storetest.EnvPostgresDSN) != "" || os.Getenv("JISR_REQUIRE_TOOLS") == "1" {
		targets[store.Postgres] = storetest.PostgresDSN(t)
	}
	for d, target := range targets {
		t.Run(d.String(), func(t *testing.T) {
			db, closeFn, err := store.OpenMigrated(ctx, d, target, nil, testMigrations, store.MigrationTable("test_open_migrated"))
			if err != nil {
				t.Fatal(err)
			}
			v, err := store.MigrationVersion(ctx, db, d, testMigrations, store.MigrationTable("test_open_migrated"))
			if err != nil || v != 2 {
				t.Fatalf("migration version %d, %v; want 2", v, err)
			}
			if err := closeFn(); err != nil {
				t.Fatal(err)
			}
			if err := db.PingContext(ctx); err == nil {
				t.Fatal("database still open after closeFn")
			}
			bad := os.DirFS("testdata/no-such-dir")
			if _, _, err := store.OpenMigrated(ctx, d, target, nil, bad); err == nil {
				t.Fatal("want a migration error")
			}
		})
	}
	if _, _, err := store.OpenMigrated(ctx, "oracle", "x", nil, testMigrations); err == nil {
		t.Fatal("want an error for an unknown dialect")
	}
}
