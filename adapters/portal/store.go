package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/store"
)

// errNotFound is returned by the store's lookups for a missing row.
var errNotFound = errors.New("portal: not found")

// digest is the hex SHA-256 of s (session ids and activation codes are
// stored only as digests).
func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// randomToken returns n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ---- accounts ----

// account is a citizen's portal account.
type account struct {
	NationalID   string
	NameAR       string
	NameEN       string
	PasswordHash string
	Activated    bool
}

func (s *Service) account(ctx context.Context, nid string) (*account, error) {
	var a account
	var activated sql.NullInt64
	err := s.db.SQL.QueryRowContext(ctx, `SELECT national_id, name_ar, name_en, password_hash, activated_at
		FROM portal_accounts WHERE national_id = $1`, nid).Scan(&a.NationalID, &a.NameAR, &a.NameEN, &a.PasswordHash, &activated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	a.Activated = activated.Valid
	return &a, nil
}

// ---- activation codes ----

// activationAlphabet has no look-alike characters (0/O, 1/I/L).
const activationAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// newActivationCode returns a code of two groups of five characters
// (about 49 bits).
func newActivationCode() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	out := make([]byte, 0, 11)
	for i, c := range b {
		if i == 5 {
			out = append(out, '-')
		}
		// 256 mod 31 = 8: the bias is below 4 % per symbol and the code is
		// single use, short-lived and rate limited.
		out = append(out, activationAlphabet[int(c)%len(activationAlphabet)])
	}
	return string(out)
}

// normaliseCode upper-cases a typed code and drops spaces and dashes.
func normaliseCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		if r != '-' && r != ' ' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func codeDigest(nid, code string) string { return digest(nid + ":" + normaliseCode(code)) }

// issueActivationCode records a new code for nid (opening the account if
// needed, with the name the registry gave) and retires the earlier unused
// ones. It returns the code, shown once to the officer.
func (s *Service) issueActivationCode(ctx context.Context, nid, nameAR, nameEN, officer, issue string) (string, time.Time, error) {
	code := newActivationCode()
	now := s.clock.Now()
	expires := now.Add(s.cfg.ActivationTTL)
	err := store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO portal_accounts (national_id, name_ar, name_en, created_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (national_id) DO UPDATE SET name_ar = excluded.name_ar, name_en = excluded.name_en`,
			nid, nameAR, nameEN, store.Micros(now)); err != nil {
			return fmt.Errorf("open account: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE portal_activation_codes SET used_at = $1 WHERE national_id = $2 AND used_at IS NULL`,
			store.Micros(now), nid); err != nil {
			return fmt.Errorf("retire codes: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO portal_activation_codes (code_hash, national_id, issued_by, issue, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, codeDigest(nid, code), nid, officer, issue, store.Micros(now), store.Micros(expires))
		return err
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue activation code: %w", err)
	}
	return code, expires, nil
}

// errCodeInvalid is returned when an activation code is unknown, used or
// expired (the citizen is not told which).
var errCodeInvalid = errors.New("portal: activation code invalid, used or expired")

// activate spends the code for nid and sets the password hash, in one
// transaction: a code works once.
func (s *Service) activate(ctx context.Context, nid, code, passwordHash string) error {
	now := store.Micros(s.clock.Now())
	return store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE portal_activation_codes SET used_at = $1
			WHERE code_hash = $2 AND national_id = $3 AND used_at IS NULL AND expires_at > $1`, now, codeDigest(nid, code), nid)
		if err != nil {
			return fmt.Errorf("spend activation code: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errCodeInvalid
		}
		if _, err := tx.ExecContext(ctx, `UPDATE portal_accounts SET password_hash = $1, activated_at = $2 WHERE national_id = $3`,
			passwordHash, now, nid); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		// A new password ends every session of the account.
		_, err = tx.ExecContext(ctx, `DELETE FROM portal_sessions WHERE kind = 'citizen' AND subject = $1`, nid)
		return err
	})
}

// seedAccount creates a pre-activated account (demo) unless it exists.
func (s *Service) seedAccount(ctx context.Context, a SeedAccount) error {
	now := store.Micros(s.clock.Now())
	_, err := s.db.SQL.ExecContext(ctx, `INSERT INTO portal_accounts (national_id, name_ar, name_en, password_hash, created_at, activated_at)
		VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (national_id) DO NOTHING`, a.NationalID, a.NameAR, a.NameEN, a.PasswordHash, now)
	if err != nil {
		return fmt.Errorf("seed account %s: %w", a.NationalID, err)
	}
	return nil
}

// ---- sign-in throttling ----

// locked reports until when account is locked (zero when it is not).
func (s *Service) locked(ctx context.Context, account string) (time.Time, error) {
	var until int64
	err := s.db.SQL.QueryRowContext(ctx, `SELECT locked_until FROM portal_login_failures WHERE account = $1`, account).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read sign-in failures: %w", err)
	}
	if t := store.FromMicros(until); t.After(s.clock.Now()) {
		return t, nil
	}
	return time.Time{}, nil
}

// recordFailure counts a failed sign-in; the MaxFailures-th failure within
// the lock period locks the account for LockFor.
func (s *Service) recordFailure(ctx context.Context, account string) error {
	now := s.clock.Now()
	return store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		var failures int
		var first, until int64
		err := tx.QueryRowContext(ctx, `SELECT failures, first_at, locked_until FROM portal_login_failures WHERE account = $1`, account).
			Scan(&failures, &first, &until)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			failures, first = 0, store.Micros(now)
		case err != nil:
			return fmt.Errorf("read sign-in failures: %w", err)
		}
		// A window that ended (or a lock that expired) starts afresh.
		if store.FromMicros(first).Add(s.cfg.LockFor).Before(now) || (until != 0 && !store.FromMicros(until).After(now)) {
			failures, first, until = 0, store.Micros(now), 0
		}
		failures++
		if failures >= s.cfg.MaxFailures {
			until = store.Micros(now.Add(s.cfg.LockFor))
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO portal_login_failures (account, failures, first_at, locked_until) VALUES ($1, $2, $3, $4)
			ON CONFLICT (account) DO UPDATE SET failures = excluded.failures, first_at = excluded.first_at, locked_until = excluded.locked_until`,
			account, failures, first, until)
		return err
	})
}

