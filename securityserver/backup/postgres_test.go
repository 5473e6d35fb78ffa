package backup

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// pgServer fills a fresh PostgreSQL schema with a security server's
// configuration and message log.
func pgServer(t *testing.T, records int) string {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	ctx := t.Context()
	cs, err := conf.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := cs.AddClient(ctx, conf.Client{ID: testClient, Connection: conf.ConnHTTP, Status: conf.StatusRegistered,
		BodyLogging: conf.BodyLoggingFull}); err != nil {
		t.Fatal(err)
	}
	keys, err := msglog.NewStaticKeys("body-1", map[string][]byte{"body-1": bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := msglog.OpenPostgres(ctx, dsn, msglog.WithKeys(keys))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recs := msglogtest.NewFixture(t).Records(t, records, 50)
	for i := range recs {
		if err := l.Append(ctx, &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return dsn
}

// dumpDigest dumps dsn's security server tables and returns each table's
// dump, to compare two databases' contents.
func dumpDigest(t *testing.T, dsn string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	db, files, err := dumpPostgres(t.Context(), dsn, filepath.Join(dir, "dump"), testSchemas())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, f := range files {
		out[db.Tables[i].Name] = sha256Hex(f.SHA256)
	}
	return out
}

// TestPostgresRoundTrip dumps a security server's tables from one schema
// and restores them into an empty schema and over a changed one: the
// tables come back row for row, and the log's chain verifies.
func TestPostgresRoundTrip(t *testing.T) {
	f := newFixture(t)
	f.closeDBs(t)
	for _, name := range []string{"conf.db", "msglog.db"} {
		if err := os.Remove(filepath.Join(f.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	src := pgServer(t, 12)
	want := dumpDigest(t, src)

	var buf bytes.Buffer
	p := f.plan()
	p.PostgresDSN = src
	m, err := Write(t.Context(), &buf, p, WriteOptions{Signer: f.signer, Clock: f.clk, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if m.Database.Driver != DriverPostgres || len(m.Database.Tables) < 10 || m.Database.Schema[conf.MigrationTable] < 1 {
		t.Fatalf("database section %+v", m.Database)
	}
	for _, tb := range m.Database.Tables {
		if tb.Name == "msglog_records" && tb.Rows != 12 {
			t.Errorf("msglog_records: %d rows, want 12", tb.Rows)
		}
	}

	restore := func(t *testing.T, dsn string) error {
		o := f.restoreOptions(filepath.Join(t.TempDir(), "ss"))
		o.Prepare = func(context.Context, string, *Manifest) (string, error) { return dsn, nil }
		_, err := Restore(t.Context(), bytes.NewReader(buf.Bytes()), o)
		return err
	}
	t.Run("into an empty schema", func(t *testing.T) {
		dst := storetest.PostgresDSN(t)
		if err := restore(t, dst); err != nil {
			t.Fatal(err)
		}
		if got := dumpDigest(t, dst); !maps.Equal(got, want) {
			t.Errorf("restored tables differ:\n got %v\nwant %v", got, want)
		}
		l, err := msglog.OpenPostgres(t.Context(), dst, msglog.MetadataOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if res, err := l.VerifyChain(t.Context(), 0, 0); err != nil || res.To != 12 || !res.Head {
			t.Errorf("restored chain %+v: %v", res, err)
		}
	})
	t.Run("over a changed database", func(t *testing.T) {
		dst := pgServer(t, 30)
		cs, err := conf.OpenPostgres(t.Context(), dst)
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.AddClient(t.Context(), conf.Client{ID: testServer.Owner.Subsystem("extra"), Connection: conf.ConnHTTP,
			Status: conf.StatusRegistered, BodyLogging: conf.BodyLoggingFull}); err != nil {
			t.Fatal(err)
		}
		_ = cs.Close()
		if err := restore(t, dst); err != nil {
			t.Fatal(err)
		}
		if got := dumpDigest(t, dst); !maps.Equal(got, want) {
			t.Errorf("restored tables differ:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("a schema this jisr does not know is refused", func(t *testing.T) {
		dst := storetest.PostgresDSN(t)
		o := f.restoreOptions(filepath.Join(t.TempDir(), "ss"))
		o.Schemas = testSchemas()[:1]
		o.Prepare = func(context.Context, string, *Manifest) (string, error) { return dst, nil }
		if _, err := Restore(t.Context(), bytes.NewReader(buf.Bytes()), o); !errors.Is(err, ErrSchemaMismatch) {
			t.Fatalf("err = %v, want a schema mismatch", err)
		}
	})
	t.Run("a schema with another table is refused and unchanged", func(t *testing.T) {
		dst := pgServer(t, 3)
		conn, err := pgx.Connect(t.Context(), dst)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(t.Context(), "CREATE TABLE ss_unknown (id BIGINT PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close(t.Context())
		before := dumpDigest(t, dst)
		// Over an existing directory, which is moved aside before the
		// database is touched and must be put back.
		target := filepath.Join(t.TempDir(), "ss")
		if err := os.CopyFS(target, os.DirFS(f.dir)); err != nil {
			t.Fatal(err)
		}
		dirBefore := treeHash(t, target)
		o := f.restoreOptions(target)
		o.Prepare = func(context.Context, string, *Manifest) (string, error) { return dst, nil }
		if _, err := Restore(t.Context(), bytes.NewReader(buf.Bytes()), o); !errors.Is(err, ErrSchemaMismatch) || !errors.Is(err, ErrRefused) {
			t.Fatalf("err = %v, want a schema mismatch", err)
		}
		if got := dumpDigest(t, dst); !maps.Equal(got, before) {
			t.Error("the refused restore changed the database")
		}
		if treeHash(t, target) != dirBefore || len(listDir(t, filepath.Dir(target))) != 1 {
			t.Error("the refused restore changed the directory or left something beside it")
		}
	})
}
