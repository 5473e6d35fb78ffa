package opmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/securityserver/proxy"
)

// Defaults of RecorderConfig.
const (
	DefaultQueueSize    = 8192
	DefaultMaxBatch     = 256
	DefaultWriteTimeout = 30 * time.Second
)

// Reasons of jisr_ss_opmon_records_dropped_total.
const (
	DropQueueFull   = "queue_full"
	DropWriteFailed = "write_failed"
)

// RecorderConfig configures a Recorder. Store is required.
type RecorderConfig struct {
	// Store receives the records.
	Store Writer
	// Conf, if not nil, supplies the global configuration the security
	// servers' addresses are looked up in (proxy.Configuration).
	Conf proxy.Configuration
	// QueueSize is how many events wait for the writer at most
	// (DefaultQueueSize when 0); beyond it events are dropped and counted.
	QueueSize int
	// MaxBatch is how many records one transaction writes at most
	// (DefaultMaxBatch when 0).
	MaxBatch int
	// WriteTimeout bounds one batch's transaction (DefaultWriteTimeout
	// when 0).
	WriteTimeout time.Duration
	// Clock stamps MonitoringDataTs (nil: the wall clock).
	Clock clock.Clock
	// Logger receives write failures (nil discards).
	Logger *slog.Logger
	// Registerer, if not nil, receives jisr_ss_opmon_records_written_total,
	// jisr_ss_opmon_records_dropped_total{reason} and
	// jisr_ss_opmon_queued_records.
	Registerer prometheus.Registerer
}

// Recorder is the proxy.Observer that turns exchange events into stored
// records without making the exchange wait: ObserveExchange only puts the
// event in a bounded queue (dropping and counting it when the queue is
// full), and one writer goroutine stores what is queued in batches — as
// much as has arrived, up to MaxBatch, per transaction. Write failures
// drop the batch (counted and logged); monitoring never fails an exchange.
//
// NewRecorder starts the writer; Close stops it after writing what is
// queued. Events observed after Close are dropped.
type Recorder struct {
	store    Writer
	conf     proxy.Configuration
	maxBatch int
	timeout  time.Duration
	clk      clock.Clock
	log      *slog.Logger

	queue chan proxy.ExchangeEvent
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	written   prometheus.Counter
	queueFull prometheus.Counter
	failed    prometheus.Counter
}

var _ proxy.Observer = (*Recorder)(nil)

// NewRecorder checks cfg, registers the metrics and starts the writer.
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	if cfg.Store == nil {
		return nil, errors.New("opmon: recorder: a store is required")
	}
	if cfg.QueueSize < 0 || cfg.MaxBatch < 0 || cfg.WriteTimeout < 0 {
		return nil, errors.New("opmon: recorder: queue size, batch size and write timeout must not be negative")
	}
	r := &Recorder{
		store:    cfg.Store,
		conf:     cfg.Conf,
		maxBatch: cfg.MaxBatch,
		timeout:  cfg.WriteTimeout,
		clk:      cfg.Clock,
		log:      cfg.Logger,
		queue:    make(chan proxy.ExchangeEvent, orDefault(cfg.QueueSize, DefaultQueueSize)),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	r.maxBatch = orDefault(r.maxBatch, DefaultMaxBatch)
	if r.timeout == 0 {
		r.timeout = DefaultWriteTimeout
	}
	if r.clk == nil {
		r.clk = clock.System()
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.written = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jisr_ss_opmon_records_written_total",
		Help: "Operational monitoring records stored.",
	})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jisr_ss_opmon_records_dropped_total",
		Help: "Operational monitoring records lost, by reason: queue_full (the writer fell behind) or write_failed (the database refused a batch).",
	}, []string{"reason"})
	r.queueFull, r.failed = dropped.WithLabelValues(DropQueueFull), dropped.WithLabelValues(DropWriteFailed)
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jisr_ss_opmon_queued_records",
		Help: "Operational monitoring records waiting to be stored.",
	}, func() float64 { return float64(len(r.queue)) })
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{r.written, dropped, queued} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("opmon: recorder metrics: %w", err)
			}
		}
	}
	go r.run()
	return r, nil
}

func orDefault(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// ObserveExchange implements proxy.Observer: it queues ev, or drops it when
// the queue is full. It never blocks.
func (r *Recorder) ObserveExchange(ev proxy.ExchangeEvent) {
	select {
	case <-r.stop:
		return
	default:
	}
	select {
	case r.queue <- ev:
	default:
		r.queueFull.Inc()
	}
}

// Close stops the writer after it has stored what is queued.
func (r *Recorder) Close() error {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	return nil
}

// run is the writer goroutine.
func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]proxy.ExchangeEvent, 0, r.maxBatch)
	for {
		select {
		case ev := <-r.queue:
			r.write(r.drain(append(batch[:0], ev)))
		case <-r.stop:
			for {
				b := r.drain(batch[:0])
				if len(b) == 0 {
					return
				}
				r.write(b)
			}
		}
	}
}

// drain adds queued events to batch without waiting, up to maxBatch.
func (r *Recorder) drain(batch []proxy.ExchangeEvent) []proxy.ExchangeEvent {
	for len(batch) < r.maxBatch {
		select {
		case ev := <-r.queue:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// write stores one batch.
func (r *Recorder) write(batch []proxy.ExchangeEvent) {
	now := r.clk.Now()
	doc := r.document()
	recs := make([]Record, len(batch))
	for i, ev := range batch {
		recs[i] = FromEvent(ev, now, doc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	if err := r.store.Insert(ctx, recs); err != nil {
		r.failed.Add(float64(len(recs)))
		r.log.Error("operational monitoring records lost", "records", len(recs), "err", err)
		return
	}
	r.written.Add(float64(len(recs)))
}

func (r *Recorder) document() *globalconf.Document {
	if r.conf == nil {
		return nil
	}
	doc, err := r.conf.Current()
	if err != nil {
		return nil
	}
	return doc
}
