package opmon

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/proxy"
)

// TestMain fails the package's tests if a writer goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	t0     = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	cab    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "CAB"}
	moi    = xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}
	portal = cab.Subsystem("portal")
	other  = cab.Subsystem("other")
	civil  = moi.Subsystem("civil-registry")
	ssCAB  = xroad.ServerID{Owner: cab, Code: "ss1"}
	ssMOI  = xroad.ServerID{Owner: moi, Code: "ss1"}
)

// fakeWriter records the batches it is given. With gate set, every Insert
// first announces itself on entered and waits for gate.
type fakeWriter struct {
	mu      sync.Mutex
	batches [][]Record
	err     error
	entered chan struct{}
	gate    chan struct{}
}

func (f *fakeWriter) Insert(ctx context.Context, recs []Record) error {
	if f.gate != nil {
		f.entered <- struct{}{}
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.batches = append(f.batches, append([]Record(nil), recs...))
	return nil
}

func (f *fakeWriter) records() []Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Record
	for _, b := range f.batches {
		out = append(out, b...)
	}
	return out
}

func (f *fakeWriter) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, b := range f.batches {
		out = append(out, len(b))
	}
	return out
}

// gated returns a writer whose inserts wait for release.
func gated() *fakeWriter {
	return &fakeWriter{entered: make(chan struct{}, 100), gate: make(chan struct{})}
}

// docs is a proxy.Configuration with a fixed document.
type docs struct{ doc *globalconf.Document }

func (d docs) Current() (*globalconf.Document, error) { return d.doc, nil }

func testDoc() *globalconf.Document {
	return &globalconf.Document{Instance: "PS", SecurityServers: []globalconf.SecurityServer{
		{Owner: "PS/GOV/CAB", ServerCode: "ss1", Addresses: []string{"ss1.cab.ps:5500"}},
		{Owner: "PS/GOV/MOI", ServerCode: "ss1", Addresses: []string{"ss1.moi.ps:5500"}},
	}}
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func event(side proxy.Side, id string) proxy.ExchangeEvent {
	return proxy.ExchangeEvent{
		Side: side, RequestIn: t0, RequestOut: t0.Add(time.Millisecond), ResponseIn: t0.Add(30 * time.Millisecond),
		ResponseOut: t0.Add(31 * time.Millisecond),
		Client:      portal, Service: xroad.ServiceID{Provider: civil, Code: "persons"}, Method: "GET", Path: "/v1/persons/4001",
		MessageID: id, UserID: "PS4001", Issue: "ticket-17", RepresentedParty: "GOV/MOH", ProtocolVersion: "jisr/1",
		RequestID: "req-" + id, ClientServer: ssCAB, ServiceServer: ssMOI,
		LocalAddr:   &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 8080},
		RequestSize: 0, ResponseSize: 77, Succeeded: true, Status: 200,
	}
}

