package payments

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jisr-bus/jisr/adapters/checkdigit"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/store"
)

// Order statuses.
const (
	StatusPending  = "pending"
	StatusPaid     = "paid"
	StatusDeclined = "declined"
)

// HeaderIdempotencyKey is the header naming an order creation's key.
const HeaderIdempotencyKey = "Idempotency-Key"

// Payer is on whose behalf an order is paid.
type Payer struct {
	NationalID string `json:"nationalId"`
}

// Purpose is what an order pays for.
type Purpose struct {
	// Service is the fee-schedule service code (kit.Service…).
	Service string `json:"service"`
	// Reference is the case: application, fine or policy number.
	Reference string `json:"reference"`
}

// CardRequest is a card as submitted.
type CardRequest struct {
	Number      string `json:"number"`
	ExpiryMonth int    `json:"expiryMonth"`
	ExpiryYear  int    `json:"expiryYear"`
	CVV         string `json:"cvv"`
	Holder      string `json:"holder,omitempty"`
}

// BankAccountRequest is a bank account to debit.
type BankAccountRequest struct {
	IBAN string `json:"iban"`
}

// VoucherRequest is a deposit voucher to redeem.
type VoucherRequest struct {
	Number string `json:"number"`
}

// MethodRequest is how an order is to be paid: Type and exactly the
// matching member.
type MethodRequest struct {
	Type           string              `json:"type"`
	Card           *CardRequest        `json:"card,omitempty"`
	BankAccount    *BankAccountRequest `json:"bankAccount,omitempty"`
	DepositVoucher *VoucherRequest     `json:"depositVoucher,omitempty"`
}

// OrderRequest is the body of POST /v1/payment-orders.
type OrderRequest struct {
	Payer   Payer         `json:"payer"`
	Amount  kit.Money     `json:"amount"`
	Purpose Purpose       `json:"purpose"`
	Method  MethodRequest `json:"method"`
}

// MethodJSON is the masked payment method of an order.
type MethodJSON struct {
	Type        string `json:"type"`
	Description string `json:"description"`
}

// Order is a payment order as the API returns it.
type Order struct {
	ID            string     `json:"id"`
	Status        string     `json:"status"`
	DeclineReason string     `json:"declineReason,omitempty"`
	Payer         Payer      `json:"payer"`
	Amount        kit.Money  `json:"amount"`
	Purpose       Purpose    `json:"purpose"`
	Method        MethodJSON `json:"method"`
	CreatedAt     time.Time  `json:"createdAt"`
	PaidAt        *time.Time `json:"paidAt,omitempty"`
	ReceiptNumber string     `json:"receiptNumber,omitempty"`

	client, key, fingerprint string
}

// Receipt is the receipt of a paid order.
type Receipt struct {
	ReceiptNumber string    `json:"receiptNumber"`
	OrderID       string    `json:"orderId"`
	PaidAt        time.Time `json:"paidAt"`
	Amount        kit.Money `json:"amount"`
	Payer         Payer     `json:"payer"`
	Purpose       Purpose   `json:"purpose"`
	Method        string    `json:"method"`
	Issuer        seed.Name `json:"issuer"`
}

