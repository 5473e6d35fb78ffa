package transport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/store"
)

// Renewal rules.
const (
	// RenewalWindow is how long before expiry a licence can be renewed.
	RenewalWindow = 90 * 24 * time.Hour
	// MaxLapse is how long after expiry a licence can still be renewed
	// (afterwards the holder must be re-examined).
	MaxLapse = 3 * 365 * 24 * time.Hour
	// ValidityYears is how long a renewal extends a licence of classes A
	// and B; ProfessionalValidityYears applies when it holds C1, C or D.
	ValidityYears             = 10
	ProfessionalValidityYears = 5
)

// Licence statuses.
const (
	StatusValid     = "valid"
	StatusExpiring  = "expiring"
	StatusExpired   = "expired"
	StatusSuspended = "suspended"
)

// Renewal blockers.
const (
	BlockerSuspended   = "suspended"
	BlockerNotDue      = "not-due"
	BlockerLapsed      = "expired-too-long"
	BlockerUnpaidFines = "unpaid-fines"
)

// RenewalJSON says whether a licence can be renewed now.
type RenewalJSON struct {
	Eligible    bool       `json:"eligible"`
	Blockers    []string   `json:"blockers"`
	UnpaidFines int        `json:"unpaidFines"`
	Fee         *kit.Money `json:"fee,omitempty"`
}

// LicenceJSON is a driving licence as the API returns it.
type LicenceJSON struct {
	Number    string      `json:"number"`
	Holder    string      `json:"holder"`
	Classes   []string    `json:"classes"`
	IssuedOn  string      `json:"issuedOn"`
	ExpiresOn string      `json:"expiresOn"`
	Status    string      `json:"status"`
	Renewal   RenewalJSON `json:"renewal"`

	expires   time.Time
	suspended bool
}

const licenceColumns = `number, holder_nid, classes, issued_on, expires_on, suspended`

func scanLicence(row interface{ Scan(...any) error }) (*LicenceJSON, error) {
	var l LicenceJSON
	var classes string
	var issued, expires int64
	if err := row.Scan(&l.Number, &l.Holder, &classes, &issued, &expires, &l.suspended); err != nil {
		return nil, err
	}
	l.Classes = strings.Split(classes, ",")
	l.expires = store.FromMicros(expires)
	l.IssuedOn, l.ExpiresOn = store.FromMicros(issued).Format(time.DateOnly), l.expires.Format(time.DateOnly)
	return &l, nil
}

