// Package health is the Ministry of Health's government health insurance
// service of the demo world (member GOV/MOH, subsystem insurance): policies
// (holder, dependants, category, period, premium) and their renewal against
// a payment order reference, checked at the Monetary Authority through a
// kit.PaymentVerifier and used once.
package health

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store"
)

//go:embed openapi.yaml
var openAPI []byte

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Name is the adapter's short name.
const Name = "health"

// MigrationTable records this adapter's migrations.
const MigrationTable = "moh_schema_version"

// Renewal rules.
const (
	// RenewalWindow is how long before its end a policy can be renewed.
	RenewalWindow = 60 * 24 * time.Hour
	// MaxLapse is how long after its end a lapsed policy can be renewed.
	MaxLapse = 365 * 24 * time.Hour
)

// Config configures New.
type Config struct {
	// Database is where policies and renewals are kept.
	Database kit.Database
	// Seed, if set, is loaded once into an empty database.
	Seed *seed.World
	// Payments checks payment order references. Required.
	Payments kit.PaymentVerifier
	// Clock tells today's date (default clock.System()).
	Clock clock.Clock
	// Log receives request logs and failure causes (default: discard).
	Log *slog.Logger
	// Registerer receives the adapter's metrics (default: none).
	Registerer prometheus.Registerer
}

// Service is the insurance adapter.
type Service struct {
	db       *kit.DB
	api      *kit.API
	clk      clock.Clock
	payments kit.PaymentVerifier
	renewals prometheus.Counter
}

// OpenAPI returns the adapter's OpenAPI 3 description.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

// Migrations returns the adapter's goose migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the path is a constant
	}
	return sub
}

// New opens the database (migrating and seeding it) and returns the
// service.
func New(cfg Config) (*Service, error) {
	if cfg.Payments == nil {
		return nil, errors.New("health: a payment verifier is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), kit.OpenTimeout)
	defer cancel()
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	db, api, err := kit.Start(ctx, kit.Setup{
		Name: Name, Migrations: Migrations(), MigrationTable: MigrationTable, OpenAPI: openAPI,
		Database: cfg.Database, Log: cfg.Log, Registerer: cfg.Registerer,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{db: db, api: api, clk: cfg.Clock, payments: cfg.Payments}
	s.renewals = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jisr_adapter_health_renewals_total",
		Help: "Health insurance policies renewed.",
	})
	if err := kit.Register(cfg.Registerer, s.renewals); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("health: %w", err)
	}
	if cfg.Seed != nil {
		if _, err := kit.SeedOnce(ctx, db, Name+".seed", cfg.Seed.Options.Fingerprint(), func(tx *sql.Tx) error {
			return loadSeed(ctx, tx, cfg.Seed)
		}); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("health: %w", err)
		}
	}
	r, h := api.Router, api.Handle
	r.Get("/v1/persons/{nationalId}/policies", h(s.listPolicies))
	r.Get("/v1/policies/{number}", h(s.getPolicy))
	r.Post("/v1/policies/{number}/renewals", h(s.renew))
	return s, nil
}

// Handler returns the REST API.
func (s *Service) Handler() http.Handler { return s.api.Handler() }

// OpenAPI returns the adapter's OpenAPI 3 description.
func (s *Service) OpenAPI() []byte { return OpenAPI() }

// Close closes the database.
func (s *Service) Close() error { return s.db.Close() }

func loadSeed(ctx context.Context, tx *sql.Tx, w *seed.World) error {
	for _, p := range w.Policies {
		if _, err := tx.ExecContext(ctx, `INSERT INTO moh_policies (number, holder_nid, category, starts_on, ends_on)
			VALUES ($1, $2, $3, $4, $5)`, p.Number, p.Holder.String(), p.Category, store.Micros(p.StartsOn), store.Micros(p.EndsOn)); err != nil {
			return fmt.Errorf("seed policy: %w", err)
		}
		for _, d := range p.Dependants {
			if _, err := tx.ExecContext(ctx, `INSERT INTO moh_dependants (policy_number, national_id) VALUES ($1, $2)`, p.Number, d.String()); err != nil {
				return fmt.Errorf("seed dependant: %w", err)
			}
		}
	}
	return nil
}

