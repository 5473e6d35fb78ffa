package payments

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/adapters/internal/adaptertest"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/nationalid"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
)

const payer = "401234562"

func world(t testing.TB) *seed.World {
	t.Helper()
	w, err := seed.Generate(seed.Options{Persons: 20, Reference: adaptertest.Reference()})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

type env struct {
	svc *Service
	c   *adaptertest.Client
	clk *clock.Fake
	w   *seed.World
}

func newEnv(t *testing.T, db kit.Database, acq func(*kit.DB, clock.Clock) Acquirer) *env {
	t.Helper()
	clk := clock.NewFake(adaptertest.Reference())
	w := world(t)
	cfg := Config{Database: db, Seed: w, Clock: clk}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	if acq != nil {
		svc.acquirer = acq(svc.db, clk)
	}
	return &env{svc: svc, c: adaptertest.NewClient(t, svc.Handler(), svc.OpenAPI()), clk: clk, w: w}
}

func (e *env) charges(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.svc.db.SQL.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pma_charges`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func card(number string, month, year int, cvv string) map[string]any {
	return map[string]any{"type": "card", "card": map[string]any{"number": number, "expiryMonth": month, "expiryYear": year, "cvv": cvv}}
}

func order(amount, currency string, method map[string]any) map[string]any {
	return map[string]any{
		"payer":   map[string]any{"nationalId": payer},
		"amount":  map[string]any{"amount": amount, "currency": currency},
		"purpose": map[string]any{"service": kit.ServiceDrivingLicenceRenew, "reference": "APP-2026-0001"},
		"method":  method,
	}
}

func TestOpenAPIAndRoutes(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/p.db"}, nil)
	adaptertest.CheckRoutes(t, e.svc.Handler(), OpenAPI())
}

func TestPaymentOrders(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db, nil)
		voucher := e.w.Vouchers[0] // 150.00 ILS
		key := 0
		for _, tc := range []struct {
			name    string
			body    any
			status  int
			code    string // problem code when not 201
			result  string // order status when 201
			reason  string
			method  string
			receipt bool
		}{
			{name: "test card approved", body: order("150.00", "ILS", card(TestCardApproved, 12, 2028, "123")), status: 201, result: StatusPaid, method: "VISA •••• 1111", receipt: true},
			{name: "mastercard approved", body: order("150", "ILS", card("5555555555554444", 1, 2027, "999")), status: 201, result: StatusPaid, method: "MASTERCARD •••• 4444", receipt: true},
			{name: "amount in dinars with fils", body: order("21.150", "JOD", card(TestCardApproved, 12, 2028, "123")), status: 201, result: StatusPaid, receipt: true},
			{name: "decline card", body: order("150.00", "ILS", card(TestCardDeclined, 12, 2028, "123")), status: 201, result: StatusDeclined, reason: DeclineCard},
			{name: "no funds card", body: order("150.00", "USD", card(TestCardNoFunds, 12, 2028, "123")), status: 201, result: StatusDeclined, reason: DeclineFunds},
			{name: "expired card", body: order("150.00", "ILS", card(TestCardApproved, 2, 2026, "123")), status: 201, result: StatusDeclined, reason: DeclineExpired},
			{name: "card valid to the end of its month", body: order("150.00", "ILS", card(TestCardApproved, 3, 2026, "123")), status: 201, result: StatusPaid, receipt: true},
			{name: "bank account", body: order("15.00", "ILS", map[string]any{"type": "bank-account", "bankAccount": map[string]any{"iban": "PS92PALS000000000400123456702"}}), status: 201, result: StatusPaid, method: "PS92 •••• 6702", receipt: true},
			{name: "bank account without funds", body: order("15.00", "ILS", map[string]any{"type": "bank-account", "bankAccount": map[string]any{"iban": iban(t, "PALS000000000400123456999")}}), status: 201, result: StatusDeclined, reason: DeclineFunds},
			{name: "deposit voucher", body: order("150.00", "ILS", map[string]any{"type": "deposit-voucher", "depositVoucher": map[string]any{"number": voucher.Number}}), status: 201, result: StatusPaid, receipt: true},
			{name: "deposit voucher used twice", body: order("150.00", "ILS", map[string]any{"type": "deposit-voucher", "depositVoucher": map[string]any{"number": voucher.Number}}), status: 201, result: StatusDeclined, reason: DeclineVoucherUsed},
			{name: "deposit voucher for another amount", body: order("149.99", "ILS", map[string]any{"type": "deposit-voucher", "depositVoucher": map[string]any{"number": e.w.Vouchers[1].Number}}), status: 201, result: StatusDeclined, reason: DeclineVoucherMismatch},
			{name: "unknown deposit voucher", body: order("150.00", "ILS", map[string]any{"type": "deposit-voucher", "depositVoucher": map[string]any{"number": "123456789015"}}), status: 201, result: StatusDeclined, reason: DeclineUnknownVoucher},
			{name: "card number fails Luhn", body: order("150.00", "ILS", card("4111111111111112", 12, 2028, "123")), status: 400, code: kit.CodeBadRequest},
			{name: "card number with spaces", body: order("150.00", "ILS", card("4111 1111 1111 1111", 12, 2028, "123")), status: 400, code: kit.CodeBadRequest},
			{name: "CVV too short", body: order("150.00", "ILS", card(TestCardApproved, 12, 2028, "12")), status: 400, code: kit.CodeBadRequest},
			{name: "amex needs four CVV digits", body: order("150.00", "ILS", card("378282246310005", 12, 2028, "123")), status: 400, code: kit.CodeBadRequest},
			{name: "month 13", body: order("150.00", "ILS", card(TestCardApproved, 13, 2028, "123")), status: 400, code: kit.CodeBadRequest},
			{name: "IBAN check digits wrong", body: order("15.00", "ILS", map[string]any{"type": "bank-account", "bankAccount": map[string]any{"iban": "PS93PALS000000000400123456702"}}), status: 400, code: kit.CodeBadRequest},
			{name: "voucher fails Luhn", body: order("150.00", "ILS", map[string]any{"type": "deposit-voucher", "depositVoucher": map[string]any{"number": "123456789012"}}), status: 400, code: kit.CodeBadRequest},
			{name: "two instruments", body: order("150.00", "ILS", map[string]any{"type": "card", "card": card(TestCardApproved, 12, 2028, "123")["card"], "bankAccount": map[string]any{"iban": "PS92PALS000000000400123456702"}}), status: 400, code: kit.CodeBadRequest},
			{name: "type without its member", body: order("150.00", "ILS", map[string]any{"type": "bank-account", "card": card(TestCardApproved, 12, 2028, "123")["card"]}), status: 400, code: kit.CodeBadRequest},
			{name: "euro", body: order("150.00", "EUR", card(TestCardApproved, 12, 2028, "123")), status: 400, code: kit.CodeBadRequest},
			{name: "three decimals in shekels", body: order("150.005", "ILS", card(TestCardApproved, 12, 2028, "123")), status: 400, code: kit.CodeBadRequest},
			{name: "zero amount", body: order("0.00", "ILS", card(TestCardApproved, 12, 2028, "123")), status: 400, code: kit.CodeBadRequest},
			{name: "negative amount", body: order("-5.00", "ILS", card(TestCardApproved, 12, 2028, "123")), status: 400, code: kit.CodeBadRequest},
			{name: "payer national ID check digit", body: func() any {
				b := order("150.00", "ILS", card(TestCardApproved, 12, 2028, "123"))
				b["payer"] = map[string]any{"nationalId": "401234563"}
				return b
			}(), status: 400, code: kit.CodeBadRequest},
			{name: "unknown member", body: func() any {
				b := order("150.00", "ILS", card(TestCardApproved, 12, 2028, "123"))
				b["tip"] = "5"
				return b
			}(), status: 400, code: kit.CodeBadRequest},
			{name: "not JSON", body: "{", status: 400, code: kit.CodeBadRequest},
			{name: "empty body", body: "", status: 400, code: kit.CodeBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key++
				resp := e.c.Do("POST", "/v1/payment-orders", tc.body, fmt.Sprintf("Idempotency-Key: k-%d", key))
				if tc.status != 201 {
					resp.WantProblem(t, tc.status, tc.code)
					return
				}
				resp.Want(t, 201)
				var o Order
				resp.JSON(t, &o)
				if o.Status != tc.result || o.DeclineReason != tc.reason || (tc.method != "" && o.Method.Description != tc.method) {
					t.Fatalf("order %+v, want status %s reason %q method %q", o, tc.result, tc.reason, tc.method)
				}
				if resp.Header.Get("Location") != "/v1/payment-orders/"+o.ID {
					t.Errorf("Location %q", resp.Header.Get("Location"))
				}
				got := e.c.Do("GET", "/v1/payment-orders/"+o.ID, nil).Want(t, 200)
				var again Order
				got.JSON(t, &again)
				if again.ID != o.ID || again.Status != o.Status || again.ReceiptNumber != o.ReceiptNumber {
					t.Fatalf("read back %+v, created %+v", again, o)
				}
				rec := e.c.Do("GET", "/v1/payment-orders/"+o.ID+"/receipt", nil)
				if !tc.receipt {
					rec.WantProblem(t, 409, "Client.NotPaid")
					return
				}
				rec.Want(t, 200)
				var r Receipt
				rec.JSON(t, &r)
				if r.ReceiptNumber == "" || r.ReceiptNumber != o.ReceiptNumber || r.Amount != o.Amount || r.Payer.NationalID != payer {
					t.Fatalf("receipt %+v for %+v", r, o)
				}
			})
		}
		t.Run("missing idempotency key", func(t *testing.T) {
			e.c.Do("POST", "/v1/payment-orders", order("1.00", "ILS", card(TestCardApproved, 12, 2028, "123"))).WantProblem(t, 400, kit.CodeBadRequest)
		})
		t.Run("unknown order", func(t *testing.T) {
			e.c.Do("GET", "/v1/payment-orders/PO-2026-99999999", nil).WantProblem(t, 404, kit.CodeNotFound)
			e.c.Do("GET", "/v1/payment-orders/not-an-id", nil).WantProblem(t, 400, kit.CodeBadRequest)
		})
		t.Run("no card number is stored", func(t *testing.T) {
			var n int
			err := e.svc.db.SQL.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pma_orders o JOIN pma_charges c ON c.order_id = o.id
				WHERE o.method_description LIKE '%1111111111%' OR c.instrument LIKE '%1111111111%' OR o.fingerprint LIKE '%4111%'`).Scan(&n)
			if err != nil || n != 0 {
				t.Fatalf("%d rows hold a card number (%v)", n, err)
			}
		})
	})
}

