package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// OpenPostgres connects a pgx pool to the PostgreSQL database dsn names (URL
// or key=value form; pgx's pool_* parameters tune the pool, and unknown
// parameters such as search_path become session settings) and checks that
// the server answers. The caller closes the pool.
func OpenPostgres(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors repeat the DSN, password included, so the
		// error is not wrapped verbatim.
		return nil, fmt.Errorf("store: parse PostgreSQL DSN: %w", redactedError{err})
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to PostgreSQL %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// SQLDB returns a database/sql handle that borrows its connections from
// pool, for code written against database/sql. Close the *sql.DB before the
// pool; closing it does not close the pool.
func SQLDB(pool *pgxpool.Pool) *sql.DB {
	return stdlib.OpenDBFromPool(pool)
}

// PostgresDB is one PostgreSQL connection pool seen two ways: as the pgx
// pool (for COPY and batches) and as a database/sql handle borrowing from it
// (for SQL shared with the SQLite implementation).
type PostgresDB struct {
	Pool *pgxpool.Pool
	DB   *sql.DB
}

// OpenPostgresDB is OpenPostgres followed by SQLDB.
func OpenPostgresDB(ctx context.Context, dsn string) (*PostgresDB, error) {
	pool, err := OpenPostgres(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return &PostgresDB{Pool: pool, DB: stdlib.OpenDBFromPool(pool)}, nil
}

// Close closes the database/sql handle, then the pool.
func (p *PostgresDB) Close() error {
	err := p.DB.Close()
	p.Pool.Close()
	if err != nil {
		return fmt.Errorf("store: close PostgreSQL: %w", err)
	}
	return nil
}

// redactedError hides the text of a DSN parse error (which may contain the
// password) while keeping it reachable with errors.As/Unwrap.
type redactedError struct{ err error }

func (redactedError) Error() string {
	return "malformed DSN (details withheld: it may contain a password)"
}
func (e redactedError) Unwrap() error { return e.err }