// Policy statuses.
const (
	StatusActive = "active"
	StatusEnding = "ending"
	StatusLapsed = "lapsed"
)

// Renewal blockers.
const (
	BlockerNotDue = "not-due"
	BlockerLapsed = "lapsed-too-long"
)

// RenewalJSON says whether a policy can be renewed now.
type RenewalJSON struct {
	Eligible  bool     `json:"eligible"`
	Blockers  []string `json:"blockers"`
	NewEndsOn string   `json:"newEndsOn,omitempty"`
}

// PolicyJSON is a policy as the API returns it.
type PolicyJSON struct {
	Number        string      `json:"number"`
	Holder        string      `json:"holder"`
	Dependants    []string    `json:"dependants"`
	Category      string      `json:"category"`
	StartsOn      string      `json:"startsOn"`
	EndsOn        string      `json:"endsOn"`
	Status        string      `json:"status"`
	AnnualPremium kit.Money   `json:"annualPremium"`
	Renewal       RenewalJSON `json:"renewal"`

	ends time.Time
}

func (s *Service) policy(ctx context.Context, q store.Querier, number string) (*PolicyJSON, error) {
	var p PolicyJSON
	var starts, ends int64
	err := q.QueryRowContext(ctx, `SELECT number, holder_nid, category, starts_on, ends_on FROM moh_policies WHERE number = $1`, number).
		Scan(&p.Number, &p.Holder, &p.Category, &starts, &ends)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, kit.NotFound("no health insurance policy %s", number)
	}
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read policy: %w", err))
	}
	rows, err := q.QueryContext(ctx, `SELECT national_id FROM moh_dependants WHERE policy_number = $1 ORDER BY national_id`, number)
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read dependants: %w", err))
	}
	defer rows.Close()
	p.Dependants = []string{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, kit.Internal(fmt.Errorf("read dependants: %w", err))
		}
		p.Dependants = append(p.Dependants, d)
	}
	if err := rows.Err(); err != nil {
		return nil, kit.Internal(fmt.Errorf("read dependants: %w", err))
	}
	premium, ok := seed.AnnualPremium(p.Category)
	if !ok {
		return nil, kit.Internal(fmt.Errorf("policy %s: unknown category %q", number, p.Category))
	}
	p.ends = store.FromMicros(ends)
	p.StartsOn, p.EndsOn, p.AnnualPremium = store.FromMicros(starts).Format(time.DateOnly), p.ends.Format(time.DateOnly), premium
	s.assess(&p)
	return &p, nil
}

// assess sets a policy's status and renewal eligibility as of today.
func (s *Service) assess(p *PolicyJSON) {
	today := seed.Day(s.clk.Now())
	switch {
	case p.ends.Before(today):
		p.Status = StatusLapsed
	case p.ends.Sub(today) <= RenewalWindow:
		p.Status = StatusEnding
	default:
		p.Status = StatusActive
	}
	r := RenewalJSON{Blockers: []string{}}
	if p.ends.Sub(today) > RenewalWindow {
		r.Blockers = append(r.Blockers, BlockerNotDue)
	}
	if today.Sub(p.ends) > MaxLapse {
		r.Blockers = append(r.Blockers, BlockerLapsed)
	}
	if r.Eligible = len(r.Blockers) == 0; r.Eligible {
		r.NewEndsOn = newEnd(p.ends, today).Format(time.DateOnly)
	}
	p.Renewal = r
}

func newEnd(ends, today time.Time) time.Time {
	if ends.Before(today) {
		ends = today
	}
	return ends.AddDate(1, 0, 0)
}

