// Package payments is the Palestine Monetary Authority's payments service
// of the demo world (member GOV/PMA, subsystem payments): payment orders
// for government services in ILS, JOD or USD, paid by card through a
// simulated acquirer, from a bank account, or with a bank's deposit
// voucher; idempotent creation (Idempotency-Key); receipts; and the list of
// paid orders the Ministry of Finance reconciles against.
//
// Ministries check a payment order reference they are handed with Client,
// which implements kit.PaymentVerifier.
//
// Card numbers and CVVs are never stored: an order keeps a masked
// description of its instrument ("VISA •••• 1111"), and the idempotency
// fingerprint is an HMAC under a key kept in the database.
package payments

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
)

//go:embed openapi.yaml
var openAPI []byte

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Name is the adapter's short name (metrics label, adapter_meta prefix).
const Name = "payments"

// MigrationTable records this adapter's migrations.
const MigrationTable = "pma_schema_version"

// Config configures New.
type Config struct {
	// Database is where orders, charges and vouchers are kept.
	Database kit.Database
	// Seed, if set, is loaded once into an empty database (the deposit
	// vouchers of the demo world).
	Seed *seed.World
	// Clock stamps orders and checks card expiry (default clock.System()).
	Clock clock.Clock
	// Log receives request logs and failure causes (default: discard).
	Log *slog.Logger
	// Registerer receives the adapter's metrics (default: none).
	Registerer prometheus.Registerer
	// Acquirer charges cards, accounts and vouchers (default: the
	// simulated acquirer over this database; its test cards are listed
	// in the OpenAPI description).
	Acquirer Acquirer
}

// Service is the payments adapter.
type Service struct {
	db       *kit.DB
	api      *kit.API
	clk      clock.Clock
	log      *slog.Logger
	acquirer Acquirer
	fpKey    []byte
	charges  *prometheus.CounterVec
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
	s := &Service{db: db, api: api, clk: cfg.Clock, log: api.Log, acquirer: cfg.Acquirer}
	if err := s.init(ctx, cfg); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("payments: %w", err)
	}
	return s, nil
}

func (s *Service) init(ctx context.Context, cfg Config) error {
	if s.acquirer == nil {
		s.acquirer = &SimulatedAcquirer{DB: s.db, Clock: s.clk}
	}
	key, err := s.fingerprintKey(ctx)
	if err != nil {
		return err
	}
	s.fpKey = key
	if cfg.Seed != nil {
		if _, err := kit.SeedOnce(ctx, s.db, Name+".seed", cfg.Seed.Options.Fingerprint(), func(tx *sql.Tx) error {
			return seedVouchers(ctx, tx, cfg.Seed)
		}); err != nil {
			return err
		}
	}
	s.charges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jisr_adapter_payments_charges_total",
		Help: "Charges made by the payments adapter, by method and outcome (approved or the decline reason).",
	}, []string{"method", "outcome"})
	if err := kit.Register(cfg.Registerer, s.charges); err != nil {
		return err
	}
	s.routes()
	return nil
}

// fingerprintKey returns the HMAC key of idempotency fingerprints, created
// on first use.
func (s *Service) fingerprintKey(ctx context.Context) ([]byte, error) {
	const name = Name + ".fingerprint-key"
	var k [32]byte
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails
	// Two nodes starting together may both get here; the first write
	// wins and both read it back.
	if _, err := s.db.SQL.ExecContext(ctx, `INSERT INTO adapter_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		name, hex.EncodeToString(k[:])); err != nil {
		return nil, fmt.Errorf("store fingerprint key: %w", err)
	}
	v, ok, err := kit.Meta(ctx, s.db.SQL, name)
	if err != nil || !ok {
		return nil, errors.Join(errors.New("fingerprint key missing after writing it"), err)
	}
	return hex.DecodeString(v)
}

// Handler returns the REST API.
func (s *Service) Handler() http.Handler { return s.api.Handler() }

// OpenAPI returns the adapter's OpenAPI 3 description.
func (s *Service) OpenAPI() []byte { return OpenAPI() }

// Close closes the database.
func (s *Service) Close() error { return s.db.Close() }
