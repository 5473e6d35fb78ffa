package msglog

import (
	"bytes"
	"context"
	"crypto/cipher"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/xroad"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationTable is the table recording which message log migrations were
// applied, so the log can share a database with the security server's
// other tables.
const MigrationTable = "msglog_schema_version"

// Migrations returns the message log's goose migrations (one set of files
// for both dialects).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		// fs.Sub fails only for an invalid path, and this one is constant.
		panic(err)
	}
	return sub
}

// Defaults of the options.
const (
	// DefaultMaxBatch is how many records one transaction commits at most.
	DefaultMaxBatch = 512
	// DefaultCommitTimeout bounds one batch's transaction.
	DefaultCommitTimeout = 10 * time.Second
)

// Appender is what the proxy needs of the log: Append returns nil only
// once the record is committed. Any error means the record was not logged
// (or may not have been) and the message must not be forwarded or returned.
type Appender interface {
	// Append commits r to the log; see (*Log).Append.
	Append(ctx context.Context, r *Record) error
}

// Reader is what auditors and administrators need: reading records back
// and checking the hash chain.
type Reader interface {
	// Get returns one record by id; see (*Log).Get.
	Get(ctx context.Context, id int64) (Record, error)
	// Find returns the records a query selects; see (*Log).Find.
	Find(ctx context.Context, q Query) ([]Record, error)
	// VerifyChain recomputes the hash chain; see (*Log).VerifyChain.
	VerifyChain(ctx context.Context, from, to int64) (VerifyResult, error)
}

// Store is the whole message log, as *Log implements it for SQLite and
// PostgreSQL alike.
type Store interface {
	Appender
	Reader
	// Close commits what is queued and releases the log.
	Close() error
}

// Compile-time guard.
var _ Store = (*Log)(nil)

// BodyPolicy says whether bodies are logged for a local subsystem: the
// client on the consumer's side, the service's provider on the provider's
// side.
type BodyPolicy func(local xroad.ClientID) bool

type options struct {
	clk           clock.Clock
	keys          KeyProvider
	bodies        BodyPolicy
	metadataOnly  bool
	maxLoggedBody int64
	maxBatch      int
	commitTimeout time.Duration
	sqliteOpts    []store.SQLiteOption
	registerer    prometheus.Registerer
}

// Option changes a default of OpenSQLite, OpenPostgres or New.
type Option func(*options)

// WithClock sets the clock that stamps LoggedAt (default clock.System()).
func WithClock(clk clock.Clock) Option { return func(o *options) { o.clk = clk } }

// WithKeys sets the provider of the keys bodies are encrypted under. It is
// required unless MetadataOnly is given; without it, Get and Find return
// records without their bodies.
func WithKeys(kp KeyProvider) Option { return func(o *options) { o.keys = kp } }

// WithBodyPolicy sets which subsystems' bodies are logged (default: all).
func WithBodyPolicy(p BodyPolicy) Option { return func(o *options) { o.bodies = p } }

// MetadataOnly logs no bodies at all; no KeyProvider is then needed to
// append (one may still be given to read bodies logged before).
func MetadataOnly() Option { return func(o *options) { o.metadataOnly = true } }

// WithMaxLoggedBody sets the largest body that is stored (default
// DefaultMaxLoggedBody, at most MaxBodySize); larger bodies are logged by
// digest and size only.
func WithMaxLoggedBody(n int64) Option { return func(o *options) { o.maxLoggedBody = n } }

// WithMaxBatch sets how many records one transaction commits at most
// (default DefaultMaxBatch; at least 1).
func WithMaxBatch(n int) Option { return func(o *options) { o.maxBatch = n } }

// WithCommitTimeout bounds each batch's transaction (default
// DefaultCommitTimeout). When it passes, the batch's appends fail with
// ErrLogUnavailable.
func WithCommitTimeout(d time.Duration) Option { return func(o *options) { o.commitTimeout = d } }

// WithRegisterer registers the log's metrics: commit latency and batch
// size histograms and failed commits.
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.registerer = reg } }

