package proxy

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/message"
)

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []ExchangeEvent
}

func (r *recorder) ObserveExchange(ev ExchangeEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) all() []ExchangeEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ExchangeEvent(nil), r.events...)
}

// observed returns world options that attach a recorder to the client
// proxy and one to every server proxy, on top of o's own adjustments.
func observed(o worldOpts) (worldOpts, *recorder, *recorder) {
	cr, sr := &recorder{}, &recorder{}
	clientCfg, serverCfg := o.clientCfg, o.serverCfg
	o.clientCfg = func(c *ClientConfig) {
		if clientCfg != nil {
			clientCfg(c)
		}
		c.Observer = cr
	}
	o.serverCfg = func(c *ServerConfig) {
		if serverCfg != nil {
			serverCfg(c)
		}
		c.ServerID = ssMOI1
		c.Observer = sr
	}
	return o, cr, sr
}

// TestObserverSeesExchange checks the event of a successful exchange on
// both sides: X-Road's operational monitoring fields, from the injected
// clock, with the times in order.
func TestObserverSeesExchange(t *testing.T) {
	opts, cr, sr := observed(worldOpts{})
	w := newWorld(t, opts)
	// The hop takes 40 ms each way by the fake clock.
	w.hook.set(func(*http.Request) { w.clk.Add(40 * time.Millisecond) }, func(*http.Response) { w.clk.Add(40 * time.Millisecond) })
	resp := w.do(request{method: http.MethodPost, path: personsPath + "/v1/persons?lang=ar", body: `{"name":"Layla"}`,
		header: http.Header{HeaderUserID: {"PS4001"}, HeaderIssue: {"ticket-17"}, HeaderRepresentedParty: {"GOV/MOH"}}})
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	ce, se := cr.all(), sr.all()
	if len(ce) != 1 || len(se) != 1 {
		t.Fatalf("client side saw %d events, server side %d; want one each", len(ce), len(se))
	}
	svc := xroad.ServiceID{Provider: civil, Code: "persons"}
	for _, c := range []struct {
		name string
		ev   ExchangeEvent
		side Side
	}{{"client", ce[0], ClientSide}, {"server", se[0], ServerSide}} {
		t.Run(c.name, func(t *testing.T) {
			ev := c.ev
			if ev.Side != c.side || !ev.Succeeded || ev.Outcome() != "ok" || ev.FaultCode != "" || ev.Status != http.StatusOK {
				t.Errorf("side %q succeeded %v outcome %q fault %q status %d", ev.Side, ev.Succeeded, ev.Outcome(), ev.FaultCode, ev.Status)
			}
			if ev.Client != portal || ev.Service != svc || ev.Method != http.MethodPost || ev.Path != "/v1/persons" {
				t.Errorf("exchange %v %v %s %s", ev.Client, ev.Service, ev.Method, ev.Path)
			}
			if ev.MessageID != resp.header.Get(HeaderID) || ev.RequestID != resp.header.Get(HeaderRequestID) || ev.RequestID == "" {
				t.Errorf("message id %q request id %q; response has %q %q", ev.MessageID, ev.RequestID,
					resp.header.Get(HeaderID), resp.header.Get(HeaderRequestID))
			}
			if ev.UserID != "PS4001" || ev.Issue != "ticket-17" || ev.RepresentedParty != "GOV/MOH" || ev.ProtocolVersion != message.Version {
				t.Errorf("optional fields %q %q %q %q", ev.UserID, ev.Issue, ev.RepresentedParty, ev.ProtocolVersion)
			}
			if ev.ClientServer != ssCAB || ev.ServiceServer != ssMOI1 {
				t.Errorf("servers %v → %v", ev.ClientServer, ev.ServiceServer)
			}
			if ev.RequestSize != int64(len(`{"name":"Layla"}`)) || ev.ResponseSize != int64(len(resp.body)) {
				t.Errorf("sizes %d %d, want %d %d", ev.RequestSize, ev.ResponseSize, len(`{"name":"Layla"}`), len(resp.body))
			}
			if ev.LocalAddr == nil {
				t.Error("no local address")
			}
			times := []time.Time{ev.RequestIn, ev.RequestOut, ev.ResponseIn, ev.ResponseOut}
			for i, tm := range times {
				if tm.IsZero() || (i > 0 && tm.Before(times[i-1])) {
					t.Errorf("times out of order or missing: %v", times)
					break
				}
			}
		})
	}
	if a := ce[0].ServiceServerAddress; a != w.providers[0].addr {
		t.Errorf("client side sent to %q, want %q", a, w.providers[0].addr)
	}
	// The client side's RequestOut → ResponseIn spans the hop (80 ms); the
	// server side saw the request only after the first 40 ms.
	if d := ce[0].ResponseIn.Sub(ce[0].RequestOut); d != 80*time.Millisecond {
		t.Errorf("client side hop %v, want 80ms", d)
	}
	if d := ce[0].Duration(); d != 80*time.Millisecond {
		t.Errorf("client side duration %v, want 80ms", d)
	}
	if !se[0].RequestIn.Equal(ce[0].RequestOut.Add(40 * time.Millisecond)) {
		t.Errorf("server side request in %v, client side request out %v", se[0].RequestIn, ce[0].RequestOut)
	}
}

