package demo

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jisr-bus/jisr/adapters/document"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/portal"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/daemon"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki"
)

// DemoOfficer is the user name of the portal's demo registration officer.
const DemoOfficer = "officer"

// portalInfo is what the tour prints about the portal.
type portalInfo struct {
	url                   string
	citizen, nameEN       string
	password, officerPass string
}

// PortalServices maps the portal's ministries to the demo world's
// services.
func PortalServices() map[portal.Ministry]xroad.ServiceID {
	return map[portal.Ministry]xroad.ServiceID{
		portal.Interior:  provider("moi").ServiceID(),
		portal.Transport: provider("mot").ServiceID(),
		portal.Health:    provider("moh").ServiceID(),
		portal.Payments:  provider("pma").ServiceID(),
		portal.Finance:   provider("mof").ServiceID(),
		portal.Post:      provider("post").ServiceID(),
	}
}

// startPortal starts the Hukumati portal: a consumer of the bus through the
// Cabinet Secretariat's security server, verifying documents against the
// instance's root. The demo citizen's account is created active with the
// password of state.json (demo data), and a registration officer can sign
// in to the console with the same kind of password.
func (d *world) startPortal(ctx context.Context, errc chan error) error {
	bus, err := portal.NewHTTPBus("http://"+d.addr["cab-http"], Cabinet().Client(), PortalServices(), &http.Client{Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	rootPEM, err := os.ReadFile(filepath.Join(d.dir, "pki", pki.CertsDir, "root-ca.pem"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		return errors.New("demo: the instance root holds no certificate")
	}
	citizen, ok := d.seed.Person(d.seed.Demo.Citizen)
	if !ok {
		return errors.New("demo: the demo citizen is not in the demo world")
	}
	params := portal.DefaultArgon2()
	citizenHash, err := portal.HashPassword(d.state.CitizenPassword, params)
	if err != nil {
		return err
	}
	officerHash, err := portal.HashPassword(d.state.OfficerPassword, params)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(d.dir, "portal"), 0o700); err != nil {
		return err
	}
	moi := provider("moi").Member()
	name := citizen.FullName()
	svc, err := portal.New(ctx, portal.Config{
		Bus:      bus,
		Roots:    roots,
		Issuers:  map[string][]xroad.MemberID{document.TypeBirthCertificate: {moi}, document.TypeCivilRegistryExtract: {moi}},
		Database: kit.Database{Driver: kit.DriverSQLite, Path: filepath.Join(d.dir, "portal", "portal.db")},
		Officers: []portal.Officer{{Username: DemoOfficer, PasswordHash: officerHash}},
		Accounts: []portal.SeedAccount{{NationalID: citizen.NationalID.String(), NameAR: name.AR, NameEN: name.EN, PasswordHash: citizenHash}},
		Clock:    clock.System(),
		Log:      d.log.With("component", "portal"),
	})
	if err != nil {
		return fmt.Errorf("demo: portal: %w", err)
	}
	d.portal = portalInfo{url: "http://" + d.addr["portal"] + "/", citizen: citizen.NationalID.String(), nameEN: name.EN,
		password: d.state.CitizenPassword, officerPass: d.state.OfficerPassword}
	log := d.log.With("component", "portal")
	return d.serve("the Hukumati portal", errc, func(ready func()) error {
		defer svc.Close()
		var bound daemon.Bound
		return daemon.Serve(ctx, "portal", log, &bound, []daemon.Listener{{Name: "portal", Addr: d.addr["portal"], Handler: svc.Handler()}}, ready)
	})
}

// printPortal prints the portal's address and the demo accounts.
func (d *world) printPortal() {
	p := d.portal
	fmt.Fprintf(d.out, "  Hukumati portal   %s  (through %s)\n", p.url, Cabinet().Server())
	fmt.Fprintf(d.out, "    demo citizen (DEMO DATA)   national ID %s (%s)  password %s\n", p.citizen, p.nameEN, p.password)
	fmt.Fprintf(d.out, "    registration officer (DEMO DATA)  %sofficer/login  user %s  password %s\n", p.url, DemoOfficer, p.officerPass)
}
