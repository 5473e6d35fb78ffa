package transport

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/jisr-bus/jisr/adapters/internal/adaptertest"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/payments"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
)

type env struct {
	svc   *Service
	c     *adaptertest.Client
	pma   *adaptertest.Client
	pmaSv *httptest.Server
	w     *seed.World
	n     int
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
		pma: adaptertest.NewClient(t, pma.Handler(), pma.OpenAPI()), pmaSv: srv, w: w}
}

// pay creates a payment order and returns its id.
func (e *env) pay(t *testing.T, payer, service, reference, amount, cardNumber string) string {
	t.Helper()
	e.n++
	var o payments.Order
	e.pma.Do("POST", "/v1/payment-orders", map[string]any{
		"payer":   map[string]any{"nationalId": payer},
		"amount":  map[string]any{"amount": amount, "currency": "ILS"},
		"purpose": map[string]any{"service": service, "reference": reference},
		"method":  map[string]any{"type": "card", "card": map[string]any{"number": cardNumber, "expiryMonth": 12, "expiryYear": 2029, "cvv": "123"}},
	}, fmt.Sprintf("Idempotency-Key: %d", e.n)).Want(t, 201).JSON(t, &o)
	return o.ID
}

func (e *env) licenceOf(t *testing.T, id string) LicenceJSON {
	t.Helper()
	var l LicenceJSON
	e.c.Do("GET", "/v1/persons/"+id+"/driving-licence", nil).Want(t, 200).JSON(t, &l)
	return l
}

func TestOpenAPIAndRoutes(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/mot.db"})
	adaptertest.CheckRoutes(t, e.svc.Handler(), OpenAPI())
}

func TestLicences(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		d := e.w.Demo
		for _, tc := range []struct {
			name, id, status, blockers string
			eligible                   bool
			unpaid                     int
		}{
			{"due for renewal", d.Citizen.String(), StatusExpiring, "[]", true, 0},
			{"not due", d.Spouse.String(), StatusValid, "[not-due unpaid-fines]", false, 1},
			{"expired with unpaid fines", d.BlockedDriver.String(), StatusExpired, "[unpaid-fines]", false, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l := e.licenceOf(t, tc.id)
				if l.Status != tc.status || fmt.Sprint(l.Renewal.Blockers) != tc.blockers || l.Renewal.Eligible != tc.eligible || l.Renewal.UnpaidFines != tc.unpaid {
					t.Fatalf("licence %+v", l)
				}
				if (l.Renewal.Fee != nil) != tc.eligible || (tc.eligible && l.Renewal.Fee.String() != "150.00 ILS") {
					t.Fatalf("fee %v", l.Renewal.Fee)
				}
				var byNumber LicenceJSON
				e.c.Do("GET", "/v1/driving-licences/"+l.Number, nil).Want(t, 200).JSON(t, &byNumber)
				if byNumber.Holder != tc.id || byNumber.ExpiresOn != l.ExpiresOn {
					t.Fatalf("by number %+v", byNumber)
				}
			})
		}
		e.c.Do("GET", "/v1/persons/"+d.Newborn.String()+"/driving-licence", nil).WantProblem(t, 404, kit.CodeNotFound)
		e.c.Do("GET", "/v1/persons/401234563/driving-licence", nil).WantProblem(t, 400, kit.CodeBadRequest)
		e.c.Do("GET", "/v1/driving-licences/DL-9999999", nil).WantProblem(t, 404, kit.CodeNotFound)
		e.c.Do("GET", "/v1/driving-licences/12", nil).WantProblem(t, 400, kit.CodeBadRequest)
	})
}

