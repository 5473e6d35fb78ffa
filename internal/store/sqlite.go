package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	// The pure-Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"
)

// SQLite durability levels (PRAGMA synchronous), see SQLiteSynchronous.
const (
	// SyncNormal syncs the write-ahead log only at checkpoints. A committed
	// transaction survives a crash of the process, but the last transactions
	// before a power loss or kernel crash may be rolled back (the database
	// itself stays consistent). It is the default: the registry and similar
	// state can be re-entered, and it makes commits several times cheaper.
	SyncNormal = "NORMAL"
	// SyncFull syncs the write-ahead log on every commit, so a committed
	// transaction survives power loss too. Use it where an acknowledged
	// write must never be lost, such as the message log.
	SyncFull = "FULL"
)

// Defaults of OpenSQLite.
const (
	DefaultSQLiteBusyTimeout  = 5 * time.Second
	DefaultSQLiteMaxOpenConns = 4
)

type sqliteOptions struct {
	synchronous  string
	busyTimeout  time.Duration
	maxOpenConns int
}

// SQLiteOption changes a default of OpenSQLite.
type SQLiteOption func(*sqliteOptions)

// SQLiteSynchronous sets PRAGMA synchronous to SyncNormal (the default) or
// SyncFull; see those constants for the durability trade-off.
func SQLiteSynchronous(level string) SQLiteOption {
	return func(o *sqliteOptions) { o.synchronous = level }
}

// SQLiteBusyTimeout sets how long a statement waits for a lock another
// connection holds before failing with SQLITE_BUSY (default
// DefaultSQLiteBusyTimeout). Writers queue on it.
func SQLiteBusyTimeout(d time.Duration) SQLiteOption {
	return func(o *sqliteOptions) { o.busyTimeout = d }
}

// SQLiteMaxOpenConns bounds the connection pool (default
// DefaultSQLiteMaxOpenConns). SQLite in WAL mode runs any number of readers
// beside one writer; more connections only add readers.
func SQLiteMaxOpenConns(n int) SQLiteOption {
	return func(o *sqliteOptions) { o.maxOpenConns = n }
}

// OpenSQLite opens (creating if needed) the SQLite database file at path
// with modernc.org/sqlite and checks that it is usable.
//
// Every pooled connection gets, through the DSN's _pragma parameters:
// journal_mode=WAL (readers never block the writer), synchronous=NORMAL
// unless SQLiteSynchronous says otherwise, busy_timeout, and
// foreign_keys=ON. Read-write transactions begin IMMEDIATE (_txlock), so that
// two writers queue on the busy timeout instead of one failing when it
// upgrades a read lock. Read-only transactions (sql.TxOptions.ReadOnly)
// begin DEFERRED and read a snapshot.
//
// path must name a file: an in-memory database (":memory:") would be a
// different database on every pooled connection and is refused.
func OpenSQLite(ctx context.Context, path string, opts ...SQLiteOption) (*sql.DB, error) {
	o := sqliteOptions{
		synchronous:  SyncNormal,
		busyTimeout:  DefaultSQLiteBusyTimeout,
		maxOpenConns: DefaultSQLiteMaxOpenConns,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" {
		return nil, errors.New("store: SQLite needs a database file path")
	}
	if o.synchronous != SyncNormal && o.synchronous != SyncFull {
		return nil, fmt.Errorf("store: SQLite synchronous level %q: want %s or %s", o.synchronous, SyncNormal, SyncFull)
	}
	if o.busyTimeout < 0 || o.maxOpenConns < 1 {
		return nil, errors.New("store: SQLite busy timeout must not be negative and the pool must allow a connection")
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+o.synchronous+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	// A "file:" URI with the path percent-encoded, so that a '?' or '#' in
	// the path cannot be taken for the start of the parameters.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()

	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	db.SetMaxOpenConns(o.maxOpenConns)
	db.SetMaxIdleConns(o.maxOpenConns)
	// Connections are cheap to keep and costly to reopen (pragmas, page
	// cache); keep them for the life of the pool.
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open SQLite %s: read journal mode: %w", path, err)
	}
	if mode != "wal" {
		_ = db.Close()
		return nil, fmt.Errorf("store: open SQLite %s: journal mode is %q, want wal", path, mode)
	}
	return db, nil
}
