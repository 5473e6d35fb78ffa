package payments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jisr-bus/jisr/adapters/checkdigit"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/store"
)

func (s *Service) routes() {
	r, h := s.api.Router, s.api.Handle
	r.Post("/v1/payment-orders", h(s.createOrder))
	r.Get("/v1/payment-orders", h(s.listPaid))
	r.Get("/v1/payment-orders/{orderId}", h(s.getOrder))
	r.Get("/v1/payment-orders/{orderId}/receipt", h(s.getReceipt))
	r.Post("/v1/deposit-vouchers", h(s.issueVoucher))
	r.Get("/v1/deposit-vouchers/{number}", h(s.getVoucher))
}

// VoucherJSON is a deposit voucher as the API returns it.
type VoucherJSON struct {
	Number     string    `json:"number"`
	Bank       seed.Name `json:"bank"`
	Amount     kit.Money `json:"amount"`
	IssuedOn   string    `json:"issuedOn"`
	Redeemed   bool      `json:"redeemed"`
	RedeemedBy string    `json:"redeemedBy,omitempty"`
}

func (s *Service) voucher(ctx context.Context, q store.Querier, number string) (*VoucherJSON, error) {
	var v VoucherJSON
	var issued int64
	var by sql.NullString
	err := q.QueryRowContext(ctx, `SELECT number, bank_ar, bank_en, amount_minor, currency, issued_on, redeemed_by
		FROM pma_vouchers WHERE number = $1`, number).Scan(&v.Number, &v.Bank.AR, &v.Bank.EN, &v.Amount.Minor, &v.Amount.Currency, &issued, &by)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, kit.NotFound("no deposit voucher %s", number)
	}
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read voucher: %w", err))
	}
	v.IssuedOn = store.FromMicros(issued).Format(time.DateOnly)
	v.Redeemed, v.RedeemedBy = by.Valid, by.String
	return &v, nil
}

func (s *Service) getVoucher(w http.ResponseWriter, r *http.Request) error {
	v, err := s.voucher(r.Context(), s.db.SQL, r.PathValue("number"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, v)
	return nil
}

// issueVoucher simulates a bank counter: cash paid in for a government
// payment becomes a voucher number the payer then pays an order with.
func (s *Service) issueVoucher(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Amount kit.Money  `json:"amount"`
		Bank   *seed.Name `json:"bank,omitempty"`
	}
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Amount.Minor <= 0 {
		return kit.BadRequest("the amount must be positive")
	}
	bank := seed.Name{AR: "بنك فلسطين", EN: "Bank of Palestine"}
	if req.Bank != nil {
		bank = *req.Bank
	}
	var v *VoucherJSON
	err := store.InTx(r.Context(), s.db.SQL, nil, func(tx *sql.Tx) error {
		n, err := kit.NextSequence(r.Context(), tx, Name+".voucher")
		if err != nil {
			return err
		}
		payload := fmt.Sprintf("8%010d", n)
		c, err := checkdigit.LuhnCheckDigit(payload)
		if err != nil {
			return err
		}
		number := payload + string(c)
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO pma_vouchers (number, bank_ar, bank_en, amount_minor, currency, issued_on)
			VALUES ($1, $2, $3, $4, $5, $6)`, number, bank.AR, bank.EN, req.Amount.Minor, req.Amount.Currency, store.Micros(seed.Day(s.clk.Now()))); err != nil {
			return err
		}
		v, err = s.voucher(r.Context(), tx, number)
		return err
	})
	if err != nil {
		return kit.As(err)
	}
	kit.WriteJSON(w, http.StatusCreated, v)
	return nil
}

// seedVouchers loads the demo world's deposit vouchers.
func seedVouchers(ctx context.Context, tx *sql.Tx, w *seed.World) error {
	for _, v := range w.Vouchers {
		if _, err := tx.ExecContext(ctx, `INSERT INTO pma_vouchers (number, bank_ar, bank_en, amount_minor, currency, issued_on)
			VALUES ($1, $2, $3, $4, $5, $6)`, v.Number, v.Bank.AR, v.Bank.EN, v.Amount.Minor, v.Amount.Currency, store.Micros(v.IssuedOn)); err != nil {
			return fmt.Errorf("seed voucher: %w", err)
		}
	}
	return nil
}