func iban(t *testing.T, bban string) string {
	t.Helper()
	cd, err := checkdigitIBAN(bban)
	if err != nil {
		t.Fatal(err)
	}
	return "PS" + cd + bban
}

// TestIdempotency: the same payment request twice charges once; the same
// key with another body is refused; keys are scoped to the calling client.
func TestIdempotency(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db, nil)
		body := order("150.00", "ILS", card(TestCardApproved, 12, 2028, "123"))
		portal := e.c.With(kit.HeaderClient, "PS/GOV/CAB/portal")
		first := portal.Do("POST", "/v1/payment-orders", body, "Idempotency-Key: renewal-1").Want(t, 201)
		var o1, o2 Order
		first.JSON(t, &o1)
		second := portal.Do("POST", "/v1/payment-orders", order("150", "ILS", card(TestCardApproved, 12, 2028, "123")), "Idempotency-Key: renewal-1").Want(t, 200)
		second.JSON(t, &o2)
		if second.Header.Get("Idempotent-Replayed") != "true" || o1.ID != o2.ID || o1.ReceiptNumber != o2.ReceiptNumber || o2.Status != StatusPaid {
			t.Fatalf("replay gave %+v (header %q), first %+v", o2, second.Header.Get("Idempotent-Replayed"), o1)
		}
		if n := e.charges(t); n != 1 {
			t.Fatalf("%d charges after the same request twice, want 1", n)
		}
		other := order("150.00", "ILS", card("5555555555554444", 12, 2028, "123"))
		p := portal.Do("POST", "/v1/payment-orders", other, "Idempotency-Key: renewal-1").WantProblem(t, 409, "Client.IdempotencyKeyReused")
		if p.Detail == "" {
			t.Fatal("no detail")
		}
		if n := e.charges(t); n != 1 {
			t.Fatalf("%d charges after a refused reuse, want 1", n)
		}
		// Another client's key space.
		var o3 Order
		e.c.With(kit.HeaderClient, "PS/GOV/MOT/licensing").Do("POST", "/v1/payment-orders", body, "Idempotency-Key: renewal-1").Want(t, 201).JSON(t, &o3)
		if o3.ID == o1.ID {
			t.Fatal("keys are not scoped to the client")
		}

		t.Run("concurrent", func(t *testing.T) {
			before := e.charges(t)
			const n = 8
			var wg sync.WaitGroup
			ids := make([]string, n)
			statuses := make([]int, n)
			for i := range n {
				wg.Go(func() {
					r := portal.Do("POST", "/v1/payment-orders", body, "Idempotency-Key: concurrent-1")
					var o Order
					if r.Status == 200 || r.Status == 201 {
						r.JSON(t, &o)
					}
					ids[i], statuses[i] = o.ID, r.Status
				})
			}
			wg.Wait()
			created := 0
			for i := range n {
				if statuses[i] == 201 {
					created++
				}
				if ids[i] == "" || ids[i] != ids[0] {
					t.Fatalf("request %d: status %d order %q (first %q)", i, statuses[i], ids[i], ids[0])
				}
			}
			if created != 1 {
				t.Fatalf("%d requests created an order, want 1", created)
			}
			if got := e.charges(t) - before; got != 1 {
				t.Fatalf("%d charges for %d identical concurrent requests, want 1", got, n)
			}
		})
	})
}

