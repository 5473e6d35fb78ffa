// Package transport is the Ministry of Transport's licensing service of the
// demo world (member GOV/MOT, subsystem licensing): driving licences and
// their renewal, vehicle licences, and traffic fines by national ID or
// plate with their payment.
//
// Renewals and fine payments are delivered against a payment order
// reference that the caller (the portal) hands over; the adapter checks it
// at the Monetary Authority through a kit.PaymentVerifier — the service it
// pays for, the payer, the amount, and, for a fine, the fine's number — and
// records it so that one payment is used once.
package transport

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store"
)

//go:embed openapi.yaml
var openAPI []byte

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Name is the adapter's short name.
const Name = "transport"

// MigrationTable records this adapter's migrations.
const MigrationTable = "mot_schema_version"

// Config configures New.
type Config struct {
	// Database is where licences, vehicles, fines and renewals are kept.
	Database kit.Database
	// Seed, if set, is loaded once into an empty database.
	Seed *seed.World
	// Payments checks payment order references. Required.
	Payments kit.PaymentVerifier
	// RenewalFee is the least a renewal must have been paid (default: the
	// fee schedule's mot.driving-licence.renewal).
	RenewalFee kit.Money
	// Clock tells today's date (default clock.System()).
	Clock clock.Clock
	// Log receives request logs and failure causes (default: discard).
	Log *slog.Logger
	// Registerer receives the adapter's metrics (default: none).
	Registerer prometheus.Registerer
}

// Service is the licensing adapter.
type Service struct {
	db       *kit.DB
	api      *kit.API
	clk      clock.Clock
	payments kit.PaymentVerifier
	fee      kit.Money
	events   *prometheus.CounterVec
}

// OpenAPI returns the adapter's OpenAPI 3 description.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

// Migrations returns the adapter's goose migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the path is a constant
	}
	return sub
}

// New opens the database (migrating and seeding it) and returns the
// service.
func New(cfg Config) (*Service, error) {
	if cfg.Payments == nil {
		return nil, errors.New("transport: a payment verifier is required")
	}
	if cfg.RenewalFee.IsZero() {
		for _, f := range seed.FeeSchedule() {
			if f.Service == kit.ServiceDrivingLicenceRenew {
				cfg.RenewalFee = f.Amount
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), kit.OpenTimeout)
	defer cancel()
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	db, api, err := kit.Start(ctx, kit.Setup{
		Name: Name, Migrations: Migrations(), MigrationTable: MigrationTable, OpenAPI: openAPI,
		Database: cfg.Database, Log: cfg.Log, Registerer: cfg.Registerer,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{db: db, api: api, clk: cfg.Clock, payments: cfg.Payments, fee: cfg.RenewalFee}
	s.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jisr_adapter_transport_paid_services_total",
		Help: "Paid services delivered by the licensing adapter: licence renewals and fine payments.",
	}, []string{"service"})
	if err := kit.Register(cfg.Registerer, s.events); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("transport: %w", err)
	}
	if cfg.Seed != nil {
		if _, err := kit.SeedOnce(ctx, db, Name+".seed", cfg.Seed.Options.Fingerprint(), func(tx *sql.Tx) error {
			return loadSeed(ctx, tx, cfg.Seed)
		}); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("transport: %w", err)
		}
	}
	r, h := api.Router, api.Handle
	r.Get("/v1/persons/{nationalId}/driving-licence", h(s.getLicenceOfPerson))
	r.Get("/v1/driving-licences/{number}", h(s.getLicence))
	r.Post("/v1/driving-licences/{number}/renewals", h(s.renew))
	r.Get("/v1/persons/{nationalId}/vehicles", h(s.listVehicles))
	r.Get("/v1/vehicles/{plate}", h(s.getVehicle))
	r.Get("/v1/fines", h(s.listFines))
	r.Get("/v1/fines/{number}", h(s.getFine))
	r.Post("/v1/fines/{number}/payment", h(s.payFine))
	return s, nil
}

// Handler returns the REST API.
func (s *Service) Handler() http.Handler { return s.api.Handler() }

// OpenAPI returns the adapter's OpenAPI 3 description.
func (s *Service) OpenAPI() []byte { return OpenAPI() }

// Close closes the database.
func (s *Service) Close() error { return s.db.Close() }

func loadSeed(ctx context.Context, tx *sql.Tx, w *seed.World) error {
	for _, l := range w.Licences {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mot_licences (number, holder_nid, classes, issued_on, expires_on, suspended)
			VALUES ($1, $2, $3, $4, $5, $6)`, l.Number, l.Holder.String(), strings.Join(l.Classes, ","),
			store.Micros(l.IssuedOn), store.Micros(l.ExpiresOn), l.Suspended); err != nil {
			return fmt.Errorf("seed licence: %w", err)
		}
	}
	for _, v := range w.Vehicles {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mot_vehicles (plate, owner_nid, make, model, model_year, kind_ar, kind_en,
			colour_ar, colour_en, licence_expires_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			v.Plate, v.Owner.String(), v.Make, v.Model, v.Year, v.Kind.AR, v.Kind.EN, v.Colour.AR, v.Colour.EN,
			store.Micros(v.LicenceExpiresOn)); err != nil {
			return fmt.Errorf("seed vehicle: %w", err)
		}
	}
	for _, f := range w.Fines {
		var paid sql.NullInt64
		if !f.PaidAt.IsZero() {
			paid = sql.NullInt64{Int64: store.Micros(f.PaidAt), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mot_fines (number, driver_nid, plate, offence_code, offence_ar, offence_en,
			amount_minor, currency, issued_at, location_ar, location_en, paid_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			f.Number, f.Driver.String(), f.Plate, f.OffenceCode, f.Offence.AR, f.Offence.EN, f.Amount.Minor, f.Amount.Currency,
			store.Micros(f.IssuedAt), f.Location.AR, f.Location.EN, paid); err != nil {
			return fmt.Errorf("seed fine: %w", err)
		}
	}
	return nil
}
