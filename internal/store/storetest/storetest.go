// Package storetest gives tests fresh, isolated databases: a SQLite file in
// the test's temporary directory, or a PostgreSQL schema of its own that is
// dropped when the test ends, so packages and tests can run in parallel
// against one PostgreSQL server.
//
// The PostgreSQL server comes from JISR_TEST_POSTGRES_DSN. When it is unset
// the PostgreSQL tests are skipped, unless JISR_REQUIRE_TOOLS=1 (as in CI),
// in which case they fail: a missing database must never turn a test into a
// silent pass.
//
// It is imported only from _test.go files.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgresDSN is the environment variable naming the test PostgreSQL
// server, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgresDSN = "JISR_TEST_POSTGRES_DSN"

// SQLitePath returns the path of a not-yet-existing SQLite database file in
// t's temporary directory (removed when the test ends).
func SQLitePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "test.db")
}

// PostgresDSN creates a schema named jt_<random> on the test server and
// returns a DSN whose connections use it (search_path), so that everything
// the test creates lands there. The schema is dropped, with its contents, in
// t.Cleanup.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresDSN)
	if base == "" {
		if os.Getenv("JISR_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (JISR_REQUIRE_TOOLS=1) but unset", EnvPostgresDSN)
		}
		t.Skipf("%s not set: skipping PostgreSQL test", EnvPostgresDSN)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	schema := "jt_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("storetest: connect to %s: %v", EnvPostgresDSN, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("storetest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		// t's own context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
			return
		}
		defer func() { _ = conn.Close(context.Background()) }()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

// withSearchPath adds search_path=schema to a DSN in URL or key=value form.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("storetest: parse %s: %v", EnvPostgresDSN, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// Open returns what open opens (a component's store on SQLitePath or
// PostgresDSN, say), failing t if open fails, and closes it when the test
// ends, reporting a failure to close as a test error.
func Open[S io.Closer](t testing.TB, open func() (S, error)) S {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}