func (s *Service) listPolicies(w http.ResponseWriter, r *http.Request) error {
	id, err := kit.NationalIDParam("nationalId", r.PathValue("nationalId"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT number, 'holder' FROM moh_policies WHERE holder_nid = $1
		UNION SELECT policy_number, 'dependant' FROM moh_dependants WHERE national_id = $1 ORDER BY 1`, id.String())
	if err != nil {
		return kit.Internal(fmt.Errorf("list policies: %w", err))
	}
	type entry struct{ number, role string }
	var entries []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.number, &e.role); err != nil {
			rows.Close()
			return kit.Internal(fmt.Errorf("list policies: %w", err))
		}
		entries = append(entries, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return kit.Internal(fmt.Errorf("list policies: %w", err))
	}
	type item struct {
		Role   string      `json:"role"`
		Policy *PolicyJSON `json:"policy"`
	}
	out := []item{}
	for _, e := range entries {
		p, err := s.policy(ctx, s.db.SQL, e.number)
		if err != nil {
			return err
		}
		out = append(out, item{Role: e.role, Policy: p})
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"policies": out})
	return nil
}

func (s *Service) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.policy(r.Context(), s.db.SQL, r.PathValue("number"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, p)
	return nil
}

// RenewalResult is the answer to a renewal.
type RenewalResult struct {
	ID             string      `json:"id"`
	Policy         *PolicyJSON `json:"policy"`
	PaymentOrderID string      `json:"paymentOrderId"`
	PreviousEnd    string      `json:"previousEnd"`
	NewEnd         string      `json:"newEnd"`
	RenewedAt      time.Time   `json:"renewedAt"`
}

func notAllowed(p *PolicyJSON) error {
	return kit.WithFields(kit.Errorf("Client.RenewalNotAllowed", http.StatusConflict, nil,
		"the policy cannot be renewed now: %s", strings.Join(p.Renewal.Blockers, ", ")), map[string]any{"blockers": p.Renewal.Blockers})
}

func paymentUsed(order string) error {
	return kit.Errorf("Client.PaymentAlreadyUsed", http.StatusConflict, nil, "payment order %s has already been used", order)
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
	p, err := s.policy(ctx, s.db.SQL, r.PathValue("number"))
	if err != nil {
		return err
	}
	if p.Holder != requester.String() {
		return kit.Forbidden("a policy is renewed by its holder only")
	}
	if !p.Renewal.Eligible {
		return notAllowed(p)
	}
	if _, err := s.payments.VerifyPaid(ctx, kit.PaymentCheck{
		OrderID: req.PaymentOrderID, Service: kit.ServiceInsuranceRenewal, Payer: requester, Reference: p.Number, Amount: p.AnnualPremium,
	}); err != nil {
		return kit.PaymentError(err)
	}
	var res *RenewalResult
	err = store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		p, err := s.policy(ctx, tx, p.Number)
		if err != nil {
			return err
		}
		if !p.Renewal.Eligible {
			return notAllowed(p)
		}
		now := s.clk.Now().UTC()
		prev, next := p.ends, newEnd(p.ends, seed.Day(now))
		n, err := kit.NextSequence(ctx, tx, fmt.Sprintf("%s.renewal.%d", Name, now.Year()))
		if err != nil {
			return err
		}
		id := fmt.Sprintf("HR-%d-%07d", now.Year(), n)
		if _, err := tx.ExecContext(ctx, `INSERT INTO moh_renewals (id, policy_number, payment_order, previous_end, new_end, renewed_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, p.Number, req.PaymentOrderID, store.Micros(prev), store.Micros(next), store.Micros(now)); err != nil {
			if store.ConstraintViolation(err) == store.Unique {
				return paymentUsed(req.PaymentOrderID)
			}
			return kit.Internal(fmt.Errorf("record renewal: %w", err))
		}
		upd, err := tx.ExecContext(ctx, `UPDATE moh_policies SET starts_on = $1, ends_on = $2 WHERE number = $3 AND ends_on = $4`,
			store.Micros(next.AddDate(-1, 0, 0)), store.Micros(next), p.Number, store.Micros(prev))
		if err != nil {
			return kit.Internal(fmt.Errorf("renew policy: %w", err))
		}
		if k, err := upd.RowsAffected(); err != nil || k != 1 {
			return kit.Conflict("the policy changed during the renewal; try again")
		}
		if p, err = s.policy(ctx, tx, p.Number); err != nil {
			return err
		}
		res = &RenewalResult{ID: id, Policy: p, PaymentOrderID: req.PaymentOrderID,
			PreviousEnd: prev.Format(time.DateOnly), NewEnd: next.Format(time.DateOnly), RenewedAt: now}
		return nil
	})
	if err != nil {
		if store.ConstraintViolation(err) == store.Unique {
			return paymentUsed(req.PaymentOrderID)
		}
		return kit.As(err)
	}
	s.renewals.Inc()
	kit.WriteJSON(w, http.StatusCreated, res)
	return nil
}