// flaky fails its first Charge after charging: the outcome is lost on the
// way back, as with a network failure after the acquirer committed.
type flaky struct {
	Acquirer
	mu     sync.Mutex
	failed bool
}

func (f *flaky) Charge(ctx context.Context, ch Charge) (Outcome, error) {
	out, err := f.Acquirer.Charge(ctx, ch)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && !f.failed {
		f.failed = true
		return Outcome{}, errors.New("connection reset after the charge")
	}
	return out, err
}

// TestInterruptedCharge: when the charge's outcome is lost, the order stays
// pending; repeating the request with the same key completes it without a
// second charge.
func TestInterruptedCharge(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db, func(d *kit.DB, clk clock.Clock) Acquirer {
			return &flaky{Acquirer: &SimulatedAcquirer{DB: d, Clock: clk}}
		})
		body := order("150.00", "ILS", card(TestCardApproved, 12, 2028, "123"))
		e.c.Do("POST", "/v1/payment-orders", body, "Idempotency-Key: k").WantProblem(t, 503, kit.CodeUnavailable)
		var listed struct{ Orders []Order }
		e.c.Do("GET", "/v1/payment-orders?from=2026-03-15&to=2026-03-15", nil).Want(t, 200).JSON(t, &listed)
		if len(listed.Orders) != 0 {
			t.Fatalf("a pending order is listed as paid: %+v", listed.Orders)
		}
		var o Order
		e.c.Do("GET", "/v1/payment-orders/PO-2026-00000001", nil).Want(t, 200).JSON(t, &o)
		if o.Status != StatusPending {
			t.Fatalf("status %s, want pending", o.Status)
		}
		e.c.Do("POST", "/v1/payment-orders", body, "Idempotency-Key: k").Want(t, 200).JSON(t, &o)
		if o.Status != StatusPaid || o.ReceiptNumber == "" {
			t.Fatalf("retried order %+v", o)
		}
		if n := e.charges(t); n != 1 {
			t.Fatalf("%d charges, want 1", n)
		}
	})
}

