// Package store holds the storage building blocks every jisr component with
// state shares: opening SQLite (modernc.org/sqlite, pure Go) and PostgreSQL
// (pgx v5) with the settings jisr relies on, running goose migrations from an
// embedded file system on either, classifying constraint violations the same
// way for both drivers, and running a function in a transaction.
//
// Components write one SQL code path against database/sql. Both drivers
// accept PostgreSQL-style "$1" placeholders (SQLite treats "$N" as the N-th
// argument), and the SQL jisr writes sticks to what both databases share:
// INSERT … ON CONFLICT, UPDATE … RETURNING, LIMIT, LIKE … ESCAPE. Values that
// the two databases represent differently are kept portable by convention:
// times are stored as BIGINT Unix microseconds (UTC), byte strings as BYTEA
// (a BLOB in SQLite), booleans as BOOLEAN (0/1 in SQLite).
//
// This package knows nothing of any component's schema or data; it is not an
// ORM and not a query builder. Tests use the storetest subpackage for fresh
// databases.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Dialect names the SQL database behind a *sql.DB.
type Dialect string

// The dialects jisr supports.
const (
	// SQLite is modernc.org/sqlite, the embedded default.
	SQLite Dialect = "sqlite"
	// Postgres is PostgreSQL through pgx v5, for production and for several
	// nodes sharing one database.
	Postgres Dialect = "postgres"
)

// String returns the dialect name.
func (d Dialect) String() string { return string(d) }

// Micros returns t in its stored form: Unix microseconds (UTC).
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros returns the time stored as v by Micros, in UTC.
func FromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// Querier is what *sql.DB, *sql.Conn and *sql.Tx have in common, so that
// query code can run inside or outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Compile-time guards.
var (
	_ Querier = (*sql.DB)(nil)
	_ Querier = (*sql.Tx)(nil)
	_ Querier = (*sql.Conn)(nil)
)

// InTx runs fn in a transaction on db with the given options (nil for the
// default). The transaction is committed when fn returns nil and rolled back
// when fn returns an error or panics (the panic is re-raised). fn's error is
// returned unchanged, so callers can test it with errors.Is; a failure to
// begin or commit is wrapped.
//
// On SQLite databases opened with OpenSQLite a read-write transaction takes
// the write lock when it begins (BEGIN IMMEDIATE), so writers queue on the
// busy timeout instead of failing on lock upgrade; pass
// &sql.TxOptions{ReadOnly: true} for a read-only snapshot that does not.
func InTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// The rollback error is secondary: fn's error (or the panic)
			// is what the caller needs, and a failed rollback of a
			// broken connection is handled by database/sql discarding it.
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		committed = true // Commit ends the transaction even when it fails.
		return fmt.Errorf("store: commit: %w", err)
	}
	committed = true
	return nil
}
