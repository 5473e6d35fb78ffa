package transport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/store"
)

// Offence is what a fine was given for.
type Offence struct {
	Code        string    `json:"code"`
	Description seed.Name `json:"description"`
}

// FineJSON is a traffic fine as the API returns it.
type FineJSON struct {
	Number         string     `json:"number"`
	Driver         string     `json:"driver"`
	Plate          string     `json:"plate"`
	Offence        Offence    `json:"offence"`
	Amount         kit.Money  `json:"amount"`
	IssuedAt       time.Time  `json:"issuedAt"`
	Location       seed.Name  `json:"location"`
	Status         string     `json:"status"`
	PaidAt         *time.Time `json:"paidAt,omitempty"`
	PaymentOrderID string     `json:"paymentOrderId,omitempty"`
}

const fineColumns = `number, driver_nid, plate, offence_code, offence_ar, offence_en, amount_minor, currency, issued_at,
	location_ar, location_en, paid_at, payment_order`

func scanFine(row interface{ Scan(...any) error }) (FineJSON, error) {
	var f FineJSON
	var issued int64
	var paid sql.NullInt64
	var order sql.NullString
	if err := row.Scan(&f.Number, &f.Driver, &f.Plate, &f.Offence.Code, &f.Offence.Description.AR, &f.Offence.Description.EN,
		&f.Amount.Minor, &f.Amount.Currency, &issued, &f.Location.AR, &f.Location.EN, &paid, &order); err != nil {
		return FineJSON{}, err
	}
	f.IssuedAt = store.FromMicros(issued)
	f.Status = "unpaid"
	if paid.Valid {
		t := store.FromMicros(paid.Int64)
		f.Status, f.PaidAt = "paid", &t
	}
	f.PaymentOrderID = order.String
	return f, nil
}

// fines lists the fines whose column (driver_nid or plate) is value, newest
// first, filtered by status ("unpaid", "paid" or "all").
func (s *Service) fines(ctx context.Context, q store.Querier, column, value, status string) ([]FineJSON, error) {
	filter := ""
	switch status {
	case "unpaid":
		filter = " AND paid_at IS NULL"
	case "paid":
		filter = " AND paid_at IS NOT NULL"
	}
	rows, err := q.QueryContext(ctx, `SELECT `+fineColumns+` FROM mot_fines WHERE `+column+` = $1`+filter+` ORDER BY issued_at DESC, number`, value)
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("list fines: %w", err))
	}
	defer rows.Close()
	out := []FineJSON{}
	for rows.Next() {
		f, err := scanFine(rows)
		if err != nil {
			return nil, kit.Internal(fmt.Errorf("list fines: %w", err))
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, kit.Internal(fmt.Errorf("list fines: %w", err))
	}
	return out, nil
}

func (s *Service) listFines(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	nid, plate, status := q.Get("nationalId"), q.Get("plate"), q.Get("status")
	if status == "" {
		status = "all"
	}
	if (nid == "") == (plate == "") {
		return kit.BadRequest("give exactly one of nationalId and plate")
	}
	column, value := "plate", plate
	if nid != "" {
		id, err := kit.NationalIDParam("nationalId", nid)
		if err != nil {
			return err
		}
		column, value = "driver_nid", id.String()
	}
	if status != "all" && status != "paid" && status != "unpaid" {
		return kit.BadRequest("status must be unpaid, paid or all")
	}
	fs, err := s.fines(r.Context(), s.db.SQL, column, value, status)
	if err != nil {
		return err
	}
	// The unpaid total is over every unpaid fine, whatever the filter.
	unpaid := fs
	if status != "unpaid" {
		if unpaid, err = s.fines(r.Context(), s.db.SQL, column, value, "unpaid"); err != nil {
			return err
		}
	}
	total := kit.Money{Currency: kit.ILS}
	for _, f := range unpaid {
		if f.Amount.Currency != kit.ILS {
			return kit.Internal(fmt.Errorf("fine %s in %s", f.Number, f.Amount.Currency))
		}
		total.Minor += f.Amount.Minor
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"fines": fs, "unpaidCount": len(unpaid), "unpaidTotal": total})
	return nil
}

func (s *Service) fine(ctx context.Context, q store.Querier, number string) (FineJSON, error) {
	f, err := scanFine(q.QueryRowContext(ctx, `SELECT `+fineColumns+` FROM mot_fines WHERE number = $1`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return FineJSON{}, kit.NotFound("no traffic fine %s", number)
	}
	if err != nil {
		return FineJSON{}, kit.Internal(fmt.Errorf("read fine: %w", err))
	}
	return f, nil
}

func (s *Service) getFine(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fine(r.Context(), s.db.SQL, r.PathValue("number"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, f)
	return nil
}

func (s *Service) payFine(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		PaymentOrderID string `json:"paymentOrderId"`
	}
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	f, err := s.fine(ctx, s.db.SQL, r.PathValue("number"))
	if err != nil {
		return err
	}
	if f.Status == "paid" {
		return kit.Errorf("Client.FineAlreadyPaid", http.StatusConflict, nil, "traffic fine %s has already been paid", f.Number)
	}
	if _, err := s.payments.VerifyPaid(ctx, kit.PaymentCheck{
		OrderID: req.PaymentOrderID, Service: kit.ServiceTrafficFine, Reference: f.Number, Amount: f.Amount,
	}); err != nil {
		return kit.PaymentError(err)
	}
	err = store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE mot_fines SET paid_at = $1, payment_order = $2 WHERE number = $3 AND paid_at IS NULL`,
			store.Micros(s.clk.Now()), req.PaymentOrderID, f.Number)
		if err != nil {
			if store.ConstraintViolation(err) == store.Unique {
				return paymentUsed(req.PaymentOrderID)
			}
			return kit.Internal(fmt.Errorf("pay fine: %w", err))
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return kit.Errorf("Client.FineAlreadyPaid", http.StatusConflict, err, "traffic fine %s has already been paid", f.Number)
		}
		f, err = s.fine(ctx, tx, f.Number)
		return err
	})
	if err != nil {
		if store.ConstraintViolation(err) == store.Unique {
			return paymentUsed(req.PaymentOrderID)
		}
		return kit.As(err)
	}
	s.events.WithLabelValues(kit.ServiceTrafficFine).Inc()
	kit.WriteJSON(w, http.StatusOK, f)
	return nil
}
