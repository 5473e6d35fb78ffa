package finance

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/jisr-bus/jisr/adapters/internal/adaptertest"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/payments"
	"github.com/jisr-bus/jisr/internal/clock"
)

type env struct {
	svc   *Service
	c     *adaptertest.Client
	pma   *adaptertest.Client
	pmaSv *httptest.Server
	clk   *clock.Fake
	n     int
}

func newEnv(t *testing.T, db kit.Database) *env {
	t.Helper()
	clk := clock.NewFake(adaptertest.Reference())
	pma, err := payments.New(payments.Config{Database: kit.Database{Path: t.TempDir() + "/pma.db"}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pma.Close() })
	srv := httptest.NewServer(pma.Handler())
	t.Cleanup(srv.Close)
	svc, err := New(Config{Database: db, Clock: clk, Payments: &payments.Client{BaseURL: srv.URL, HTTP: srv.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return &env{
		svc: svc, c: adaptertest.NewClient(t, svc.Handler(), svc.OpenAPI()),
		pma: adaptertest.NewClient(t, pma.Handler(), pma.OpenAPI()), pmaSv: srv, clk: clk,
	}
}

// pay creates an order at the payments service and returns its id.
func (e *env) pay(t *testing.T, service, amount, currency, cardNumber string) payments.Order {
	t.Helper()
	e.n++
	var o payments.Order
	e.pma.Do("POST", "/v1/payment-orders", map[string]any{
		"payer":   map[string]any{"nationalId": "401234562"},
		"amount":  map[string]any{"amount": amount, "currency": currency},
		"purpose": map[string]any{"service": service, "reference": fmt.Sprintf("CASE-%d", e.n)},
		"method":  map[string]any{"type": "card", "card": map[string]any{"number": cardNumber, "expiryMonth": 12, "expiryYear": 2029, "cvv": "123"}},
	}, fmt.Sprintf("Idempotency-Key: %d", e.n)).Want(t, 201).JSON(t, &o)
	return o
}

func credit(id string) map[string]any { return map[string]any{"paymentOrderId": id} }

func TestOpenAPIAndRoutes(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/mof.db"})
	adaptertest.CheckRoutes(t, e.svc.Handler(), OpenAPI())
}

func TestNeedsVerifier(t *testing.T) {
	if _, err := New(Config{Database: kit.Database{Path: t.TempDir() + "/mof.db"}}); err == nil {
		t.Fatal("started without a payment verifier")
	}
}

func TestFees(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/mof.db"})
	var list struct{ Fees []FeeJSON }
	e.c.Do("GET", "/v1/fees", nil).Want(t, 200).JSON(t, &list)
	if len(list.Fees) != 8 {
		t.Fatalf("%d fees", len(list.Fees))
	}
	var f FeeJSON
	e.c.Do("GET", "/v1/fees/"+kit.ServiceDrivingLicenceRenew, nil).Want(t, 200).JSON(t, &f)
	if f.Amount == nil || f.Amount.String() != "150.00 ILS" || f.Ministry != "MOT" || f.Variable {
		t.Fatalf("renewal fee %+v", f)
	}
	var v FeeJSON
	e.c.Do("GET", "/v1/fees/"+kit.ServiceTrafficFine, nil).Want(t, 200).JSON(t, &v)
	if v.Amount != nil || !v.Variable {
		t.Fatalf("fine fee %+v", v)
	}
	e.c.Do("GET", "/v1/fees/moi.passport", nil).WantProblem(t, 404, kit.CodeNotFound)
	e.c.Do("GET", "/v1/fees/DROP%20TABLE", nil).WantProblem(t, 400, kit.CodeBadRequest)
}

// TestLedgerExactlyOnce: every paid order is credited once however often
// (and however concurrently) it is sent, unpaid or unknown orders are
// refused, and reconciliation lists each paid order exactly once.
func TestLedgerExactlyOnce(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		r1 := e.pay(t, kit.ServiceDrivingLicenceRenew, "150.00", "ILS", payments.TestCardApproved)
		r2 := e.pay(t, kit.ServiceDrivingLicenceRenew, "150.00", "ILS", payments.TestCardApproved)
		fine := e.pay(t, kit.ServiceTrafficFine, "100.00", "ILS", payments.TestCardApproved)
		jod := e.pay(t, kit.ServiceTrafficFine, "21.150", "JOD", payments.TestCardApproved)
		declined := e.pay(t, kit.ServiceTrafficFine, "100.00", "ILS", payments.TestCardDeclined)
		foreign := e.pay(t, "moi.passport", "100.00", "ILS", payments.TestCardApproved)

		var c Credit
		e.c.Do("POST", "/v1/ledger/credits", credit(r1.ID)).Want(t, 201).JSON(t, &c)
		if c.Amount.String() != "150.00 ILS" || c.Service != kit.ServiceDrivingLicenceRenew || c.Ministry != "MOT" || c.ReceiptNumber != r1.ReceiptNumber || c.Payer != "401234562" {
			t.Fatalf("credit %+v", c)
		}
		again := e.c.Do("POST", "/v1/ledger/credits", credit(r1.ID)).Want(t, 200)
		if again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("a repeated credit is not marked as a replay")
		}
		e.c.Do("POST", "/v1/ledger/credits", credit(r2.ID)).Want(t, 201)
		e.c.Do("POST", "/v1/ledger/credits", credit(jod.ID)).Want(t, 201)

		// The same order credited concurrently: one entry.
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		for i := range statuses {
			wg.Go(func() { statuses[i] = e.c.Do("POST", "/v1/ledger/credits", credit(fine.ID)).Status })
		}
		wg.Wait()
		created := 0
		for _, s := range statuses {
			switch s {
			case 201:
				created++
			case 200:
			default:
				t.Fatalf("concurrent credit answered %d", s)
			}
		}
		if created != 1 {
			t.Fatalf("%d concurrent credits created an entry, want 1", created)
		}

		e.c.Do("POST", "/v1/ledger/credits", credit(declined.ID)).WantProblem(t, 422, "Client.PaymentNotAcceptable")
		e.c.Do("POST", "/v1/ledger/credits", credit("PO-2026-99999999")).WantProblem(t, 422, "Client.PaymentNotAcceptable")
		e.c.Do("POST", "/v1/ledger/credits", credit(foreign.ID)).WantProblem(t, 422, kit.CodeUnprocessable)
		e.c.Do("POST", "/v1/ledger/credits", credit("1; DROP TABLE")).WantProblem(t, 400, kit.CodeBadRequest)
		e.c.Do("GET", "/v1/ledger/credits/"+declined.ID, nil).WantProblem(t, 404, kit.CodeNotFound)

		var rec Reconciliation
		e.c.Do("GET", "/v1/reconciliation?from=2026-03-15&to=2026-03-15", nil).Want(t, 200).JSON(t, &rec)
		seen := map[string]int{}
		for _, c := range rec.Credits {
			seen[c.PaymentOrderID]++
		}
		want := []string{r1.ID, r2.ID, fine.ID, jod.ID}
		if rec.Count != len(want) || len(rec.Credits) != len(want) || len(seen) != len(want) {
			t.Fatalf("reconciliation lists %d credits (%v), want each of %v once", rec.Count, seen, want)
		}
		for _, id := range want {
			if seen[id] != 1 {
				t.Fatalf("order %s listed %d times", id, seen[id])
			}
		}
		totals := map[string]string{}
		for _, tt := range rec.Totals {
			totals[tt.Service+" "+tt.Amount.Currency] = fmt.Sprintf("%d %s", tt.Count, tt.Amount)
		}
		if totals[kit.ServiceDrivingLicenceRenew+" ILS"] != "2 300.00 ILS" || totals[kit.ServiceTrafficFine+" ILS"] != "1 100.00 ILS" || totals[kit.ServiceTrafficFine+" JOD"] != "1 21.150 JOD" || len(totals) != 3 {
			t.Fatalf("totals %v", totals)
		}
		var none Reconciliation
		e.c.Do("GET", "/v1/reconciliation?from=2026-03-16&to=2026-04-16", nil).Want(t, 200).JSON(t, &none)
		if none.Count != 0 || len(none.Totals) != 0 {
			t.Fatalf("a later period lists %+v", none)
		}
		e.c.Do("GET", "/v1/reconciliation?from=2025-01-01&to=2026-03-15", nil).WantProblem(t, 400, kit.CodeBadRequest)
		e.c.Do("GET", "/v1/reconciliation?from=2026-03-15", nil).WantProblem(t, 400, kit.CodeBadRequest)

		t.Run("payments service down", func(t *testing.T) {
			late := e.pay(t, kit.ServiceHomeDelivery, "15.00", "ILS", payments.TestCardApproved)
			e.pmaSv.Close()
			e.c.Do("POST", "/v1/ledger/credits", credit(late.ID)).WantProblem(t, 503, kit.CodeUnavailable)
			e.c.Do("GET", "/v1/ledger/credits/"+late.ID, nil).WantProblem(t, 404, kit.CodeNotFound)
			// Already credited orders still answer without the verifier.
			e.c.Do("POST", "/v1/ledger/credits", credit(r1.ID)).Want(t, 200)
		})
	})
}
