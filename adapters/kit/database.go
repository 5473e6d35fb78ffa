package kit

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jisr-bus/jisr/internal/store"
)

// Database drivers accepted in Database.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Database selects where an adapter keeps its state.
type Database struct {
	// Driver is DriverSQLite ("sqlite", the default when empty) or
	// DriverPostgres ("postgres").
	Driver string
	// Path is the SQLite database file, created if missing (sqlite only).
	Path string
	// DSN is the PostgreSQL connection string (postgres only); its
	// search_path selects the schema. It may hold a password: callers read
	// it from a file or the environment, never from a command line.
	DSN string
}

// Validate checks that the fields fit the driver.
func (d Database) Validate() error {
	switch d.Driver {
	case DriverSQLite, "":
		if d.Path == "" {
			return errors.New("database: the sqlite driver needs a file path")
		}
		if d.DSN != "" {
			return errors.New("database: a DSN is for the postgres driver")
		}
	case DriverPostgres:
		if d.DSN == "" {
			return errors.New("database: the postgres driver needs a DSN")
		}
		if d.Path != "" {
			return errors.New("database: a file path is for the sqlite driver")
		}
	default:
		return fmt.Errorf("database: unknown driver %q (want %s or %s)", d.Driver, DriverSQLite, DriverPostgres)
	}
	return nil
}

// DB is an adapter's open database.
type DB struct {
	// SQL is the database/sql handle; both drivers accept the same SQL
	// (see internal/store).
	SQL *sql.DB
	// Dialect says which database it is.
	Dialect store.Dialect

	close func() error
}

// Close releases the database.
func (d *DB) Close() error {
	if d == nil || d.close == nil {
		return nil
	}
	return d.close()
}

//go:embed migrations/*.sql
var kitMigrations embed.FS

// kitMigrationTable records the migrations of kit's own table
// (adapter_meta), which every adapter shares.
const kitMigrationTable = "adapter_kit_schema_version"

// Open opens the database d describes and applies kit's migrations and
// then the adapter's (goose SQL files at the root of migrations, recorded in
// migrationTable, which must be unique to the adapter so that several
// adapters can share one database).
func Open(ctx context.Context, d Database, migrations fs.FS, migrationTable string) (*DB, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	dialect, target := store.SQLite, d.Path
	if d.Driver == DriverPostgres {
		dialect, target = store.Postgres, d.DSN
	}
	kitFS, err := fs.Sub(kitMigrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	db, closeFn, err := store.OpenMigrated(ctx, dialect, target, nil, kitFS, store.MigrationTable(kitMigrationTable))
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if err := store.Migrate(ctx, db, dialect, migrations, store.MigrationTable(migrationTable)); err != nil {
		_ = closeFn()
		return nil, fmt.Errorf("database: %w", err)
	}
	return &DB{SQL: db, Dialect: dialect, close: closeFn}, nil
}

// Meta returns the value stored under name in the shared adapter_meta table
// and whether there is one. Adapters record there, for instance, that their
// seed data was loaded (names are prefixed with the adapter's name).
func Meta(ctx context.Context, q store.Querier, name string) (string, bool, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM adapter_meta WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read adapter_meta %s: %w", name, err)
	}
	return v, true, nil
}

// SetMeta stores value under name in adapter_meta, replacing any value.
func SetMeta(ctx context.Context, q store.Querier, name, value string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO adapter_meta (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err != nil {
		return fmt.Errorf("write adapter_meta %s: %w", name, err)
	}
	return nil
}

// NextSequence advances the named counter in adapter_sequences and returns
// its new value (1 for the first call). Run it inside the transaction that
// uses the number, so that a rolled-back transaction does not consume one
// and numbers are never handed out twice.
func NextSequence(ctx context.Context, q store.Querier, name string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `INSERT INTO adapter_sequences (name, value) VALUES ($1, 1)
		ON CONFLICT (name) DO UPDATE SET value = adapter_sequences.value + 1
		RETURNING value`, name).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("advance sequence %s: %w", name, err)
	}
	return n, nil
}

// SeedOnce runs load in a transaction unless adapter_meta already records
// that the seed called name was loaded; the record (value fingerprint) is
// written in the same transaction, so a seed is loaded completely or not at
// all. When two processes seed one database at once, the loser's unique
// violation is recognised and SeedOnce returns nil. It reports whether this
// call loaded the seed.
func SeedOnce(ctx context.Context, db *DB, name, fingerprint string, load func(tx *sql.Tx) error) (bool, error) {
	if _, ok, err := Meta(ctx, db.SQL, name); err != nil || ok {
		return false, err
	}
	err := store.InTx(ctx, db.SQL, nil, func(tx *sql.Tx) error {
		if _, ok, err := Meta(ctx, tx, name); err != nil || ok {
			if err == nil {
				err = errAlreadySeeded
			}
			return err
		}
		if err := load(tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO adapter_meta (name, value) VALUES ($1, $2)`, name, fingerprint)
		return err
	})
	if errors.Is(err, errAlreadySeeded) {
		return false, nil
	}
	if err != nil && store.ConstraintViolation(err) == store.Unique {
		if _, ok, merr := Meta(ctx, db.SQL, name); merr == nil && ok {
			return false, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("load seed %s: %w", name, err)
	}
	return true, nil
}

var errAlreadySeeded = errors.New("already seeded")

// RetryConflicts runs fn, a whole transaction, up to attempts times while it
// fails with a unique violation or a retryable concurrency error: another
// transaction won a race (took the same slot, counter or key) that the next
// attempt reads and decides on. The last error is returned.
func RetryConflicts(attempts int, fn func() error) error {
	var err error
	for range max(attempts, 1) {
		err = fn()
		if err == nil || (store.ConstraintViolation(err) != store.Unique && !store.IsRetryable(err)) {
			return err
		}
	}
	return err
}
