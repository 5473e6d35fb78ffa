package opmon

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/xroad"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationTable records which migrations of this package were applied, so
// the records can share a database with the security server's other tables
// (which are prefixed differently).
const MigrationTable = "opmon_schema_version"

// Migrations returns the package's goose migrations (one set of files for
// both dialects).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		// fs.Sub fails only for an invalid path, and this one is constant.
		panic(err)
	}
	return sub
}

// Query selects records. Zero fields select everything.
type Query struct {
	// From and To bound MonitoringDataTs: From ≤ ts < To (zero: open).
	From, To time.Time
	// Party, if not zero, keeps the records in which it is the client or
	// the service provider (the subsystem or member the service belongs
	// to).
	Party xroad.ClientID
	// Provider, if not zero, keeps the records whose service provider it
	// is (PR-OPMON's searchCriteria/client).
	Provider xroad.ClientID
	// AfterID keeps the records with a larger id (paging).
	AfterID int64
	// Limit is the most records returned; 0 means no limit.
	Limit int
}

// Writer stores records.
type Writer interface {
	// Insert stores recs in one transaction, assigning each its ID (in
	// order, increasing). Either all are stored or, with an error, none.
	Insert(ctx context.Context, recs []Record) error
}

// Reader reads records.
type Reader interface {
	// Find returns the records q selects, in increasing ID order.
	Find(ctx context.Context, q Query) ([]Record, error)
}

// Pruner deletes old records.
type Pruner interface {
	// DeleteBefore deletes at most max records stored before t (the
	// oldest first) and returns how many it deleted.
	DeleteBefore(ctx context.Context, t time.Time, max int) (int64, error)
}

// Store is the whole record store, as SQLite and PostgreSQL implement it.
type Store interface {
	Writer
	Reader
	Pruner
	// Close releases the database (unless the store was made with New).
	Close() error
}

type options struct {
	sqliteOpts []store.SQLiteOption
}

// Option changes a default of OpenSQLite, OpenPostgres or New.
type Option func(*options)

// WithSQLiteOptions passes options to store.OpenSQLite. Records are kept
// with store's default durability (store.SyncNormal): they are statistics,
// and a power loss may at worst lose the last batches.
func WithSQLiteOptions(opts ...store.SQLiteOption) Option {
	return func(o *options) { o.sqliteOpts = append(o.sqliteOpts, opts...) }
}

// OpenSQLite opens (creating if needed) the records in the SQLite file at
// path and brings the schema up to date.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (Store, error) {
	return open(ctx, store.SQLite, path, opts)
}

// OpenPostgres connects to the records in the PostgreSQL database dsn names
// (its search_path selects the schema) and brings the schema up to date.
// Several nodes of one security server share the records this way.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	return open(ctx, store.Postgres, dsn, opts)
}

// New returns the records in db (opened with store.OpenSQLite or
// store.SQLDB) after bringing the schema up to date. Its Close does not
// close db.
func New(ctx context.Context, db *sql.DB, dialect store.Dialect) (Store, error) {
	if err := store.Migrate(ctx, db, dialect, Migrations(), store.MigrationTable(MigrationTable)); err != nil {
		return nil, fmt.Errorf("opmon: %w", err)
	}
	return &sqlStore{db: db, dialect: dialect, closeFn: func() error { return nil }}, nil
}

func open(ctx context.Context, dialect store.Dialect, target string, opts []Option) (Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	db, closeFn, err := store.OpenMigrated(ctx, dialect, target, o.sqliteOpts, Migrations(), store.MigrationTable(MigrationTable))
	if err != nil {
		return nil, fmt.Errorf("opmon: %w", err)
	}
	return &sqlStore{db: db, dialect: dialect, closeFn: closeFn}, nil
}

// sqlStore is Store over database/sql, one code path for both dialects.
type sqlStore struct {
	db      *sql.DB
	dialect store.Dialect
	closeFn func() error
}

var _ Store = (*sqlStore)(nil)

// columns are the record columns after id, in the order of insert and scan.
const columns = `monitoring_data_ts, security_server_internal_ip, security_server_type,
	request_in_ts, request_out_ts, response_in_ts, response_out_ts,
	client, service_provider, service_code, service_version, rest_method, rest_path, represented_party,
	message_id, message_user_id, message_issue, message_protocol_version,
	client_security_server_address, service_security_server_address,
	request_size, response_size, succeeded, fault_code, fault_string, status_code, x_request_id`

// nColumns is the number of columns, id included.
const nColumns = 28

// rowsPerInsert bounds one INSERT statement (28 parameters a row stays well
// below SQLite's and PostgreSQL's limits).
const rowsPerInsert = 200

// Insert implements Writer.
func (s *sqlStore) Insert(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	return store.InTx(ctx, s.db, nil, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx,
			`UPDATE opmon_counter SET value = value + $1 WHERE name = 'record_id' RETURNING value`, len(recs)).Scan(&last); err != nil {
			return fmt.Errorf("opmon: assign ids: %w", err)
		}
		first := last - int64(len(recs)) + 1
		for i := range recs {
			recs[i].ID = first + int64(i)
		}
		for start := 0; start < len(recs); start += rowsPerInsert {
			chunk := recs[start:min(start+rowsPerInsert, len(recs))]
			var b strings.Builder
			b.WriteString("INSERT INTO opmon_records (id, " + columns + ") VALUES ")
			args := make([]any, 0, len(chunk)*nColumns)
			for i := range chunk {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteByte('(')
				for j := 0; j < nColumns; j++ {
					if j > 0 {
						b.WriteByte(',')
					}
					b.WriteByte('$')
					b.WriteString(strconv.Itoa(len(args) + j + 1))
				}
				b.WriteByte(')')
				args = append(args, rowArgs(&chunk[i])...)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("opmon: insert records: %w", err)
			}
		}
		return nil
	})
}