// TestObserverSeesRefusals runs the table of refused exchanges with
// observers: every refused r1 request is reported once by the client proxy with the
// code and status the information system got, and a refusal raised on the
// provider's side is reported there with the same code.
func TestObserverSeesRefusals(t *testing.T) {
	for _, c := range negativeCases() {
		t.Run(c.name, func(t *testing.T) {
			opts, cr, sr := observed(c.opts)
			w := newWorld(t, opts)
			if c.setup != nil {
				c.setup(t, w)
			}
			before, beforeServer := len(cr.all()), len(sr.all())
			resp := w.do(c.req)
			wantError(t, resp, c.code, c.status)
			ce := cr.all()[before:]
			if !strings.HasPrefix(c.req.path, "/r1/") {
				// Not an exchange: nothing to report.
				if len(ce) != 0 {
					t.Errorf("client side reported %d events for a request outside /r1/", len(ce))
				}
				return
			}
			if len(ce) != 1 {
				t.Fatalf("client side reported %d events for one request", len(ce))
			}
			ev := ce[0]
			if ev.Succeeded || ev.FaultCode != c.code || ev.Outcome() != c.code || ev.Status != c.status || ev.ResponseOut.IsZero() {
				t.Errorf("event: succeeded %v, fault %q (%q), status %d, response out %v", ev.Succeeded, ev.FaultCode, ev.FaultString, ev.Status, ev.ResponseOut)
			}
			if ev.FaultString == "" {
				t.Error("no fault string")
			}
			if strings.HasPrefix(c.code, "Server.ServerProxy.") && c.code != "Server.ServerProxy.NetworkError" {
				se := sr.all()[beforeServer:]
				if len(se) == 0 {
					return // refused by the TLS layer before the server proxy ran
				}
				if last := se[len(se)-1]; last.FaultCode != c.code || last.Side != ServerSide {
					t.Errorf("server side reported %q on side %q, want %q", last.FaultCode, last.Side, c.code)
				}
			}
		})
	}
}

// TestExchangeMetrics checks the counters and histogram an exchange and a
// refusal leave.
func TestExchangeMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewExchangeMetrics(reg, 0)
	if err != nil {
		t.Fatal(err)
	}
	opts := worldOpts{clientCfg: func(c *ClientConfig) { c.Observer = m }, serverCfg: func(c *ServerConfig) { c.Observer = m }}
	w := newWorld(t, opts)
	if resp := w.do(request{path: personsPath + "/v1/persons/4001"}); resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	wantError(t, w.do(request{path: "/r1/PS/GOV/MOI/civil-registry/nosuch/x"}), "Server.ServerProxy.UnknownService", 500)
	svc := "PS/GOV/MOI/civil-registry/persons"
	for _, c := range []struct {
		side, service, outcome string
		want                   float64
	}{
		{"client", svc, "ok", 1},
		{"server", svc, "ok", 1},
		{"client", "PS/GOV/MOI/civil-registry/nosuch", "Server.ServerProxy.UnknownService", 1},
		{"server", "PS/GOV/MOI/civil-registry/nosuch", "Server.ServerProxy.UnknownService", 1},
	} {
		got := counterValue(t, m.exchanges.WithLabelValues(c.side, portal.String(), c.service, c.outcome))
		if got != c.want {
			t.Errorf("%s %s %s: %v, want %v", c.side, c.service, c.outcome, got, c.want)
		}
	}
	if n := seriesCount(t, m.duration); n != 4 {
		t.Errorf("%d duration series, want 4 (two sides, two services)", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := promlint.NewWithMetricFamilies(mfs).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

// TestExchangeMetricsBoundsSeries checks that refused requests naming
// ever new identifiers cannot grow the series without bound.
func TestExchangeMetricsBoundsSeries(t *testing.T) {
	m, err := NewExchangeMetrics(prometheus.NewRegistry(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"A", "B", "C", "D"} {
		m.ObserveExchange(ExchangeEvent{Side: ClientSide, Client: cab.Subsystem(code), FaultCode: "Server.ClientProxy.UnknownMember"})
	}
	if got := counterValue(t, m.exchanges.WithLabelValues("client", "PS/GOV/CAB/A", "", "Server.ClientProxy.UnknownMember")); got != 1 {
		t.Errorf("first client counted %v, want 1", got)
	}
	if got := counterValue(t, m.exchanges.WithLabelValues("client", OtherLabel, OtherLabel, "Server.ClientProxy.UnknownMember")); got != 2 {
		t.Errorf("clients beyond the limit counted %v under %s, want 2", got, OtherLabel)
	}
	if n := seriesCount(t, m.exchanges); n != 3 {
		t.Errorf("%d series, want 3", n)
	}
}

// TestObserveDoesNotAllocate checks that observing an exchange whose series
// exist allocates nothing, so the hook adds no garbage to the hot path.
func TestObserveDoesNotAllocate(t *testing.T) {
	m, err := NewExchangeMetrics(prometheus.NewRegistry(), 0)
	if err != nil {
		t.Fatal(err)
	}
	obs := Observers{m, nil}
	ev := ExchangeEvent{Side: ServerSide, Client: portal, Service: xroad.ServiceID{Provider: civil, Code: "persons"},
		Succeeded: true, Status: 200, RequestIn: t0, ResponseOut: t0.Add(12 * time.Millisecond)}
	obs.ObserveExchange(ev)
	if n := testing.AllocsPerRun(1000, func() { obs.ObserveExchange(ev) }); n != 0 {
		t.Errorf("ObserveExchange allocates %v times per call", n)
	}
}

// BenchmarkExchangeMetrics measures the metrics observer on the hot path.
func BenchmarkExchangeMetrics(b *testing.B) {
	m, err := NewExchangeMetrics(prometheus.NewRegistry(), 0)
	if err != nil {
		b.Fatal(err)
	}
	ev := ExchangeEvent{Side: ServerSide, Client: portal, Service: xroad.ServiceID{Provider: civil, Code: "persons"},
		Succeeded: true, Status: 200, RequestIn: t0, ResponseOut: t0.Add(12 * time.Millisecond)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveExchange(ev)
		}
	})
}

// counterValue reads a counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// seriesCount counts the series a collector exports.
func seriesCount(t *testing.T, c prometheus.Collector) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 1000)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