// prepare checks what the OpenAPI description cannot (check digits,
// exactly one instrument) and returns the charge (without order id) and the
// masked method description.
func prepare(req *OrderRequest) (Charge, error) {
	if _, err := kit.NationalIDParam("payer.nationalId", req.Payer.NationalID); err != nil {
		return Charge{}, err
	}
	if req.Amount.Minor <= 0 {
		return Charge{}, kit.BadRequest("the amount must be positive")
	}
	m := req.Method
	present := 0
	for _, p := range []bool{m.Card != nil, m.BankAccount != nil, m.DepositVoucher != nil} {
		if p {
			present++
		}
	}
	ch := Charge{Method: m.Type, Amount: req.Amount}
	switch {
	case m.Type == MethodCard && m.Card != nil && present == 1:
		c := m.Card
		if !checkdigit.LuhnValid(c.Number) || len(c.Number) < 12 || len(c.Number) > 19 {
			return Charge{}, kit.BadRequest("the card number is not valid (check digit)")
		}
		if c.ExpiryMonth < 1 || c.ExpiryMonth > 12 || c.ExpiryYear < 2000 || c.ExpiryYear > 2100 {
			return Charge{}, kit.BadRequest("the card expiry is not valid")
		}
		if want := cvvLength(c.Number); len(c.CVV) != want || !digits(c.CVV) {
			return Charge{}, kit.BadRequest("the card security code must have %d digits", want)
		}
		ch.Card = &Card{Number: c.Number, ExpiryMonth: c.ExpiryMonth, ExpiryYear: c.ExpiryYear, CVV: c.CVV}
		ch.Description = brand(c.Number) + " •••• " + c.Number[len(c.Number)-4:]
	case m.Type == MethodBank && m.BankAccount != nil && present == 1:
		iban := m.BankAccount.IBAN
		if !checkdigit.IBANValid(iban) {
			return Charge{}, kit.BadRequest("the IBAN is not valid (check digits)")
		}
		ch.IBAN = iban
		ch.Description = iban[:4] + " •••• " + iban[len(iban)-4:]
	case m.Type == MethodVoucher && m.DepositVoucher != nil && present == 1:
		v := m.DepositVoucher.Number
		if len(v) != 12 || !checkdigit.LuhnValid(v) {
			return Charge{}, kit.BadRequest("the deposit voucher number is not valid (check digit)")
		}
		ch.Voucher = v
		ch.Description = "Deposit voucher " + v
	default:
		return Charge{}, kit.BadRequest("method: give exactly the member its type names (card, bankAccount or depositVoucher)")
	}
	return ch, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// brand names a card scheme from its number's prefix.
func brand(pan string) string {
	switch {
	case pan[0] == '4':
		return "VISA"
	case pan[:2] >= "51" && pan[:2] <= "55", pan[:4] >= "2221" && pan[:4] <= "2720":
		return "MASTERCARD"
	case pan[:2] == "34" || pan[:2] == "37":
		return "AMEX"
	}
	return "CARD"
}

func cvvLength(pan string) int {
	if brand(pan) == "AMEX" {
		return 4
	}
	return 3
}

// fingerprint is the HMAC-SHA256 of the request's canonical JSON (the
// struct's member order, amounts in canonical form), so "150" and "150.00"
// are the same request and no card number is stored in the clear.
func (s *Service) fingerprint(req *OrderRequest) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, s.fpKey)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil)), nil
}

const orderColumns = `id, client, idempotency_key, fingerprint, payer_nid, service, reference, amount_minor, currency,
	method, method_description, status, decline_reason, created_at, paid_at, receipt_number`

func scanOrder(row interface{ Scan(...any) error }) (*Order, error) {
	var o Order
	var created int64
	var paid sql.NullInt64
	var receipt sql.NullString
	if err := row.Scan(&o.ID, &o.client, &o.key, &o.fingerprint, &o.Payer.NationalID, &o.Purpose.Service, &o.Purpose.Reference,
		&o.Amount.Minor, &o.Amount.Currency, &o.Method.Type, &o.Method.Description, &o.Status, &o.DeclineReason,
		&created, &paid, &receipt); err != nil {
		return nil, err
	}
	o.CreatedAt = store.FromMicros(created)
	if paid.Valid {
		t := store.FromMicros(paid.Int64)
		o.PaidAt = &t
	}
	o.ReceiptNumber = receipt.String
	return &o, nil
}

func (s *Service) order(ctx context.Context, q store.Querier, id string) (*Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM pma_orders WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, kit.NotFound("no payment order %s", id)
	}
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("read order: %w", err))
	}
	return o, nil
}

// openOrder returns the order created before under (client, key), or
// creates a pending one from o. created reports which.
func (s *Service) openOrder(ctx context.Context, o *Order) (out *Order, created bool, err error) {
	for attempt := 0; ; attempt++ {
		out, created, err = s.openOrderOnce(ctx, o)
		if err != nil && attempt == 0 && (store.ConstraintViolation(err) == store.Unique || store.IsRetryable(err)) {
			// Another request with the same key committed first; read it.
			continue
		}
		if err != nil {
			return nil, false, kit.Internal(fmt.Errorf("open order: %w", err))
		}
		return out, created, nil
	}
}