func TestRenewal(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		d := e.w.Demo
		citizen := d.Citizen.String()
		l := e.licenceOf(t, citizen)
		path := "/v1/driving-licences/" + l.Number + "/renewals"
		as := e.c.With(kit.HeaderUserID, citizen)
		renewal := func(order string) map[string]any { return map[string]any{"paymentOrderId": order} }

		declined := e.pay(t, citizen, kit.ServiceDrivingLicenceRenew, "APP-1", "150.00", payments.TestCardDeclined)
		wrongService := e.pay(t, citizen, kit.ServiceInsuranceRenewal, "APP-1", "150.00", payments.TestCardApproved)
		otherPayer := e.pay(t, d.Spouse.String(), kit.ServiceDrivingLicenceRenew, "APP-1", "150.00", payments.TestCardApproved)
		tooLittle := e.pay(t, citizen, kit.ServiceDrivingLicenceRenew, "APP-1", "100.00", payments.TestCardApproved)
		good := e.pay(t, citizen, kit.ServiceDrivingLicenceRenew, "APP-1", "150.00", payments.TestCardApproved)
		for _, tc := range []struct {
			name   string
			c      *adaptertest.Client
			order  string
			status int
			code   string
		}{
			{"declined payment", as, declined, 422, "Client.PaymentNotAcceptable"},
			{"payment for another service", as, wrongService, 422, "Client.PaymentNotAcceptable"},
			{"payment for another person", as, otherPayer, 422, "Client.PaymentNotAcceptable"},
			{"payment below the fee", as, tooLittle, 422, "Client.PaymentNotAcceptable"},
			{"unknown payment", as, "PO-2026-99999999", 422, "Client.PaymentNotAcceptable"},
			{"not the holder", e.c.With(kit.HeaderUserID, d.Spouse.String()), good, 403, kit.CodeForbidden},
			{"no requester", e.c, good, 400, kit.CodeBadRequest},
			{"malformed order id", as, "12345", 400, kit.CodeBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.c.Do("POST", path, renewal(tc.order)).WantProblem(t, tc.status, tc.code)
			})
		}
		if after := e.licenceOf(t, citizen); after.ExpiresOn != l.ExpiresOn {
			t.Fatal("a refused renewal changed the licence")
		}

		// The same payment sent five times at once renews once.
		statuses := make([]int, 5)
		results := make([]RenewalResult, 5)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Go(func() {
				r := as.Do("POST", path, renewal(good))
				statuses[i] = r.Status
				if r.Status == 201 {
					r.JSON(t, &results[i])
				}
			})
		}
		wg.Wait()
		var res RenewalResult
		created := 0
		for i, s := range statuses {
			switch s {
			case 201:
				created++
				res = results[i]
			case 409:
			default:
				t.Fatalf("renewal answered %d", s)
			}
		}
		if created != 1 {
			t.Fatalf("%d renewals with one payment, want 1 (%v)", created, statuses)
		}
		wantExpiry := adaptertest.Reference().AddDate(10, 0, 21).Format("2006-01-02")
		if res.PreviousExpiry != l.ExpiresOn || res.NewExpiry != wantExpiry || res.Licence.ExpiresOn != wantExpiry || res.Licence.Status != StatusValid || res.PaymentOrderID != good {
			t.Fatalf("renewal %+v, want expiry %s", res, wantExpiry)
		}
		second := e.pay(t, citizen, kit.ServiceDrivingLicenceRenew, "APP-2", "150.00", payments.TestCardApproved)
		p := as.Do("POST", path, renewal(second)).WantProblem(t, 409, "Client.RenewalNotAllowed")
		if fmt.Sprint(p.Fields["blockers"]) != "[not-due]" {
			t.Fatalf("blockers %v", p.Fields)
		}

		t.Run("unpaid fines block the renewal, paying them unblocks it", func(t *testing.T) {
			omar := d.BlockedDriver.String()
			ol := e.licenceOf(t, omar)
			opath := "/v1/driving-licences/" + ol.Number + "/renewals"
			oas := e.c.With(kit.HeaderUserID, omar)
			order := e.pay(t, omar, kit.ServiceDrivingLicenceRenew, "APP-3", "150.00", payments.TestCardApproved)
			p := oas.Do("POST", opath, renewal(order)).WantProblem(t, 409, "Client.UnpaidFines")
			fines, _ := p.Fields["fines"].([]any)
			if len(fines) != 2 {
				t.Fatalf("problem lists %v, want the two unpaid fines", p.Fields)
			}
			var list struct {
				Fines       []FineJSON
				UnpaidCount int
				UnpaidTotal kit.Money
			}
			e.c.Do("GET", "/v1/fines?nationalId="+omar+"&status=unpaid", nil).Want(t, 200).JSON(t, &list)
			for _, f := range list.Fines {
				fo := e.pay(t, omar, kit.ServiceTrafficFine, f.Number, f.Amount.Amount(), payments.TestCardApproved)
				e.c.Do("POST", "/v1/fines/"+f.Number+"/payment", map[string]any{"paymentOrderId": fo}).Want(t, 200)
			}
			var r RenewalResult
			oas.Do("POST", opath, renewal(order)).Want(t, 201).JSON(t, &r)
			// Expired licence with a class above B: five years from today.
			if want := adaptertest.Reference().Format("2006-01-02"); r.NewExpiry != adaptertest.Reference().AddDate(5, 0, 0).Format("2006-01-02") {
				t.Fatalf("new expiry %s (today %s)", r.NewExpiry, want)
			}
		})
		t.Run("payments service down", func(t *testing.T) {
			e.pmaSv.Close()
			as.Do("POST", path, renewal(second)).WantProblem(t, 409, "Client.RenewalNotAllowed")
			spouse := e.c.With(kit.HeaderUserID, d.Spouse.String())
			sl := e.licenceOf(t, d.Spouse.String())
			spouse.Do("POST", "/v1/driving-licences/"+sl.Number+"/renewals", renewal(second)).WantProblem(t, 409, "Client.RenewalNotAllowed")
			var fl struct{ Fines []FineJSON }
			e.c.Do("GET", "/v1/fines?nationalId="+d.Spouse.String()+"&status=unpaid", nil).Want(t, 200).JSON(t, &fl)
			e.c.Do("POST", "/v1/fines/"+fl.Fines[0].Number+"/payment", map[string]any{"paymentOrderId": second}).WantProblem(t, 503, kit.CodeUnavailable)
		})
	})
}

