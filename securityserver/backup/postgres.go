package backup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/jisr-bus/jisr/internal/store"
)

// Schema is one component's tables in a database it may share with
// others: the prefix of its table names, its goose migrations and the table
// recording which were applied. The caller names the security server's
// (securityserver: local configuration "ss_", message log "msglog_",
// operational monitoring "opmon_").
type Schema struct {
	Prefix         string
	MigrationTable string
	Migrations     fs.FS
}

func isMigrationTable(schemas []Schema, name string) bool {
	for _, s := range schemas {
		if s.MigrationTable == name {
			return true
		}
	}
	return false
}

// pgTable is a table of the security server in the current schema.
type pgTable struct {
	name    string
	columns []string
	order   []string // primary key columns, or every column
}

// listPGTables returns the tables of schemas in the current schema (the
// search_path's first): those whose names begin with one of their
// prefixes, without the migration tables, by name.
func listPGTables(ctx context.Context, tx pgx.Tx, schemas []Schema) ([]pgTable, error) {
	rows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var out []pgTable
	for _, n := range names {
		ours := false
		for _, s := range schemas {
			ours = ours || strings.HasPrefix(n, s.Prefix)
		}
		if !ours || isMigrationTable(schemas, n) {
			continue
		}
		if !identPattern.MatchString(n) {
			return nil, fmt.Errorf("table name %q", n)
		}
		t := pgTable{name: n}
		rows, err := tx.Query(ctx, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, n)
		if err != nil {
			return nil, err
		}
		if t.columns, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
		rows, err = tx.Query(ctx, `SELECT a.attname FROM pg_index i
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
			WHERE i.indrelid = to_regclass($1) AND i.indisprimary
			ORDER BY array_position(i.indkey::int2[], a.attnum)`, pgx.Identifier{n}.Sanitize())
		if err != nil {
			return nil, err
		}
		if t.order, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
		if len(t.order) == 0 {
			t.order = t.columns
		}
		for _, c := range t.columns {
			if !identPattern.MatchString(c) {
				return nil, fmt.Errorf("table %s: column name %q", n, c)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// pgVersions returns the version of each of schemas present in the
// current schema, by migration table. A schema whose version table does
// not exist is left out (reading it through goose would create it).
func pgVersions(ctx context.Context, pdb *store.PostgresDB, schemas []Schema) (map[string]int64, error) {
	out := map[string]int64{}
	for _, s := range schemas {
		var exists bool
		if err := pdb.DB.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", pgx.Identifier{s.MigrationTable}.Sanitize()).Scan(&exists); err != nil {
			return nil, err
		}
		if !exists {
			continue
		}
		v, err := store.MigrationVersion(ctx, pdb.DB, store.Postgres, s.Migrations, store.MigrationTable(s.MigrationTable))
		if err != nil {
			return nil, err
		}
		out[s.MigrationTable] = v
	}
	return out, nil
}

// present returns the schemas whose migration tables versions names.
func present(schemas []Schema, versions map[string]int64) []Schema {
	var out []Schema
	for _, s := range schemas {
		if _, ok := versions[s.MigrationTable]; ok {
			out = append(out, s)
		}
	}
	return out
}

// dumpPostgres writes every table of schemas in the database dsn names
// into dir as <table>.copy (COPY text format, primary-key order), all from
// one REPEATABLE READ snapshot, so the security server's nodes may be
// running.
func dumpPostgres(ctx context.Context, dsn, dir string, schemas []Schema) (Database, []File, error) {
	pdb, err := store.OpenPostgresDB(ctx, dsn)
	if err != nil {
		return Database{}, nil, fmt.Errorf("backup: %w", err)
	}
	defer pdb.Close()
	versions, err := pgVersions(ctx, pdb, schemas)
	if err != nil {
		return Database{}, nil, fmt.Errorf("backup: schema versions: %w", err)
	}
	schemas = present(schemas, versions)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Database{}, nil, err
	}
	tx, err := pdb.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Database{}, nil, fmt.Errorf("backup: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	tables, err := listPGTables(ctx, tx, schemas)
	if err != nil {
		return Database{}, nil, fmt.Errorf("backup: listing tables: %w", err)
	}
	if len(tables) == 0 {
		return Database{}, nil, errors.New("backup: the database holds no security server tables (wrong search_path?)")
	}
	db := Database{Driver: DriverPostgres, Schema: versions}
	var files []File
	for _, t := range tables {
		name := t.name + copySuffix
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return Database{}, nil, err
		}
		h := sha256.New()
		cw := &countWriter{w: io.MultiWriter(f, h)}
		tag, err := tx.Conn().PgConn().CopyTo(ctx, cw, fmt.Sprintf("COPY (SELECT %s FROM %s ORDER BY %s) TO STDOUT",
			quoteAll(t.columns), pgx.Identifier{t.name}.Sanitize(), quoteAll(t.order)))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Database{}, nil, fmt.Errorf("backup: dumping %s: %w", t.name, err)
		}
		db.Tables = append(db.Tables, Table{Name: t.name, Columns: t.columns, Rows: tag.RowsAffected(), File: PostgresPrefix + name})
		files = append(files, File{Path: PostgresPrefix + name, Mode: 0o600, Size: cw.n, SHA256: h.Sum(nil)})
	}
	if err := tx.Commit(ctx); err != nil {
		return Database{}, nil, fmt.Errorf("backup: %w", err)
	}
	return db, files, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// restorePostgres replaces the tables of the backup's schemas in the
// database dsn names with the dumps in dir, in one transaction. It first
// brings those schemas up to date (creating them in an empty database) and
// refuses, with ErrSchemaMismatch, a target whose versions or tables differ
// from the backup's, or a backup of a schema it does not know.
func restorePostgres(ctx context.Context, dsn, dir string, want Database, schemas []Schema) error {
	schemas = present(schemas, want.Schema)
	if len(schemas) != len(want.Schema) {
		return refuse("database", fmt.Sprintf("the backup holds schemas %v, this jisr knows %d of them", want.Schema, len(schemas)), ErrSchemaMismatch)
	}
	pdb, err := store.OpenPostgresDB(ctx, dsn)
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	defer pdb.Close()
	for _, s := range schemas {
		if err := store.Migrate(ctx, pdb.DB, store.Postgres, s.Migrations, store.MigrationTable(s.MigrationTable)); err != nil {
			return fmt.Errorf("backup: restore: %w", err)
		}
	}
	have, err := pgVersions(ctx, pdb, schemas)
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	for table, v := range want.Schema {
		if have[table] != v {
			return refuse("database", fmt.Sprintf("%s is at version %d here, the backup at %d: restore with the jisr version that wrote it, then upgrade", table, have[table], v), ErrSchemaMismatch)
		}
	}
	tx, err := pdb.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	tables, err := listPGTables(ctx, tx, schemas)
	if err != nil {
		return fmt.Errorf("backup: restore: listing tables: %w", err)
	}
	if err := sameTables(tables, want.Tables); err != nil {
		return err
	}
	order, err := insertOrder(ctx, tx, tables)
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.name
	}
	if _, err := tx.Exec(ctx, "TRUNCATE "+quoteAll(names)); err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	byName := map[string]Table{}
	for _, t := range want.Tables {
		byName[t.Name] = t
	}
	for _, name := range order {
		t := byName[name]
		f, err := os.Open(filepath.Join(dir, strings.TrimPrefix(t.File, PostgresPrefix)))
		if err != nil {
			return err
		}
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, f, fmt.Sprintf("COPY %s (%s) FROM STDIN", pgx.Identifier{t.Name}.Sanitize(), quoteAll(t.Columns)))
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("backup: restore: table %s: %w", t.Name, err)
		}
		if tag.RowsAffected() != t.Rows {
			return fmt.Errorf("backup: restore: table %s: %d rows loaded, the manifest says %d", t.Name, tag.RowsAffected(), t.Rows)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	return nil
}

// sameTables checks that the target has exactly the backup's tables, with
// the same columns in the same order.
func sameTables(have []pgTable, want []Table) error {
	if len(have) != len(want) {
		return refuse("database", fmt.Sprintf("%d security server tables here, %d in the backup", len(have), len(want)), ErrSchemaMismatch)
	}
	for i, t := range have {
		if t.name != want[i].Name || !slices.Equal(t.columns, want[i].Columns) {
			return refuse("database", fmt.Sprintf("table %s(%s) here, %s(%s) in the backup", t.name, strings.Join(t.columns, ","),
				want[i].Name, strings.Join(want[i].Columns, ",")), ErrSchemaMismatch)
		}
	}
	return nil
}

// insertOrder orders tables so that every table comes after the tables its
// foreign keys reference (ties by name).
func insertOrder(ctx context.Context, tx pgx.Tx, tables []pgTable) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT ch.relname::text, pa.relname::text FROM pg_constraint c
		JOIN pg_class ch ON ch.oid = c.conrelid
		JOIN pg_class pa ON pa.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = ch.relnamespace
		WHERE c.contype = 'f' AND n.nspname = current_schema()`)
	if err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	type edge struct{ child, parent string }
	edges, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (edge, error) {
		var e edge
		return e, r.Scan(&e.child, &e.parent)
	})
	if err != nil {
		return nil, err
	}
	for _, e := range edges {
		if e.child != e.parent {
			deps[e.child] = append(deps[e.child], e.parent)
		}
	}
	var order []string
	done := map[string]bool{}
	for len(order) < len(tables) {
		progress := false
		for _, t := range tables {
			if done[t.name] {
				continue
			}
			ready := true
			for _, p := range deps[t.name] {
				if !done[p] && slices.ContainsFunc(tables, func(x pgTable) bool { return x.name == p }) {
					ready = false
				}
			}
			if ready {
				done[t.name] = true
				order = append(order, t.name)
				progress = true
			}
		}
		if !progress {
			return nil, errors.New("foreign keys form a cycle")
		}
	}
	return order, nil
}