// TestRecorderStoresEvents checks the records the recorder makes: stamped
// by the clock, side mapped to PR-OPMON's type, addresses from the
// configuration, the internal IP without port.
func TestRecorderStoresEvents(t *testing.T) {
	w := &fakeWriter{}
	clk := clock.NewFake(t0.Add(time.Second))
	r, err := NewRecorder(RecorderConfig{Store: w, Conf: docs{testDoc()}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	client := event(proxy.ClientSide, "m1")
	client.ServiceServerAddress = "127.0.0.1:5500" // the address actually dialled wins
	r.ObserveExchange(client)
	r.ObserveExchange(event(proxy.ServerSide, "m1"))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	recs := w.records()
	if len(recs) != 2 {
		t.Fatalf("%d records stored, want 2", len(recs))
	}
	for i, c := range []struct {
		typ, clientSS, serviceSS string
	}{{TypeClient, "ss1.cab.ps:5500", "127.0.0.1:5500"}, {TypeProducer, "ss1.cab.ps:5500", "ss1.moi.ps:5500"}} {
		rec := recs[i]
		if rec.SecurityServerType != c.typ || rec.ClientSecurityServerAddress != c.clientSS || rec.ServiceSecurityServerAddress != c.serviceSS {
			t.Errorf("record %d: type %q, addresses %q → %q", i, rec.SecurityServerType, rec.ClientSecurityServerAddress, rec.ServiceSecurityServerAddress)
		}
		if !rec.MonitoringDataTs.Equal(t0.Add(time.Second)) || rec.SecurityServerInternalIP != "10.0.0.7" {
			t.Errorf("record %d: stored at %v, internal IP %q", i, rec.MonitoringDataTs, rec.SecurityServerInternalIP)
		}
		if rec.MessageID != "m1" || rec.XRequestID != "req-m1" || rec.Client != portal || rec.RestPath != "/v1/persons/4001" ||
			rec.RequestSize != 0 || rec.ResponseSize != 77 || !rec.Succeeded || rec.StatusCode != 200 || !rec.ResponseIn.Equal(t0.Add(30*time.Millisecond)) {
			t.Errorf("record %d: %+v", i, rec)
		}
	}
}

// TestRecorderBatches checks that what queues up while a write is in
// progress goes into the next transaction together.
func TestRecorderBatches(t *testing.T) {
	w := gated()
	r, err := NewRecorder(RecorderConfig{Store: w})
	if err != nil {
		t.Fatal(err)
	}
	r.ObserveExchange(event(proxy.ClientSide, "first"))
	<-w.entered // the writer holds the first event
	for i := range 5 {
		r.ObserveExchange(event(proxy.ClientSide, string(rune('a'+i))))
	}
	close(w.gate)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := w.sizes(); len(got) != 2 || got[0] != 1 || got[1] != 5 {
		t.Errorf("batches %v, want [1 5]", got)
	}
}

// TestRecorderDropsWhenFull checks that a full queue drops and counts
// instead of blocking the exchange.
func TestRecorderDropsWhenFull(t *testing.T) {
	w := gated()
	reg := prometheus.NewRegistry()
	r, err := NewRecorder(RecorderConfig{Store: w, QueueSize: 2, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	r.ObserveExchange(event(proxy.ClientSide, "1"))
	<-w.entered
	for _, id := range []string{"2", "3", "4", "5"} {
		r.ObserveExchange(event(proxy.ClientSide, id)) // 2 and 3 queue, 4 and 5 are dropped
	}
	if got := counter(t, r.queueFull); got != 2 {
		t.Errorf("dropped %v, want 2", got)
	}
	close(w.gate)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(w.records()); got != 3 || counter(t, r.written) != 3 {
		t.Errorf("stored %d (counted %v), want 3", got, counter(t, r.written))
	}
	r.ObserveExchange(event(proxy.ClientSide, "after close")) // must not block or panic
}

// TestRecorderWriteFailure checks that a batch the database refuses is
// counted as lost and the writer goes on.
func TestRecorderWriteFailure(t *testing.T) {
	w := &fakeWriter{err: errors.New("disk full")}
	r, err := NewRecorder(RecorderConfig{Store: w})
	if err != nil {
		t.Fatal(err)
	}
	r.ObserveExchange(event(proxy.ClientSide, "1"))
	r.ObserveExchange(event(proxy.ClientSide, "2"))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, r.failed); got != 2 {
		t.Errorf("lost %v, want 2", got)
	}
}

// TestObserveDoesNotAllocate checks that queuing an event allocates
// nothing (the writer is held in a write so that only ObserveExchange
// runs).
func TestObserveDoesNotAllocate(t *testing.T) {
	w := gated()
	r, err := NewRecorder(RecorderConfig{Store: w, QueueSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(w.gate)
		_ = r.Close()
	}()
	ev := event(proxy.ClientSide, "x")
	r.ObserveExchange(ev)
	<-w.entered
	if n := testing.AllocsPerRun(1000, func() { r.ObserveExchange(ev) }); n != 0 {
		t.Errorf("ObserveExchange allocates %v times per call", n)
	}
}

// BenchmarkRecorderObserve measures queuing one event while the writer
// stores into a store that does nothing.
func BenchmarkRecorderObserve(b *testing.B) {
	r, err := NewRecorder(RecorderConfig{Store: nopWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ev := event(proxy.ClientSide, "x")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.ObserveExchange(ev)
		}
	})
}

type nopWriter struct{}

func (nopWriter) Insert(context.Context, []Record) error { return nil }

// TestFromEventTruncatesFaultString checks PR-OPMON's bound on
// faultString, without splitting a character.
func TestFromEventTruncatesFaultString(t *testing.T) {
	ev := event(proxy.ClientSide, "x")
	long := make([]byte, 0, MaxFaultString+10)
	for len(long) < MaxFaultString-1 {
		long = append(long, 'a')
	}
	long = append(long, "جسر"...) // a two-byte character straddles the limit
	ev.FaultString = string(long)
	rec := FromEvent(ev, t0, nil)
	if len(rec.FaultString) != MaxFaultString-1 {
		t.Errorf("fault string of %d bytes, want %d", len(rec.FaultString), MaxFaultString-1)
	}
	if rec.ClientSecurityServerAddress != "" {
		t.Errorf("address %q without a configuration", rec.ClientSecurityServerAddress)
	}
}