func (s *Service) openOrderOnce(ctx context.Context, o *Order) (out *Order, created bool, err error) {
	err = store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		prev, err := scanOrder(tx.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM pma_orders WHERE client = $1 AND idempotency_key = $2`, o.client, o.key))
		if err == nil {
			out = prev
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := s.clk.Now().UTC()
		n, err := kit.NextSequence(ctx, tx, fmt.Sprintf("%s.order.%d", Name, now.Year()))
		if err != nil {
			return err
		}
		o.ID = fmt.Sprintf("PO-%d-%08d", now.Year(), n)
		o.Status = StatusPending
		o.CreatedAt = now.Truncate(time.Microsecond)
		_, err = tx.ExecContext(ctx, `INSERT INTO pma_orders (id, client, idempotency_key, fingerprint, payer_nid, service, reference,
			amount_minor, currency, method, method_description, status, decline_reason, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '', $13)`,
			o.ID, o.client, o.key, o.fingerprint, o.Payer.NationalID, o.Purpose.Service, o.Purpose.Reference,
			o.Amount.Minor, o.Amount.Currency, o.Method.Type, o.Method.Description, o.Status, store.Micros(o.CreatedAt))
		if err != nil {
			return err
		}
		out, created = o, true
		return nil
	})
	return out, created, err
}

// finish records the acquirer's outcome on a pending order and returns the
// order as it then is (as another request left it, if that one was first).
func (s *Service) finish(ctx context.Context, id string, out Outcome) (*Order, error) {
	var o *Order
	err := store.InTx(ctx, s.db.SQL, nil, func(tx *sql.Tx) error {
		now := s.clk.Now().UTC()
		var res sql.Result
		var err error
		if out.Approved {
			n, err := kit.NextSequence(ctx, tx, fmt.Sprintf("%s.receipt.%d", Name, now.Year()))
			if err != nil {
				return err
			}
			res, err = tx.ExecContext(ctx, `UPDATE pma_orders SET status = $1, paid_at = $2, receipt_number = $3
				WHERE id = $4 AND status = $5`, StatusPaid, store.Micros(now), fmt.Sprintf("RC-%d-%08d", now.Year(), n), id, StatusPending)
			if err != nil {
				return err
			}
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE pma_orders SET status = $1, decline_reason = $2 WHERE id = $3 AND status = $4`,
				StatusDeclined, out.Reason, id, StatusPending)
			if err != nil {
				return err
			}
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// Finished by a concurrent request: no receipt number was
			// used (the sequence advance rolls back with us).
			return errFinished
		}
		o, err = s.order(ctx, tx, id)
		return err
	})
	if errors.Is(err, errFinished) {
		return s.order(ctx, s.db.SQL, id)
	}
	if err != nil {
		return nil, kit.Internal(fmt.Errorf("finish order %s: %w", id, err))
	}
	return o, nil
}

var errFinished = errors.New("order already finished")

