package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/store/storetest"
)

var testMigrations = os.DirFS("testdata/migrations")

// openBoth returns a migrated test database per dialect.
func openBoth(t *testing.T) map[store.Dialect]*sql.DB {
	t.Helper()
	ctx := t.Context()
	dbs := map[store.Dialect]*sql.DB{}

	sdb, err := store.OpenSQLite(ctx, storetest.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sdb.Close() })
	dbs[store.SQLite] = sdb

	if os.Getenv(storetest.EnvPostgresDSN) != "" || os.Getenv("JISR_REQUIRE_TOOLS") == "1" {
		pg, err := store.OpenPostgresDB(ctx, storetest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pg.Close() })
		dbs[store.Postgres] = pg.DB
	} else {
		t.Logf("%s not set: PostgreSQL half skipped", storetest.EnvPostgresDSN)
	}
	for d, db := range dbs {
		if err := store.Migrate(ctx, db, d, testMigrations); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
	}
	return dbs
}

func TestOpenSQLiteSettings(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name     string
		opts     []store.SQLiteOption
		wantSync int
	}{
		{name: "default NORMAL", wantSync: 1},
		{name: "FULL", opts: []store.SQLiteOption{store.SQLiteSynchronous(store.SyncFull)}, wantSync: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A path with characters that must not be read as URI syntax.
			path := filepath.Join(t.TempDir(), "a b?c#d.db")
			db, err := store.OpenSQLite(ctx, path, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("database file not at the given path: %v", err)
			}
			// Hold several connections at once so that the pragmas are
			// checked on more than the first one.
			var conns []*sql.Conn
			for range 3 {
				c, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			for i, c := range conns {
				var mode string
				var sync, fk, busy int
				if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
					t.Fatal(err)
				}
				if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
					t.Fatal(err)
				}
				if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
					t.Fatal(err)
				}
				if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
					t.Fatal(err)
				}
				if mode != "wal" || sync != tc.wantSync || fk != 1 || busy != int(store.DefaultSQLiteBusyTimeout.Milliseconds()) {
					t.Errorf("conn %d: journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d", i, mode, sync, fk, busy)
				}
				_ = c.Close()
			}
		})
	}
}

func TestOpenSQLiteRefuses(t *testing.T) {
	ctx := t.Context()
	for name, tc := range map[string]struct {
		path string
		opts []store.SQLiteOption
	}{
		"in-memory":      {path: ":memory:"},
		"empty path":     {path: ""},
		"bad sync level": {path: filepath.Join(t.TempDir(), "x.db"), opts: []store.SQLiteOption{store.SQLiteSynchronous("OFF")}},
		"empty pool":     {path: filepath.Join(t.TempDir(), "y.db"), opts: []store.SQLiteOption{store.SQLiteMaxOpenConns(0)}},
		"missing dir":    {path: filepath.Join(t.TempDir(), "no", "such", "dir.db")},
		"negative busy":  {path: filepath.Join(t.TempDir(), "z.db"), opts: []store.SQLiteOption{store.SQLiteBusyTimeout(-1)}},
	} {
		t.Run(name, func(t *testing.T) {
			db, err := store.OpenSQLite(ctx, tc.path, tc.opts...)
			if err == nil {
				db.Close()
				t.Fatal("OpenSQLite succeeded, want error")
			}
		})
	}
}

func TestOpenPostgresBadDSNHidesPassword(t *testing.T) {
	_, err := store.OpenPostgres(t.Context(), "postgres://u:s3cret@127.0.0.1:99999999/x")
	if err == nil {
		t.Fatal("want error")
	}
	if got := err.Error(); strings.Contains(got, "s3cret") {
		t.Errorf("error leaks the password: %s", got)
	}
}

