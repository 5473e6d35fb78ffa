package conf

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/store"
)

// AdminStore is what the security server's admin API keeps beside the
// configuration: its API keys and its audit trail. It is an optional
// ability of a Store (the SQLite and PostgreSQL stores have it): find it
// with a type assertion, s.(conf.AdminStore).
//
// Its writes are not configuration changes: they run in transactions of
// their own, do not take the configuration's writer turn and do not bump
// Version. Errors wrap ErrInvalid for malformed arguments, ErrNotFound for
// an unknown key or event, ErrConflict for a duplicate secret or an event
// that is no longer pending; anything else is a database failure.
type AdminStore interface {
	// APIKeyByHash returns the API key whose secret hashes to hash (see
	// HashAPIKeySecret), whatever its expiry or revocation: use
	// APIKey.Usable to decide whether to accept it.
	APIKeyByHash(ctx context.Context, hash [sha256.Size]byte) (APIKey, error)
	// APIKey returns one API key.
	APIKey(ctx context.Context, id int64) (APIKey, error)
	// APIKeys lists every API key (revoked and expired ones too) by id.
	APIKeys(ctx context.Context) ([]APIKey, error)
	// CreateAPIKey stores a key (Name, Hash, Roles, ExpiresAt, CreatedBy)
	// and returns it with ID and CreatedAt. An empty Name becomes
	// "apikey-<id>". Roles are stored sorted, without duplicates; at least
	// one is required. An ExpiresAt not after now is ErrInvalid.
	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error)
	// CreateFirstAPIKey creates k like CreateAPIKey only if no API key was
	// ever created in this store, and reports whether it did. Nodes
	// starting together create at most one first key.
	CreateFirstAPIKey(ctx context.Context, k APIKey) (APIKey, bool, error)
	// RevokeAPIKey revokes a key and returns it; revoking it again changes
	// nothing.
	RevokeAPIKey(ctx context.Context, id int64) (APIKey, error)

	// AppendAudit appends an event (Actor, KeyID, Remote, Action, Target,
	// Detail, Outcome) and returns it with ID and At. An event appended
	// with a final outcome is completed at once (CompletedAt = At); a
	// pending one waits for CompleteAudit.
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	// CompleteAudit records the outcome of a pending event, replacing its
	// target and detail when they are not empty. Completing an event twice
	// is ErrConflict.
	CompleteAudit(ctx context.Context, id int64, outcome AuditOutcome, target string, detail json.RawMessage) (AuditEvent, error)
	// AuditEvents returns a page of the audit trail, see AuditQuery.
	AuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

var _ AdminStore = (*sqlStore)(nil)

// APIKey is an admin API key. The store never sees the secret, only its
// SHA-256.
type APIKey struct {
	// ID is assigned by CreateAPIKey.
	ID   int64
	Name string
	// Hash is the SHA-256 of the secret (HashAPIKeySecret).
	Hash [sha256.Size]byte
	// Roles are the roles the key grants, sorted.
	Roles []string
	// CreatedAt is set by the store; CreatedBy names who created the key
	// (an API key name, "ss-init", a CLI user).
	CreatedAt time.Time
	CreatedBy string
	// ExpiresAt is when the key stops working; zero for never.
	ExpiresAt time.Time
	// RevokedAt is when the key was revoked; zero if it was not.
	RevokedAt time.Time
}

// HashAPIKeySecret returns the hash under which an API key secret is stored
// and looked up.
func HashAPIKeySecret(secret []byte) [sha256.Size]byte { return sha256.Sum256(secret) }