// WithSQLiteOptions passes options to store.OpenSQLite. The log defaults
// to store.SyncFull, so that a committed record survives power loss and
// kernel crashes too. With store.SyncNormal a committed record still
// survives a crash of the process (kill -9), since SQLite's write-ahead
// log is in the operating system's hands at commit, but the last commits
// before a power loss may be lost: an exchange acknowledged without its
// record, which the message log exists to rule out.
func WithSQLiteOptions(opts ...store.SQLiteOption) Option {
	return func(o *options) { o.sqliteOpts = append(o.sqliteOpts, opts...) }
}

func buildOptions(opts []Option) (options, error) {
	o := options{
		clk:           clock.System(),
		maxBatch:      DefaultMaxBatch,
		maxLoggedBody: DefaultMaxLoggedBody,
		commitTimeout: DefaultCommitTimeout,
		sqliteOpts:    []store.SQLiteOption{store.SQLiteSynchronous(store.SyncFull)},
	}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.clk == nil:
		return o, errors.New("msglog: nil clock")
	case o.maxBatch < 1:
		return o, fmt.Errorf("msglog: batch limit %d, want at least 1", o.maxBatch)
	case o.commitTimeout <= 0:
		return o, errors.New("msglog: commit timeout must be positive")
	case o.maxLoggedBody < 0 || o.maxLoggedBody > MaxBodySize:
		return o, fmt.Errorf("msglog: logged body maximum must be 0..%d bytes", MaxBodySize)
	case o.keys == nil && !o.metadataOnly:
		return o, errors.New("msglog: body logging needs a KeyProvider (WithKeys), or MetadataOnly")
	}
	return o, nil
}

// Log is the message log over a SQLite or PostgreSQL database. Its methods
// are safe for concurrent use. Appends are committed by one writer
// goroutine, in batches; see Append.
type Log struct {
	db      *sql.DB
	dialect store.Dialect
	o       options
	closeFn func() error

	// mu guards closed and sending on queue: Append holds it for reading
	// while it enqueues, Close for writing while it closes the queue.
	mu     sync.RWMutex
	closed bool
	queue  chan *pending
	done   chan struct{} // closed when the writer has exited

	// beforeCommit, when set (by tests only), runs in the writer goroutine
	// at the start of each batch, with the batch's size.
	beforeCommit func(n int)

	records, batches, failed atomic.Int64

	// stored holds the hashes ("c"/"o" + SHA-256) of the certificates and
	// OCSP responses this log committed; only the writer goroutine uses it.
	stored map[string]struct{}
	// signers caches the member each signer certificate names.
	signers *signerCache
	// insertOne is the prepared one-record INSERT (SQLite); writer only.
	insertOne *sql.Stmt

	commitSeconds, batchSize prometheus.Histogram
	commitFailures           prometheus.Counter
}

// pending is one record waiting in the queue.
type pending struct {
	p    *prepared
	done chan result // buffered: the writer never blocks on it
}

// result is what the writer tells a waiting Append.
type result struct {
	id         int64
	loggedAt   time.Time
	prev, hash []byte
	keyID      string
	err        error
}

// OpenSQLite opens (creating if needed) the message log in the SQLite file
// at path and brings its schema up to date. It syncs every commit to disk
// (store.SyncFull) unless WithSQLiteOptions says otherwise.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*Log, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	db, err := store.OpenSQLite(ctx, path, o.sqliteOpts...)
	if err != nil {
		return nil, fmt.Errorf("msglog: %w", err)
	}
	l, err := newLog(ctx, db, store.SQLite, o, db.Close)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return l, nil
}

// OpenPostgres connects to the message log in the PostgreSQL database dsn
// names (its search_path selects the schema) and brings the schema up to
// date. Commits are as durable as the server's synchronous_commit makes
// them (on by default: durable).
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Log, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	pg, err := store.OpenPostgresDB(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("msglog: %w", err)
	}
	l, err := newLog(ctx, pg.DB, store.Postgres, o, pg.Close)
	if err != nil {
		_ = pg.Close()
		return nil, err
	}
	return l, nil
}