func TestFines(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		omar := e.w.Demo.BlockedDriver.String()
		type list struct {
			Fines       []FineJSON
			UnpaidCount int
			UnpaidTotal kit.Money
		}
		var all list
		e.c.Do("GET", "/v1/fines?nationalId="+omar, nil).Want(t, 200).JSON(t, &all)
		if len(all.Fines) != 2 || all.UnpaidCount != 2 || all.UnpaidTotal.String() != "1250.00 ILS" || all.Fines[0].IssuedAt.Before(all.Fines[1].IssuedAt) {
			t.Fatalf("fines %+v", all)
		}
		var paid list
		e.c.Do("GET", "/v1/fines?nationalId="+omar+"&status=paid", nil).Want(t, 200).JSON(t, &paid)
		if len(paid.Fines) != 0 || paid.UnpaidCount != 2 {
			t.Fatalf("paid filter %+v", paid)
		}
		var byPlate list
		e.c.Do("GET", "/v1/fines?plate="+all.Fines[0].Plate, nil).Want(t, 200).JSON(t, &byPlate)
		if len(byPlate.Fines) != 2 {
			t.Fatalf("by plate %+v", byPlate)
		}
		var citizen list
		e.c.Do("GET", "/v1/fines?nationalId="+e.w.Demo.Citizen.String(), nil).Want(t, 200).JSON(t, &citizen)
		if len(citizen.Fines) != 1 || citizen.Fines[0].Status != "paid" || citizen.UnpaidCount != 0 || citizen.UnpaidTotal.String() != "0.00 ILS" {
			t.Fatalf("citizen's fines %+v", citizen)
		}
		for _, q := range []string{"", "?nationalId=" + omar + "&plate=1-0001-95", "?plate=ABC", "?nationalId=401234563", "?nationalId=" + omar + "&status=late"} {
			e.c.Do("GET", "/v1/fines"+q, nil).WantProblem(t, 400, kit.CodeBadRequest)
		}

		f1, f2 := all.Fines[0], all.Fines[1]
		pay := func(number, order string) *adaptertest.Response {
			return e.c.Do("POST", "/v1/fines/"+number+"/payment", map[string]any{"paymentOrderId": order})
		}
		forF2 := e.pay(t, omar, kit.ServiceTrafficFine, f2.Number, f2.Amount.Amount(), payments.TestCardApproved)
		short := e.pay(t, omar, kit.ServiceTrafficFine, f1.Number, "1.00", payments.TestCardApproved)
		pay(f1.Number, forF2).WantProblem(t, 422, "Client.PaymentNotAcceptable")
		pay(f1.Number, short).WantProblem(t, 422, "Client.PaymentNotAcceptable")
		// Anyone may pay a fine: a relative's payment counts.
		forF1 := e.pay(t, e.w.Demo.Citizen.String(), kit.ServiceTrafficFine, f1.Number, f1.Amount.Amount(), payments.TestCardApproved)
		var got FineJSON
		pay(f1.Number, forF1).Want(t, 200).JSON(t, &got)
		if got.Status != "paid" || got.PaymentOrderID != forF1 || got.PaidAt == nil {
			t.Fatalf("paid fine %+v", got)
		}
		pay(f1.Number, forF1).WantProblem(t, 409, "Client.FineAlreadyPaid")
		e.c.Do("GET", "/v1/fines/TF-99999999", nil).WantProblem(t, 404, kit.CodeNotFound)
		pay("TF-99999999", forF2).WantProblem(t, 404, kit.CodeNotFound)
		e.c.Do("GET", "/v1/fines/"+f1.Number, nil).Want(t, 200).JSON(t, &got)
		if got.Status != "paid" {
			t.Fatalf("fine %+v", got)
		}
	})
}

