package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
)

// OpenMigrated opens the database a component keeps its state in and brings
// the component's schema up to date with Migrate(ctx, db, dialect, fsys,
// opts...). For SQLite, target is the file path and OpenSQLite gets
// sqliteOpts; for PostgreSQL, target is the DSN, OpenPostgresDB opens it and
// sqliteOpts are ignored.
//
// closeFn releases what was opened (for PostgreSQL, the database/sql handle
// and the pool behind it). When migrating fails, OpenMigrated releases it
// itself before returning the error.
func OpenMigrated(ctx context.Context, dialect Dialect, target string, sqliteOpts []SQLiteOption, fsys fs.FS, opts ...MigrateOption) (db *sql.DB, closeFn func() error, err error) {
	switch dialect {
	case SQLite:
		db, err = OpenSQLite(ctx, target, sqliteOpts...)
		if err != nil {
			return nil, nil, err
		}
		closeFn = db.Close
	case Postgres:
		pg, err := OpenPostgresDB(ctx, target)
		if err != nil {
			return nil, nil, err
		}
		db, closeFn = pg.DB, pg.Close
	default:
		return nil, nil, fmt.Errorf("store: open: unsupported dialect %q", dialect)
	}
	if err := Migrate(ctx, db, dialect, fsys, opts...); err != nil {
		_ = closeFn()
		return nil, nil, err
	}
	return db, closeFn, nil
}

// Versioned runs the transactions of a store whose state carries a version
// that every committed change advances exactly once, in commit order (the
// central server's registry, a security server's configuration). The
// version is the value column of the row named Counter in Table, a table of
// named counters (a unique TEXT column name, a BIGINT column value).
type Versioned struct {
	DB      *sql.DB
	Dialect Dialect
	// Table and Counter locate the version row.
	Table, Counter string
	// ErrPrefix starts the errors Update makes itself ("registry" gives
	// "registry: take write lock: …").
	ErrPrefix string
}

// View runs fn in a read-only transaction that reads one snapshot of the
// database: REPEATABLE READ on PostgreSQL (whose default, READ COMMITTED,
// gives every statement a fresh snapshot); SQLite's read transaction reads
// a snapshot by itself. fn's error is returned unchanged.
func (v Versioned) View(ctx context.Context, fn func(*sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if v.Dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return InTx(ctx, v.DB, opts, fn)
}

// Update runs fn in a read-write transaction, one writer at a time, and
// advances the version before commit when fn reports that it changed
// something. fn's error is returned unchanged (and the transaction rolled
// back).
//
// Writers are serialised by touching the version row first: on PostgreSQL
// that row lock is held to the end of the transaction (SQLite's BEGIN
// IMMEDIATE already holds the database's write lock). Checks made inside fn
// therefore stay true until commit, and versions are bumped in commit order.
func (v Versioned) Update(ctx context.Context, fn func(*sql.Tx) (changed bool, err error)) error {
	return InTx(ctx, v.DB, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE `+v.Table+` SET value = value WHERE name = $1`, v.Counter); err != nil {
			return fmt.Errorf("%s: take write lock: %w", v.ErrPrefix, err)
		}
		changed, err := fn(tx)
		if err != nil || !changed {
			return err
		}
		var n int64
		if err := tx.QueryRowContext(ctx, `UPDATE `+v.Table+` SET value = value + 1 WHERE name = $1 RETURNING value`, v.Counter).Scan(&n); err != nil {
			return fmt.Errorf("%s: advance counter %s: %w", v.ErrPrefix, v.Counter, err)
		}
		return nil
	})
}

// UpdateValue runs fn through update (a store's one-write-in-its-own-
// transaction method, say) and returns fn's value only if the transaction
// committed: the zero value otherwise.
func UpdateValue[Tx, T any](update func(func(Tx) error) error, fn func(Tx) (T, error)) (T, error) {
	var out T
	err := update(func(tx Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}
