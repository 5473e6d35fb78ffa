package health

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/jisr-bus/jisr/adapters/internal/adaptertest"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/payments"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
)

type env struct {
	svc *Service
	c   *adaptertest.Client
	pma *adaptertest.Client
	w   *seed.World
	clk *clock.Fake
	n   int
}

func newEnv(t *testing.T, db kit.Database) *env {
	t.Helper()
	clk := clock.NewFake(adaptertest.Reference())
	w, err := seed.Generate(seed.Options{Persons: 30, Reference: adaptertest.Reference()})
	if err != nil {
		t.Fatal(err)
	}
	pma, err := payments.New(payments.Config{Database: kit.Database{Path: t.TempDir() + "/pma.db"}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pma.Close() })
	srv := httptest.NewServer(pma.Handler())
	t.Cleanup(srv.Close)
	svc, err := New(Config{Database: db, Seed: w, Clock: clk, Payments: &payments.Client{BaseURL: srv.URL, HTTP: srv.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return &env{svc: svc, c: adaptertest.NewClient(t, svc.Handler(), svc.OpenAPI()),
		pma: adaptertest.NewClient(t, pma.Handler(), pma.OpenAPI()), w: w, clk: clk}
}

func (e *env) pay(t *testing.T, payer, service, reference, amount string) string {
	t.Helper()
	e.n++
	var o payments.Order
	e.pma.Do("POST", "/v1/payment-orders", map[string]any{
		"payer":   map[string]any{"nationalId": payer},
		"amount":  map[string]any{"amount": amount, "currency": "ILS"},
		"purpose": map[string]any{"service": service, "reference": reference},
		"method":  map[string]any{"type": "card", "card": map[string]any{"number": payments.TestCardApproved, "expiryMonth": 12, "expiryYear": 2029, "cvv": "123"}},
	}, fmt.Sprintf("Idempotency-Key: %d", e.n)).Want(t, 201).JSON(t, &o)
	return o.ID
}

type policies struct {
	Policies []struct {
		Role   string
		Policy PolicyJSON
	}
}

func TestOpenAPIAndRoutes(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/moh.db"})
	adaptertest.CheckRoutes(t, e.svc.Handler(), OpenAPI())
}

func TestNeedsVerifier(t *testing.T) {
	if _, err := New(Config{Database: kit.Database{Path: t.TempDir() + "/moh.db"}}); err == nil {
		t.Fatal("started without a payment verifier")
	}
}

func TestPolicies(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		d := e.w.Demo
		var ps policies
		e.c.Do("GET", "/v1/persons/"+d.Citizen.String()+"/policies", nil).Want(t, 200).JSON(t, &ps)
		if len(ps.Policies) != 1 || ps.Policies[0].Role != "holder" {
			t.Fatalf("citizen's policies %+v", ps)
		}
		p := ps.Policies[0].Policy
		if p.Category != seed.CategoryFamily || len(p.Dependants) != 3 || p.Status != StatusEnding || !p.Renewal.Eligible ||
			p.AnnualPremium.String() != "1080.00 ILS" || p.Renewal.NewEndsOn != adaptertest.Reference().AddDate(1, 0, 10).Format("2006-01-02") {
			t.Fatalf("family policy %+v", p)
		}
		e.c.Do("GET", "/v1/persons/"+d.Newborn.String()+"/policies", nil).Want(t, 200).JSON(t, &ps)
		if len(ps.Policies) != 1 || ps.Policies[0].Role != "dependant" || ps.Policies[0].Policy.Number != p.Number {
			t.Fatalf("newborn's policies %+v", ps)
		}
		var omar PolicyJSON
		e.c.Do("GET", "/v1/persons/"+d.BlockedDriver.String()+"/policies", nil).Want(t, 200).JSON(t, &ps)
		e.c.Do("GET", "/v1/policies/"+ps.Policies[0].Policy.Number, nil).Want(t, 200).JSON(t, &omar)
		if omar.Status != StatusActive || omar.Renewal.Eligible || fmt.Sprint(omar.Renewal.Blockers) != "[not-due]" || omar.AnnualPremium.String() != "540.00 ILS" {
			t.Fatalf("individual policy %+v", omar)
		}
		e.c.Do("GET", "/v1/policies/HI-0000000", nil).WantProblem(t, 404, kit.CodeNotFound)
		e.c.Do("GET", "/v1/policies/X", nil).WantProblem(t, 400, kit.CodeBadRequest)
		e.c.Do("GET", "/v1/persons/123/policies", nil).WantProblem(t, 400, kit.CodeBadRequest)
	})
}

func TestRenewal(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		d := e.w.Demo
		citizen := d.Citizen.String()
		var ps policies
		e.c.Do("GET", "/v1/persons/"+citizen+"/policies", nil).Want(t, 200).JSON(t, &ps)
		p := ps.Policies[0].Policy
		path := "/v1/policies/" + p.Number + "/renewals"
		as := e.c.With(kit.HeaderUserID, citizen)
		body := func(o string) map[string]any { return map[string]any{"paymentOrderId": o} }

		wrongPolicy := e.pay(t, citizen, kit.ServiceInsuranceRenewal, "HI-0000001", "1080.00")
		tooLittle := e.pay(t, citizen, kit.ServiceInsuranceRenewal, p.Number, "540.00")
		good := e.pay(t, citizen, kit.ServiceInsuranceRenewal, p.Number, "1080.00")
		as.Do("POST", path, body(wrongPolicy)).WantProblem(t, 422, "Client.PaymentNotAcceptable")
		as.Do("POST", path, body(tooLittle)).WantProblem(t, 422, "Client.PaymentNotAcceptable")
		e.c.With(kit.HeaderUserID, d.Spouse.String()).Do("POST", path, body(good)).WantProblem(t, 403, kit.CodeForbidden)
		e.c.Do("POST", path, body(good)).WantProblem(t, 400, kit.CodeBadRequest)
		e.c.With(kit.HeaderUserID, citizen).Do("POST", "/v1/policies/HI-0000000/renewals", body(good)).WantProblem(t, 404, kit.CodeNotFound)

		var r RenewalResult
		as.Do("POST", path, body(good)).Want(t, 201).JSON(t, &r)
		want := adaptertest.Reference().AddDate(1, 0, 10).Format("2006-01-02")
		if r.NewEnd != want || r.PreviousEnd != p.EndsOn || r.Policy.EndsOn != want || r.Policy.Status != StatusActive || r.Policy.Renewal.Eligible {
			t.Fatalf("renewal %+v, want end %s", r, want)
		}
		as.Do("POST", path, body(good)).WantProblem(t, 409, "Client.RenewalNotAllowed")

		// A lapsed policy renews from today.
		e.clk.Add(400 * 24 * 3600e9)
		var lapsed PolicyJSON
		e.c.Do("GET", "/v1/policies/"+p.Number, nil).Want(t, 200).JSON(t, &lapsed)
		if lapsed.Status != StatusLapsed || !lapsed.Renewal.Eligible {
			t.Fatalf("after 400 days %+v", lapsed)
		}
		again := e.pay(t, citizen, kit.ServiceInsuranceRenewal, p.Number, "1080.00")
		as.Do("POST", path, body(again)).Want(t, 201).JSON(t, &r)
		if r.NewEnd != seed.Day(e.clk.Now()).AddDate(1, 0, 0).Format("2006-01-02") {
			t.Fatalf("renewal of a lapsed policy ends %s", r.NewEnd)
		}
	})
}