// rowArgs are the values of r's columns, id first.
func rowArgs(r *Record) []any {
	provider := ""
	if r.Service != (xroad.ServiceID{}) {
		provider = clientText(r.Service.Provider)
	}
	return []any{
		r.ID, store.Micros(r.MonitoringDataTs), r.SecurityServerInternalIP, r.SecurityServerType,
		optTime(r.RequestIn), optTime(r.RequestOut), optTime(r.ResponseIn), optTime(r.ResponseOut),
		clientText(r.Client), provider, r.Service.Code, r.Service.Version, r.RestMethod, r.RestPath, r.RepresentedParty,
		r.MessageID, r.MessageUserID, r.MessageIssue, r.MessageProtocolVersion,
		r.ClientSecurityServerAddress, r.ServiceSecurityServerAddress,
		optSize(r.RequestSize), optSize(r.ResponseSize), r.Succeeded, r.FaultCode, r.FaultString, optStatus(r.StatusCode), r.XRequestID,
	}
}

// clientText is the stored form of a client id: its header form, or ""
// for the zero id.
func clientText(c xroad.ClientID) string {
	if c == (xroad.ClientID{}) {
		return ""
	}
	return c.String()
}

func optTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: store.Micros(t), Valid: true}
}

func optSize(n int64) sql.NullInt64 {
	if n < 0 {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: n, Valid: true}
}

func optStatus(n int) sql.NullInt64 {
	if n == 0 {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(n), Valid: true}
}

// Find implements Reader.
func (s *sqlStore) Find(ctx context.Context, q Query) ([]Record, error) {
	var b strings.Builder
	b.WriteString("SELECT id, " + columns + " FROM opmon_records WHERE id > $1")
	args := []any{q.AfterID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !q.From.IsZero() {
		b.WriteString(" AND monitoring_data_ts >= " + arg(store.Micros(q.From)))
	}
	if !q.To.IsZero() {
		b.WriteString(" AND monitoring_data_ts < " + arg(store.Micros(q.To)))
	}
	if q.Party != (xroad.ClientID{}) {
		p := arg(q.Party.String())
		b.WriteString(" AND (client = " + p + " OR service_provider = " + p + ")")
	}
	if q.Provider != (xroad.ClientID{}) {
		b.WriteString(" AND service_provider = " + arg(q.Provider.String()))
	}
	b.WriteString(" ORDER BY id")
	if q.Limit > 0 {
		b.WriteString(" LIMIT " + arg(q.Limit))
	}
	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("opmon: query records: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("opmon: query records: %w", err)
	}
	return out, nil
}

func scanRecord(rows *sql.Rows) (Record, error) {
	var (
		r                               Record
		stored                          int64
		reqIn, reqOut, respIn, respOut  sql.NullInt64
		client, provider, code, version string
		reqSize, respSize, status       sql.NullInt64
	)
	if err := rows.Scan(&r.ID, &stored, &r.SecurityServerInternalIP, &r.SecurityServerType,
		&reqIn, &reqOut, &respIn, &respOut,
		&client, &provider, &code, &version, &r.RestMethod, &r.RestPath, &r.RepresentedParty,
		&r.MessageID, &r.MessageUserID, &r.MessageIssue, &r.MessageProtocolVersion,
		&r.ClientSecurityServerAddress, &r.ServiceSecurityServerAddress,
		&reqSize, &respSize, &r.Succeeded, &r.FaultCode, &r.FaultString, &status, &r.XRequestID); err != nil {
		return Record{}, fmt.Errorf("opmon: read record: %w", err)
	}
	r.MonitoringDataTs = store.FromMicros(stored)
	r.RequestIn, r.RequestOut, r.ResponseIn, r.ResponseOut = fromOpt(reqIn), fromOpt(reqOut), fromOpt(respIn), fromOpt(respOut)
	var err error
	if client != "" {
		if r.Client, err = xroad.ParseClient(client); err != nil {
			return Record{}, fmt.Errorf("opmon: record %d: client: %w", r.ID, err)
		}
	}
	if provider != "" {
		p, err := xroad.ParseClient(provider)
		if err != nil {
			return Record{}, fmt.Errorf("opmon: record %d: service provider: %w", r.ID, err)
		}
		r.Service = xroad.ServiceID{Provider: p, Code: code, Version: version}
	}
	r.RequestSize, r.ResponseSize = sizeOf(reqSize), sizeOf(respSize)
	r.StatusCode = int(status.Int64)
	return r, nil
}

func fromOpt(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return store.FromMicros(v.Int64)
}

func sizeOf(v sql.NullInt64) int64 {
	if !v.Valid {
		return -1
	}
	return v.Int64
}

// DeleteBefore implements Pruner.
func (s *sqlStore) DeleteBefore(ctx context.Context, t time.Time, max int) (int64, error) {
	if max <= 0 {
		return 0, errors.New("opmon: delete: the batch size must be positive")
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM opmon_records WHERE id IN
		(SELECT id FROM opmon_records WHERE monitoring_data_ts < $1 ORDER BY id LIMIT $2)`, store.Micros(t), max)
	if err != nil {
		return 0, fmt.Errorf("opmon: delete records: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("opmon: delete records: %w", err)
	}
	return n, nil
}

// Close implements Store.
func (s *sqlStore) Close() error { return s.closeFn() }