func TestVehicles(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/mot.db"})
	var vs struct{ Vehicles []VehicleJSON }
	e.c.Do("GET", "/v1/persons/"+e.w.Demo.Citizen.String()+"/vehicles", nil).Want(t, 200).JSON(t, &vs)
	if len(vs.Vehicles) != 1 || vs.Vehicles[0].Licence.Status != StatusValid || vs.Vehicles[0].Owner != e.w.Demo.Citizen.String() {
		t.Fatalf("vehicles %+v", vs)
	}
	var v VehicleJSON
	e.c.Do("GET", "/v1/persons/"+e.w.Demo.BlockedDriver.String()+"/vehicles", nil).Want(t, 200).JSON(t, &vs)
	e.c.Do("GET", "/v1/vehicles/"+vs.Vehicles[0].Plate, nil).Want(t, 200).JSON(t, &v)
	if v.Licence.Status != StatusExpired || v.Make == "" || v.Kind.AR == "" {
		t.Fatalf("vehicle %+v", v)
	}
	e.c.Do("GET", "/v1/vehicles/9-9999-99", nil).WantProblem(t, 404, kit.CodeNotFound)
	e.c.Do("GET", "/v1/vehicles/XYZ", nil).WantProblem(t, 400, kit.CodeBadRequest)
	e.c.Do("GET", "/v1/persons/"+e.w.Demo.Newborn.String()+"/vehicles", nil).Want(t, 200).JSON(t, &vs)
	if len(vs.Vehicles) != 0 {
		t.Fatalf("newborn owns %+v", vs)
	}
}

func TestNeedsVerifier(t *testing.T) {
	if _, err := New(Config{Database: kit.Database{Path: t.TempDir() + "/mot.db"}}); err == nil {
		t.Fatal("started without a payment verifier")
	}
}
