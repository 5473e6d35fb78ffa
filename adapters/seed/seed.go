// Package seed generates the demo world's synthetic population and the
// records each ministry keeps about it, deterministically: the same Options
// give the same World, byte for byte, on every machine and every run. Every
// ministry adapter seeds its database from the same World, so the citizens
// of the civil registry (adapters/interior) are the licence holders of
// Transport, the policy holders of Health and the payers at the Monetary
// Authority.
//
// The data is invented: Arabic and English names drawn from common
// Palestinian names, households (parents and children, whose father's and
// grandfather's names follow the four-part naming rule), national ID numbers
// with a Luhn check digit (adapters/nationalid), places in real
// governorates, driving licences, vehicles, traffic fines, health insurance
// policies, post offices and registration centres, deposit vouchers and the
// fee schedule. A few households are fixed (see Demo) so that demos and
// tests can rely on a citizen who can renew a licence, one who cannot, and
// a newborn without a birth certificate.
//
// Generation uses math/rand/v2's PCG generator (a fixed algorithm) with
// reductions written here, so that the output depends on nothing but
// Options.
package seed

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jisr-bus/jisr/adapters/checkdigit"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/nationalid"
)

// Version is the generator's version: it is part of the Fingerprint and
// changes whenever the same Options would produce a different World.
const Version = 1

// Defaults of Options.
const (
	DefaultSeed    = 1
	DefaultPersons = 200
	// MinPersons is the smallest population: the fixed demo households.
	MinPersons = 8
	// MaxPersons bounds the population (payloads must stay eight digits).
	MaxPersons = 100_000
)

// Options select a World.
type Options struct {
	// Seed selects the random sequence (0 means DefaultSeed).
	Seed uint64
	// Persons is the population size, at least MinPersons (0 means
	// DefaultPersons). Generation stops after the household that reaches
	// it, so the population may exceed it by a few.
	Persons int
	// Reference is "today" for the data: ages, expiry dates and recent
	// births are relative to its date (UTC). Required.
	Reference time.Time
}

func (o Options) withDefaults() (Options, error) {
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.Persons == 0 {
		o.Persons = DefaultPersons
	}
	if o.Persons < MinPersons || o.Persons > MaxPersons {
		return o, fmt.Errorf("seed: persons must be between %d and %d", MinPersons, MaxPersons)
	}
	if o.Reference.IsZero() {
		return o, errors.New("seed: a reference date is required")
	}
	o.Reference = Day(o.Reference)
	return o, nil
}

// Fingerprint identifies the World o generates; adapters record it when
// they load the seed.
func (o Options) Fingerprint() string {
	n, err := o.withDefaults()
	if err != nil {
		return "invalid"
	}
	return fmt.Sprintf("v%d;seed=%d;persons=%d;reference=%s", Version, n.Seed, n.Persons, n.Reference.Format(time.DateOnly))
}

// Day returns t's date at midnight UTC.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Name is a text in Arabic and English.
type Name struct {
	AR string `json:"ar"`
	EN string `json:"en"`
}

// Join returns the names separated by spaces in both languages.
func Join(parts ...Name) Name {
	var out Name
	for i, p := range parts {
		if i > 0 {
			out.AR += " "
			out.EN += " "
		}
		out.AR += p.AR
		out.EN += p.EN
	}
	return out
}

// Place is a locality in a governorate.
type Place struct {
	Governorate Name `json:"governorate"`
	Locality    Name `json:"locality"`
}

// Address is where a person lives.
type Address struct {
	Place
	Street   Name `json:"street"`
	Building int  `json:"building"`
}

// Sexes.
const (
	Male   = "male"
	Female = "female"
)

// Marital statuses.
const (
	Single  = "single"
	Married = "married"
)

// Person is a resident in the civil registry.
type Person struct {
	NationalID nationalid.ID
	Sex        string
	// FirstName, FatherName, GrandfatherName and FamilyName make the
	// four-part name.
	FirstName, FatherName, GrandfatherName, FamilyName Name
	BirthDate                                          time.Time
	Birthplace                                         Place
	// Mother and Father are zero for the first generation (born before
	// the registry was computerised, parents not linked).
	Mother, Father nationalid.ID
	Spouse         nationalid.ID
	MaritalStatus  string
	Address        Address
	// Phone is a synthetic mobile number.
	Phone string
}