func (s *Service) clearFailures(ctx context.Context, account string) error {
	_, err := s.db.SQL.ExecContext(ctx, `DELETE FROM portal_login_failures WHERE account = $1`, account)
	return err
}

// ---- sessions ----

// session is a signed-in citizen's or officer's session.
type session struct {
	Kind    string // "citizen" or "officer"
	Subject string // national ID or officer name
	CSRF    string
}

func (s *Service) createSession(ctx context.Context, kind, subject string) (id string, sess *session, err error) {
	id = randomToken(32)
	sess = &session{Kind: kind, Subject: subject, CSRF: randomToken(32)}
	now := store.Micros(s.clock.Now())
	_, err = s.db.SQL.ExecContext(ctx, `INSERT INTO portal_sessions (id_hash, kind, subject, csrf, created_at, seen_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, digest(id), kind, subject, sess.CSRF, now)
	if err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	return id, sess, nil
}

// lookupSession returns the live session with id and marks it seen; an
// idle or too old session is deleted and errNotFound returned.
func (s *Service) lookupSession(ctx context.Context, id string) (*session, error) {
	var sess session
	var created, seen int64
	err := s.db.SQL.QueryRowContext(ctx, `SELECT kind, subject, csrf, created_at, seen_at FROM portal_sessions WHERE id_hash = $1`,
		digest(id)).Scan(&sess.Kind, &sess.Subject, &sess.CSRF, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	now := s.clock.Now()
	if now.Sub(store.FromMicros(seen)) > s.cfg.SessionIdle || now.Sub(store.FromMicros(created)) > s.cfg.SessionMax {
		_ = s.deleteSession(ctx, id)
		return nil, errNotFound
	}
	if now.Sub(store.FromMicros(seen)) > time.Minute {
		if _, err := s.db.SQL.ExecContext(ctx, `UPDATE portal_sessions SET seen_at = $1 WHERE id_hash = $2`, store.Micros(now), digest(id)); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
	}
	return &sess, nil
}

func (s *Service) deleteSession(ctx context.Context, id string) error {
	_, err := s.db.SQL.ExecContext(ctx, `DELETE FROM portal_sessions WHERE id_hash = $1`, digest(id))
	return err
}

// ---- applications ----

// Application statuses.
const (
	StatusDraft           = "draft"
	StatusSubmitted       = "submitted"
	StatusInProgress      = "in-progress"
	StatusPaymentDeclined = "payment-declined"
	StatusRejected        = "rejected"
	StatusFailed          = "failed"
	StatusCompleted       = "completed"
	StatusCodeIssued      = "code-issued"
)

// application is a citizen's request and what was done for it.
type application struct {
	Number     string
	NationalID string
	Service    string
	Token      string
	Status     string
	Data       appData
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Events     []appEvent
}

// appEvent is one entry of an application's status history.
type appEvent struct {
	Status string
	Note   string
	At     time.Time
}

// appData is what a journey keeps about its application; every step
// records its result here, so a repeated submit resumes where the last one
// stopped and never repeats a step that took effect.
type appData struct {
	Subject     string            `json:"subject,omitempty"`
	SubjectName *seed.Name        `json:"subjectName,omitempty"`
	Kind        string            `json:"kind,omitempty"`
	Licence     string            `json:"licence,omitempty"`
	Policy      string            `json:"policy,omitempty"`
	Fine        string            `json:"fine,omitempty"`
	Delivery    *deliveryChoice   `json:"delivery,omitempty"`
	Payments    []paymentRecord   `json:"payments,omitempty"`
	Document    *documentRecord   `json:"document,omitempty"`
	Renewal     *renewalRecord    `json:"renewal,omitempty"`
	Tracking    string            `json:"tracking,omitempty"`
	Message     string            `json:"message,omitempty"`
	MessageArgs map[string]string `json:"messageArgs,omitempty"`
}

// deliveryChoice is how the citizen receives a document.
type deliveryChoice struct {
	Method     string `json:"method"` // "pickup" or "address"
	OfficeCode string `json:"officeCode,omitempty"`
	Phone      string `json:"phone"`
	Address    string `json:"address,omitempty"`
}

// paymentRecord is one payment step of an application.
type paymentRecord struct {
	Step          string    `json:"step"`
	Attempt       int       `json:"attempt"`
	OrderID       string    `json:"orderId,omitempty"`
	Status        string    `json:"status"`
	DeclineReason string    `json:"declineReason,omitempty"`
	Amount        kit.Money `json:"amount"`
	Service       string    `json:"service"`
	Reference     string    `json:"reference"`
	Method        string    `json:"method,omitempty"`
	ReceiptNumber string    `json:"receiptNumber,omitempty"`
	PaidAt        string    `json:"paidAt,omitempty"`
	Credited      bool      `json:"credited,omitempty"`
}

// documentRecord is an issued document.
type documentRecord struct {
	Number   string    `json:"number"`
	Type     string    `json:"type"`
	Kind     string    `json:"kind,omitempty"`
	Code     string    `json:"code"`
	IssuedAt string    `json:"issuedAt"`
	Name     seed.Name `json:"name"`
}

// renewalRecord is a licence or policy renewal.
type renewalRecord struct {
	ID        string `json:"id"`
	NewExpiry string `json:"newExpiry"`
}

// openApplication returns the citizen's application for the submission
// token, creating it (numbered APP-YYYY-NNNNNN) the first time.
func (s *Service) openApplication(ctx context.Context, nid, service, token string, data appData) (*application, error) {
	if a, err := s.applicationByToken(ctx, nid, token); err == nil {
		if a.Service != service {
			return nil, errTokenReused
		}
		return a, nil
	} else if !errors.Is(err, errNotFound) {
		return nil, err
	}
	now := s.clock.Now()
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode application: %w", err)
	}
	var number string
	err = kit.RetryConflicts(3, func() error {
		return store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
			year := now.UTC().Year()
			n, err := kit.NextSequence(ctx, tx, fmt.Sprintf("portal.application.%d", year))
			if err != nil {
				return err
			}
			number = fmt.Sprintf("APP-%d-%06d", year, n)
			if _, err := tx.ExecContext(ctx, `INSERT INTO portal_applications (number, national_id, service, token, status, data, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, number, nid, service, token, StatusDraft, string(raw), store.Micros(now)); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO portal_application_events (number, seq, status, note, at) VALUES ($1, 1, $2, '', $3)`,
				number, StatusDraft, store.Micros(now))
			return err
		})
	})
	if err != nil && store.ConstraintViolation(err) == store.Unique {
		// A concurrent submit with the same token created it.
		return s.applicationByToken(ctx, nid, token)
	}
	if err != nil {
		return nil, fmt.Errorf("create application: %w", err)
	}
	return s.application(ctx, number)
}

var errTokenReused = errors.New("portal: submission token used for another service")

func (s *Service) applicationByToken(ctx context.Context, nid, token string) (*application, error) {
	var number string
	err := s.db.SQL.QueryRowContext(ctx, `SELECT number FROM portal_applications WHERE national_id = $1 AND token = $2`, nid, token).Scan(&number)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read application: %w", err)
	}
	return s.application(ctx, number)
}

func (s *Service) application(ctx context.Context, number string) (*application, error) {
	var a application
	var raw string
	var created, updated int64
	err := s.db.SQL.QueryRowContext(ctx, `SELECT number, national_id, service, token, status, data, created_at, updated_at
		FROM portal_applications WHERE number = $1`, number).Scan(&a.Number, &a.NationalID, &a.Service, &a.Token, &a.Status, &raw, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read application: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), &a.Data); err != nil {
		return nil, fmt.Errorf("decode application %s: %w", number, err)
	}
	a.CreatedAt, a.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT status, note, at FROM portal_application_events WHERE number = $1 ORDER BY seq`, number)
	if err != nil {
		return nil, fmt.Errorf("read application history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e appEvent
		var at int64
		if err := rows.Scan(&e.Status, &e.Note, &at); err != nil {
			return nil, fmt.Errorf("read application history: %w", err)
		}
		e.At = store.FromMicros(at)
		a.Events = append(a.Events, e)
	}
	return &a, rows.Err()
}

// saveApplication stores a's data and status, adding a history entry when
// the status changes or note is given.
func (s *Service) saveApplication(ctx context.Context, a *application, status, note string) error {
	raw, err := json.Marshal(a.Data)
	if err != nil {
		return fmt.Errorf("encode application: %w", err)
	}
	now := s.clock.Now()
	err = store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE portal_applications SET status = $1, data = $2, updated_at = $3 WHERE number = $4`,
			status, string(raw), store.Micros(now), a.Number); err != nil {
			return err
		}
		if status == a.Status && note == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO portal_application_events (number, seq, status, note, at)
			SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM portal_application_events WHERE number = $1`,
			a.Number, status, note, store.Micros(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("save application %s: %w", a.Number, err)
	}
	if status != a.Status || note != "" {
		a.Events = append(a.Events, appEvent{Status: status, Note: note, At: now})
	}
	a.Status, a.UpdatedAt = status, now
	return nil
}

// applications lists a citizen's applications, newest first.
func (s *Service) applications(ctx context.Context, nid string) ([]*application, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT number FROM portal_applications WHERE national_id = $1 ORDER BY created_at DESC, number DESC LIMIT 200`, nid)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	var numbers []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list applications: %w", err)
		}
		numbers = append(numbers, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	out := make([]*application, 0, len(numbers))
	for _, n := range numbers {
		a, err := s.application(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// draft returns the citizen's open application for service (the newest
// one not completed or rejected), or a new one: a service page works on
// one application until it ends, so reloading the page, a repeated submit
// and a retry after a declined payment all act on the same application.
func (s *Service) draft(ctx context.Context, nid, service string) (*application, error) {
	var number string
	err := s.db.SQL.QueryRowContext(ctx, `SELECT number FROM portal_applications
		WHERE national_id = $1 AND service = $2 AND status NOT IN ($3, $4, $5)
		ORDER BY created_at DESC, number DESC LIMIT 1`, nid, service, StatusCompleted, StatusRejected, StatusCodeIssued).Scan(&number)
	switch {
	case err == nil:
		return s.application(ctx, number)
	case errors.Is(err, sql.ErrNoRows):
		return s.openApplication(ctx, nid, service, randomToken(16), appData{})
	default:
		return nil, fmt.Errorf("find open application: %w", err)
	}
}
