// Package post is Palestine Post's service of the demo world (member
// GOV/POST, subsystem delivery): delivery orders for documents that
// ministries issue, to an address or for pick-up at a post office, tracked
// by UPU S10 numbers through a fixed state machine; and appointments at
// registration centres (post offices and Interior directorates) where
// citizens' identities are checked in person before a portal account is
// opened.
package post

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"
	// Registration-centre hours are Palestine time (Asia/Hebron); the
	// zone database is embedded so that hosts without one work.
	_ "time/tzdata"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
)

//go:embed openapi.yaml
var openAPI []byte

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Name is the adapter's short name.
const Name = "post"

// MigrationTable records this adapter's migrations.
const MigrationTable = "post_schema_version"

// TimeZone is the zone of registration-centre hours.
const TimeZone = "Asia/Hebron"

// Config configures New.
type Config struct {
	// Database is where offices, deliveries and appointments are kept.
	Database kit.Database
	// Seed, if set, is loaded once into an empty database (its offices).
	Seed *seed.World
	// Clock tells the time (default clock.System()).
	Clock clock.Clock
	// Log receives request logs and failure causes (default: discard).
	Log *slog.Logger
	// Registerer receives the adapter's metrics (default: none).
	Registerer prometheus.Registerer
}

// Service is the post adapter.
type Service struct {
	db     *kit.DB
	api    *kit.API
	clk    clock.Clock
	zone   *time.Location
	events *prometheus.CounterVec
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
	zone, err := time.LoadLocation(TimeZone)
	if err != nil {
		return nil, fmt.Errorf("post: %w", err)
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
	s := &Service{db: db, api: api, clk: cfg.Clock, zone: zone}
	s.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jisr_adapter_post_events_total",
		Help: "Delivery tracking events and appointment bookings recorded, by kind.",
	}, []string{"kind"})
	if err := kit.Register(cfg.Registerer, s.events); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("post: %w", err)
	}
	if cfg.Seed != nil {
		if _, err := kit.SeedOnce(ctx, db, Name+".seed", cfg.Seed.Options.Fingerprint(), func(tx *sql.Tx) error {
			return loadOffices(ctx, tx, cfg.Seed.Offices)
		}); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("post: %w", err)
		}
	}
	r, h := api.Router, api.Handle
	r.Get("/v1/offices", h(s.listOffices))
	r.Get("/v1/offices/{code}", h(s.getOffice))
	r.Get("/v1/offices/{code}/slots", h(s.listSlots))
	r.Post("/v1/appointments", h(s.book))
	r.Get("/v1/appointments/{id}", h(s.getAppointment))
	r.Post("/v1/appointments/{id}/cancellation", h(s.cancel))
	r.Post("/v1/deliveries", h(s.createDelivery))
	r.Get("/v1/deliveries/{tracking}", h(s.getDelivery))
	r.Post("/v1/deliveries/{tracking}/events", h(s.recordEvent))
	return s, nil
}

// Handler returns the REST API.
func (s *Service) Handler() http.Handler { return s.api.Handler() }

// OpenAPI returns the adapter's OpenAPI 3 description.
func (s *Service) OpenAPI() []byte { return OpenAPI() }

// Close closes the database.
func (s *Service) Close() error { return s.db.Close() }

func loadOffices(ctx context.Context, tx *sql.Tx, offices []seed.Office) error {
	for _, o := range offices {
		if _, err := tx.ExecContext(ctx, `INSERT INTO post_offices (code, kind, name_ar, name_en, gov_ar, gov_en, loc_ar, loc_en,
			street_ar, street_en, registration_centre, counters) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			o.Code, o.Kind, o.Name.AR, o.Name.EN, o.Place.Governorate.AR, o.Place.Governorate.EN, o.Place.Locality.AR, o.Place.Locality.EN,
			o.Street.AR, o.Street.EN, o.RegistrationCentre, o.Counters); err != nil {
			return fmt.Errorf("seed office: %w", err)
		}
	}
	return nil
}