// FullName returns the four-part name.
func (p Person) FullName() Name {
	return Join(p.FirstName, p.FatherName, p.GrandfatherName, p.FamilyName)
}

// Birth is a birth record of the civil registry.
type Birth struct {
	RegistrationNumber string
	Child              nationalid.ID
	// DateTime is the time of birth (UTC).
	DateTime time.Time
	Facility Name
	Place    Place
	// Mother and Father are zero for the first generation; the names are
	// always set.
	Mother, Father         nationalid.ID
	MotherName, FatherName Name
	RegisteredOn           time.Time
	// CertificatesIssued counts the certificates issued before the
	// registry went online (paper ones): 0 means a new certificate may be
	// issued, more means only copies.
	CertificatesIssued int
}

// Licence classes.
const (
	ClassA  = "A"
	ClassB  = "B"
	ClassC1 = "C1"
	ClassC  = "C"
	ClassD  = "D"
)

// DrivingLicence is a licence of the Ministry of Transport.
type DrivingLicence struct {
	Number    string
	Holder    nationalid.ID
	Classes   []string
	IssuedOn  time.Time
	ExpiresOn time.Time
	Suspended bool
}

// Vehicle is a registered vehicle with its annual licence.
type Vehicle struct {
	Plate            string
	Owner            nationalid.ID
	Make, Model      string
	Year             int
	Kind             Name
	Colour           Name
	LicenceExpiresOn time.Time
}

// Fine is a traffic fine.
type Fine struct {
	Number      string
	Driver      nationalid.ID
	Plate       string
	OffenceCode string
	Offence     Name
	Amount      kit.Money
	IssuedAt    time.Time
	Location    Name
	// PaidAt is zero for an unpaid fine.
	PaidAt time.Time
}

// Policy categories.
const (
	CategoryFamily     = "family"
	CategoryIndividual = "individual"
	CategorySenior     = "senior"
)

// Policy is a government health insurance policy.
type Policy struct {
	Number     string
	Holder     nationalid.ID
	Dependants []nationalid.ID
	Category   string
	StartsOn   time.Time
	EndsOn     time.Time
}

// AnnualPremium returns the yearly premium of a policy category.
func AnnualPremium(category string) (kit.Money, bool) {
	switch category {
	case CategoryFamily:
		return kit.Money{Minor: 108000, Currency: kit.ILS}, true
	case CategoryIndividual:
		return kit.Money{Minor: 54000, Currency: kit.ILS}, true
	case CategorySenior:
		return kit.Money{Minor: 24000, Currency: kit.ILS}, true
	}
	return kit.Money{}, false
}

// Office kinds.
const (
	OfficePost     = "post-office"
	OfficeInterior = "interior-directorate"
)

// Office is a post office or an Interior directorate; registration centres
// (where citizens' identities are checked in person and portal accounts
// opened) take appointments.
type Office struct {
	Code               string
	Kind               string
	Name               Name
	Place              Place
	Street             Name
	RegistrationCentre bool
	// Counters is how many appointments each slot takes (registration
	// centres only).
	Counters int
}

// Fee is an entry of the Ministry of Finance's fee schedule.
type Fee struct {
	// Service is the service code (kit.Service…).
	Service string
	// Ministry is the member code of the ministry that provides the
	// service ("MOT").
	Ministry string
	Name     Name
	// Amount is the fee; zero Money when Variable.
	Amount kit.Money
	// Variable fees depend on the case (a fine's amount, a policy's
	// premium); the providing ministry states them.
	Variable bool
}

// Voucher is a deposit voucher: a bank's receipt for cash paid in at its
// counter for a government payment, redeemable once.
type Voucher struct {
	Number   string
	Bank     Name
	Amount   kit.Money
	IssuedOn time.Time
}

