package msglog

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Limits of Find.
const (
	// DefaultLimit is the page size of a Query without Limit.
	DefaultLimit = 100
	// MaxLimit bounds a Query's Limit; larger limits are lowered to it.
	MaxLimit = 1000
)

// Query selects records for Find. Zero fields select everything; set
// fields must all match.
type Query struct {
	// MessageID selects the records of the exchanges with this message id.
	MessageID string
	// Client selects the exchanges of this client (member or subsystem,
	// exactly).
	Client xroad.ClientID
	// Service selects the exchanges with this service; a Service without
	// Version matches every version.
	Service xroad.ServiceID
	// UserID and Issue select by X-Road-UserId and X-Road-Issue.
	UserID, Issue string
	// From and To select records logged in [From, To) (LoggedAt, the log's
	// own clock, rather than the signed message times).
	From, To time.Time
	// After selects records with ids greater than After: pass the last id
	// of one page to get the next.
	After int64
	// Limit is the page size (DefaultLimit when 0, at most MaxLimit).
	Limit int
}

// VerifyResult describes a verified stretch of the chain.
type VerifyResult struct {
	// From and To are the first and last record verified (To < From when
	// there were none).
	From, To int64
	// Hash is the hash of record To (the genesis hash when none).
	Hash []byte
	// Head reports that the stretch ends at the chain head, and that the
	// head matches it.
	Head bool
}

// rawRecord is a row of msglog_records as scanned.
type rawRecord struct {
	id, loggedAt, messageTime, bodySize       int64
	status                                    int64
	direction, side, messageID                string
	client, service, serviceVersion           string
	userID, issue, representedParty           string
	method, path, query, signer, alg, typ     string
	requestDigest, signedHeader, protected    []byte
	signature, certHashes, ocspHash, bodyHash []byte
	keyID                                     sql.NullString
	nonce, ciphertext, prevHash, hash         []byte
}

func (r *rawRecord) scan(s interface{ Scan(...any) error }) error {
	return s.Scan(&r.id, &r.loggedAt, &r.direction, &r.side, &r.messageID, &r.requestDigest, &r.client,
		&r.service, &r.serviceVersion, &r.userID, &r.issue, &r.representedParty, &r.messageTime, &r.method,
		&r.path, &r.query, &r.status, &r.signer, &r.signedHeader, &r.alg, &r.typ, &r.protected, &r.signature,
		&r.certHashes, &r.ocspHash, &r.bodyHash, &r.bodySize, &r.keyID, &r.nonce, &r.ciphertext,
		&r.prevHash, &r.hash)
}

// Get returns the record with the given id, with its body when it was
// logged and its key is available. It returns an error wrapping
// ErrNotFound when there is no such record, and ErrCorrupt when the record
// cannot be read back as written.
func (l *Log) Get(ctx context.Context, id int64) (Record, error) {
	recs, err := l.load(ctx, true, `WHERE id = $1`, id)
	if err != nil {
		return Record{}, err
	}
	if len(recs) == 0 {
		return Record{}, fmt.Errorf("msglog: record %d: %w", id, ErrNotFound)
	}
	return recs[0], nil
}

