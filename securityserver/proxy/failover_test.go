package proxy

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestFailover: with two provider security servers, exchanges spread over
// both; when one stops, every exchange still succeeds on the other, the
// stopped address is marked down, and after the back-off it is tried again
// without failing an exchange.
func TestFailover(t *testing.T) {
	w := newWorld(t, worldOpts{providers: 2})
	p1, p2 := w.providers[0], w.providers[1]
	get := request{path: personsPath + "/v1/persons/4001"}
	for i := 0; i < 4; i++ {
		if resp := w.do(get); resp.status != http.StatusOK {
			t.Fatalf("exchange %d: %d %s", i, resp.status, resp.body)
		}
	}
	if p1.served.Load() == 0 || p2.served.Load() == 0 {
		t.Errorf("healthy providers served %d and %d exchanges; want both used", p1.served.Load(), p2.served.Load())
	}

	p1.stop()
	w.transport.CloseIdleConnections()
	before1, before2 := p1.served.Load(), p2.served.Load()
	for i := 0; i < 6; i++ {
		if resp := w.do(get); resp.status != http.StatusOK {
			t.Fatalf("exchange %d after one provider stopped: %d %s", i, resp.status, resp.body)
		}
	}
	if p1.served.Load() != before1 || p2.served.Load() != before2+6 {
		t.Errorf("after stop: served %d/%d, want %d/%d", p1.served.Load(), p2.served.Load(), before1, before2+6)
	}
	health := w.client.Load().health
	if !health.isDown(p1.addr) || health.isDown(p2.addr) {
		t.Errorf("health: %s down %v, %s down %v", p1.addr, health.isDown(p1.addr), p2.addr, health.isDown(p2.addr))
	}

	w.clk.Add(DefaultDownFor + time.Second)
	if health.isDown(p1.addr) {
		t.Error("address still marked down after the back-off")
	}
	for i := 0; i < 2; i++ {
		if resp := w.do(get); resp.status != http.StatusOK {
			t.Fatalf("exchange after back-off: %d %s", resp.status, resp.body)
		}
	}
	if !health.isDown(p1.addr) {
		t.Error("the stopped address was not tried again after the back-off")
	}

	// Pinned to the stopped server, there is no failover.
	resp := w.do(request{path: get.path, header: http.Header{HeaderSecurityServer: {ssMOI1.String()}}})
	wantError(t, resp, "Server.ClientProxy.NetworkError", 500)

	// Both stopped: the consumer reports the network error.
	p2.stop()
	w.transport.CloseIdleConnections()
	wantError(t, w.do(get), "Server.ClientProxy.NetworkError", 500)
}

// TestPinnedServer: X-Road-Security-Server sends every exchange to that
// server.
func TestPinnedServer(t *testing.T) {
	w := newWorld(t, worldOpts{providers: 2})
	for i := 0; i < 4; i++ {
		resp := w.do(request{path: personsPath + "/v1/persons/1", header: http.Header{HeaderSecurityServer: {ssMOI2.String()}}})
		if resp.status != http.StatusOK {
			t.Fatalf("%d %s", resp.status, resp.body)
		}
	}
	if w.providers[0].served.Load() != 0 || w.providers[1].served.Load() != 4 {
		t.Errorf("served %d/%d, want 0/4", w.providers[0].served.Load(), w.providers[1].served.Load())
	}
}

// TestHopReplay: a signed hop request captured on the way (by a consumer
// security server gone rogue, say) and sent again is refused by the
// provider's replay guard, and the service sees it once.
func TestHopReplay(t *testing.T) {
	w := newWorld(t, worldOpts{})
	var hdr http.Header
	var body []byte
	w.hook.set(func(r *http.Request) {
		hdr = r.Header.Clone()
		body, _ = io.ReadAll(r.Body)
		swapBody(&r.Body, body)
	}, nil)
	if resp := w.do(request{method: http.MethodPost, path: personsPath + "/v1/persons", body: `{"n":1}`}); resp.status != 200 {
		t.Fatalf("%d %s", resp.status, resp.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+w.providers[0].addr+HopPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	resp, err := w.transport.Do(req, ssMOI1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, response{status: resp.StatusCode, header: resp.Header, body: b}, "Server.ServerProxy.InvalidRequest", 500)
	if n := len(w.backend.requests()); n != 1 {
		t.Errorf("backend saw %d requests, want 1", n)
	}
}
