package store

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// DefaultMigrationTable is the table goose records applied versions in when
// MigrationTable is not given.
const DefaultMigrationTable = "goose_db_version"

type migrateOptions struct {
	table string
}

// MigrateOption changes a default of Migrate.
type MigrateOption func(*migrateOptions)

// MigrationTable names the table that records applied migration versions.
// Components that may share one database (the central server's registry and
// a security server's tables, say) must each use their own.
func MigrationTable(name string) MigrateOption {
	return func(o *migrateOptions) { o.table = name }
}

// Migrate applies every pending "up" migration in fsys to db with goose's
// Provider API. fsys holds goose SQL files ("00001_name.sql" with
// "-- +goose Up" / "-- +goose Down" sections) at its root; pass fs.Sub of an
// embed.FS for a subdirectory. Each migration runs in its own transaction.
//
// On PostgreSQL a session advisory lock serialises nodes migrating the same
// schema at start-up; the lock key is derived from the current schema and the
// migration table, so separate schemas (parallel tests) never wait on each
// other. On SQLite the write lock does the same.
//
// Migrate uses no global goose state (the global registry of Go migrations is
// disabled), so concurrent calls on different databases are safe.
func Migrate(ctx context.Context, db *sql.DB, dialect Dialect, fsys fs.FS, opts ...MigrateOption) error {
	o := migrateOptions{table: DefaultMigrationTable}
	for _, opt := range opts {
		opt(&o)
	}
	popts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(o.table),
	}
	var gd goose.Dialect
	switch dialect {
	case SQLite:
		gd = goose.DialectSQLite3
	case Postgres:
		gd = goose.DialectPostgres
		var schema string
		if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return fmt.Errorf("store: migrate: read current schema: %w", err)
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte("jisr-migrate\x00" + schema + "\x00" + o.table))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(int64(h.Sum64()>>1)),
			lock.WithLockTimeout(1, 300), // retry every second for five minutes
		)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		popts = append(popts, goose.WithSessionLocker(locker))
	default:
		return fmt.Errorf("store: migrate: unsupported dialect %q", dialect)
	}
	// The provider is not closed: its Close closes db, which belongs to the
	// caller, and it holds nothing else.
	p, err := goose.NewProvider(gd, db, fsys, popts...)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate %s: %w", dialect, err)
	}
	return nil
}

// MigrationVersion returns the highest migration version applied to db, as
// recorded in the given table by Migrate (0 when none has been).
func MigrationVersion(ctx context.Context, db *sql.DB, dialect Dialect, fsys fs.FS, opts ...MigrateOption) (int64, error) {
	o := migrateOptions{table: DefaultMigrationTable}
	for _, opt := range opts {
		opt(&o)
	}
	gd := goose.DialectSQLite3
	if dialect == Postgres {
		gd = goose.DialectPostgres
	}
	p, err := goose.NewProvider(gd, db, fsys, goose.WithDisableGlobalRegistry(true), goose.WithTableName(o.table))
	if err != nil {
		return 0, fmt.Errorf("store: migration version: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: migration version: %w", err)
	}
	return v, nil
}