// licence reads a licence by a column (number or holder) and completes its
// status and renewal eligibility as of today.
func (s *Service) licence(ctx context.Context, q store.Querier, column, value string) (*LicenceJSON, error) {
	l, err := scanLicence(q.QueryRowContext(ctx, `SELECT `+licenceColumns+` FROM mot_licences WHERE `+column+` = $1`, value))
	if errors.Is(err, sql.ErrNoRows) {
		if column == "holder_nid" {
			return nil, kit.NotFound("no driving licence is registered for national ID %s", value)
		}
		return nil, kit.NotFound("no driving licence %s", value)
	}
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read licence: %w", err))
	}
	var unpaid int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM mot_fines WHERE driver_nid = $1 AND paid_at IS NULL`, l.Holder).Scan(&unpaid); err != nil {
		return nil, kit.Internal(fmt.Errorf("count fines: %w", err))
	}
	s.assess(l, unpaid)
	return l, nil
}

// assess sets a licence's status and renewal eligibility.
func (s *Service) assess(l *LicenceJSON, unpaid int) {
	today := seed.Day(s.clk.Now())
	switch {
	case l.suspended:
		l.Status = StatusSuspended
	case l.expires.Before(today):
		l.Status = StatusExpired
	case l.expires.Sub(today) <= RenewalWindow:
		l.Status = StatusExpiring
	default:
		l.Status = StatusValid
	}
	r := RenewalJSON{Blockers: []string{}, UnpaidFines: unpaid}
	if l.suspended {
		r.Blockers = append(r.Blockers, BlockerSuspended)
	}
	if l.expires.Sub(today) > RenewalWindow {
		r.Blockers = append(r.Blockers, BlockerNotDue)
	}
	if today.Sub(l.expires) > MaxLapse {
		r.Blockers = append(r.Blockers, BlockerLapsed)
	}
	if unpaid > 0 {
		r.Blockers = append(r.Blockers, BlockerUnpaidFines)
	}
	r.Eligible = len(r.Blockers) == 0
	if r.Eligible {
		fee := s.fee
		r.Fee = &fee
	}
	l.Renewal = r
}

// newExpiry is the expiry a renewal today gives.
func newExpiry(l *LicenceJSON, today time.Time) time.Time {
	from := l.expires
	if from.Before(today) {
		from = today
	}
	years := ValidityYears
	if slices.ContainsFunc(l.Classes, func(c string) bool { return c == seed.ClassC1 || c == seed.ClassC || c == seed.ClassD }) {
		years = ProfessionalValidityYears
	}
	return from.AddDate(years, 0, 0)
}

func (s *Service) getLicenceOfPerson(w http.ResponseWriter, r *http.Request) error {
	id, err := kit.NationalIDParam("nationalId", r.PathValue("nationalId"))
	if err != nil {
		return err
	}
	l, err := s.licence(r.Context(), s.db.SQL, "holder_nid", id.String())
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, l)
	return nil
}

func (s *Service) getLicence(w http.ResponseWriter, r *http.Request) error {
	l, err := s.licence(r.Context(), s.db.SQL, "number", r.PathValue("number"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, l)
	return nil
}

// RenewalResult is the answer to a renewal.
type RenewalResult struct {
	ID             string       `json:"id"`
	Licence        *LicenceJSON `json:"licence"`
	PaymentOrderID string       `json:"paymentOrderId"`
	PreviousExpiry string       `json:"previousExpiry"`
	NewExpiry      string       `json:"newExpiry"`
	RenewedAt      time.Time    `json:"renewedAt"`
}

func paymentUsed(order string) error {
	return kit.Errorf("Client.PaymentAlreadyUsed", http.StatusConflict, nil, "payment order %s has already been used", order)
}

// blocked turns renewal blockers into the answer: the unpaid fines are
// listed so the citizen can pay them.
func (s *Service) blocked(ctx context.Context, q store.Querier, l *LicenceJSON) error {
	if slices.Contains(l.Renewal.Blockers, BlockerUnpaidFines) && len(l.Renewal.Blockers) == 1 {
		fines, err := s.fines(ctx, q, "driver_nid", l.Holder, "unpaid")
		if err != nil {
			return err
		}
		return kit.WithFields(kit.Errorf("Client.UnpaidFines", http.StatusConflict, nil,
			"the licence cannot be renewed while %d traffic fine(s) are unpaid", len(fines)), map[string]any{"fines": fines})
	}
	return kit.WithFields(kit.Errorf("Client.RenewalNotAllowed", http.StatusConflict, nil,
		"the licence cannot be renewed now: %s", strings.Join(l.Renewal.Blockers, ", ")), map[string]any{"blockers": l.Renewal.Blockers})
}

func (s *Service) renew(w http.ResponseWriter, r *http.Request) error {
	requester, err := kit.Requester(r)
	if err != nil {
		return err
	}
	var req struct {
		PaymentOrderID string `json:"paymentOrderId"`
	}
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	l, err := s.licence(ctx, s.db.SQL, "number", r.PathValue("number"))
	if err != nil {
		return err
	}
	if l.Holder != requester.String() {
		return kit.Forbidden("a driving licence is renewed by its holder only")
	}
	if !l.Renewal.Eligible {
		return s.blocked(ctx, s.db.SQL, l)
	}
	if _, err := s.payments.VerifyPaid(ctx, kit.PaymentCheck{
		OrderID: req.PaymentOrderID, Service: kit.ServiceDrivingLicenceRenew, Payer: requester, Amount: s.fee,
	}); err != nil {
		return kit.PaymentError(err)
	}
	var res *RenewalResult
	err = store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		// Re-read inside the transaction: the checks hold until commit
		// (the UPDATE below only succeeds on the expiry just read).
		l, err := s.licence(ctx, tx, "number", l.Number)
		if err != nil {
			return err
		}
		if !l.Renewal.Eligible {
			return s.blocked(ctx, tx, l)
		}
		now := s.clk.Now().UTC()
		prev, next := l.expires, newExpiry(l, seed.Day(now))
		n, err := kit.NextSequence(ctx, tx, fmt.Sprintf("%s.renewal.%d", Name, now.Year()))
		if err != nil {
			return err
		}
		id := fmt.Sprintf("RN-%d-%07d", now.Year(), n)
		if _, err := tx.ExecContext(ctx, `INSERT INTO mot_renewals (id, licence_number, holder_nid, payment_order, previous_expiry, new_expiry, renewed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, l.Number, l.Holder, req.PaymentOrderID, store.Micros(prev), store.Micros(next), store.Micros(now)); err != nil {
			if store.ConstraintViolation(err) == store.Unique {
				return paymentUsed(req.PaymentOrderID)
			}
			return kit.Internal(fmt.Errorf("record renewal: %w", err))
		}
		upd, err := tx.ExecContext(ctx, `UPDATE mot_licences SET expires_on = $1 WHERE number = $2 AND expires_on = $3`,
			store.Micros(next), l.Number, store.Micros(prev))
		if err != nil {
			return kit.Internal(fmt.Errorf("renew licence: %w", err))
		}
		if k, err := upd.RowsAffected(); err != nil || k != 1 {
			return kit.Conflict("the licence changed during the renewal; try again")
		}
		if l, err = s.licence(ctx, tx, "number", l.Number); err != nil {
			return err
		}
		res = &RenewalResult{ID: id, Licence: l, PaymentOrderID: req.PaymentOrderID,
			PreviousExpiry: prev.Format(time.DateOnly), NewExpiry: next.Format(time.DateOnly), RenewedAt: now}
		return nil
	})
	if err != nil {
		if store.ConstraintViolation(err) == store.Unique {
			return paymentUsed(req.PaymentOrderID)
		}
		return kit.As(err)
	}
	s.events.WithLabelValues(kit.ServiceDrivingLicenceRenew).Inc()
	kit.WriteJSON(w, http.StatusCreated, res)
	return nil
}
