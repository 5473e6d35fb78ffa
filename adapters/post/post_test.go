package post

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/adapters/internal/adaptertest"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/nationalid"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
)

type env struct {
	svc *Service
	c   *adaptertest.Client
	w   *seed.World
	clk *clock.Fake
}

func newEnv(t *testing.T, db kit.Database) *env {
	t.Helper()
	clk := clock.NewFake(adaptertest.Reference()) // Sunday 2026-03-15, 11:30 in Palestine
	w, err := seed.Generate(seed.Options{Persons: 20, Reference: adaptertest.Reference()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Database: db, Seed: w, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return &env{svc: svc, c: adaptertest.NewClient(t, svc.Handler(), svc.OpenAPI()), w: w, clk: clk}
}

func TestOpenAPIAndRoutes(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/post.db"})
	adaptertest.CheckRoutes(t, e.svc.Handler(), OpenAPI())
}

func TestTrackingNumbers(t *testing.T) {
	for _, n := range []int64{1, 47312482, 99999999} {
		tn, err := trackingNumber(n)
		if err != nil || len(tn) != 13 || !validTracking(tn) || tn[:2] != "RR" || tn[11:] != "PS" {
			t.Fatalf("trackingNumber(%d) = %q, %v", n, tn, err)
		}
	}
	if tn, _ := trackingNumber(47312482); tn != "RR473124829PS" {
		t.Fatalf("S10 example: %s", tn)
	}
	if _, err := trackingNumber(100000000); err == nil {
		t.Fatal("nine-digit serial accepted")
	}
	if validTracking("RR473124828PS") {
		t.Fatal("wrong check digit accepted")
	}
}

func TestOffices(t *testing.T) {
	e := newEnv(t, kit.Database{Path: t.TempDir() + "/post.db"})
	var all, centres struct{ Offices []OfficeJSON }
	e.c.Do("GET", "/v1/offices", nil).Want(t, 200).JSON(t, &all)
	e.c.Do("GET", "/v1/offices?registrationCentre=true", nil).Want(t, 200).JSON(t, &centres)
	if len(all.Offices) != len(e.w.Offices) || len(centres.Offices) != 8 {
		t.Fatalf("%d offices, %d centres", len(all.Offices), len(centres.Offices))
	}
	var o OfficeJSON
	e.c.Do("GET", "/v1/offices/RAM02", nil).Want(t, 200).JSON(t, &o)
	if o.Kind != seed.OfficeInterior || !o.RegistrationCentre || o.Counters != 3 || o.Name.EN != "Interior Directorate Ramallah" {
		t.Fatalf("office %+v", o)
	}
	e.c.Do("GET", "/v1/offices/XXX99", nil).WantProblem(t, 404, kit.CodeNotFound)
	e.c.Do("GET", "/v1/offices?registrationCentre=maybe", nil).WantProblem(t, 400, kit.CodeBadRequest)
}

func TestAppointments(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		d := e.w.Demo
		zone, _ := time.LoadLocation(TimeZone)
		at := func(day string, hh, mm int) string {
			t0, _ := time.ParseInLocation(time.DateOnly, day, zone)
			return t0.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute).UTC().Format(time.RFC3339)
		}
		type slots struct{ Slots []Slot }
		var today slots
		e.c.Do("GET", "/v1/offices/RAM01/slots?date=2026-03-15", nil).Want(t, 200).JSON(t, &today)
		if len(today.Slots) == 0 || !today.Slots[0].StartsAt.After(e.clk.Now()) || today.Slots[0].Free != 2 ||
			today.Slots[len(today.Slots)-1].StartsAt.Format(time.RFC3339) != at("2026-03-15", 13, 40) {
			t.Fatalf("today's slots %+v", today.Slots)
		}
		var friday slots
		e.c.Do("GET", "/v1/offices/RAM01/slots?date=2026-03-20", nil).Want(t, 200).JSON(t, &friday)
		if len(friday.Slots) != 0 {
			t.Fatalf("Friday has slots %+v", friday.Slots)
		}
		e.c.Do("GET", "/v1/offices/JEN01/slots?date=2026-03-16", nil).WantProblem(t, 409, "Client.NotARegistrationCentre")
		e.c.Do("GET", "/v1/offices/RAM01/slots?date=2026-12-16", nil).WantProblem(t, 400, kit.CodeBadRequest)

		book := func(who, office, startsAt string) *adaptertest.Response {
			return e.c.With(kit.HeaderUserID, who).Do("POST", "/v1/appointments",
				map[string]any{"officeCode": office, "startsAt": startsAt, "purpose": "portal-account"})
		}
		slot := at("2026-03-16", 8, 0)
		var a AppointmentJSON
		book(d.Citizen.String(), "RAM01", slot).Want(t, 201).JSON(t, &a)
		if a.Status != Booked || a.EndsAt.Sub(a.StartsAt) != SlotLength || a.NationalID != d.Citizen.String() {
			t.Fatalf("appointment %+v", a)
		}
		for _, tc := range []struct {
			name, who, office, at string
			status                int
			code                  string
		}{
			{"same citizen, same day", d.Citizen.String(), "RAM02", at("2026-03-16", 10, 0), 409, "Client.SlotUnavailable"},
			{"second counter", d.Spouse.String(), "RAM01", slot, 201, ""},
			{"slot full", d.BlockedDriver.String(), "RAM01", slot, 409, "Client.SlotUnavailable"},
			{"not on a slot boundary", d.BlockedDriver.String(), "RAM01", at("2026-03-16", 8, 10), 400, kit.CodeBadRequest},
			{"before opening", d.BlockedDriver.String(), "RAM01", at("2026-03-16", 7, 40), 400, kit.CodeBadRequest},
			{"at closing", d.BlockedDriver.String(), "RAM01", at("2026-03-16", 14, 0), 400, kit.CodeBadRequest},
			{"Friday", d.BlockedDriver.String(), "RAM01", at("2026-03-20", 8, 0), 400, kit.CodeBadRequest},
			{"already begun", d.BlockedDriver.String(), "RAM01", at("2026-03-15", 8, 0), 409, "Client.SlotUnavailable"},
			{"too far ahead", d.BlockedDriver.String(), "RAM01", at("2026-06-15", 8, 0), 400, kit.CodeBadRequest},
			{"not a centre", d.BlockedDriver.String(), "JEN01", at("2026-03-16", 8, 0), 409, "Client.NotARegistrationCentre"},
			{"unknown office", d.BlockedDriver.String(), "XXX01", at("2026-03-16", 8, 0), 404, kit.CodeNotFound},
			{"not a time", d.BlockedDriver.String(), "RAM01", "tomorrow", 400, kit.CodeBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := book(tc.who, tc.office, tc.at)
				if tc.code != "" {
					r.WantProblem(t, tc.status, tc.code)
					return
				}
				r.Want(t, tc.status)
			})
		}
		e.c.Do("POST", "/v1/appointments", map[string]any{"officeCode": "RAM01", "startsAt": slot, "purpose": "portal-account"}).WantProblem(t, 400, kit.CodeBadRequest)
		var monday slots
		e.c.Do("GET", "/v1/offices/RAM01/slots?date=2026-03-16", nil).Want(t, 200).JSON(t, &monday)
		if len(monday.Slots) != 18 || monday.Slots[0].Free != 0 || monday.Slots[1].Free != 2 {
			t.Fatalf("Monday's slots %+v", monday.Slots)
		}

		cancel := func(who, id string) *adaptertest.Response {
			return e.c.With(kit.HeaderUserID, who).Do("POST", "/v1/appointments/"+id+"/cancellation", nil)
		}
		cancel(d.Spouse.String(), a.ID).WantProblem(t, 403, kit.CodeForbidden)
		cancel(d.Citizen.String(), a.ID).Want(t, 200).JSON(t, &a)
		if a.Status != Cancelled {
			t.Fatalf("after cancelling %+v", a)
		}
		cancel(d.Citizen.String(), a.ID).WantProblem(t, 409, "Client.AlreadyCancelled")
		book(d.BlockedDriver.String(), "RAM01", slot).Want(t, 201)
		e.c.Do("GET", "/v1/appointments/"+a.ID, nil).Want(t, 200).JSON(t, &a)
		if a.Status != Cancelled {
			t.Fatalf("read back %+v", a)
		}
		e.c.Do("GET", "/v1/appointments/AP-2026-9999999", nil).WantProblem(t, 404, kit.CodeNotFound)

		t.Run("concurrent bookings of one slot", func(t *testing.T) {
			busy := at("2026-03-17", 9, 0)
			var wg sync.WaitGroup
			statuses := make([]int, 6)
			for i := range statuses {
				who, err := nationalid.FromPayload(uint32(50000000 + i))
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() { statuses[i] = book(who.String(), "NAB01", busy).Status })
			}
			wg.Wait()
			booked := 0
			for _, s := range statuses {
				switch s {
				case 201:
					booked++
				case 409:
				default:
					t.Fatalf("status %d", s)
				}
			}
			if booked != 2 {
				t.Fatalf("%d bookings for a slot with 2 counters (%v)", booked, statuses)
			}
		})
	})
}

