package msglog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store"
)

// TimestampFormatTag opens the encoding whose SHA-256 digest a time-stamp
// token covers; it names the encoding's version (docs/protocol.md ("Time-stamps")).
const TimestampFormatTag = "jisr-msglog-ts/1"

// Defaults of TimestamperConfig.
const (
	// DefaultTimestampInterval is how often Run stamps the chain head.
	DefaultTimestampInterval = 60 * time.Second
	// DefaultTimestampGrace is how long a record may stay without a
	// time-stamp before Healthy fails.
	DefaultTimestampGrace = 4 * time.Hour
	// DefaultTimestampTimeout bounds one request to the TSA.
	DefaultTimestampTimeout = 30 * time.Second
)

// TimestampImprint returns the SHA-256 digest that the time-stamp token
// over records from..to covers (the token's message imprint): the digest
// of
//
//	str "jisr-msglog-ts/1" ‖ bytes prevHash ‖ i64 from ‖ i64 to ‖ bytes headHash
//
// in the encoding of the chain hash, where prevHash is the hash of record
// from-1 (GenesisHash for the first range) and headHash the hash of record
// to. Since every record's hash covers the one before it, the token vouches
// for every record up to to; prevHash and from make each range checkable
// on its own. docs/protocol.md ("Time-stamps") specifies it.
func TimestampImprint(prevHash []byte, from, to int64, headHash []byte) []byte {
	h := sha256.New()
	e := encoder{w: h}
	e.str(TimestampFormatTag)
	e.bytes(prevHash)
	e.i64(from)
	e.i64(to)
	e.bytes(headHash)
	return h.Sum(nil)
}

// TSAClient obtains RFC 3161 time-stamp tokens. Stamp returns the DER
// TimeStampToken (a CMS ContentInfo) over digest, a SHA-256 digest; it need
// not verify the token (VerifyTimestamps does, with the approved TSA
// roots), but it should check that the token answers the request, as
// pki/tsa.Stamp does.
type TSAClient interface {
	Stamp(ctx context.Context, digest []byte) (token []byte, err error)
}

// NamedTSAClient is a TSAClient that can also say which TSA issued a token
// (for instance the URL that answered, when it tries several). The
// Timestamper stores that name with the token; without it, it stores
// TimestamperConfig.TSAName.
type NamedTSAClient interface {
	TSAClient
	// StampFrom is Stamp, also returning the name or URL of the TSA that
	// issued the token.
	StampFrom(ctx context.Context, digest []byte) (token []byte, tsa string, err error)
}

// TimestamperConfig configures a Timestamper. Log and TSA are required.
type TimestamperConfig struct {
	// Log is the message log to stamp.
	Log *Log
	// TSA obtains the tokens.
	TSA TSAClient
	// TSAName is stored with each token as the TSA that issued it, unless
	// TSA implements NamedTSAClient.
	TSAName string
	// Interval is how often Run stamps (DefaultTimestampInterval when 0).
	Interval time.Duration
	// Grace is how long a record may stay unstamped before Healthy fails
	// (DefaultTimestampGrace when 0).
	Grace time.Duration
	// Timeout bounds one TSA request (DefaultTimestampTimeout when 0).
	Timeout time.Duration
	// Clock tells the time of stamping and of Healthy's age computations;
	// nil means the Log's clock.
	Clock clock.Clock
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// Registerer, if not nil, receives the gauges
	// jisr_msglog_timestamp_backlog_records and
	// jisr_msglog_last_timestamp_age_seconds and the counter
	// jisr_msglog_timestamp_failures_total.
	Registerer prometheus.Registerer
}

