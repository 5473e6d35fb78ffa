package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"

	// The pure-Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"
)

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// isSQLite reports whether the file at p is an SQLite database.
func isSQLite(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var head [len(sqliteMagic)]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, err
	}
	return string(head[:]) == sqliteMagic, nil
}

// snapshotSQLite writes a transactionally consistent copy of the SQLite
// database src to dst (which must not exist) with VACUUM INTO, over a
// read-only connection: it reads one snapshot while writers go on (WAL
// mode), so the security server may be running, and it changes nothing in
// src.
func snapshotSQLite(ctx context.Context, src, dst string) error {
	dsn := "file:" + (&url.URL{Path: src}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("backup: %s: %w", src, err)
	}
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", dst)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: copying %s: %w", src, err)
	}
	return nil
}
