package kit

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OpenTimeout bounds what an adapter's New does before it can serve:
// opening, migrating and seeding its database.
const OpenTimeout = 2 * time.Minute

// Setup is what every adapter's New starts from.
type Setup struct {
	// Name is the adapter's short name (metrics label).
	Name string
	// Migrations and MigrationTable are the adapter's goose migrations
	// and the table recording them.
	Migrations     fs.FS
	MigrationTable string
	// OpenAPI is the adapter's description.
	OpenAPI []byte
	// Database, Log and Registerer come from the adapter's Config.
	Database   Database
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Start opens and migrates the adapter's database and builds its API, whose
// /healthz pings the database. On failure nothing stays open.
func Start(ctx context.Context, s Setup) (*DB, *API, error) {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	s.Log = s.Log.With("adapter", s.Name)
	db, err := Open(ctx, s.Database, s.Migrations, s.MigrationTable)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	api, err := NewAPI(APIConfig{
		Name: s.Name, OpenAPI: s.OpenAPI, Log: s.Log, Registerer: s.Registerer,
		Health: func(ctx context.Context) error { return db.SQL.PingContext(ctx) },
	})
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	return db, api, nil
}

// Register registers collectors with reg (nothing when reg is nil).
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}