// Find returns the records q selects, in id order, at most q.Limit of
// them, with their bodies when they were logged and their keys are
// available.
func (l *Log) Find(ctx context.Context, q Query) ([]Record, error) {
	if q.Limit < 0 || q.After < 0 {
		return nil, errors.New("msglog: find: negative limit or cursor")
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	add("id > ?", q.After)
	if q.MessageID != "" {
		add("message_id = ?", q.MessageID)
	}
	if q.Client != (xroad.ClientID{}) {
		add("client = ?", q.Client.String())
	}
	if q.Service != (xroad.ServiceID{}) {
		add("service = ?", q.Service.Unversioned().String())
		if q.Service.Version != "" {
			add("service_version = ?", q.Service.Version)
		}
	}
	if q.UserID != "" {
		add("user_id = ?", q.UserID)
	}
	if q.Issue != "" {
		add("issue = ?", q.Issue)
	}
	if !q.From.IsZero() {
		add("logged_at >= ?", q.From.UnixMicro())
	}
	if !q.To.IsZero() {
		add("logged_at < ?", q.To.UnixMicro())
	}
	args = append(args, limit)
	cond := "WHERE " + strings.Join(where, " AND ") + " ORDER BY id LIMIT $" + strconv.Itoa(len(args))
	return l.load(ctx, true, cond, args...)
}

// load reads the records the condition selects and rebuilds them: their
// signatures from the certificate and OCSP tables and, when withBodies,
// their decrypted bodies.
func (l *Log) load(ctx context.Context, withBodies bool, cond string, args ...any) ([]Record, error) {
	page, err := l.loadRaw(ctx, withBodies, cond, args...)
	if err != nil {
		return nil, err
	}
	aeads := map[string]cipher.AEAD{}
	out := make([]Record, len(page.raws))
	for i := range page.raws {
		rec, err := page.rebuild(i)
		if err != nil {
			return nil, err
		}
		if withBodies && page.raws[i].keyID.Valid {
			if rec.Body, err = l.decrypt(ctx, &page.raws[i], aeads); err != nil {
				return nil, err
			}
		}
		out[i] = rec
	}
	return out, nil
}

// rawPage is a page of rows with the certificates and OCSP responses they
// reference.
type rawPage struct {
	raws         []rawRecord
	certs, ocsps map[string][]byte
}

// rebuild rebuilds the i-th record of the page.
func (p *rawPage) rebuild(i int) (Record, error) { return rebuild(&p.raws[i], p.certs, p.ocsps) }

// loadRaw reads the rows the condition selects (without ciphertexts
// unless withBodies) and the blobs they reference.
func (l *Log) loadRaw(ctx context.Context, withBodies bool, cond string, args ...any) (*rawPage, error) {
	cols := recordColumns
	if !withBodies {
		cols = strings.Replace(cols, "body_ciphertext", "NULL", 1)
	}
	rows, err := l.db.QueryContext(ctx, "SELECT "+cols+" FROM msglog_records "+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("msglog: query: %w", err)
	}
	page := &rawPage{}
	for rows.Next() {
		var r rawRecord
		if err := r.scan(rows); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("msglog: query: %w", err)
		}
		page.raws = append(page.raws, r)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("msglog: query: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("msglog: query: %w", err)
	}
	var certKeys, ocspKeys [][]byte
	for i := range page.raws {
		for h := range chunks(page.raws[i].certHashes) {
			certKeys = append(certKeys, h)
		}
		ocspKeys = append(ocspKeys, page.raws[i].ocspHash)
	}
	if page.certs, err = l.blobs(ctx, "msglog_certs", certKeys); err != nil {
		return nil, err
	}
	if page.ocsps, err = l.blobs(ctx, "msglog_ocsp", ocspKeys); err != nil {
		return nil, err
	}
	return page, nil
}

// chunks yields the 32-byte hashes concatenated in b (a trailing partial
// hash is yielded as is and will not be found).
func chunks(b []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			n := min(len(b), sha256.Size)
			if !yield(b[:n]) {
				return
			}
			b = b[n:]
		}
	}
}

// blobs reads the content-addressed blobs with the given hashes from
// table, keyed by string(hash).
func (l *Log) blobs(ctx context.Context, table string, hashes [][]byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	var args []any
	seen := map[string]bool{}
	for _, h := range hashes {
		if !seen[string(h)] {
			seen[string(h)] = true
			args = append(args, h)
		}
	}
	for start := 0; start < len(args); start += insertChunk {
		end := min(start+insertChunk, len(args))
		ph := make([]string, end-start)
		for i := range ph {
			ph[i] = "$" + strconv.Itoa(i+1)
		}
		rows, err := l.db.QueryContext(ctx,
			"SELECT hash, der FROM "+table+" WHERE hash IN ("+strings.Join(ph, ", ")+")", args[start:end]...)
		if err != nil {
			return nil, fmt.Errorf("msglog: read %s: %w", table, err)
		}
		for rows.Next() {
			var h, der []byte
			if err := rows.Scan(&h, &der); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("msglog: read %s: %w", table, err)
			}
			out[string(h)] = der
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("msglog: read %s: %w", table, err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("msglog: read %s: %w", table, err)
		}
	}
	return out, nil
}