// Usable reports whether the key may be used at time now: not revoked, and
// not expired.
func (k APIKey) Usable(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// AuditOutcome is the state of an audited action.
type AuditOutcome string

// The audit outcomes.
const (
	// AuditPending: the action was allowed and is being carried out.
	AuditPending AuditOutcome = "pending"
	// AuditSuccess: the action was carried out.
	AuditSuccess AuditOutcome = "success"
	// AuditFailure: the action was refused or failed.
	AuditFailure AuditOutcome = "failure"
)

// Valid reports whether o is one of the outcomes.
func (o AuditOutcome) Valid() bool {
	return o == AuditPending || o == AuditSuccess || o == AuditFailure
}

// AuditEvent is one entry of the admin audit trail.
type AuditEvent struct {
	// ID is assigned by AppendAudit, increasing in commit order.
	ID int64
	// At is when the event was appended and CompletedAt when its outcome
	// was recorded (zero while pending); both set by the store.
	At, CompletedAt time.Time
	// Actor is who acted: an API key's name, or "anonymous".
	Actor string
	// KeyID is the API key used (0 when none was usable).
	KeyID int64
	// Remote is the client's network address.
	Remote string
	// Action is what was done, e.g. "client.add".
	Action string
	// Target is what it was done to, e.g. a client identifier.
	Target string
	// Detail is a JSON value; nil is stored as {}.
	Detail  json.RawMessage
	Outcome AuditOutcome
}

// AuditQuery selects a page of the audit trail. Zero fields select
// everything.
type AuditQuery struct {
	// AfterID and BeforeID (when not 0) bound the ids, exclusive.
	AfterID, BeforeID int64
	// Actor, Action and Outcome select exactly.
	Actor, Action string
	Outcome       AuditOutcome
	// From and To select events appended in [From, To).
	From, To time.Time
	// NewestFirst orders by descending id (ascending otherwise).
	NewestFirst bool
	// Limit caps the page (DefaultAuditLimit when 0, at most MaxAuditLimit).
	Limit int
}

// Page sizes of AuditEvents.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// Limits on what the admin tables hold.
const (
	maxAdminText   = 1024
	maxAuditDetail = 64 << 10
)

func checkAdminText(what, s string, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid(nil, "%s is empty", what)
	}
	if len(s) > maxAdminText {
		return invalid(nil, "%s is longer than %d bytes", what, maxAdminText)
	}
	return nil
}

// nullMicros stores a zero time as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.Micros(t)
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return store.FromMicros(v.Int64)
}

// adminTx runs fn in a transaction of its own on the store's database,
// outside the configuration's versioned writes.
func (s *sqlStore) adminTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return store.InTx(ctx, s.tx.DB, nil, fn)
}

// adminValue runs fn in adminTx and returns its value only if the
// transaction committed.
func adminValue[T any](ctx context.Context, s *sqlStore, fn func(tx *sql.Tx) (T, error)) (T, error) {
	return store.UpdateValue(func(f func(*sql.Tx) error) error { return s.adminTx(ctx, f) }, fn)
}