// TestPortableSQL runs the same statements on both dialects: "$N"
// placeholders (one used twice), RETURNING, ON CONFLICT, BYTEA and BOOLEAN
// round trips, and constraint classification.
func TestPortableSQL(t *testing.T) {
	for d, db := range openBoth(t) {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			v, err := store.MigrationVersion(ctx, db, d, testMigrations)
			if err != nil || v != 2 {
				t.Fatalf("MigrationVersion = %d, %v; want 2", v, err)
			}
			// Migrating again is a no-op.
			if err := store.Migrate(ctx, db, d, testMigrations); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}

			var size int64
			err = db.QueryRowContext(ctx,
				`INSERT INTO parents (name, size, data, flag) VALUES ($1, $2, $3, $4) RETURNING size`,
				"p1", int64(7), []byte{0, 1, 0xff}, true).Scan(&size)
			if err != nil || size != 7 {
				t.Fatalf("insert returning: %d, %v", size, err)
			}
			if _, err := db.ExecContext(ctx,
				`INSERT INTO parents (name, size) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET size = excluded.size`,
				"p1", int64(8)); err != nil {
				t.Fatalf("upsert: %v", err)
			}
			var data []byte
			var flag bool
			var n int
			err = db.QueryRowContext(ctx,
				`SELECT data, flag, size FROM parents WHERE name = $1 AND (size = $2 OR $2 = 0)`,
				"p1", int64(8)).Scan(&data, &flag, &n)
			if err != nil || string(data) != "\x00\x01\xff" || !flag || n != 8 {
				t.Fatalf("select: %x %v %d %v", data, flag, n, err)
			}

			for _, tc := range []struct {
				name  string
				query string
				args  []any
				want  store.Constraint
			}{
				{"duplicate key", `INSERT INTO parents (name, size) VALUES ($1, 1)`, []any{"p1"}, store.Unique},
				{"missing parent", `INSERT INTO children (parent, name) VALUES ($1, $2)`, []any{"nope", "c"}, store.ForeignKey},
				{"check", `INSERT INTO parents (name, size) VALUES ($1, -1)`, []any{"p2"}, store.Check},
				{"not null", `INSERT INTO parents (name) VALUES ($1)`, []any{"p3"}, store.Check},
			} {
				_, err := db.ExecContext(ctx, tc.query, tc.args...)
				if got := store.ConstraintViolation(fmt.Errorf("wrapped: %w", err)); got != tc.want {
					t.Errorf("%s: ConstraintViolation(%v) = %v, want %v", tc.name, err, got, tc.want)
				}
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO children (parent, name) VALUES ($1, $2)`, "p1", "c1"); err != nil {
				t.Fatal(err)
			}
			_, err = db.ExecContext(ctx, `DELETE FROM parents WHERE name = $1`, "p1")
			if got := store.ConstraintViolation(err); got != store.ForeignKey {
				t.Errorf("delete referenced row: ConstraintViolation(%v) = %v, want foreign key", err, got)
			}
			if got := store.ConstraintViolation(nil); got != store.NoConstraint {
				t.Errorf("ConstraintViolation(nil) = %v", got)
			}
			if got := store.ConstraintViolation(errors.New("x")); got != store.NoConstraint {
				t.Errorf("ConstraintViolation(other) = %v", got)
			}
		})
	}
}

func TestInTx(t *testing.T) {
	errBoom := errors.New("boom")
	for d, db := range openBoth(t) {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			count := func() int {
				var n int
				if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM parents`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			insert := func(tx *sql.Tx, name string) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO parents (name, size) VALUES ($1, 0)`, name)
				return err
			}
			err := store.InTx(ctx, db, nil, func(tx *sql.Tx) error {
				if err := insert(tx, "a"); err != nil {
					return err
				}
				return errBoom
			})
			if !errors.Is(err, errBoom) || count() != 0 {
				t.Fatalf("error: InTx = %v, rows %d; want boom and rolled back", err, count())
			}
			func() {
				defer func() {
					if recover() == nil {
						t.Error("panic not re-raised")
					}
				}()
				_ = store.InTx(ctx, db, nil, func(tx *sql.Tx) error {
					_ = insert(tx, "b")
					panic("boom")
				})
			}()
			if count() != 0 {
				t.Fatal("panic: not rolled back")
			}
			if err := store.InTx(ctx, db, nil, func(tx *sql.Tx) error { return insert(tx, "c") }); err != nil || count() != 1 {
				t.Fatalf("commit: %v, rows %d", err, count())
			}
		})
	}
}

// TestConcurrentWriters checks that writers queue (BEGIN IMMEDIATE and the
// busy timeout on SQLite, row locks on PostgreSQL) rather than fail.
func TestConcurrentWriters(t *testing.T) {
	for d, db := range openBoth(t) {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			if _, err := db.ExecContext(ctx, `INSERT INTO parents (name, size) VALUES ('counter', 0)`); err != nil {
				t.Fatal(err)
			}
			const writers, each = 4, 10
			var wg sync.WaitGroup
			errs := make(chan error, writers*each)
			for range writers {
				wg.Go(func() {
					for range each {
						errs <- store.InTx(ctx, db, nil, func(tx *sql.Tx) error {
							var n int64
							if err := tx.QueryRowContext(ctx, `SELECT size FROM parents WHERE name = 'counter'`).Scan(&n); err != nil {
								return err
							}
							// Read-modify-write: lost updates would show
							// in the final count unless writers are
							// serialised.
							_, err := tx.ExecContext(ctx, `UPDATE parents SET size = size + 1 WHERE name = 'counter' AND size = $1`, n)
							return err
						})
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("writer: %v (retryable %v)", err, store.IsRetryable(err))
				}
			}
		})
	}
}

func TestPostgresDSNIsolated(t *testing.T) {
	if os.Getenv(storetest.EnvPostgresDSN) == "" && os.Getenv("JISR_REQUIRE_TOOLS") != "1" {
		t.Skip(storetest.EnvPostgresDSN + " not set")
	}
	ctx := t.Context()
	schema := func() string {
		db, err := store.OpenPostgresDB(ctx, storetest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var s string
		if err := db.DB.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := schema(), schema()
	if a == b || len(a) < 4 || a[:3] != "jt_" {
		t.Fatalf("schemas %q and %q: want two distinct jt_ schemas", a, b)
	}
}

func TestMigrateUnknownDialect(t *testing.T) {
	db, err := store.OpenSQLite(context.Background(), storetest.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := store.Migrate(t.Context(), db, "mysql", testMigrations); err == nil {
		t.Fatal("want error for unknown dialect")
	}
}

// TestIsRetryableSQLiteBusy holds the write lock on one connection so that
// another, with no busy timeout, fails at once with SQLITE_BUSY.
func TestIsRetryableSQLiteBusy(t *testing.T) {
	ctx := t.Context()
	db, err := store.OpenSQLite(ctx, storetest.SQLitePath(t), store.SQLiteBusyTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := store.Migrate(ctx, db, store.SQLite, testMigrations); err != nil {
		t.Fatal(err)
	}
	err = store.InTx(ctx, db, nil, func(*sql.Tx) error {
		// BEGIN IMMEDIATE took the write lock; a second writer cannot.
		return store.InTx(ctx, db, nil, func(*sql.Tx) error { return nil })
	})
	if err == nil || !store.IsRetryable(err) {
		t.Fatalf("second writer: %v; want a retryable busy error", err)
	}
	if store.IsRetryable(errors.New("other")) || store.IsRetryable(nil) {
		t.Error("IsRetryable true for a non-database error")
	}
}