// corruptError is a record that cannot be read back as written. It wraps
// ErrCorrupt.
type corruptError struct {
	id     int64
	reason string
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("msglog: record %d: %v: %s", e.id, ErrCorrupt, e.reason)
}

func (e *corruptError) Unwrap() error { return ErrCorrupt }

// corrupt returns a *corruptError about record id.
func corrupt(id int64, format string, args ...any) error {
	return &corruptError{id: id, reason: fmt.Sprintf(format, args...)}
}

// rebuild turns a row back into a Record, rebuilding its compact JWS. It
// does not decrypt the body.
func rebuild(r *rawRecord, certs, ocsps map[string][]byte) (Record, error) {
	rec := Record{
		ID:               r.id,
		LoggedAt:         time.UnixMicro(r.loggedAt).UTC(),
		PrevHash:         r.prevHash,
		Hash:             r.hash,
		Direction:        Direction(r.direction),
		Side:             Side(r.side),
		MessageID:        r.messageID,
		RequestDigest:    r.requestDigest,
		UserID:           r.userID,
		Issue:            r.issue,
		RepresentedParty: r.representedParty,
		Time:             time.UnixMicro(r.messageTime).UTC(),
		Method:           r.method,
		Path:             r.path,
		Query:            r.query,
		Status:           int(r.status),
		SignedHeader:     r.signedHeader,
		BodySHA256:       r.bodyHash,
		BodySize:         r.bodySize,
		BodyLogged:       r.keyID.Valid,
		BodyKeyID:        r.keyID.String,
		OCSPHash:         r.ocspHash,
	}
	var err error
	if rec.Client, err = xroad.ParseClient(r.client); err != nil {
		return Record{}, corrupt(r.id, "client: %v", err)
	}
	svc := r.service
	if r.serviceVersion != "" {
		svc += "/" + r.serviceVersion
	}
	if rec.Service, err = xroad.ParseService(svc); err != nil {
		return Record{}, corrupt(r.id, "service: %v", err)
	}
	if rec.Signer, err = xroad.ParseMember(r.signer); err != nil {
		return Record{}, corrupt(r.id, "signer: %v", err)
	}
	if len(r.certHashes) == 0 || len(r.certHashes)%sha256.Size != 0 {
		return Record{}, corrupt(r.id, "certificate references are %d bytes", len(r.certHashes))
	}
	for h := range chunks(r.certHashes) {
		der, ok := certs[string(h)]
		if !ok {
			return Record{}, corrupt(r.id, "certificate %x missing", h)
		}
		rec.Chain = append(rec.Chain, der)
	}
	rec.SignerCertHash = r.certHashes[:sha256.Size]
	if rec.OCSP = ocsps[string(r.ocspHash)]; rec.OCSP == nil {
		return Record{}, corrupt(r.id, "OCSP response %x missing", r.ocspHash)
	}
	protected := r.protected
	if protected == nil {
		protected = rebuildProtected(r.alg, r.typ, rec.Chain, rec.OCSP)
	}
	rec.Signature = compactJWS(protected, r.signedHeader, r.signature)
	return rec, nil
}