// Timestamper obtains RFC 3161 time-stamps over the message log's chain
// head: each round (Stamp, or every Interval in Run) takes the head and,
// if records were added since the last token, obtains one token over
// TimestampImprint of the new range and stores it in msglog_timestamps.
// One TSA request thus covers every record logged during the interval, or
// the whole backlog after an outage of the TSA.
//
// While the TSA fails, appends go on and the backlog grows; Healthy fails
// once the oldest unstamped record is older than Grace, and the proxies
// then refuse new exchanges. Several nodes sharing one database may each
// run a Timestamper: each range is stamped once, the racing node's round
// inserting nothing.
//
// Its methods are safe for concurrent use.
type Timestamper struct {
	log      *Log
	tsa      TSAClient
	tsaName  string
	interval time.Duration
	grace    time.Duration
	timeout  time.Duration
	clk      clock.Clock
	logger   *slog.Logger

	backlog  prometheus.Gauge
	failures prometheus.Counter

	// round serializes rounds, so that one Timestamper never asks the TSA
	// twice for the same range.
	round sync.Mutex

	mu sync.Mutex // guards the fields below
	// checkedAt is when the last round that read the log began (the
	// Timestamper's creation before any): records appended since are at
	// most that old.
	checkedAt time.Time
	// oldestID and oldestAt are the oldest record that round found
	// unstamped and its LoggedAt; oldestID is 0 when there was none.
	oldestID int64
	oldestAt time.Time
	// lastStampedAt is the stamped_at of the newest token seen (zero when
	// none).
	lastStampedAt time.Time
	// lastErr is the failure of the last round, nil after a success.
	lastErr error
}

// NewTimestamper checks cfg and returns a Timestamper; call Run (or Stamp)
// to stamp.
func NewTimestamper(cfg TimestamperConfig) (*Timestamper, error) {
	if cfg.Log == nil || cfg.TSA == nil {
		return nil, errors.New("msglog: Timestamper needs a Log and a TSA")
	}
	t := &Timestamper{
		log:      cfg.Log,
		tsa:      cfg.TSA,
		tsaName:  cfg.TSAName,
		interval: orDefault(cfg.Interval, DefaultTimestampInterval),
		grace:    orDefault(cfg.Grace, DefaultTimestampGrace),
		timeout:  orDefault(cfg.Timeout, DefaultTimestampTimeout),
		clk:      cfg.Clock,
		logger:   cfg.Logger,
	}
	if t.interval < 0 || t.grace < 0 || t.timeout < 0 {
		return nil, errors.New("msglog: Timestamper interval, grace and timeout must be positive")
	}
	if t.clk == nil {
		t.clk = cfg.Log.o.clk
	}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	t.checkedAt = t.clk.Now()
	t.backlog = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "jisr_msglog_timestamp_backlog_records",
		Help: "Message log records not yet covered by a time-stamp, as of the last time-stamping round.",
	})
	t.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jisr_msglog_timestamp_failures_total",
		Help: "Time-stamping rounds that failed (TSA or database).",
	})
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jisr_msglog_last_timestamp_age_seconds",
		Help: "Seconds since the newest message log time-stamp was stored (0 before the first).",
	}, t.lastTimestampAge)
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{t.backlog, t.failures, age} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("msglog: registering time-stamp metrics: %w", err)
			}
		}
	}
	return t, nil
}

// orDefault returns d, or def when d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (t *Timestamper) lastTimestampAge() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastStampedAt.IsZero() {
		return 0
	}
	return max(t.clk.Now().Sub(t.lastStampedAt).Seconds(), 0)
}