// adminExec runs a write statement and maps constraint violations as txn.exec
// does, without marking anything dirty.
func adminExec(ctx context.Context, x store.Querier, what, q string, args ...any) (int64, error) {
	res, err := x.ExecContext(ctx, q, args...)
	if err != nil {
		switch store.ConstraintViolation(err) {
		case store.Unique:
			return 0, fmt.Errorf("%w: %s already exists", ErrConflict, what)
		case store.ForeignKey:
			return 0, fmt.Errorf("%w: %s: a referenced item is missing", ErrNotFound, what)
		case store.Check:
			return 0, fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
		}
		return 0, queryErr(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, queryErr(what, err)
	}
	return n, nil
}

func adminCounter(ctx context.Context, x store.Querier, name string) (int64, error) {
	var v int64
	if err := x.QueryRowContext(ctx, `UPDATE ss_counters SET value = value + 1 WHERE name = $1 RETURNING value`, name).Scan(&v); err != nil {
		return 0, queryErr("advance counter "+name, err)
	}
	return v, nil
}

// API keys.

// checkAPIKey validates a key given to CreateAPIKey and returns its roles
// normalised.
func checkAPIKey(k APIKey) ([]string, error) {
	if err := checkAdminText("API key name", k.Name, false); err != nil {
		return nil, err
	}
	if err := checkAdminText("API key creator", k.CreatedBy, true); err != nil {
		return nil, err
	}
	if k.Hash == ([sha256.Size]byte{}) {
		return nil, invalid(nil, "API key without a hash")
	}
	roles := slices.Clone(k.Roles)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	if len(roles) == 0 {
		return nil, invalid(nil, "API key %q grants no role", k.Name)
	}
	for _, r := range roles {
		if err := checkAdminText("API key role", r, true); err != nil {
			return nil, err
		}
	}
	return roles, nil
}

// insertAPIKey stores k under id in tx.
func (s *sqlStore) insertAPIKey(ctx context.Context, tx *sql.Tx, id int64, k APIKey, roles []string) (APIKey, error) {
	now := s.now()
	out := APIKey{ID: id, Name: k.Name, Hash: k.Hash, Roles: roles, CreatedAt: now, CreatedBy: k.CreatedBy}
	if out.Name == "" {
		out.Name = fmt.Sprintf("apikey-%d", id)
	}
	if !k.ExpiresAt.IsZero() {
		out.ExpiresAt = k.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !out.ExpiresAt.After(now) {
			return APIKey{}, invalid(nil, "API key %q would be expired at creation", out.Name)
		}
	}
	if _, err := adminExec(ctx, tx, "API key "+out.Name+": an API key with this secret",
		`INSERT INTO ss_api_keys (id, name, hash, created_at, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, out.Name, hex.EncodeToString(k.Hash[:]), store.Micros(now), out.CreatedBy, nullMicros(out.ExpiresAt)); err != nil {
		return APIKey{}, err
	}
	for _, r := range roles {
		if _, err := adminExec(ctx, tx, "API key role "+r,
			`INSERT INTO ss_api_key_roles (key_id, role) VALUES ($1, $2)`, id, r); err != nil {
			return APIKey{}, err
		}
	}
	return out, nil
}

// CreateAPIKey implements AdminStore.
func (s *sqlStore) CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	roles, err := checkAPIKey(k)
	if err != nil {
		return APIKey{}, err
	}
	return adminValue(ctx, s, func(tx *sql.Tx) (APIKey, error) {
		id, err := adminCounter(ctx, tx, "api_key")
		if err != nil {
			return APIKey{}, err
		}
		return s.insertAPIKey(ctx, tx, id, k, roles)
	})
}

// CreateFirstAPIKey implements AdminStore. The counter moves from 0 to 1
// in one conditional statement, so of several nodes only one creates the
// key.
func (s *sqlStore) CreateFirstAPIKey(ctx context.Context, k APIKey) (APIKey, bool, error) {
	roles, err := checkAPIKey(k)
	if err != nil {
		return APIKey{}, false, err
	}
	var created bool
	out, err := adminValue(ctx, s, func(tx *sql.Tx) (APIKey, error) {
		var id int64
		err := tx.QueryRowContext(ctx,
			`UPDATE ss_counters SET value = 1 WHERE name = 'api_key' AND value = 0 RETURNING value`).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return APIKey{}, nil
		}
		if err != nil {
			return APIKey{}, queryErr("advance counter api_key", err)
		}
		created = true
		return s.insertAPIKey(ctx, tx, id, k, roles)
	})
	if err != nil {
		return APIKey{}, false, err
	}
	return out, created, nil
}

// RevokeAPIKey implements AdminStore.
func (s *sqlStore) RevokeAPIKey(ctx context.Context, id int64) (APIKey, error) {
	return adminValue(ctx, s, func(tx *sql.Tx) (APIKey, error) {
		if _, err := adminExec(ctx, tx, "revoke API key",
			`UPDATE ss_api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, store.Micros(s.now()), id); err != nil {
			return APIKey{}, err
		}
		keys, err := apiKeys(ctx, tx, "id = $1", id)
		if err != nil {
			return APIKey{}, err
		}
		if len(keys) == 0 {
			return APIKey{}, notFound("API key %d", id)
		}
		return keys[0], nil
	})
}