// createOrder handles POST /v1/payment-orders.
func (s *Service) createOrder(w http.ResponseWriter, r *http.Request) error {
	key := r.Header.Get(HeaderIdempotencyKey)
	if key == "" || len(key) > 255 {
		return kit.BadRequest("%s is required (1 to 255 characters)", HeaderIdempotencyKey)
	}
	var req OrderRequest
	if err := kit.DecodeJSON(r, &req); err != nil {
		return err
	}
	ch, err := prepare(&req)
	if err != nil {
		return err
	}
	fp, err := s.fingerprint(&req)
	if err != nil {
		return kit.Internal(err)
	}
	o, created, err := s.openOrder(r.Context(), &Order{
		Payer: req.Payer, Amount: req.Amount, Purpose: req.Purpose,
		Method: MethodJSON{Type: ch.Method, Description: ch.Description},
		client: r.Header.Get(kit.HeaderClient), key: key, fingerprint: fp,
	})
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(o.fingerprint), []byte(fp)) {
		return kit.Errorf("Client.IdempotencyKeyReused", http.StatusConflict, nil,
			"this %s was used for a different payment order (%s); use a new key for a new payment", HeaderIdempotencyKey, o.ID)
	}
	if o.Status == StatusPending {
		// A new order, or one whose charge was interrupted: (re)drive
		// it. The acquirer charges an order once, whatever happens.
		ch.OrderID = o.ID
		out, err := s.acquirer.Charge(r.Context(), ch)
		if err != nil {
			return kit.Errorf(kit.CodeUnavailable, http.StatusServiceUnavailable, err,
				"the payment could not be completed now; repeat the request with the same %s", HeaderIdempotencyKey)
		}
		if out.Fresh {
			label := "approved"
			if !out.Approved {
				label = out.Reason
			}
			s.charges.WithLabelValues(ch.Method, label).Inc()
		}
		if o, err = s.finish(r.Context(), o.ID, out); err != nil {
			return err
		}
	}
	w.Header().Set("Location", "/v1/payment-orders/"+o.ID)
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		kit.WriteJSON(w, http.StatusOK, o)
		return nil
	}
	kit.WriteJSON(w, http.StatusCreated, o)
	return nil
}

// PaymentOrderPath is the path of an order (what Client reads).
const PaymentOrderPath = "/v1/payment-orders/"

func (s *Service) getOrder(w http.ResponseWriter, r *http.Request) error {
	o, err := s.order(r.Context(), s.db.SQL, r.PathValue("orderId"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, o)
	return nil
}

func (s *Service) getReceipt(w http.ResponseWriter, r *http.Request) error {
	o, err := s.order(r.Context(), s.db.SQL, r.PathValue("orderId"))
	if err != nil {
		return err
	}
	if o.Status != StatusPaid || o.PaidAt == nil {
		return kit.Errorf("Client.NotPaid", http.StatusConflict, nil, "payment order %s is %s: there is no receipt", o.ID, o.Status)
	}
	kit.WriteJSON(w, http.StatusOK, Receipt{
		ReceiptNumber: o.ReceiptNumber, OrderID: o.ID, PaidAt: *o.PaidAt, Amount: o.Amount, Payer: o.Payer,
		Purpose: o.Purpose, Method: o.Method.Description,
		Issuer: seed.Name{AR: "سلطة النقد الفلسطينية", EN: "Palestine Monetary Authority"},
	})
	return nil
}

func (s *Service) listPaid(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, err1 := time.Parse(time.DateOnly, q.Get("from"))
	to, err2 := time.Parse(time.DateOnly, q.Get("to"))
	if err := errors.Join(err1, err2); err != nil || to.Before(from) {
		return kit.Errorf(kit.CodeBadRequest, http.StatusBadRequest, err, "from and to must be dates (YYYY-MM-DD), from not after to")
	}
	limit := 500
	if v := q.Get("limit"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &limit); err != nil || limit < 1 || limit > 1000 {
			return kit.BadRequest("limit must be between 1 and 1000")
		}
	}
	rows, err := s.db.SQL.QueryContext(r.Context(), `SELECT `+orderColumns+` FROM pma_orders
		WHERE status = $1 AND paid_at >= $2 AND paid_at < $3 AND id > $4 ORDER BY id LIMIT $5`,
		StatusPaid, store.Micros(from), store.Micros(to.AddDate(0, 0, 1)), q.Get("after"), limit+1)
	if err != nil {
		return kit.Internal(fmt.Errorf("list paid orders: %w", err))
	}
	defer rows.Close()
	orders := []*Order{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return kit.Internal(fmt.Errorf("list paid orders: %w", err))
		}
		orders = append(orders, o)
	}
	if err := rows.Err(); err != nil {
		return kit.Internal(fmt.Errorf("list paid orders: %w", err))
	}
	resp := struct {
		Orders []*Order `json:"orders"`
		Next   string   `json:"next,omitempty"`
	}{Orders: orders}
	if len(orders) > limit {
		resp.Orders = orders[:limit]
		resp.Next = orders[limit-1].ID
	}
	kit.WriteJSON(w, http.StatusOK, resp)
	return nil
}