func TestListPaid(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db, nil)
		var paid []string
		for i, c := range []string{TestCardApproved, TestCardDeclined, TestCardApproved, TestCardApproved} {
			var o Order
			e.c.Do("POST", "/v1/payment-orders", order("10.00", "ILS", card(c, 12, 2028, "123")), fmt.Sprintf("Idempotency-Key: %d", i)).Want(t, 201).JSON(t, &o)
			if o.Status == StatusPaid {
				paid = append(paid, o.ID)
			}
			e.clk.Add(time.Hour)
		}
		e.clk.Add(48 * time.Hour)
		var late Order
		e.c.Do("POST", "/v1/payment-orders", order("10.00", "ILS", card(TestCardApproved, 12, 2028, "123")), "Idempotency-Key: late").Want(t, 201).JSON(t, &late)

		var page struct {
			Orders []Order `json:"orders"`
			Next   string  `json:"next"`
		}
		e.c.Do("GET", "/v1/payment-orders?from=2026-03-15&to=2026-03-16&limit=2", nil).Want(t, 200).JSON(t, &page)
		if len(page.Orders) != 2 || page.Next != paid[1] || page.Orders[0].ID != paid[0] {
			t.Fatalf("first page %+v", page)
		}
		next := page.Next
		page.Next = ""
		e.c.Do("GET", "/v1/payment-orders?from=2026-03-15&to=2026-03-16&limit=2&after="+next, nil).Want(t, 200).JSON(t, &page)
		if len(page.Orders) != 1 || page.Orders[0].ID != paid[2] || page.Next != "" {
			t.Fatalf("second page %+v", page)
		}
		e.c.Do("GET", "/v1/payment-orders?from=2026-03-17&to=2026-03-17", nil).Want(t, 200).JSON(t, &page)
		if len(page.Orders) != 1 || page.Orders[0].ID != late.ID {
			t.Fatalf("later day %+v", page)
		}
		e.c.Do("GET", "/v1/payment-orders?from=2026-03-17&to=2026-03-01", nil).WantProblem(t, 400, kit.CodeBadRequest)
		e.c.Do("GET", "/v1/payment-orders?from=yesterday&to=2026-03-01", nil).WantProblem(t, 400, kit.CodeBadRequest)
	})
}