// decrypt returns the body of r, or nil when its key is not available.
func (l *Log) decrypt(ctx context.Context, r *rawRecord, aeads map[string]cipher.AEAD) ([]byte, error) {
	if l.o.keys == nil {
		return nil, nil
	}
	aead, ok := aeads[r.keyID.String]
	if !ok {
		key, err := l.o.keys.Key(ctx, r.keyID.String)
		if errors.Is(err, ErrKeyNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("msglog: record %d: key %q: %w", r.id, r.keyID.String, err)
		}
		if aead, err = newAEAD(key); err != nil {
			return nil, fmt.Errorf("msglog: record %d: key %q: %w", r.id, r.keyID.String, err)
		}
		aeads[r.keyID.String] = aead
	}
	body, err := open(aead, r.nonce, r.ciphertext, r.hash)
	if err != nil {
		return nil, corrupt(r.id, "%v", err)
	}
	if d := sha256.Sum256(body); !bytes.Equal(d[:], r.bodyHash) || int64(len(body)) != r.bodySize {
		return nil, corrupt(r.id, "body does not match its digest")
	}
	return body, nil
}

// verifyPage is how many records VerifyChain reads at a time.
const verifyPage = 1000

// VerifyChain recomputes the hash chain from record from to record to
// (from before the first record kept, see Purge, means that record; to <
// 1, or beyond the head, means the head) and
// returns the first record at which it is broken as a *ChainError: a
// record missing or out of order, a previous hash that is not its
// predecessor's hash, a hash that its fields (certificates and OCSP
// response included) do not produce, or, when the stretch reaches the
// head, a chain head that does not match the last record. Record from's
// previous hash is taken from record from-1 (or the purge mark) unverified.
// Other errors are
// the database's.
//
// VerifyChain needs no keys: bodies are covered by their digests, which
// are chained; the ciphertexts are bound to their records by Get and Find.
func (l *Log) VerifyChain(ctx context.Context, from, to int64) (VerifyResult, error) {
	purged, err := readPurged(ctx, l.db)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("msglog: verify: %w", err)
	}
	from = max(from, purged.LastID+1)
	var headID int64
	var headHash []byte
	if err := l.db.QueryRowContext(ctx, `SELECT last_id, last_hash FROM msglog_head WHERE id = 1`).Scan(&headID, &headHash); err != nil {
		return VerifyResult{}, fmt.Errorf("msglog: verify: read chain head: %w", err)
	}
	atHead := to < 1 || to >= headID
	if atHead {
		to = headID
	}
	res := VerifyResult{From: from, To: from - 1, Hash: purged.LastHash}
	if from-1 != purged.LastID {
		err := l.db.QueryRowContext(ctx, `SELECT hash FROM msglog_records WHERE id = $1`, from-1).Scan(&res.Hash)
		if errors.Is(err, sql.ErrNoRows) {
			return res, &ChainError{ID: from - 1, Reason: "record missing"}
		}
		if err != nil {
			return res, fmt.Errorf("msglog: verify: %w", err)
		}
	}
	for res.To < to {
		page, err := l.loadRaw(ctx, false, `WHERE id >= $1 AND id <= $2 ORDER BY id LIMIT $3`, res.To+1, to, verifyPage)
		if err != nil {
			return res, fmt.Errorf("msglog: verify: %w", err)
		}
		if len(page.raws) == 0 {
			return res, &ChainError{ID: res.To + 1, Reason: "record missing"}
		}
		for i := range page.raws {
			want := res.To + 1
			if page.raws[i].id != want {
				return res, &ChainError{ID: want, Reason: "record missing"}
			}
			r, err := page.rebuild(i)
			if ce, ok := errors.AsType[*corruptError](err); ok {
				return res, &ChainError{ID: want, Reason: ce.reason}
			}
			switch {
			case err != nil:
				return res, fmt.Errorf("msglog: verify: %w", err)
			case !bytes.Equal(r.PrevHash, res.Hash):
				return res, &ChainError{ID: want, Reason: "previous hash is not the hash of the record before"}
			case !bytes.Equal(RecordHash(&r), r.Hash):
				return res, &ChainError{ID: want, Reason: "fields do not match the record's hash"}
			}
			res.To, res.Hash = r.ID, r.Hash
		}
	}
	if atHead {
		if headID == 0 && headHash != nil || headID > 0 && !bytes.Equal(headHash, res.Hash) {
			return res, &ChainError{ID: headID + 1, Reason: "chain head does not match the last record"}
		}
		res.Head = true
	}
	return res, nil
}
