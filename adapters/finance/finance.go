// Package finance is the Ministry of Finance's revenue service of the demo
// world (member GOV/MOF, subsystem revenue): the fee schedule of government
// services, the revenue ledger credited with every paid payment order, and
// reconciliation.
//
// Crediting is idempotent per payment order: the ledger's primary key is
// the order id, so an order credited any number of times, concurrently or
// not, is one entry, and reconciliation lists every paid order exactly once.
// A credit names only the order; its amount, service, payer and receipt are
// read from the Monetary Authority through a kit.PaymentVerifier, so nothing
// unpaid, and no invented amount, reaches the ledger.
package finance

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
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/xerr"
)

//go:embed openapi.yaml
var openAPI []byte

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Name is the adapter's short name.
const Name = "finance"

// MigrationTable records this adapter's migrations.
const MigrationTable = "mof_schema_version"

// MaxReconciliationDays bounds a reconciliation period.
const MaxReconciliationDays = 366

// Config configures New.
type Config struct {
	// Database is where the fee schedule and the ledger are kept.
	Database kit.Database
	// Fees is the fee schedule loaded into an empty database (default
	// seed.FeeSchedule()).
	Fees []seed.Fee
	// Payments reads payment orders at the Monetary Authority. Required.
	Payments kit.PaymentVerifier
	// Clock stamps ledger entries (default clock.System()).
	Clock clock.Clock
	// Log receives request logs and failure causes (default: discard).
	Log *slog.Logger
	// Registerer receives the adapter's metrics (default: none).
	Registerer prometheus.Registerer
}