// New returns the message log in db, a SQLite database opened with
// store.OpenSQLite (with store.SyncFull, see WithSQLiteOptions) or a
// PostgreSQL one from store.SQLDB, after bringing its schema up to date.
// The Log's Close does not close db.
func New(ctx context.Context, db *sql.DB, dialect store.Dialect, opts ...Option) (*Log, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return newLog(ctx, db, dialect, o, func() error { return nil })
}

func newLog(ctx context.Context, db *sql.DB, dialect store.Dialect, o options, closeFn func() error) (*Log, error) {
	if err := store.Migrate(ctx, db, dialect, Migrations(), store.MigrationTable(MigrationTable)); err != nil {
		return nil, fmt.Errorf("msglog: %w", err)
	}
	l := &Log{
		db:      db,
		dialect: dialect,
		o:       o,
		closeFn: closeFn,
		queue:   make(chan *pending, o.maxBatch),
		done:    make(chan struct{}),
		stored:  map[string]struct{}{},
		signers: newSignerCache(),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jisr_msglog_commit_duration_seconds",
			Help:    "Time to commit one batch of message-log records (the wait an exchange adds for logging).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jisr_msglog_batch_size_records",
			Help: "Records committed together in one transaction (group commit).", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "jisr_msglog_commit_failures_total",
			Help: "Batches whose commit failed; their exchanges were refused with LoggingFailed."}),
	}
	if o.registerer != nil {
		for _, c := range []prometheus.Collector{l.commitSeconds, l.batchSize, l.commitFailures} {
			if err := o.registerer.Register(c); err != nil {
				return nil, fmt.Errorf("msglog: register metrics: %w", err)
			}
		}
	}
	go l.run()
	return l, nil
}

// WantsBody reports whether Append logs r's body, so that the caller need
// not read a body that will not be logged. It depends on r.Side, r.Client,
// r.Service and r.BodySize only: a body larger than the logged maximum
// (WithMaxLoggedBody) is logged by its digest and size alone, like every
// body of a subsystem whose body logging is off.
func (l *Log) WantsBody(r *Record) bool {
	if l.o.metadataOnly || r.BodySize > l.o.maxLoggedBody {
		return false
	}
	return l.o.bodies == nil || l.o.bodies(r.localSubsystem())
}

// Append logs r and returns once it is committed. On success it fills in
// r's fields marked "set by Append". On error nothing is reported
// committed that is not: the error wraps ErrInvalidRecord (r can never be
// logged) or ErrLogUnavailable (the database failed, ctx ended, the log is
// closed); in the latter case the record may or may not have been
// committed, and the exchange must fail either way.
//
// Append validates r and derives what it stores in the calling goroutine;
// the writer goroutine commits every record queued while the previous
// batch was being committed, up to WithMaxBatch, in one transaction. If
// that transaction fails, every Append waiting on it fails.
func (l *Log) Append(ctx context.Context, r *Record) error {
	if r == nil {
		return invalid("nil record")
	}
	p, err := prepare(r, l.WantsBody(r), l.signers)
	if err != nil {
		return err
	}
	if p.body != nil && l.o.keys == nil {
		return fmt.Errorf("%w: no KeyProvider to encrypt the body", ErrLogUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrLogUnavailable, err)
	}
	pe := &pending{p: p, done: make(chan result, 1)}

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return fmt.Errorf("%w: %w", ErrLogUnavailable, ErrClosed)
	}
	select {
	case l.queue <- pe:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return fmt.Errorf("%w: not queued: %w", ErrLogUnavailable, ctx.Err())
	}

	var res result
	select {
	case res = <-pe.done:
	case <-ctx.Done():
		// The record may still be committed; it is not reported so.
		return fmt.Errorf("%w: %w", ErrLogUnavailable, ctx.Err())
	}
	if res.err != nil {
		return res.err
	}
	r.ID, r.LoggedAt, r.PrevHash, r.Hash = res.id, res.loggedAt, res.prev, res.hash
	r.Signer, r.Chain, r.OCSP = p.rec.Signer, p.rec.Chain, p.rec.OCSP
	r.SignerCertHash, r.OCSPHash = p.rec.SignerCertHash, p.rec.OCSPHash
	r.BodyLogged, r.BodyKeyID = p.body != nil, res.keyID
	return nil
}