// apiKeys lists the API keys the condition selects (all when cond is
// empty), by id, with their roles.
func apiKeys(ctx context.Context, x store.Querier, cond string, args ...any) ([]APIKey, error) {
	where := ""
	if cond != "" {
		where = " WHERE " + cond
	}
	keys, err := query(ctx, x, "list API keys", func(rows *sql.Rows) (k APIKey, err error) {
		var h string
		var created int64
		var expires, revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Name, &h, &created, &k.CreatedBy, &expires, &revoked); err != nil {
			return k, err
		}
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != len(k.Hash) {
			return k, fmt.Errorf("API key %d: stored hash is malformed", k.ID)
		}
		copy(k.Hash[:], b)
		k.CreatedAt, k.ExpiresAt, k.RevokedAt = store.FromMicros(created), fromNullMicros(expires), fromNullMicros(revoked)
		k.Roles = []string{}
		return k, nil
	}, `SELECT id, name, hash, created_at, created_by, expires_at, revoked_at FROM ss_api_keys`+where+` ORDER BY id`, args...)
	if err != nil || len(keys) == 0 {
		return keys, err
	}
	idx := make(map[int64]*APIKey, len(keys))
	for i := range keys {
		idx[keys[i].ID] = &keys[i]
	}
	type roleRow struct {
		id   int64
		role string
	}
	q := `SELECT key_id, role FROM ss_api_key_roles ORDER BY key_id, role`
	var rargs []any
	if len(keys) == 1 {
		q, rargs = `SELECT key_id, role FROM ss_api_key_roles WHERE key_id = $1 ORDER BY role`, []any{keys[0].ID}
	}
	roles, err := query(ctx, x, "list API key roles", func(rows *sql.Rows) (r roleRow, err error) {
		err = rows.Scan(&r.id, &r.role)
		return r, err
	}, q, rargs...)
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if k := idx[r.id]; k != nil {
			k.Roles = append(k.Roles, r.role)
		}
	}
	return keys, nil
}

// APIKeyByHash implements AdminStore.
func (s *sqlStore) APIKeyByHash(ctx context.Context, hash [sha256.Size]byte) (APIKey, error) {
	keys, err := apiKeys(ctx, s.x, "hash = $1", hex.EncodeToString(hash[:]))
	if err != nil {
		return APIKey{}, err
	}
	if len(keys) == 0 {
		// The hash is not echoed: it is as good as the secret for
		// correlating log lines with a key.
		return APIKey{}, notFound("API key")
	}
	return keys[0], nil
}

// APIKey implements AdminStore.
func (s *sqlStore) APIKey(ctx context.Context, id int64) (APIKey, error) {
	keys, err := apiKeys(ctx, s.x, "id = $1", id)
	if err != nil {
		return APIKey{}, err
	}
	if len(keys) == 0 {
		return APIKey{}, notFound("API key %d", id)
	}
	return keys[0], nil
}

// APIKeys implements AdminStore.
func (s *sqlStore) APIKeys(ctx context.Context) ([]APIKey, error) { return apiKeys(ctx, s.x, "") }

// Audit trail.

func checkAuditDetail(detail json.RawMessage) ([]byte, error) {
	d := []byte(detail)
	if len(d) == 0 {
		d = []byte("{}")
	}
	if len(d) > maxAuditDetail {
		return nil, invalid(nil, "audit detail longer than %d bytes", maxAuditDetail)
	}
	if !json.Valid(d) {
		return nil, invalid(nil, "audit detail is not JSON")
	}
	return d, nil
}

