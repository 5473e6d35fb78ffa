package registry

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationTable is the table recording which registry migrations were
// applied, so the registry can share a database with other components.
const MigrationTable = "registry_schema_version"

// Migrations returns the registry's goose migrations (one set of files for
// both dialects).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		// fs.Sub fails only for an invalid path, and this one is constant.
		panic(err)
	}
	return sub
}

type options struct {
	clk        clock.Clock
	sqliteOpts []store.SQLiteOption
}

// Option changes a default of OpenSQLite, OpenPostgres or New.
type Option func(*options)

// WithClock sets the clock that stamps registration, submission, decision,
// creation and audit times (default clock.System()).
func WithClock(clk clock.Clock) Option {
	return func(o *options) { o.clk = clk }
}

// WithSQLiteOptions passes options to store.OpenSQLite. The registry
// defaults to store.SyncFull: writes are rare, and a published configuration
// serial lost to a power failure could be reissued for a different document;
// store.SQLiteSynchronous(store.SyncNormal) trades that for faster commits.
func WithSQLiteOptions(opts ...store.SQLiteOption) Option {
	return func(o *options) { o.sqliteOpts = append(o.sqliteOpts, opts...) }
}

func buildOptions(opts []Option) options {
	o := options{clk: clock.System(), sqliteOpts: []store.SQLiteOption{store.SQLiteSynchronous(store.SyncFull)}}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// OpenSQLite opens (creating if needed) the registry in the SQLite file at
// path and brings its schema up to date. It syncs every commit to disk
// (store.SyncFull) unless WithSQLiteOptions says otherwise.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (Store, error) {
	return open(ctx, store.SQLite, path, opts)
}

// OpenPostgres connects to the registry in the PostgreSQL database dsn
// names (its search_path selects the schema) and brings the schema up to
// date; nodes starting together take turns (an advisory lock).
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	return open(ctx, store.Postgres, dsn, opts)
}

// New returns the registry in db, an SQLite database opened with
// store.OpenSQLite or a PostgreSQL one from store.SQLDB, after bringing its
// schema up to date. The Store's Close does not close db.
func New(ctx context.Context, db *sql.DB, dialect store.Dialect, opts ...Option) (Store, error) {
	if err := store.Migrate(ctx, db, dialect, Migrations(), store.MigrationTable(MigrationTable)); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return newStore(db, dialect, buildOptions(opts), func() error { return nil }), nil
}

// open opens the registry database (an SQLite path or a PostgreSQL DSN) and
// migrates it; the Store's Close closes it.
func open(ctx context.Context, dialect store.Dialect, target string, opts []Option) (Store, error) {
	o := buildOptions(opts)
	db, closeFn, err := store.OpenMigrated(ctx, dialect, target, o.sqliteOpts, Migrations(), store.MigrationTable(MigrationTable))
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return newStore(db, dialect, o, closeFn), nil
}