// Close stops accepting appends (they fail with ErrClosed), waits until
// every record already queued is committed or failed, and then closes the
// database if the Log opened it. Calling Close again does nothing.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()
	<-l.done
	if l.insertOne != nil {
		_ = l.insertOne.Close()
	}
	if err := l.closeFn(); err != nil {
		return fmt.Errorf("msglog: close: %w", err)
	}
	return nil
}

// Stats counts what the log committed since it was opened.
type Stats struct {
	// Records and Batches count committed records and transactions; their
	// ratio is the mean batch size.
	Records, Batches int64
	// FailedBatches counts transactions that failed.
	FailedBatches int64
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{Records: l.records.Load(), Batches: l.batches.Load(), FailedBatches: l.failed.Load()}
}

// run is the writer goroutine: it takes the first queued record, then
// every record already queued behind it up to the batch limit, commits
// them in one transaction and tells each waiter the outcome. It needs no
// timer: while one batch commits, the next one queues.
func (l *Log) run() {
	defer close(l.done)
	batch := make([]*pending, 0, l.o.maxBatch)
	for first := range l.queue {
		batch = append(batch[:0], first)
		bytes := len(first.p.body)
	fill:
		for len(batch) < l.o.maxBatch && bytes < maxBatchBytes {
			select {
			case pe, ok := <-l.queue:
				if !ok {
					break fill
				}
				batch = append(batch, pe)
				bytes += len(pe.p.body)
			default:
				break fill
			}
		}
		l.commit(batch)
		clear(batch) // drop references to committed bodies
	}
}

// commit writes one batch and reports to its waiters.
func (l *Log) commit(batch []*pending) {
	if l.beforeCommit != nil {
		l.beforeCommit(len(batch))
	}
	// The transaction does not follow any caller's context: it is shared
	// by the whole batch, and bounded by the commit timeout instead.
	ctx, cancel := context.WithTimeout(context.Background(), l.o.commitTimeout)
	defer cancel()
	start := l.o.clk.Now()
	results, err := l.write(ctx, batch)
	l.commitSeconds.Observe(l.o.clk.Now().Sub(start).Seconds())
	l.batchSize.Observe(float64(len(batch)))
	if err != nil {
		l.commitFailures.Inc()
		l.failed.Add(1)
		err = fmt.Errorf("%w: %w", ErrLogUnavailable, err)
		for _, pe := range batch {
			pe.done <- result{err: err}
		}
		return
	}
	l.batches.Add(1)
	l.records.Add(int64(len(batch)))
	for i, pe := range batch {
		pe.done <- results[i]
	}
}

// insertChunk bounds the rows of one multi-row INSERT (32 parameters a
// row; SQLite allows 32766 parameters a statement, PostgreSQL 65535).
const insertChunk = 200

// recordColumns are the columns of msglog_records in insertion (and
// selection) order, and recordColumnCount their number.
const (
	recordColumns = "id, logged_at, direction, side, message_id, request_digest, client, service, " +
		"service_version, user_id, issue, represented_party, message_time, method, path, query, " +
		"status, signer, signed_header, jws_alg, jws_typ, jws_protected, jws_signature, " +
		"cert_hashes, ocsp_hash, body_sha256, body_size, body_key_id, body_nonce, " +
		"body_ciphertext, prev_hash, hash"
	recordColumnCount = 32
)