func TestDeliveries(t *testing.T) {
	adaptertest.ForEachDatabase(t, func(t *testing.T, db kit.Database) {
		e := newEnv(t, db)
		moi := e.c.With(kit.HeaderClient, "PS/GOV/MOI/civil-registry")
		citizen := e.w.Demo.Citizen.String()
		toAddress := map[string]any{
			"reference": "BC-2026-000001",
			"item":      map[string]any{"ar": "شهادة ميلاد", "en": "Birth certificate"},
			"recipient": map[string]any{"nationalId": citizen, "name": "Khaled Haddad", "phone": "+970599100200"},
			"method":    "address",
			"address":   map[string]any{"governorate": "Ramallah and Al-Bireh", "locality": "Ramallah", "street": "Al-Irsal Street", "building": "14"},
		}
		var d DeliveryJSON
		r := moi.Do("POST", "/v1/deliveries", toAddress).Want(t, 201)
		r.JSON(t, &d)
		if !validTracking(d.Tracking) || d.State != Created || len(d.Events) != 1 || fmt.Sprint(d.Next) != "[accepted cancelled]" || d.Final || r.Header.Get("Location") != "/v1/deliveries/"+d.Tracking {
			t.Fatalf("delivery %+v", d)
		}
		var again DeliveryJSON
		moi.Do("POST", "/v1/deliveries", toAddress).Want(t, 200).JSON(t, &again)
		if again.Tracking != d.Tracking {
			t.Fatalf("a repeated order made %s besides %s", again.Tracking, d.Tracking)
		}
		toAddress["item"] = map[string]any{"ar": "إخراج قيد", "en": "Extract"}
		moi.Do("POST", "/v1/deliveries", toAddress).WantProblem(t, 409, "Client.ReferenceReused")
		// The same reference from another sender is another delivery.
		e.c.With(kit.HeaderClient, "PS/GOV/MOT/licensing").Do("POST", "/v1/deliveries", toAddress).Want(t, 201)

		event := func(tracking, state string, extra ...string) *adaptertest.Response {
			body := map[string]any{"state": state, "location": "Ramallah"}
			if len(extra) > 0 {
				body["nationalId"] = extra[0]
			}
			return e.c.Do("POST", "/v1/deliveries/"+tracking+"/events", body)
		}
		p := event(d.Tracking, Delivered).WantProblem(t, 409, "Client.InvalidTransition")
		if fmt.Sprint(p.Fields["next"]) != "[accepted cancelled]" {
			t.Fatalf("problem %+v", p.Fields)
		}
		for _, s := range []string{Accepted, InTransit, OutForDelivery, DeliveryFailed, OutForDelivery, Delivered} {
			e.clk.Add(time.Hour)
			event(d.Tracking, s).Want(t, 200).JSON(t, &d)
		}
		if d.State != Delivered || !d.Final || len(d.Next) != 0 || len(d.Events) != 7 || !d.Events[6].At.After(d.Events[0].At) {
			t.Fatalf("delivered %+v", d)
		}
		event(d.Tracking, Returned).WantProblem(t, 409, "Client.InvalidTransition")

		pickup := map[string]any{
			"reference":  "DL-1000001",
			"item":       map[string]any{"ar": "رخصة قيادة", "en": "Driving licence"},
			"recipient":  map[string]any{"nationalId": citizen, "name": "Khaled Haddad", "phone": "0599100200"},
			"method":     "pickup",
			"officeCode": "RAM01",
		}
		var pd DeliveryJSON
		moi.Do("POST", "/v1/deliveries", pickup).Want(t, 201).JSON(t, &pd)
		for _, s := range []string{Accepted, InTransit, ReadyForPickup} {
			event(pd.Tracking, s).Want(t, 200).JSON(t, &pd)
		}
		event(pd.Tracking, OutForDelivery).WantProblem(t, 409, "Client.InvalidTransition")
		event(pd.Tracking, PickedUp, e.w.Demo.Spouse.String()).WantProblem(t, 403, kit.CodeForbidden)
		event(pd.Tracking, PickedUp).WantProblem(t, 403, kit.CodeForbidden)
		event(pd.Tracking, PickedUp, citizen).Want(t, 200).JSON(t, &pd)
		if pd.State != PickedUp || !pd.Final || pd.OfficeCode != "RAM01" || pd.Address != nil {
			t.Fatalf("picked up %+v", pd)
		}
		var read DeliveryJSON
		e.c.Do("GET", "/v1/deliveries/"+pd.Tracking, nil).Want(t, 200).JSON(t, &read)
		if read.State != PickedUp || len(read.Events) != 5 {
			t.Fatalf("tracked %+v", read)
		}

		refs := 0
		bad := func(edit func(m map[string]any)) map[string]any {
			refs++
			m := map[string]any{}
			for k, v := range pickup {
				m[k] = v
			}
			m["reference"] = fmt.Sprintf("CASE-%d", refs)
			edit(m)
			return m
		}
		moi.Do("POST", "/v1/deliveries", bad(func(m map[string]any) { m["officeCode"] = "XXX01" })).WantProblem(t, 404, kit.CodeNotFound)
		moi.Do("POST", "/v1/deliveries", bad(func(m map[string]any) { m["address"] = toAddress["address"] })).WantProblem(t, 400, kit.CodeBadRequest)
		moi.Do("POST", "/v1/deliveries", bad(func(m map[string]any) { m["method"] = "address"; delete(m, "officeCode") })).WantProblem(t, 400, kit.CodeBadRequest)
		moi.Do("POST", "/v1/deliveries", bad(func(m map[string]any) { m["method"] = "drone" })).WantProblem(t, 400, kit.CodeBadRequest)
		moi.Do("POST", "/v1/deliveries", bad(func(m map[string]any) {
			m["recipient"] = map[string]any{"nationalId": "401234563", "name": "X", "phone": "0599100200"}
		})).WantProblem(t, 400, kit.CodeBadRequest)
		e.c.Do("GET", "/v1/deliveries/RR473124828PS", nil).WantProblem(t, 400, kit.CodeBadRequest)
		e.c.Do("GET", "/v1/deliveries/RR473124829PS", nil).WantProblem(t, 404, kit.CodeNotFound)

		t.Run("identical orders at once", func(t *testing.T) {
			body := bad(func(m map[string]any) {})
			var wg sync.WaitGroup
			statuses := make([]int, 6)
			trackings := make([]string, 6)
			for i := range statuses {
				wg.Go(func() {
					r := moi.Do("POST", "/v1/deliveries", body)
					var d DeliveryJSON
					if r.Status < 300 {
						r.JSON(t, &d)
					}
					statuses[i], trackings[i] = r.Status, d.Tracking
				})
			}
			wg.Wait()
			created := 0
			for i, s := range statuses {
				if s == 201 {
					created++
				}
				if (s != 200 && s != 201) || trackings[i] != trackings[0] {
					t.Fatalf("statuses %v trackings %v", statuses, trackings)
				}
			}
			if created != 1 {
				t.Fatalf("%d deliveries created for one order (%v)", created, statuses)
			}
		})

		var cancelled DeliveryJSON
		moi.Do("POST", "/v1/deliveries", bad(func(m map[string]any) {})).Want(t, 201).JSON(t, &cancelled)
		event(cancelled.Tracking, CancelledState).Want(t, 200).JSON(t, &cancelled)
		if !cancelled.Final {
			t.Fatalf("cancelled %+v", cancelled)
		}
	})
}