// AppendAudit implements AdminStore.
func (s *sqlStore) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if err := checkAdminText("audit actor", e.Actor, true); err != nil {
		return AuditEvent{}, err
	}
	if err := checkAdminText("audit action", e.Action, true); err != nil {
		return AuditEvent{}, err
	}
	if err := checkAdminText("audit target", e.Target, false); err != nil {
		return AuditEvent{}, err
	}
	if err := checkAdminText("audit remote address", e.Remote, false); err != nil {
		return AuditEvent{}, err
	}
	if !e.Outcome.Valid() {
		return AuditEvent{}, invalid(nil, "audit outcome %q", e.Outcome)
	}
	if e.KeyID < 0 {
		return AuditEvent{}, invalid(nil, "audit key id %d", e.KeyID)
	}
	detail, err := checkAuditDetail(e.Detail)
	if err != nil {
		return AuditEvent{}, err
	}
	return adminValue(ctx, s, func(tx *sql.Tx) (AuditEvent, error) {
		id, err := adminCounter(ctx, tx, "audit_event")
		if err != nil {
			return AuditEvent{}, err
		}
		out := AuditEvent{ID: id, At: s.now(), Actor: e.Actor, KeyID: e.KeyID, Remote: e.Remote, Action: e.Action,
			Target: e.Target, Detail: slices.Clone(detail), Outcome: e.Outcome}
		if out.Outcome != AuditPending {
			out.CompletedAt = out.At
		}
		keyID := sql.NullInt64{Int64: e.KeyID, Valid: e.KeyID != 0}
		if _, err := adminExec(ctx, tx, "audit event",
			`INSERT INTO ss_audit_events (id, at, completed_at, actor, key_id, remote, action, target, detail, outcome)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			id, store.Micros(out.At), nullMicros(out.CompletedAt), out.Actor, keyID, out.Remote, out.Action, out.Target,
			string(detail), string(out.Outcome)); err != nil {
			return AuditEvent{}, err
		}
		return out, nil
	})
}

// CompleteAudit implements AdminStore.
func (s *sqlStore) CompleteAudit(ctx context.Context, id int64, outcome AuditOutcome, target string, detail json.RawMessage) (AuditEvent, error) {
	if outcome != AuditSuccess && outcome != AuditFailure {
		return AuditEvent{}, invalid(nil, "audit outcome %q: want success or failure", outcome)
	}
	if err := checkAdminText("audit target", target, false); err != nil {
		return AuditEvent{}, err
	}
	var d []byte
	if len(detail) > 0 {
		var err error
		if d, err = checkAuditDetail(detail); err != nil {
			return AuditEvent{}, err
		}
	}
	return adminValue(ctx, s, func(tx *sql.Tx) (AuditEvent, error) {
		n, err := adminExec(ctx, tx, "complete audit event",
			`UPDATE ss_audit_events SET outcome = $1, completed_at = $2,
			        target = CASE WHEN $3 = '' THEN target ELSE $3 END,
			        detail = CASE WHEN $4 = '' THEN detail ELSE $4 END
			 WHERE id = $5 AND outcome = 'pending'`,
			string(outcome), store.Micros(s.now()), target, string(d), id)
		if err != nil {
			return AuditEvent{}, err
		}
		evs, err := auditEvents(ctx, tx, AuditQuery{AfterID: id - 1, BeforeID: id + 1})
		if err != nil {
			return AuditEvent{}, err
		}
		if len(evs) == 0 {
			return AuditEvent{}, notFound("audit event %d", id)
		}
		if n == 0 {
			return AuditEvent{}, fmt.Errorf("%w: audit event %d is already %s", ErrConflict, id, evs[0].Outcome)
		}
		return evs[0], nil
	})
}

// AuditEvents implements AdminStore.
func (s *sqlStore) AuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	if q.Limit < 0 || q.AfterID < 0 || q.BeforeID < 0 {
		return nil, invalid(nil, "audit query: negative limit or cursor")
	}
	if q.Outcome != "" && !q.Outcome.Valid() {
		return nil, invalid(nil, "audit query: outcome %q", q.Outcome)
	}
	return auditEvents(ctx, s.x, q)
}

func auditEvents(ctx context.Context, x store.Querier, q AuditQuery) ([]AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if q.AfterID > 0 {
		add("id > ?", q.AfterID)
	}
	if q.BeforeID > 0 {
		add("id < ?", q.BeforeID)
	}
	if q.Actor != "" {
		add("actor = ?", q.Actor)
	}
	if q.Action != "" {
		add("action = ?", q.Action)
	}
	if q.Outcome != "" {
		add("outcome = ?", string(q.Outcome))
	}
	if !q.From.IsZero() {
		add("at >= ?", store.Micros(q.From))
	}
	if !q.To.IsZero() {
		add("at < ?", store.Micros(q.To))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	order := " ORDER BY id"
	if q.NewestFirst {
		order = " ORDER BY id DESC"
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultAuditLimit
	case limit > MaxAuditLimit:
		limit = MaxAuditLimit
	}
	args = append(args, limit)
	return query(ctx, x, "list audit events", func(rows *sql.Rows) (e AuditEvent, err error) {
		var at int64
		var completed, keyID sql.NullInt64
		var detail, outcome string
		err = rows.Scan(&e.ID, &at, &completed, &e.Actor, &keyID, &e.Remote, &e.Action, &e.Target, &detail, &outcome)
		e.At, e.CompletedAt, e.KeyID = store.FromMicros(at), fromNullMicros(completed), keyID.Int64
		e.Detail, e.Outcome = json.RawMessage(detail), AuditOutcome(outcome)
		return e, err
	}, `SELECT id, at, completed_at, actor, key_id, remote, action, target, detail, outcome FROM ss_audit_events`+
		cond+order+fmt.Sprintf(" LIMIT $%d", len(args)), args...)
}