// Service is the revenue adapter.
type Service struct {
	db       *kit.DB
	api      *kit.API
	clk      clock.Clock
	payments kit.PaymentVerifier
	credits  *prometheus.CounterVec
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

// New opens the database (migrating it and loading the fee schedule once)
// and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Payments == nil {
		return nil, errors.New("finance: a payment verifier is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), kit.OpenTimeout)
	defer cancel()
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	fees := cfg.Fees
	if fees == nil {
		fees = seed.FeeSchedule()
	}
	db, api, err := kit.Start(ctx, kit.Setup{
		Name: Name, Migrations: Migrations(), MigrationTable: MigrationTable, OpenAPI: openAPI,
		Database: cfg.Database, Log: cfg.Log, Registerer: cfg.Registerer,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{db: db, api: api, clk: cfg.Clock, payments: cfg.Payments}
	s.credits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jisr_adapter_finance_credits_total",
		Help: "Payment orders credited to the revenue ledger (first credit only), by service.",
	}, []string{"service"})
	if err := kit.Register(cfg.Registerer, s.credits); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("finance: %w", err)
	}
	if _, err := kit.SeedOnce(ctx, db, Name+".fees", fmt.Sprintf("%d fees", len(fees)), func(tx *sql.Tx) error {
		return loadFees(ctx, tx, fees)
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("finance: %w", err)
	}
	r, h := api.Router, api.Handle
	r.Get("/v1/fees", h(s.listFees))
	r.Get("/v1/fees/{service}", h(s.getFee))
	r.Post("/v1/ledger/credits", h(s.credit))
	r.Get("/v1/ledger/credits/{paymentOrderId}", h(s.getCredit))
	r.Get("/v1/reconciliation", h(s.reconcile))
	return s, nil
}

// Handler returns the REST API.
func (s *Service) Handler() http.Handler { return s.api.Handler() }

// OpenAPI returns the adapter's OpenAPI 3 description.
func (s *Service) OpenAPI() []byte { return OpenAPI() }

// Close closes the database.
func (s *Service) Close() error { return s.db.Close() }

func loadFees(ctx context.Context, tx *sql.Tx, fees []seed.Fee) error {
	for _, f := range fees {
		var amount sql.NullInt64
		var currency sql.NullString
		if !f.Variable {
			amount = sql.NullInt64{Int64: f.Amount.Minor, Valid: true}
			currency = sql.NullString{String: f.Amount.Currency, Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mof_fees (service, ministry, name_ar, name_en, amount_minor, currency, variable)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.Service, f.Ministry, f.Name.AR, f.Name.EN, amount, currency, f.Variable); err != nil {
			return fmt.Errorf("load fee %s: %w", f.Service, err)
		}
	}
	return nil
}

// FeeJSON is a fee schedule entry.
type FeeJSON struct {
	Service  string     `json:"service"`
	Ministry string     `json:"ministry"`
	Name     seed.Name  `json:"name"`
	Amount   *kit.Money `json:"amount,omitempty"`
	Variable bool       `json:"variable"`
}

func scanFee(row interface{ Scan(...any) error }) (FeeJSON, error) {
	var f FeeJSON
	var amount sql.NullInt64
	var currency sql.NullString
	if err := row.Scan(&f.Service, &f.Ministry, &f.Name.AR, &f.Name.EN, &amount, &currency, &f.Variable); err != nil {
		return FeeJSON{}, err
	}
	if amount.Valid {
		f.Amount = &kit.Money{Minor: amount.Int64, Currency: currency.String}
	}
	return f, nil
}

const feeColumns = `service, ministry, name_ar, name_en, amount_minor, currency, variable`

func (s *Service) listFees(w http.ResponseWriter, r *http.Request) error {
	rows, err := s.db.SQL.QueryContext(r.Context(), `SELECT `+feeColumns+` FROM mof_fees ORDER BY service`)
	if err != nil {
		return kit.Internal(fmt.Errorf("list fees: %w", err))
	}
	defer rows.Close()
	fees := []FeeJSON{}
	for rows.Next() {
		f, err := scanFee(rows)
		if err != nil {
			return kit.Internal(fmt.Errorf("list fees: %w", err))
		}
		fees = append(fees, f)
	}
	if err := rows.Err(); err != nil {
		return kit.Internal(fmt.Errorf("list fees: %w", err))
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"fees": fees})
	return nil
}

func (s *Service) fee(ctx context.Context, q store.Querier, service string) (FeeJSON, error) {
	f, err := scanFee(q.QueryRowContext(ctx, `SELECT `+feeColumns+` FROM mof_fees WHERE service = $1`, service))
	if errors.Is(err, sql.ErrNoRows) {
		return FeeJSON{}, kit.NotFound("no fee for service %s", service)
	}
	if err != nil {
		return FeeJSON{}, kit.Internal(fmt.Errorf("read fee: %w", err))
	}
	return f, nil
}

func (s *Service) getFee(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fee(r.Context(), s.db.SQL, r.PathValue("service"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, f)
	return nil
}

// Credit is a ledger entry.
type Credit struct {
	PaymentOrderID string    `json:"paymentOrderId"`
	ReceiptNumber  string    `json:"receiptNumber"`
	Service        string    `json:"service"`
	Ministry       string    `json:"ministry"`
	Payer          string    `json:"payer"`
	Reference      string    `json:"reference"`
	Amount         kit.Money `json:"amount"`
	PaidAt         time.Time `json:"paidAt"`
	CreditedAt     time.Time `json:"creditedAt"`
}

const creditColumns = `payment_order_id, receipt_number, service, ministry, payer_nid, reference, amount_minor, currency, paid_at, credited_at`

func scanCredit(row interface{ Scan(...any) error }) (Credit, error) {
	var c Credit
	var paid, credited int64
	if err := row.Scan(&c.PaymentOrderID, &c.ReceiptNumber, &c.Service, &c.Ministry, &c.Payer, &c.Reference,
		&c.Amount.Minor, &c.Amount.Currency, &paid, &credited); err != nil {
		return Credit{}, err
	}
	c.PaidAt, c.CreditedAt = store.FromMicros(paid), store.FromMicros(credited)
	return c, nil
}

func (s *Service) creditOf(ctx context.Context, q store.Querier, order string) (Credit, error) {
	c, err := scanCredit(q.QueryRowContext(ctx, `SELECT `+creditColumns+` FROM mof_ledger WHERE payment_order_id = $1`, order))
	if errors.Is(err, sql.ErrNoRows) {
		return Credit{}, kit.NotFound("payment order %s is not in the ledger", order)
	}
	if err != nil {
		return Credit{}, kit.Internal(fmt.Errorf("read credit: %w", err))
	}
	return c, nil
}

// credit handles POST /v1/ledger/credits.
func (s *Service) credit(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		PaymentOrderID string `json:"paymentOrderId"`
	}
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	if c, err := s.creditOf(ctx, s.db.SQL, req.PaymentOrderID); err == nil {
		return replay(w, c)
	}
	proof, err := s.payments.VerifyPaid(ctx, kit.PaymentCheck{OrderID: req.PaymentOrderID})
	if err != nil {
		return kit.PaymentError(err)
	}
	var c Credit
	var fresh bool
	err = store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		fee, err := s.fee(ctx, tx, proof.Service)
		if err != nil {
			if xe, ok := errors.AsType[*xerr.Error](err); ok && xe.Code == kit.CodeNotFound {
				return kit.Unprocessable("payment order %s pays for %s, which is not in the fee schedule", proof.OrderID, proof.Service)
			}
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO mof_ledger (`+creditColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (payment_order_id) DO NOTHING`,
			proof.OrderID, proof.ReceiptNumber, proof.Service, fee.Ministry, proof.Payer, proof.Reference,
			proof.Amount.Minor, proof.Amount.Currency, store.Micros(proof.PaidAt), store.Micros(s.clk.Now()))
		if err != nil {
			return kit.Internal(fmt.Errorf("credit %s: %w", proof.OrderID, err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return kit.Internal(err)
		}
		fresh = n == 1
		c, err = s.creditOf(ctx, tx, proof.OrderID)
		return err
	})
	if err != nil {
		return kit.As(err)
	}
	if !fresh {
		return replay(w, c)
	}
	s.credits.WithLabelValues(c.Service).Inc()
	kit.WriteJSON(w, http.StatusCreated, c)
	return nil
}

func replay(w http.ResponseWriter, c Credit) error {
	w.Header().Set("Idempotent-Replayed", "true")
	kit.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (s *Service) getCredit(w http.ResponseWriter, r *http.Request) error {
	c, err := s.creditOf(r.Context(), s.db.SQL, r.PathValue("paymentOrderId"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, c)
	return nil
}

// Total is the sum of one service's credits in one currency.
type Total struct {
	Service  string    `json:"service"`
	Ministry string    `json:"ministry"`
	Count    int       `json:"count"`
	Amount   kit.Money `json:"amount"`
}

// Reconciliation lists a period's credits.
type Reconciliation struct {
	From    string   `json:"from"`
	To      string   `json:"to"`
	Count   int      `json:"count"`
	Credits []Credit `json:"credits"`
	Totals  []Total  `json:"totals"`
}

// reconcile handles GET /v1/reconciliation: the credits of orders paid in
// [from, to] (whole UTC days), from one read-only snapshot, so the list
// and the totals agree.
func (s *Service) reconcile(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, err1 := time.Parse(time.DateOnly, q.Get("from"))
	to, err2 := time.Parse(time.DateOnly, q.Get("to"))
	if err := errors.Join(err1, err2); err != nil || to.Before(from) || to.Sub(from) > MaxReconciliationDays*24*time.Hour {
		return kit.Errorf(kit.CodeBadRequest, http.StatusBadRequest, err,
			"from and to must be dates (YYYY-MM-DD), from not after to, at most %d days apart", MaxReconciliationDays)
	}
	lo, hi := store.Micros(from), store.Micros(to.AddDate(0, 0, 1))
	rec := Reconciliation{From: q.Get("from"), To: q.Get("to"), Credits: []Credit{}, Totals: []Total{}}
	opts := &sql.TxOptions{ReadOnly: true}
	if s.db.Dialect == store.Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	err := store.InTx(r.Context(), s.db.SQL, opts, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(r.Context(), `SELECT `+creditColumns+` FROM mof_ledger
			WHERE paid_at >= $1 AND paid_at < $2 ORDER BY paid_at, payment_order_id`, lo, hi)
		if err != nil {
			return err
		}
		for rows.Next() {
			c, err := scanCredit(rows)
			if err != nil {
				rows.Close()
				return err
			}
			rec.Credits = append(rec.Credits, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(r.Context(), `SELECT service, ministry, currency, COUNT(*), SUM(amount_minor) FROM mof_ledger
			WHERE paid_at >= $1 AND paid_at < $2 GROUP BY service, ministry, currency ORDER BY service, currency`, lo, hi)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t Total
			if err := rows.Scan(&t.Service, &t.Ministry, &t.Amount.Currency, &t.Count, &t.Amount.Minor); err != nil {
				return err
			}
			rec.Totals = append(rec.Totals, t)
		}
		return rows.Err()
	})
	if err != nil {
		return kit.Internal(fmt.Errorf("reconcile: %w", err))
	}
	rec.Count = len(rec.Credits)
	kit.WriteJSON(w, http.StatusOK, rec)
	return nil
}
