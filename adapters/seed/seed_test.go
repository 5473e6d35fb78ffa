package seed

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/adapters/checkdigit"
	"github.com/jisr-bus/jisr/adapters/nationalid"
)

var update = flag.Bool("update", false, "rewrite testdata/world.golden.json")

func ref() time.Time { return time.Date(2026, time.March, 15, 9, 30, 0, 0, time.UTC) }

func generate(t *testing.T, o Options) *World {
	t.Helper()
	w, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDeterministic(t *testing.T) {
	a := generate(t, Options{Seed: 7, Persons: 300, Reference: ref()})
	b := generate(t, Options{Seed: 7, Persons: 300, Reference: ref()})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two worlds from the same options differ")
	}
	// Only the date of the reference counts.
	c := generate(t, Options{Seed: 7, Persons: 300, Reference: Day(ref()).Add(23 * time.Hour)})
	c.Options.Reference = a.Options.Reference
	if !reflect.DeepEqual(a, c) {
		t.Fatal("the time of day of the reference changed the world")
	}
	d := generate(t, Options{Seed: 8, Persons: 300, Reference: ref()})
	if reflect.DeepEqual(a.Persons[10:], d.Persons[10:]) {
		t.Fatal("another seed gave the same population")
	}
	if a.Demo != d.Demo {
		t.Fatal("the demo households depend on the seed")
	}
	if fa, fb := (Options{Seed: 7, Persons: 300, Reference: ref()}).Fingerprint(), (Options{Seed: 7, Persons: 300, Reference: ref().Add(time.Hour)}).Fingerprint(); fa != fb || fa == "invalid" {
		t.Fatalf("fingerprints %q %q", fa, fb)
	}
}

// TestGolden pins a small world: a change to the generator that changes
// the data must be deliberate (go test -update) and bump Version.
func TestGolden(t *testing.T) {
	w := generate(t, Options{Seed: 1, Persons: 12, Reference: ref()})
	got, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "world.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("generated world differs from %s (run go test -update after a deliberate change, and bump Version)", path)
	}
}

func TestOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no reference":   {Persons: 20},
		"too few":        {Persons: MinPersons - 1, Reference: ref()},
		"too many":       {Persons: MaxPersons + 1, Reference: ref()},
		"negative count": {Persons: -5, Reference: ref()},
	} {
		if _, err := Generate(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	w := generate(t, Options{Reference: ref()})
	if len(w.Persons) < DefaultPersons || w.Options.Seed != DefaultSeed {
		t.Fatalf("defaults: %d persons, seed %d", len(w.Persons), w.Options.Seed)
	}
}

// TestInvariants checks what the adapters rely on: valid and unique
// national IDs, consistent families, records that point at existing
// persons and vehicles, unique record numbers, and the demo households.
func TestInvariants(t *testing.T) {
	w := generate(t, Options{Seed: 3, Persons: 2000, Reference: ref()})
	day := Day(ref())
	age := func(b time.Time) int {
		y := day.Year() - b.Year()
		if day.YearDay() < b.YearDay() {
			y--
		}
		return y
	}
	unique := func(kind string) func(string) {
		seen := map[string]bool{}
		return func(v string) {
			t.Helper()
			if v == "" || seen[v] {
				t.Errorf("%s %q empty or repeated", kind, v)
			}
			seen[v] = true
		}
	}
	ids := unique("national ID")
	named := func(n Name) bool { return n.AR != "" && n.EN != "" }
	for _, p := range w.Persons {
		ids(p.NationalID.String())
		if _, err := nationalid.Parse(p.NationalID.String()); err != nil {
			t.Errorf("%s: %v", p.NationalID, err)
		}
		if !named(p.FirstName) || !named(p.FatherName) || !named(p.GrandfatherName) || !named(p.FamilyName) || !named(p.Birthplace.Locality) || !named(p.Address.Locality) {
			t.Errorf("%s: a name is missing: %+v", p.NationalID, p)
		}
		if p.BirthDate.After(day) {
			t.Errorf("%s born after the reference date", p.NationalID)
		}
		for _, parent := range []nationalid.ID{p.Mother, p.Father} {
			if parent.IsZero() {
				continue
			}
			pp, ok := w.Person(parent)
			if !ok {
				t.Errorf("%s: parent %s missing", p.NationalID, parent)
				continue
			}
			if age(pp.BirthDate)-age(p.BirthDate) < 15 {
				t.Errorf("%s: parent %s less than 15 years older", p.NationalID, parent)
			}
		}
		if !p.Father.IsZero() {
			f, _ := w.Person(p.Father)
			if p.FatherName != f.FirstName || p.FamilyName != f.FamilyName || p.GrandfatherName != f.FatherName {
				t.Errorf("%s: four-part name does not follow the father %s", p.NationalID, f.NationalID)
			}
		}
		if !p.Spouse.IsZero() {
			s, ok := w.Person(p.Spouse)
			if !ok || s.Spouse != p.NationalID || p.MaritalStatus != Married {
				t.Errorf("%s: spouse %s not reciprocal", p.NationalID, p.Spouse)
			}
		}
	}
	if len(w.Births) != len(w.Persons) {
		t.Fatalf("%d births for %d persons", len(w.Births), len(w.Persons))
	}
	regs := unique("birth registration")
	for i, b := range w.Births {
		regs(b.RegistrationNumber)
		p := w.Persons[i]
		if b.Child != p.NationalID || b.Mother != p.Mother || b.Father != p.Father || Day(b.DateTime) != p.BirthDate {
			t.Errorf("birth record %s does not match person %s", b.RegistrationNumber, p.NationalID)
		}
		if !named(b.MotherName) || !named(b.FatherName) || b.RegisteredOn.Before(p.BirthDate) || b.RegisteredOn.After(day) {
			t.Errorf("birth record %s incomplete: %+v", b.RegistrationNumber, b)
		}
	}
	lic := unique("licence number")
	holders := map[nationalid.ID]bool{}
	for _, l := range w.Licences {
		lic(l.Number)
		p, ok := w.Person(l.Holder)
		if !ok || age(p.BirthDate) < 18 || holders[l.Holder] || len(l.Classes) == 0 {
			t.Errorf("licence %s: holder %s missing, under 18, holding two licences, or no class", l.Number, l.Holder)
		}
		holders[l.Holder] = true
	}
	plates := unique("plate")
	vehicles := map[string]bool{}
	for _, v := range w.Vehicles {
		plates(v.Plate)
		vehicles[v.Plate] = true
		if _, ok := w.Person(v.Owner); !ok {
			t.Errorf("vehicle %s: owner missing", v.Plate)
		}
	}
	fines := unique("fine number")
	for _, f := range w.Fines {
		fines(f.Number)
		if _, ok := w.Person(f.Driver); !ok || !vehicles[f.Plate] || f.Amount.Minor <= 0 || f.IssuedAt.After(day) {
			t.Errorf("fine %s inconsistent: %+v", f.Number, f)
		}
		if !f.PaidAt.IsZero() && f.PaidAt.Before(f.IssuedAt) {
			t.Errorf("fine %s paid before issued", f.Number)
		}
	}
	pols := unique("policy number")
	for _, p := range w.Policies {
		pols(p.Number)
		if _, ok := AnnualPremium(p.Category); !ok {
			t.Errorf("policy %s: category %q", p.Number, p.Category)
		}
		for _, id := range append([]nationalid.ID{p.Holder}, p.Dependants...) {
			if _, ok := w.Person(id); !ok {
				t.Errorf("policy %s: %s missing", p.Number, id)
			}
		}
	}
	vouchers := unique("voucher")
	for _, v := range w.Vouchers {
		vouchers(v.Number)
		if !checkdigit.LuhnValid(v.Number) || v.Amount.Minor <= 0 {
			t.Errorf("voucher %s invalid", v.Number)
		}
	}
	offices := unique("office code")
	for _, o := range w.Offices {
		offices(o.Code)
		if o.RegistrationCentre != (o.Counters > 0) {
			t.Errorf("office %s: registration centre %v with %d counters", o.Code, o.RegistrationCentre, o.Counters)
		}
	}

	t.Run("demo households", func(t *testing.T) {
		d := w.Demo
		unpaid := func(id nationalid.ID) int {
			n := 0
			for _, f := range w.Fines {
				if f.Driver == id && f.PaidAt.IsZero() {
					n++
				}
			}
			return n
		}
		licence := func(id nationalid.ID) DrivingLicence {
			for _, l := range w.Licences {
				if l.Holder == id {
					return l
				}
			}
			t.Fatalf("%s holds no licence", id)
			return DrivingLicence{}
		}
		if l := licence(d.Citizen); !l.ExpiresOn.After(day) || l.ExpiresOn.After(day.AddDate(0, 1, 0)) || unpaid(d.Citizen) != 0 {
			t.Errorf("the demo citizen's licence must expire within a month with no unpaid fines: %+v, %d unpaid", l, unpaid(d.Citizen))
		}
		if l := licence(d.BlockedDriver); !l.ExpiresOn.Before(day) || unpaid(d.BlockedDriver) < 1 {
			t.Errorf("the blocked driver must have an expired licence and unpaid fines")
		}
		if unpaid(d.Spouse) != 1 {
			t.Errorf("the spouse has %d unpaid fines, want 1", unpaid(d.Spouse))
		}
		nb, _ := w.Person(d.Newborn)
		if nb.Father != d.Citizen || nb.Mother != d.Spouse || w.Births[w.byID[d.Newborn]].CertificatesIssued != 0 {
			t.Errorf("the newborn must be the citizen's child without a certificate")
		}
		if w.Births[w.byID[d.Child]].CertificatesIssued == 0 {
			t.Errorf("the child's certificate must have been issued on paper")
		}
	})
}

func TestFeeSchedule(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range FeeSchedule() {
		if seen[f.Service] || f.Ministry == "" || f.Name.AR == "" || f.Name.EN == "" {
			t.Errorf("fee %+v repeated or incomplete", f)
		}
		seen[f.Service] = true
		if f.Variable != f.Amount.IsZero() {
			t.Errorf("fee %s: variable=%v but amount %v", f.Service, f.Variable, f.Amount)
		}
	}
}
