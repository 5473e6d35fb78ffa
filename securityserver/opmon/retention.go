package opmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
)

// Defaults of RetentionConfig.
const (
	DefaultRetention       = 7 * 24 * time.Hour
	DefaultRetentionPeriod = time.Hour
	// deleteBatch is how many records one DELETE removes, so that cleaning
	// a large backlog never holds the write lock for long.
	deleteBatch = 5000
)

// RetentionConfig configures a Retention. Store is required.
type RetentionConfig struct {
	// Store is where records are deleted.
	Store Pruner
	// Keep is how long records are kept (DefaultRetention when 0).
	Keep time.Duration
	// Period is how often Run cleans (DefaultRetentionPeriod when 0).
	Period time.Duration
	// Clock tells the time records are compared with (nil: wall clock).
	Clock clock.Clock
	// Logger receives failures (nil discards).
	Logger *slog.Logger
	// Registerer, if not nil, receives jisr_ss_opmon_records_deleted_total.
	Registerer prometheus.Registerer
}

// Retention deletes records older than the retention period.
type Retention struct {
	store   Pruner
	keep    time.Duration
	period  time.Duration
	clk     clock.Clock
	log     *slog.Logger
	deleted prometheus.Counter
}

// NewRetention checks cfg and registers the metric.
func NewRetention(cfg RetentionConfig) (*Retention, error) {
	if cfg.Store == nil {
		return nil, errors.New("opmon: retention: a store is required")
	}
	if cfg.Keep < 0 || cfg.Period < 0 {
		return nil, errors.New("opmon: retention: keep and period must not be negative")
	}
	r := &Retention{store: cfg.Store, keep: cfg.Keep, period: cfg.Period, clk: cfg.Clock, log: cfg.Logger}
	if r.keep == 0 {
		r.keep = DefaultRetention
	}
	if r.period == 0 {
		r.period = DefaultRetentionPeriod
	}
	if r.clk == nil {
		r.clk = clock.System()
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.deleted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jisr_ss_opmon_records_deleted_total",
		Help: "Operational monitoring records deleted after the retention period.",
	})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(r.deleted); err != nil {
			return nil, fmt.Errorf("opmon: retention metrics: %w", err)
		}
	}
	return r, nil
}

// Clean deletes every record stored before now − Keep (by the Clock), in
// batches, and returns how many it deleted.
func (r *Retention) Clean(ctx context.Context) (int64, error) {
	cutoff := r.clk.Now().Add(-r.keep)
	var total int64
	for {
		n, err := r.store.DeleteBefore(ctx, cutoff, deleteBatch)
		total += n
		r.deleted.Add(float64(n))
		if err != nil {
			return total, err
		}
		if n < deleteBatch {
			return total, nil
		}
	}
}

// Run cleans now and then every Period until ctx ends; it returns
// ctx.Err(). Failures are logged and retried at the next period.
func (r *Retention) Run(ctx context.Context) error {
	t := time.NewTicker(r.period)
	defer t.Stop()
	for {
		if n, err := r.Clean(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("deleting old operational monitoring records failed", "deleted", n, "err", err)
		} else if n > 0 {
			r.log.Info("old operational monitoring records deleted", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