func TestDepositVouchers(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/p.db"}, nil)
	var v VoucherJSON
	e.c.Do("POST", "/v1/deposit-vouchers", map[string]any{"amount": map[string]any{"amount": "42.50", "currency": "ILS"}}).Want(t, 201).JSON(t, &v)
	if v.Redeemed || v.Amount.String() != "42.50 ILS" || len(v.Number) != 12 {
		t.Fatalf("voucher %+v", v)
	}
	var o Order
	e.c.Do("POST", "/v1/payment-orders", order("42.50", "ILS", map[string]any{"type": "deposit-voucher", "depositVoucher": map[string]any{"number": v.Number}}), "Idempotency-Key: v").Want(t, 201).JSON(t, &o)
	if o.Status != StatusPaid {
		t.Fatalf("order %+v", o)
	}
	e.c.Do("GET", "/v1/deposit-vouchers/"+v.Number, nil).Want(t, 200).JSON(t, &v)
	if !v.Redeemed || v.RedeemedBy != o.ID {
		t.Fatalf("voucher after use %+v", v)
	}
	e.c.Do("GET", "/v1/deposit-vouchers/000000000000", nil).WantProblem(t, 404, kit.CodeNotFound)
	e.c.Do("POST", "/v1/deposit-vouchers", map[string]any{"amount": map[string]any{"amount": "0", "currency": "ILS"}}).WantProblem(t, 400, kit.CodeBadRequest)
}

// TestSeedOnce: opening the same database again does not load the seed
// twice.
func TestSeedOnce(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		w := world(t)
		for range 2 {
			svc, err := New(Config{Database: db, Seed: w, Clock: clock.NewFake(adaptertest.Reference())})
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := svc.db.SQL.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pma_vouchers`).Scan(&n); err != nil || n != len(w.Vouchers) {
				t.Fatalf("%d vouchers (%v), want %d", n, err, len(w.Vouchers))
			}
			if err := svc.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestClient checks kit.PaymentVerifier over HTTP against the real service.
func TestClient(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/p.db"}, nil)
	srv := httptest.NewServer(e.svc.Handler())
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
	var paid, declined Order
	e.c.Do("POST", "/v1/payment-orders", order("150.00", "ILS", card(TestCardApproved, 12, 2028, "123")), "Idempotency-Key: a").Want(t, 201).JSON(t, &paid)
	e.c.Do("POST", "/v1/payment-orders", order("150.00", "ILS", card(TestCardDeclined, 12, 2028, "123")), "Idempotency-Key: b").Want(t, 201).JSON(t, &declined)
	me, _ := nationalid.Parse(payer)
	other, _ := nationalid.Parse("123456782")
	ok := kit.PaymentCheck{OrderID: paid.ID, Service: kit.ServiceDrivingLicenceRenew, Payer: me, Reference: "APP-2026-0001", Amount: kit.Money{Minor: 15000, Currency: kit.ILS}}
	proof, err := c.VerifyPaid(t.Context(), ok)
	if err != nil || proof.ReceiptNumber != paid.ReceiptNumber || proof.Amount != paid.Amount || proof.PaidAt.IsZero() {
		t.Fatalf("proof %+v, %v", proof, err)
	}
	for name, chk := range map[string]kit.PaymentCheck{
		"declined":         {OrderID: declined.ID},
		"unknown":          {OrderID: "PO-2026-99999999"},
		"malformed":        {OrderID: "DROP TABLE"},
		"another service":  {OrderID: paid.ID, Service: kit.ServiceInsuranceRenewal},
		"another case":     {OrderID: paid.ID, Reference: "TF-00000001"},
		"another payer":    {OrderID: paid.ID, Payer: other},
		"more than paid":   {OrderID: paid.ID, Amount: kit.Money{Minor: 15001, Currency: kit.ILS}},
		"another currency": {OrderID: paid.ID, Amount: kit.Money{Minor: 100, Currency: kit.JOD}},
	} {
		if _, err := c.VerifyPaid(t.Context(), chk); !errors.Is(err, kit.ErrPaymentNotAcceptable) {
			t.Errorf("%s: %v, want a refusal", name, err)
		} else if pe := kit.PaymentError(err); pe.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: maps to %d", name, pe.Status)
		}
	}
	srv.Close()
	_, err = c.VerifyPaid(t.Context(), ok)
	if err == nil || errors.Is(err, kit.ErrPaymentNotAcceptable) {
		t.Fatalf("service down: %v, want an error that is not a refusal", err)
	}
	if pe := kit.PaymentError(err); pe.Status != http.StatusServiceUnavailable {
		t.Fatalf("service down maps to %d", pe.Status)
	}
}
