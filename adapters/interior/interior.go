// Package interior is the Ministry of Interior's civil-registry service of
// the demo world (member GOV/MOI, subsystem civil-registry): persons by
// national ID, birth records, certified birth certificates (new or copy)
// and civil-registry extracts, each document with a unique number and a
// code signed with the ministry's member signing key (adapters/document),
// and the public status of every document (valid or revoked).
//
// The adapter trusts the bus: the security server in front of it has
// authenticated the calling information system and checked its access
// rights, per endpoint (grant the revocation endpoint to no portal). The
// citizen a document is issued to comes from X-Road-UserId.
package interior

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/adapters/document"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/internal/clock"
)

//go:embed openapi.yaml
var openAPI []byte

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Name is the adapter's short name.
const Name = "interior"

// MigrationTable records this adapter's migrations.
const MigrationTable = "moi_schema_version"

// Config configures New.
type Config struct {
	// Database is where the registry and the issued documents are kept.
	Database kit.Database
	// Seed, if set, is loaded once into an empty database (the persons
	// and birth records of the demo world).
	Seed *seed.World
	// SignKey signs document codes: the ministry's member signing key
	// (software key store or HSM). Required.
	SignKey crypto.Signer
	// SignChain is SignKey's certificate (sign profile, naming the
	// ministry's member) followed by its issuers up to, not necessarily
	// including, the root. Required.
	SignChain []*x509.Certificate
	// Clock stamps documents (default clock.System()).
	Clock clock.Clock
	// Log receives request logs and failure causes (default: discard).
	Log *slog.Logger
	// Registerer receives the adapter's metrics (default: none).
	Registerer prometheus.Registerer
}

// Service is the civil-registry adapter.
type Service struct {
	db     *kit.DB
	api    *kit.API
	clk    clock.Clock
	issuer *document.Issuer
	issued *prometheus.CounterVec
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
	if cfg.SignKey == nil || len(cfg.SignChain) == 0 {
		return nil, errors.New("interior: the ministry's signing key and certificate chain are required")
	}
	issuer, err := document.NewIssuer(cfg.SignKey, cfg.SignChain)
	if err != nil {
		return nil, fmt.Errorf("interior: %w", err)
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
	s := &Service{db: db, api: api, clk: cfg.Clock, issuer: issuer}
	s.issued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jisr_adapter_interior_documents_issued_total",
		Help: "Certified documents issued by the civil-registry adapter, by type and kind.",
	}, []string{"type", "kind"})
	if err := kit.Register(cfg.Registerer, s.issued); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("interior: %w", err)
	}
	if cfg.Seed != nil {
		if _, err := kit.SeedOnce(ctx, db, Name+".seed", cfg.Seed.Options.Fingerprint(), func(tx *sql.Tx) error {
			return loadSeed(ctx, tx, cfg.Seed)
		}); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("interior: %w", err)
		}
	}
	r, h := api.Router, api.Handle
	r.Get("/v1/persons/{nationalId}", h(s.getPerson))
	r.Get("/v1/persons/{nationalId}/birth-record", h(s.getBirthRecord))
	r.Get("/v1/persons/{nationalId}/children", h(s.listChildren))
	r.Post("/v1/birth-certificates", h(s.issueBirthCertificate))
	r.Post("/v1/civil-registry-extracts", h(s.issueExtract))
	r.Get("/v1/documents/{number}", h(s.getDocument))
	r.Get("/v1/documents/{number}/status", h(s.getStatus))
	r.Post("/v1/documents/{number}/revocation", h(s.revoke))
	return s, nil
}

// Issuer returns the member the adapter signs documents for.
func (s *Service) Issuer() string { return s.issuer.Member().String() }

// Handler returns the REST API.
func (s *Service) Handler() http.Handler { return s.api.Handler() }

// OpenAPI returns the adapter's OpenAPI 3 description.
func (s *Service) OpenAPI() []byte { return OpenAPI() }

// Close closes the database.
func (s *Service) Close() error { return s.db.Close() }

// ministryName is the issuer's name on documents.
func ministryName() seed.Name {
	return seed.Name{AR: "وزارة الداخلية", EN: "Ministry of Interior"}
}