// Demo names the fixed households' members.
type Demo struct {
	// Citizen is the portal's demo citizen: a father whose driving licence
	// expires in a few weeks (renewable: no unpaid fines), whose family
	// health insurance policy ends soon, and who owns a car.
	Citizen nationalid.ID
	// Spouse is the citizen's wife; she has one unpaid parking fine.
	Spouse nationalid.ID
	// Child is their school-age son (his birth certificate was issued on
	// paper: only copies can be issued).
	Child nationalid.ID
	// Newborn is their daughter, born nine days before the reference
	// date: no birth certificate has been issued yet.
	Newborn nationalid.ID
	// BlockedDriver's licence expired three months ago and he has two
	// unpaid fines: a renewal must be refused.
	BlockedDriver nationalid.ID
}

// World is everything the ministries know at the reference date.
type World struct {
	Options  Options
	Persons  []Person
	Births   []Birth
	Licences []DrivingLicence
	Vehicles []Vehicle
	Fines    []Fine
	Policies []Policy
	Offices  []Office
	Fees     []Fee
	Vouchers []Voucher
	Demo     Demo

	byID map[nationalid.ID]int
}

// Person returns the person with national ID id.
func (w *World) Person(id nationalid.ID) (Person, bool) {
	i, ok := w.byID[id]
	if !ok {
		return Person{}, false
	}
	return w.Persons[i], true
}

// rng draws from PCG with reductions fixed here (math/rand/v2 documents
// PCG's output, not that of its convenience methods).
type rng struct{ src *rand.PCG }

func (r rng) intn(n int) int { return int(r.src.Uint64() % uint64(n)) }

