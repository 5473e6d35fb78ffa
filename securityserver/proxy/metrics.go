package proxy

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Names of the exchange metrics.
const (
	MetricExchanges        = "jisr_ss_exchanges_total"
	MetricExchangeDuration = "jisr_ss_exchange_duration_seconds"
)

// OtherLabel replaces the client or service label of exchanges beyond
// ExchangeMetrics' series limit.
const OtherLabel = "_other"

// DefaultMaxSeries bounds the (side, client, service, outcome) series of
// ExchangeMetrics when NewExchangeMetrics is given 0.
const DefaultMaxSeries = 10_000

// DurationBuckets are the buckets of jisr_ss_exchange_duration_seconds:
// 5 ms to 60 s, the longest default service timeout.
var DurationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// ExchangeMetrics is an Observer that keeps the Prometheus metrics of
// exchanges:
//
//	jisr_ss_exchanges_total{side,client,service,outcome}
//	jisr_ss_exchange_duration_seconds{side,service}   (histogram)
//
// side is "client" or "server", client and service the X-Road identifiers
// in header form ("" when the request was refused before they were
// parsed), outcome "ok" or the X-Road fault code. Identifiers are bounded
// by the global configuration for accepted exchanges, but refused requests
// may name anything, so at most maxSeries distinct (side, client, service,
// outcome) combinations get their own series; further ones are counted with
// client and service OtherLabel.
//
// After a series is first seen, ObserveExchange allocates nothing. It is
// safe for concurrent use.
type ExchangeMetrics struct {
	exchanges *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	maxSeries int

	mu       sync.RWMutex
	counters map[counterKey]prometheus.Counter
	timers   map[timerKey]prometheus.Observer
}

type counterKey struct {
	side    Side
	client  xroad.ClientID
	service xroad.ServiceID
	outcome string
}

type timerKey struct {
	side    Side
	service xroad.ServiceID
}

var _ Observer = (*ExchangeMetrics)(nil)

// NewExchangeMetrics registers the exchange metrics with reg. maxSeries
// bounds the exchange counters' series (DefaultMaxSeries when 0).
func NewExchangeMetrics(reg prometheus.Registerer, maxSeries int) (*ExchangeMetrics, error) {
	if reg == nil {
		return nil, errors.New("proxy: exchange metrics need a registerer")
	}
	if maxSeries <= 0 {
		maxSeries = DefaultMaxSeries
	}
	m := &ExchangeMetrics{
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricExchanges,
			Help: "Exchanges handled by this security server, by side (client or server proxy), client, service and outcome (\"ok\" or the X-Road fault code).",
		}, []string{"side", "client", "service", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricExchangeDuration,
			Help:    "Time from receiving a request to writing its answer, by side and service.",
			Buckets: DurationBuckets,
		}, []string{"side", "service"}),
		maxSeries: maxSeries,
		counters:  make(map[counterKey]prometheus.Counter),
		timers:    make(map[timerKey]prometheus.Observer),
	}
	for _, c := range []prometheus.Collector{m.exchanges, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("proxy: exchange metrics: %w", err)
		}
	}
	return m, nil
}

// ObserveExchange implements Observer.
func (m *ExchangeMetrics) ObserveExchange(ev ExchangeEvent) {
	ck := counterKey{side: ev.Side, client: ev.Client, service: ev.Service, outcome: ev.Outcome()}
	tk := timerKey{side: ev.Side, service: ev.Service}
	m.mu.RLock()
	c, okC := m.counters[ck]
	t, okT := m.timers[tk]
	m.mu.RUnlock()
	if !okC || !okT {
		c, t = m.series(ck, tk)
	}
	c.Inc()
	t.Observe(ev.Duration().Seconds())
}

// series creates (or finds) the series of a new key.
func (m *ExchangeMetrics) series(ck counterKey, tk timerKey) (prometheus.Counter, prometheus.Observer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.counters[ck]
	if !ok {
		client, service := clientLabel(ck.client), serviceLabel(ck.service)
		if len(m.counters) >= m.maxSeries {
			client, service = OtherLabel, OtherLabel
		}
		c = m.exchanges.WithLabelValues(string(ck.side), client, service, ck.outcome)
		if client != OtherLabel {
			m.counters[ck] = c
		}
	}
	t, ok := m.timers[tk]
	if !ok {
		service := serviceLabel(tk.service)
		if len(m.timers) >= m.maxSeries {
			service = OtherLabel
		}
		t = m.duration.WithLabelValues(string(tk.side), service)
		if service != OtherLabel {
			m.timers[tk] = t
		}
	}
	return c, t
}

// clientLabel is the header form of c, or "" for the zero id (a request
// refused before its client was parsed).
func clientLabel(c xroad.ClientID) string {
	if c == (xroad.ClientID{}) {
		return ""
	}
	return c.String()
}

// serviceLabel is the header form of s, or "" for the zero id.
func serviceLabel(s xroad.ServiceID) string {
	if s == (xroad.ServiceID{}) {
		return ""
	}
	return s.String()
}