// Run stamps once at once and then every Interval until ctx ends, and
// returns nil then. A failed round is logged and retried at the next tick.
func (t *Timestamper) Run(ctx context.Context) error {
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		if err := t.Stamp(ctx); err != nil && ctx.Err() == nil {
			t.logger.WarnContext(ctx, "message log time-stamping failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Stamp runs one round: it reads the chain head and the last token and,
// if records were added since, obtains one token over the new range and
// stores it. When there is nothing new it does not call the TSA. When
// another node stored a token for the same range first, it stores nothing
// and returns nil. Errors (TSA, database, a chain that does not continue
// from the last stamped head) are returned wrapped, and counted.
func (t *Timestamper) Stamp(ctx context.Context) error {
	t.round.Lock()
	defer t.round.Unlock()
	start := t.clk.Now()
	v, err := t.log.stampView(ctx)
	if err != nil {
		return t.fail(fmt.Errorf("msglog: time-stamp: %w", err))
	}
	t.observe(start, v)
	if v.headID == v.lastTo {
		t.succeed(time.Time{})
		return nil
	}
	if v.headID < v.lastTo {
		return t.fail(fmt.Errorf("msglog: time-stamp: chain head %d is behind the last time-stamped record %d", v.headID, v.lastTo))
	}
	if !bytes.Equal(v.firstPrev, v.lastHash) {
		return t.fail(fmt.Errorf("msglog: time-stamp: record %d does not continue the chain from the last time-stamped head: %w",
			v.lastTo+1, ErrChainBroken))
	}
	from, to := v.lastTo+1, v.headID
	digest := TimestampImprint(v.lastHash, from, to, v.headHash)

	tctx, cancel := context.WithTimeout(ctx, t.timeout)
	token, name, err := t.obtain(tctx, digest)
	cancel()
	if err == nil && len(token) == 0 {
		err = errors.New("empty token")
	}
	if err != nil {
		return t.fail(fmt.Errorf("msglog: time-stamp records %d..%d: TSA: %w", from, to, err))
	}
	stampedAt := t.clk.Now().UTC().Truncate(time.Microsecond)
	ok, err := t.log.insertTimestamp(ctx, v.lastTokenID+1, from, to, v.headHash, token, name, stampedAt)
	if err != nil {
		return t.fail(fmt.Errorf("msglog: time-stamp records %d..%d: store token: %w", from, to, err))
	}
	if !ok {
		// Another node stamped this range (or one starting there) first;
		// the next round reads its token.
		t.logger.InfoContext(ctx, "message log range already time-stamped by another node", "from", from, "to", to)
		t.succeed(time.Time{})
		return nil
	}
	t.logger.DebugContext(ctx, "message log time-stamped", "from", from, "to", to, "tsa", name)
	t.mu.Lock()
	t.oldestID, t.oldestAt = 0, time.Time{}
	t.mu.Unlock()
	t.backlog.Set(0)
	t.succeed(stampedAt)
	return nil
}

// obtain asks the TSA for a token over digest.
func (t *Timestamper) obtain(ctx context.Context, digest []byte) ([]byte, string, error) {
	if n, ok := t.tsa.(NamedTSAClient); ok {
		return n.StampFrom(ctx, digest)
	}
	token, err := t.tsa.Stamp(ctx, digest)
	return token, t.tsaName, err
}

// observe records what a round read of the log, begun at start.
func (t *Timestamper) observe(start time.Time, v stampView) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checkedAt = start
	t.oldestID, t.oldestAt = 0, time.Time{}
	if v.headID > v.lastTo {
		t.oldestID, t.oldestAt = v.lastTo+1, v.firstLoggedAt
	}
	if v.lastStampedAt.After(t.lastStampedAt) {
		t.lastStampedAt = v.lastStampedAt
	}
	t.backlog.Set(float64(max(v.headID-v.lastTo, 0)))
}

// succeed records a successful round that stored a token at stampedAt
// (zero when it stored none).
func (t *Timestamper) succeed(stampedAt time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastErr = nil
	if stampedAt.After(t.lastStampedAt) {
		t.lastStampedAt = stampedAt
	}
}

// fail records a failed round and returns err.
func (t *Timestamper) fail(err error) error {
	t.failures.Inc()
	t.mu.Lock()
	t.lastErr = err
	t.mu.Unlock()
	return err
}

// Healthy reports whether the log is time-stamped within the grace
// period at now: nil while the oldest record without a time-stamp is
// younger than Grace, else an error wrapping ErrTimestampingFailed (and
// saying why the last round failed). The proxies refuse new exchanges
// while it fails.
//
// It reads no database: it relies on the last round. Records appended
// after the last round began are taken to be as old as that round, so if
// rounds stop altogether (the Timestamper is not running, the database
// cannot be read), Healthy fails Grace after the last one.
func (t *Timestamper) Healthy(now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	since, what := t.checkedAt, "the last time-stamping round"
	if t.oldestID != 0 {
		since, what = t.oldestAt, fmt.Sprintf("unstamped record %d", t.oldestID)
	}
	age := now.Sub(since)
	if age < t.grace {
		return nil
	}
	if t.lastErr != nil {
		return fmt.Errorf("%w: %s is %v old, beyond the grace period of %v: %w",
			ErrTimestampingFailed, what, age.Truncate(time.Second), t.grace, t.lastErr)
	}
	return fmt.Errorf("%w: %s is %v old, beyond the grace period of %v",
		ErrTimestampingFailed, what, age.Truncate(time.Second), t.grace)
}

// stampView is what a round reads of the log.
type stampView struct {
	lastTokenID   int64     // the newest token's id, 0 when none
	lastTo        int64     // the last stamped record, 0 when none
	lastHash      []byte    // its hash (GenesisHash when none)
	lastStampedAt time.Time // the newest token's stamped_at (zero when none)
	headID        int64     // the chain head
	headHash      []byte    // its hash (GenesisHash when the log is empty)
	firstLoggedAt time.Time // LoggedAt of record lastTo+1, when headID > lastTo
	firstPrev     []byte    // its PrevHash
}

// stampView reads the newest token and then the chain head, in one short
// read-only transaction that does not hold up appends. The token is read
// first so that the head is never behind it, even when another node
// stores a token meanwhile.
func (l *Log) stampView(ctx context.Context) (stampView, error) {
	v := stampView{lastHash: GenesisHash(), headHash: GenesisHash()}
	err := store.InTx(ctx, l.db, &sql.TxOptions{ReadOnly: true}, func(tx *sql.Tx) error {
		var stampedAt int64
		err := tx.QueryRowContext(ctx,
			`SELECT id, to_id, head_hash, stamped_at FROM msglog_timestamps ORDER BY id DESC LIMIT 1`).
			Scan(&v.lastTokenID, &v.lastTo, &v.lastHash, &stampedAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read last time-stamp: %w", err)
		default:
			v.lastStampedAt = time.UnixMicro(stampedAt).UTC()
		}
		var headHash []byte
		if err := tx.QueryRowContext(ctx, `SELECT last_id, last_hash FROM msglog_head WHERE id = 1`).
			Scan(&v.headID, &headHash); err != nil {
			return fmt.Errorf("read chain head: %w", err)
		}
		if v.headID > 0 {
			v.headHash = headHash
		}
		if v.headID <= v.lastTo {
			return nil
		}
		var loggedAt int64
		err = tx.QueryRowContext(ctx, `SELECT logged_at, prev_hash FROM msglog_records WHERE id = $1`, v.lastTo+1).
			Scan(&loggedAt, &v.firstPrev)
		if err != nil {
			return fmt.Errorf("read record %d: %w", v.lastTo+1, err)
		}
		v.firstLoggedAt = time.UnixMicro(loggedAt).UTC()
		return nil
	})
	return v, err
}

// insertTimestamp stores a token unless a token with the same id or
// from_id exists (another node's), and reports whether it stored it.
func (l *Log) insertTimestamp(ctx context.Context, id, from, to int64, headHash, token []byte, tsa string, stampedAt time.Time) (bool, error) {
	res, err := l.db.ExecContext(ctx,
		`INSERT INTO msglog_timestamps (id, from_id, to_id, head_hash, token, tsa, stamped_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		id, from, to, headHash, token, tsa, stampedAt.UnixMicro())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// Timestamp is one stored time-stamp: a token over the records From..To.
type Timestamp struct {
	// ID is the token's position: 1, 2, 3, ….
	ID int64
	// From and To are the first and last record the token covers.
	From, To int64
	// HeadHash is the hash of record To.
	HeadHash []byte
	// Token is the DER TimeStampToken as the TSA sent it.
	Token []byte
	// TSA names the TSA that issued it ("" when unknown).
	TSA string
	// StampedAt is when the token was stored, by the log's clock; the
	// token's genTime is the time it attests.
	StampedAt time.Time
}

// timestampPage bounds the tokens read at once.
const timestampPage = 256

// Timestamps returns the stored time-stamps with ids greater than after,
// in order, at most limit of them (timestampPage when limit is not
// positive).
func (l *Log) Timestamps(ctx context.Context, after int64, limit int) ([]Timestamp, error) {
	if limit <= 0 {
		limit = timestampPage
	}
	rows, err := l.db.QueryContext(ctx,
		`SELECT id, from_id, to_id, head_hash, token, tsa, stamped_at FROM msglog_timestamps
		 WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("msglog: read time-stamps: %w", err)
	}
	defer rows.Close()
	var out []Timestamp
	for rows.Next() {
		var ts Timestamp
		var at int64
		if err := rows.Scan(&ts.ID, &ts.From, &ts.To, &ts.HeadHash, &ts.Token, &ts.TSA, &at); err != nil {
			return nil, fmt.Errorf("msglog: read time-stamps: %w", err)
		}
		ts.StampedAt = time.UnixMicro(at).UTC()
		out = append(out, ts)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("msglog: read time-stamps: %w", err)
	}
	return out, nil
}

// TimestampsResult describes the time-stamps VerifyTimestamps verified.
type TimestampsResult struct {
	// Tokens is how many tokens verified.
	Tokens int64
	// To is the last record they cover (0 when none): records 1..To are
	// proven to have existed at the last token's genTime.
	To int64
	// Hash is the hash of record To (GenesisHash when none).
	Hash []byte
}

// VerifyTimestamps checks every stored time-stamp in order: that the
// ranges follow one another from record 1 without gap or overlap, that
// the chain recomputed over each range (VerifyChain) ends at the stored
// head hash, and that verify accepts the token for TimestampImprint of the
// range. verify checks a DER token against a SHA-256 digest; pass
// pki/tsa.Verify with SHA-256 and the approved TSA roots.
//
// It returns the first time-stamp that fails as a *TimestampError (which
// wraps ErrTimestampInvalid, and the *ChainError or verify's error that
// caused it); other errors are database failures. Records after the last
// token are not checked: use VerifyChain for them.
func (l *Log) VerifyTimestamps(ctx context.Context, verify func(token, digest []byte) error) (TimestampsResult, error) {
	if verify == nil {
		return TimestampsResult{}, errors.New("msglog: VerifyTimestamps needs a verify function")
	}
	purged, err := l.Purged(ctx)
	if err != nil {
		return TimestampsResult{}, err
	}
	res := TimestampsResult{To: purged.LastID, Hash: purged.LastHash}
	lastID := purged.LastStampID
	for {
		page, err := l.Timestamps(ctx, lastID, timestampPage)
		if err != nil {
			return res, err
		}
		if len(page) == 0 {
			return res, nil
		}
		for i := range page {
			ts := &page[i]
			bad := func(reason string, err error) (TimestampsResult, error) {
				return res, &TimestampError{ID: ts.ID, From: ts.From, To: ts.To, Reason: reason, Err: err}
			}
			switch {
			case ts.ID != lastID+1:
				return bad(fmt.Sprintf("time-stamp %d is missing", lastID+1), nil)
			case ts.From != res.To+1 && ts.From <= res.To:
				return bad(fmt.Sprintf("range overlaps the previous one, which ends at record %d", res.To), nil)
			case ts.From != res.To+1:
				return bad(fmt.Sprintf("gap: records %d..%d are not covered", res.To+1, ts.From-1), nil)
			case ts.To < ts.From:
				return bad("empty range", nil)
			}
			chain, err := l.VerifyChain(ctx, ts.From, ts.To)
			if ce, ok := errors.AsType[*ChainError](err); ok {
				return bad("hash chain broken", ce)
			}
			if err != nil {
				return res, err
			}
			if chain.To != ts.To || !bytes.Equal(chain.Hash, ts.HeadHash) {
				return bad(fmt.Sprintf("stored head hash is not the hash of record %d", ts.To), nil)
			}
			if err := verify(ts.Token, TimestampImprint(res.Hash, ts.From, ts.To, chain.Hash)); err != nil {
				return bad("token does not verify", err)
			}
			lastID = ts.ID
			res.Tokens++
			res.To, res.Hash = ts.To, chain.Hash
		}
	}
}