// between returns an int in [lo, hi].
func (r rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// chance reports true with probability percent/100.
func (r rng) chance(percent int) bool { return r.intn(100) < percent }

func pick[T any](r rng, s []T) T { return s[r.intn(len(s))] }

// generator holds the state of one Generate call.
type generator struct {
	r     rng
	ref   time.Time
	w     *World
	govs  []governorate
	males []Name
	fems  []Name
	fams  []Name
	// next payload for a generated national ID
	nextPayload uint32
	counters    map[string]int
}

func (g *generator) seq(name string) int {
	g.counters[name]++
	return g.counters[name]
}

// Generate builds the World o selects.
func Generate(o Options) (*World, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &generator{
		r:           rng{rand.NewPCG(o.Seed, 0x6a697372)}, // "jisr"
		ref:         o.Reference,
		w:           &World{Options: o, byID: map[nationalid.ID]int{}},
		govs:        governorates(),
		males:       maleNames(),
		fems:        femaleNames(),
		fams:        familyNames(),
		nextPayload: 41000000,
		counters:    map[string]int{},
	}
	if err := g.demoHouseholds(); err != nil {
		return nil, err
	}
	for len(g.w.Persons) < o.Persons {
		if err := g.household(); err != nil {
			return nil, err
		}
	}
	g.offices()
	g.w.Fees = FeeSchedule()
	if err := g.vouchers(); err != nil {
		return nil, err
	}
	return g.w, nil
}

// newID returns the next generated national ID: payloads ascend with a
// random gap, so numbers look scattered but never repeat.
func (g *generator) newID() (nationalid.ID, error) {
	g.nextPayload += uint32(g.r.between(1, 97))
	return nationalid.FromPayload(g.nextPayload)
}

func (g *generator) daysAgo(n int) time.Time { return g.ref.AddDate(0, 0, -n) }

// age returns p's age in whole years at the reference date.
func (g *generator) age(birth time.Time) int {
	y := g.ref.Year() - birth.Year()
	if g.ref.YearDay() < birth.YearDay() {
		y--
	}
	return y
}

func (g *generator) phone() string {
	prefix := pick(g.r, []string{"59", "56"})
	return fmt.Sprintf("+970%s%07d", prefix, g.r.intn(10_000_000))
}

func (g *generator) address(gov governorate) Address {
	return Address{
		Place:    Place{Governorate: gov.name, Locality: pick(g.r, gov.localities)},
		Street:   pick(g.r, streets()),
		Building: g.r.between(1, 120),
	}
}

// add records a person and their birth record.
func (g *generator) add(p Person, b Birth) {
	g.w.byID[p.NationalID] = len(g.w.Persons)
	g.w.Persons = append(g.w.Persons, p)
	b.Child = p.NationalID
	b.RegistrationNumber = fmt.Sprintf("BR-%d-%06d", p.BirthDate.Year(), g.seq("birth"))
	g.w.Births = append(g.w.Births, b)
}

// birthRecord returns the birth record of a person born at t in gov.
func (g *generator) birthRecord(t time.Time, gov governorate, place Place, mother, father Person, linked bool) Birth {
	dt := t.Add(time.Duration(g.r.intn(24*60)) * time.Minute)
	reg := t.AddDate(0, 0, g.r.between(1, 7))
	if reg.After(g.ref) {
		reg = g.ref
	}
	b := Birth{
		DateTime:     dt,
		Facility:     gov.hospital,
		Place:        place,
		MotherName:   mother.FullName(),
		FatherName:   father.FullName(),
		RegisteredOn: reg,
	}
	if linked {
		b.Mother, b.Father = mother.NationalID, father.NationalID
	}
	if g.ref.Sub(t) > 60*24*time.Hour {
		b.CertificatesIssued = 1
	}
	return b
}

// parentPerson makes a first-generation adult: parents not linked.
func (g *generator) parentPerson(sex string, family Name, birth time.Time, gov governorate) (Person, Birth, error) {
	id, err := g.newID()
	if err != nil {
		return Person{}, Birth{}, err
	}
	first := pick(g.r, g.males)
	if sex == Female {
		first = pick(g.r, g.fems)
	}
	father := pick(g.r, g.males)
	p := Person{
		NationalID: id, Sex: sex, FirstName: first, FatherName: father, GrandfatherName: pick(g.r, g.males),
		FamilyName: family, BirthDate: birth,
		Birthplace:    Place{Governorate: gov.name, Locality: pick(g.r, gov.localities)},
		MaritalStatus: Single, Phone: g.phone(),
	}
	// The parents of the first generation are known by name only.
	dad := Person{FirstName: p.FatherName, FatherName: p.GrandfatherName, GrandfatherName: pick(g.r, g.males), FamilyName: family}
	mum := Person{FirstName: pick(g.r, g.fems), FatherName: pick(g.r, g.males), GrandfatherName: pick(g.r, g.males), FamilyName: pick(g.r, g.fams)}
	return p, g.birthRecord(birth, gov, p.Birthplace, mum, dad, false), nil
}

// child makes a child of father and mother born on birth.
func (g *generator) child(father, mother Person, sex string, first Name, birth time.Time, gov governorate, home Address) (Person, Birth, error) {
	id, err := g.newID()
	if err != nil {
		return Person{}, Birth{}, err
	}
	p := Person{
		NationalID: id, Sex: sex, FirstName: first, FatherName: father.FirstName, GrandfatherName: father.FatherName,
		FamilyName: father.FamilyName, BirthDate: birth, Birthplace: home.Place,
		Mother: mother.NationalID, Father: father.NationalID, MaritalStatus: Single, Address: home,
	}
	if g.age(birth) >= 16 {
		p.Phone = g.phone()
	}
	return p, g.birthRecord(birth, gov, home.Place, mother, father, true), nil
}

// household generates one household and the ministries' records about it.
func (g *generator) household() error {
	gov := pick(g.r, g.govs)
	home := g.address(gov)
	family := pick(g.r, g.fams)
	fatherAge := g.r.between(24, 72)
	fb := g.daysAgo(fatherAge*365 + g.r.intn(365))
	father, fbirth, err := g.parentPerson(Male, family, fb, gov)
	if err != nil {
		return err
	}
	father.Address = home
	if !g.r.chance(80) {
		g.add(father, fbirth)
		return g.records(father, nil, nil)
	}
	mb := fb.AddDate(g.r.between(0, 8), 0, g.r.intn(365))
	if g.age(mb) < 20 {
		mb = g.ref.AddDate(-20, 0, -g.r.intn(365))
	}
	mother, mbirth, err := g.parentPerson(Female, pick(g.r, g.fams), mb, pick(g.r, g.govs))
	if err != nil {
		return err
	}
	mother.Address = home
	father.Spouse, mother.Spouse = mother.NationalID, father.NationalID
	father.MaritalStatus, mother.MaritalStatus = Married, Married
	g.add(father, fbirth)
	g.add(mother, mbirth)
	var children []Person
	first := mb.AddDate(g.r.between(20, 26), 0, 0)
	for i, n := 0, g.r.between(0, 4); i < n; i++ {
		cb := first.AddDate(2*i+g.r.intn(2), 0, g.r.intn(300))
		if cb.After(g.ref) || g.age(mb)-g.age(cb) > 45 {
			break
		}
		sex, name := Male, pick(g.r, g.males)
		if g.r.chance(50) {
			sex, name = Female, pick(g.r, g.fems)
		}
		c, cbirth, err := g.child(father, mother, sex, name, cb, gov, home)
		if err != nil {
			return err
		}
		g.add(c, cbirth)
		children = append(children, c)
	}
	return g.records(father, &mother, children)
}

// records generates the licences, vehicles, fines and policy of a household.
func (g *generator) records(father Person, mother *Person, children []Person) error {
	adults := []Person{father}
	if mother != nil {
		adults = append(adults, *mother)
	}
	for _, c := range children {
		if g.age(c.BirthDate) >= 18 {
			adults = append(adults, c)
		}
	}
	for _, a := range adults {
		if !g.r.chance(55) {
			continue
		}
		classes := []string{ClassB}
		switch {
		case g.r.chance(8):
			classes = append(classes, ClassC1, ClassC)
		case g.r.chance(5):
			classes = append(classes, ClassD)
		case g.r.chance(10):
			classes = append([]string{ClassA}, classes...)
		}
		exp := g.ref.AddDate(0, 0, g.r.between(-400, 3650))
		g.licence(a.NationalID, classes, exp, g.r.chance(3))
		plate := ""
		if g.r.chance(50) {
			plate = g.vehicle(a.NationalID, g.ref.AddDate(0, 0, g.r.between(-90, 365)))
		}
		if g.r.chance(30) {
			if plate == "" && len(g.w.Vehicles) > 0 {
				plate = g.w.Vehicles[g.r.intn(len(g.w.Vehicles))].Plate
			}
			if plate == "" {
				continue
			}
			for i, n := 0, g.r.between(1, 3); i < n; i++ {
				issued := g.ref.Add(-time.Duration(g.r.between(2*24, 700*24)) * time.Hour)
				paid := g.ref.Sub(issued) > 30*24*time.Hour && g.r.chance(60)
				g.fine(a.NationalID, plate, pick(g.r, offences()), issued, a.Address.Locality, paid)
			}
		}
	}
	if g.r.chance(70) {
		var deps []nationalid.ID
		if mother != nil {
			deps = append(deps, mother.NationalID)
		}
		for _, c := range children {
			if g.age(c.BirthDate) < 18 {
				deps = append(deps, c.NationalID)
			}
		}
		cat := CategoryFamily
		switch {
		case len(deps) == 0 && g.age(father.BirthDate) >= 60:
			cat = CategorySenior
		case len(deps) == 0:
			cat = CategoryIndividual
		}
		g.policy(father.NationalID, deps, cat, g.ref.AddDate(0, 0, g.r.between(-200, 365)))
	}
	return nil
}

func (g *generator) licence(holder nationalid.ID, classes []string, expires time.Time, suspended bool) {
	g.w.Licences = append(g.w.Licences, DrivingLicence{
		Number:    fmt.Sprintf("DL-%07d", 1000000+g.seq("licence")),
		Holder:    holder,
		Classes:   classes,
		IssuedOn:  expires.AddDate(-10, 0, 0),
		ExpiresOn: expires,
		Suspended: suspended,
	})
}

func (g *generator) vehicle(owner nationalid.ID, licenceExpires time.Time) string {
	m := pick(g.r, vehicleModels())
	n := g.seq("plate")
	plate := fmt.Sprintf("%d-%04d-%s", n/10000%9+1, n%10000, pick(g.r, []string{"95", "96", "97", "98", "99"}))
	g.w.Vehicles = append(g.w.Vehicles, Vehicle{
		Plate: plate, Owner: owner, Make: m.make, Model: m.model, Kind: m.kind,
		Year: g.ref.Year() - g.r.between(0, 18), Colour: pick(g.r, colours()), LicenceExpiresOn: licenceExpires,
	})
	return plate
}

func (g *generator) fine(driver nationalid.ID, plate string, o offence, issued time.Time, where Name, paid bool) {
	f := Fine{
		Number:      fmt.Sprintf("TF-%08d", 20000000+g.seq("fine")),
		Driver:      driver,
		Plate:       plate,
		OffenceCode: o.code,
		Offence:     o.name,
		Amount:      kit.Money{Minor: o.minor, Currency: kit.ILS},
		IssuedAt:    issued,
		Location:    where,
	}
	if paid {
		f.PaidAt = issued.Add(time.Duration(g.r.between(24, 600)) * time.Hour)
	}
	g.w.Fines = append(g.w.Fines, f)
}

func (g *generator) policy(holder nationalid.ID, deps []nationalid.ID, category string, ends time.Time) {
	g.w.Policies = append(g.w.Policies, Policy{
		Number:     fmt.Sprintf("HI-%07d", 3000000+g.seq("policy")),
		Holder:     holder,
		Dependants: deps,
		Category:   category,
		StartsOn:   ends.AddDate(-1, 0, 0),
		EndsOn:     ends,
	})
}

// demoHouseholds adds the fixed households Demo names, first, so that
// their national IDs do not depend on Options.Persons.
func (g *generator) demoHouseholds() error {
	ids := make([]nationalid.ID, 0, 6)
	for _, payload := range []uint32{40123456, 40234567, 40345678, 40456789, 40567891} {
		id, err := nationalid.FromPayload(payload)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	ram := g.govs[0]
	nab := g.govs[1]
	home := Address{Place: Place{Governorate: ram.name, Locality: ram.localities[0]}, Street: streets()[0], Building: 14}
	haddad := Name{"حداد", "Haddad"}
	khaled := Person{
		NationalID: ids[0], Sex: Male, FirstName: Name{"خالد", "Khaled"}, FatherName: Name{"يوسف", "Yousef"},
		GrandfatherName: Name{"إبراهيم", "Ibrahim"}, FamilyName: haddad,
		BirthDate:  time.Date(1984, time.June, 12, 0, 0, 0, 0, time.UTC),
		Birthplace: home.Place, Spouse: ids[1], MaritalStatus: Married, Address: home, Phone: "+970599100200",
	}
	layla := Person{
		NationalID: ids[1], Sex: Female, FirstName: Name{"ليلى", "Layla"}, FatherName: Name{"محمود", "Mahmoud"},
		GrandfatherName: Name{"صالح", "Saleh"}, FamilyName: Name{"منصور", "Mansour"},
		BirthDate:  time.Date(1988, time.February, 3, 0, 0, 0, 0, time.UTC),
		Birthplace: Place{Governorate: nab.name, Locality: nab.localities[0]}, Spouse: ids[0], MaritalStatus: Married,
		Address: home, Phone: "+970599100201",
	}
	kb := g.birthRecord(khaled.BirthDate, ram, khaled.Birthplace,
		Person{FirstName: Name{"مريم", "Maryam"}, FatherName: Name{"سعيد", "Saeed"}, GrandfatherName: Name{"علي", "Ali"}, FamilyName: Name{"خوري", "Khoury"}},
		Person{FirstName: khaled.FatherName, FatherName: khaled.GrandfatherName, GrandfatherName: Name{"حسن", "Hasan"}, FamilyName: haddad}, false)
	lb := g.birthRecord(layla.BirthDate, nab, layla.Birthplace,
		Person{FirstName: Name{"هدى", "Huda"}, FatherName: Name{"نبيل", "Nabil"}, GrandfatherName: Name{"سامي", "Sami"}, FamilyName: Name{"شاهين", "Shaheen"}},
		Person{FirstName: layla.FatherName, FatherName: layla.GrandfatherName, GrandfatherName: Name{"عمر", "Omar"}, FamilyName: layla.FamilyName}, false)
	g.add(khaled, kb)
	g.add(layla, lb)
	yousef := Person{
		NationalID: ids[2], Sex: Male, FirstName: Name{"يوسف", "Yousef"}, FatherName: khaled.FirstName, GrandfatherName: khaled.FatherName,
		FamilyName: haddad, BirthDate: time.Date(2014, time.September, 1, 0, 0, 0, 0, time.UTC), Birthplace: home.Place,
		Mother: layla.NationalID, Father: khaled.NationalID, MaritalStatus: Single, Address: home,
	}
	g.add(yousef, g.birthRecord(yousef.BirthDate, ram, home.Place, layla, khaled, true))
	salma := Person{
		NationalID: ids[3], Sex: Female, FirstName: Name{"سلمى", "Salma"}, FatherName: khaled.FirstName, GrandfatherName: khaled.FatherName,
		FamilyName: haddad, BirthDate: g.daysAgo(9), Birthplace: home.Place,
		Mother: layla.NationalID, Father: khaled.NationalID, MaritalStatus: Single, Address: home,
	}
	g.add(salma, g.birthRecord(salma.BirthDate, ram, home.Place, layla, khaled, true))

	heb := g.govs[2]
	omarHome := Address{Place: Place{Governorate: heb.name, Locality: heb.localities[0]}, Street: streets()[4], Building: 3}
	omar := Person{
		NationalID: ids[4], Sex: Male, FirstName: Name{"عمر", "Omar"}, FatherName: Name{"حسن", "Hasan"},
		GrandfatherName: Name{"علي", "Ali"}, FamilyName: Name{"نصار", "Nassar"},
		BirthDate:  time.Date(1979, time.November, 20, 0, 0, 0, 0, time.UTC),
		Birthplace: omarHome.Place, MaritalStatus: Single, Address: omarHome, Phone: "+970569300400",
	}
	g.add(omar, g.birthRecord(omar.BirthDate, heb, omar.Birthplace,
		Person{FirstName: Name{"عائشة", "Aisha"}, FatherName: Name{"طه", "Taha"}, GrandfatherName: Name{"محمود", "Mahmoud"}, FamilyName: Name{"التميمي", "Tamimi"}},
		Person{FirstName: omar.FatherName, FatherName: omar.GrandfatherName, GrandfatherName: Name{"محمد", "Mohammad"}, FamilyName: omar.FamilyName}, false))

	// Khaled: licence expiring in three weeks, one paid fine, a car, a
	// family policy ending in ten days.
	g.licence(khaled.NationalID, []string{ClassB}, g.ref.AddDate(0, 0, 21), false)
	plate := g.vehicle(khaled.NationalID, g.ref.AddDate(0, 5, 0))
	g.fine(khaled.NationalID, plate, offences()[0], g.ref.AddDate(0, -8, 0), ram.localities[0], true)
	g.policy(khaled.NationalID, []nationalid.ID{layla.NationalID, yousef.NationalID, salma.NationalID}, CategoryFamily, g.ref.AddDate(0, 0, 10))
	// Layla: valid licence, one unpaid parking fine on the family car.
	g.licence(layla.NationalID, []string{ClassB}, g.ref.AddDate(6, 2, 0), false)
	g.fine(layla.NationalID, plate, offences()[2], g.ref.AddDate(0, 0, -12), ram.localities[1], false)
	// Omar: licence expired three months ago, two unpaid fines.
	g.licence(omar.NationalID, []string{ClassB, ClassC1}, g.ref.AddDate(0, -3, 0), false)
	omarPlate := g.vehicle(omar.NationalID, g.ref.AddDate(0, -1, 0))
	g.fine(omar.NationalID, omarPlate, offences()[1], g.ref.AddDate(0, -5, 0), heb.localities[0], false)
	g.fine(omar.NationalID, omarPlate, offences()[4], g.ref.AddDate(0, -4, -3), heb.localities[1], false)
	g.policy(omar.NationalID, nil, CategoryIndividual, g.ref.AddDate(0, 7, 0))

	g.w.Demo = Demo{Citizen: ids[0], Spouse: ids[1], Child: ids[2], Newborn: ids[3], BlockedDriver: ids[4]}
	return nil
}

func (g *generator) offices() {
	for _, gov := range g.govs {
		counters := 0
		if gov.centre {
			counters = 2
		}
		g.w.Offices = append(g.w.Offices, Office{
			Code: gov.code + "01", Kind: OfficePost, Name: gov.office,
			Place: Place{Governorate: gov.name, Locality: gov.localities[0]}, Street: streets()[1],
			RegistrationCentre: gov.centre, Counters: counters,
		})
	}
	for _, gov := range g.govs[:3] {
		g.w.Offices = append(g.w.Offices, Office{
			Code: gov.code + "02", Kind: OfficeInterior,
			Name:  Join(Name{"مديرية الداخلية", "Interior Directorate"}, gov.localities[0]),
			Place: Place{Governorate: gov.name, Locality: gov.localities[0]}, Street: streets()[2],
			RegistrationCentre: true, Counters: 3,
		})
	}
}

// FeeSchedule returns the Ministry of Finance's fee schedule: one entry per
// paid or free service of the demo world.
func FeeSchedule() []Fee {
	ils := func(minor int64) kit.Money { return kit.Money{Minor: minor, Currency: kit.ILS} }
	return []Fee{
		{kit.ServiceBirthCertificateNew, "MOI", Name{"شهادة ميلاد جديدة", "New birth certificate"}, ils(0), false},
		{kit.ServiceBirthCertificateCopy, "MOI", Name{"بدل شهادة ميلاد", "Copy of a birth certificate"}, ils(0), false},
		{kit.ServiceCivilRegistryExtract, "MOI", Name{"إخراج قيد مدني", "Civil-registry extract"}, ils(0), false},
		{kit.ServiceDrivingLicenceRenew, "MOT", Name{"تجديد رخصة القيادة", "Driving-licence renewal"}, ils(15000), false},
		{kit.ServiceTrafficFine, "MOT", Name{"دفع مخالفة سير", "Traffic fine payment"}, kit.Money{}, true},
		{kit.ServiceInsuranceRenewal, "MOH", Name{"تجديد التأمين الصحي الحكومي", "Government health insurance renewal"}, kit.Money{}, true},
		{kit.ServiceHomeDelivery, "POST", Name{"توصيل إلى العنوان", "Delivery to an address"}, ils(1500), false},
		{kit.ServicePickup, "POST", Name{"استلام من مكتب البريد", "Pick-up at a post office"}, ils(0), false},
	}
}

func (g *generator) vouchers() error {
	banks := []Name{{"بنك فلسطين", "Bank of Palestine"}, {"البنك العربي", "Arab Bank"}, {"بنك القاهرة عمان", "Cairo Amman Bank"}, {"بنك القدس", "Quds Bank"}}
	amounts := []kit.Money{{Minor: 15000, Currency: kit.ILS}, {Minor: 1500, Currency: kit.ILS}, {Minor: 108000, Currency: kit.ILS},
		{Minor: 54000, Currency: kit.ILS}, {Minor: 10000, Currency: kit.ILS}, {Minor: 25000, Currency: kit.ILS}, {Minor: 21150, Currency: kit.JOD}}
	for i := 0; i < 14; i++ {
		payload := fmt.Sprintf("7%010d", 5000000000+g.seq("voucher")*131)
		c, err := checkdigit.LuhnCheckDigit(payload)
		if err != nil {
			return err
		}
		g.w.Vouchers = append(g.w.Vouchers, Voucher{
			Number:   payload + string(c),
			Bank:     banks[i%len(banks)],
			Amount:   amounts[i%len(amounts)],
			IssuedOn: g.daysAgo(g.r.between(0, 20)),
		})
	}
	return nil
}