// write commits a batch in one transaction and returns each record's
// outcome. The chain head is read and locked inside the transaction, so a
// failed batch leaves nothing behind and the next one starts from the
// committed head.
func (l *Log) write(ctx context.Context, batch []*pending) ([]result, error) {
	loggedAt := l.o.clk.Now().UTC().Truncate(time.Microsecond)
	var (
		aead  cipher.AEAD
		keyID string
	)
	for _, pe := range batch {
		if pe.p.body == nil {
			continue
		}
		id, key, err := l.o.keys.CurrentKey(ctx)
		if err != nil {
			return nil, fmt.Errorf("encryption key: %w", err)
		}
		if err := checkKey(id, key); err != nil {
			return nil, fmt.Errorf("encryption key: %w", err)
		}
		if aead, err = newAEAD(key); err != nil {
			return nil, fmt.Errorf("encryption key: %w", err)
		}
		keyID = id
		break
	}

	results := make([]result, len(batch))
	var newBlobs []string
	err := store.InTx(ctx, l.db, nil, func(tx *sql.Tx) error {
		var lastID int64
		var lastHash []byte
		// The no-op UPDATE takes the head's row lock (SQLite's BEGIN
		// IMMEDIATE already holds the database's write lock), so that a
		// second writer on the same database waits instead of forking
		// the chain.
		err := tx.QueryRowContext(ctx,
			`UPDATE msglog_head SET last_id = last_id WHERE id = 1 RETURNING last_id, last_hash`).Scan(&lastID, &lastHash)
		if err != nil {
			return fmt.Errorf("read chain head: %w", err)
		}
		if lastID == 0 {
			lastHash = GenesisHash()
		}
		if len(lastHash) != len(GenesisHash()) {
			return fmt.Errorf("chain head %d has a %d-byte hash", lastID, len(lastHash))
		}

		certs := map[string][]byte{}
		ocsps := map[string][]byte{}
		rows := make([]any, 0, len(batch)*recordColumnCount)
		for i, pe := range batch {
			p := pe.p
			rec := p.rec // a copy: the writer does not change what Append reads
			rec.ID, rec.LoggedAt, rec.PrevHash = lastID+1, loggedAt, lastHash
			f := fieldsOf(&rec)
			rec.Hash = chainHash(rec.PrevHash, &f)
			// Each waiter gets slices of its own.
			res := result{id: rec.ID, loggedAt: loggedAt, prev: bytes.Clone(rec.PrevHash), hash: bytes.Clone(rec.Hash)}
			var keyCol, nonce, ciphertext any
			if p.body != nil {
				n, c, err := seal(aead, p.body, rec.Hash)
				if err != nil {
					return err
				}
				keyCol, nonce, ciphertext, res.keyID = keyID, n, c, keyID
			}
			for j, h := range p.certHashes {
				certs[string(h)] = rec.Chain[j]
			}
			ocsps[string(rec.OCSPHash)] = rec.OCSP
			var protected any
			if p.jwsProtected != nil {
				protected = p.jwsProtected
			}
			rows = append(rows,
				rec.ID, rec.LoggedAt.UnixMicro(), string(rec.Direction), string(rec.Side), rec.MessageID,
				rec.RequestDigest, rec.Client.String(), rec.Service.Unversioned().String(), rec.Service.Version,
				rec.UserID, rec.Issue, rec.RepresentedParty, rec.Time.UnixMicro(), rec.Method, rec.Path, rec.Query,
				rec.Status, rec.Signer.String(), rec.SignedHeader, p.jwsAlg, p.jwsTyp, protected, p.jwsSignature,
				concat(p.certHashes), rec.OCSPHash, rec.BodySHA256, rec.BodySize, keyCol, nonce, ciphertext,
				rec.PrevHash, rec.Hash)
			results[i] = res
			lastID, lastHash = rec.ID, rec.Hash
		}
		// Certificates and OCSP responses this writer already committed
		// are not written again (they are never deleted).
		newBlobs = newBlobs[:0]
		for prefix, m := range map[string]map[string][]byte{"c": certs, "o": ocsps} {
			for h := range m {
				if _, ok := l.stored[prefix+h]; ok {
					delete(m, h)
				} else {
					newBlobs = append(newBlobs, prefix+h)
				}
			}
		}
		if err := insertBlobs(ctx, tx, l.dialect, "msglog_certs", certs); err != nil {
			return err
		}
		if err := insertBlobs(ctx, tx, l.dialect, "msglog_ocsp", ocsps); err != nil {
			return err
		}
		if err := l.insertRecords(ctx, tx, rows); err != nil {
			return fmt.Errorf("insert records: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE msglog_head SET last_id = $1, last_hash = $2 WHERE id = 1`, lastID, lastHash); err != nil {
			return fmt.Errorf("update chain head: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(l.stored)+len(newBlobs) > maxStoredBlobs {
		clear(l.stored)
	}
	for _, k := range newBlobs {
		l.stored[k] = struct{}{}
	}
	return results, nil
}

// maxBatchBytes bounds the bodies of one batch: a batch closes once its
// bodies reach it (a single larger body still makes a batch of its own), so
// that large bodies do not pile up in memory behind one transaction.
const maxBatchBytes = 16 << 20

// maxStoredBlobs bounds Log.stored.
const maxStoredBlobs = 4096

// insertRecords inserts rows (recordColumnCount values each). SQLite
// runs one prepared single-row statement per row, which costs no more than
// a multi-row statement without the cost of parsing it; PostgreSQL gets
// multi-row statements, one round trip per insertChunk rows.
func (l *Log) insertRecords(ctx context.Context, tx *sql.Tx, rows []any) error {
	const n = recordColumnCount
	if l.dialect == store.SQLite {
		if l.insertOne == nil {
			// Prepared once for the log's lifetime (the writer goroutine
			// is the only user), not once per batch.
			stmt, err := l.db.PrepareContext(ctx, insertSQL(l.dialect, "msglog_records", recordColumns, n, 1, ""))
			if err != nil {
				return err
			}
			l.insertOne = stmt
		}
		stmt := tx.StmtContext(ctx, l.insertOne)
		defer stmt.Close()
		for start := 0; start < len(rows); start += n {
			if _, err := stmt.ExecContext(ctx, rows[start:start+n]...); err != nil {
				return err
			}
		}
		return nil
	}
	for start := 0; start < len(rows); start += insertChunk * n {
		end := min(start+insertChunk*n, len(rows))
		q := insertSQL(l.dialect, "msglog_records", recordColumns, n, (end-start)/n, "")
		if _, err := tx.ExecContext(ctx, q, rows[start:end]...); err != nil {
			return err
		}
	}
	return nil
}

// insertBlobs stores content-addressed blobs (hash → DER) not yet stored.
func insertBlobs(ctx context.Context, tx *sql.Tx, dialect store.Dialect, table string, blobs map[string][]byte) error {
	if len(blobs) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(blobs))
	for h, der := range blobs {
		args = append(args, []byte(h), der)
	}
	const per = 2
	for start := 0; start < len(blobs); start += insertChunk {
		end := min(start+insertChunk, len(blobs))
		q := insertSQL(dialect, table, "hash, der", per, end-start, " ON CONFLICT (hash) DO NOTHING")
		if _, err := tx.ExecContext(ctx, q, args[start*per:end*per]...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
}

// insertSQL returns a multi-row INSERT of rows rows of ncols columns
// (named in cols) into table. SQLite gets anonymous "?" parameters: it
// looks "$N" parameters up by name, in time quadratic in their number.
func insertSQL(dialect store.Dialect, table, cols string, ncols, rows int, suffix string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(cols)
	b.WriteString(") VALUES ")
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range ncols {
			if c > 0 {
				b.WriteString(", ")
			}
			if dialect == store.SQLite {
				b.WriteByte('?')
			} else {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
				n++
			}
		}
		b.WriteByte(')')
	}
	b.WriteString(suffix)
	return b.String()
}

// concat joins byte strings.
func concat(parts [][]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
