package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The bench package links the whole jisr (through internal/demo), so
// step-ca's glog flush daemon runs from init.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"))
}

func body(n int) []byte { return bytes.Repeat([]byte("jisr-bench "), n/11+1)[:n] }

func TestClosedLoopCountsEchoedExchanges(t *testing.T) {
	srv := httptest.NewServer(EchoHandler())
	defer srv.Close()
	client := NewClient(4)
	defer client.CloseIdleConnections()
	tg := Target{URL: srv.URL + "/echo", Header: http.Header{"X-Road-Client": {"PS/GOV/CAB/bench"}}, Client: client}
	s := ClosedLoop(context.Background(), tg, body(100<<10), 4, 100*time.Millisecond)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if s.OK == 0 || len(s.Latencies) != s.OK || s.Elapsed <= 0 {
		t.Fatalf("sample %+v: want exchanges, one latency each", s)
	}
	if !slices.IsSorted(s.Latencies) {
		t.Fatal("latencies are not sorted")
	}
}

func TestClosedLoopCountsWrongAnswersAsFailures(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"status 500":    func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusInternalServerError) },
		"short answer":  func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("jisr")) },
		"other bytes":   func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(bytes.Repeat([]byte("x"), 2048)) },
		"longer answer": func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body(4096)) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			client := NewClient(2)
			defer client.CloseIdleConnections()
			s := ClosedLoop(context.Background(), Target{URL: srv.URL, Client: client}, body(2048), 2, 50*time.Millisecond)
			if s.OK != 0 || s.Failed == 0 || s.FirstError == nil || s.Err() == nil {
				t.Fatalf("sample %+v: want only failures", s)
			}
		})
	}
}

func TestOpenLoopSchedulesEveryArrival(t *testing.T) {
	srv := httptest.NewServer(EchoHandler())
	defer srv.Close()
	client := NewClient(64)
	defer client.CloseIdleConnections()
	tg := Target{URL: srv.URL, Client: client}
	// 200/s for 200 ms: arrivals at 0, 5, …, 195 ms.
	s := OpenLoop(context.Background(), tg, body(1024), 200, 200*time.Millisecond, 64)
	if got := s.OK + s.Failed + s.Dropped; got != 40 {
		t.Fatalf("%d arrivals accounted for, want 40: %+v", got, s)
	}
	if len(s.Latencies) != s.OK {
		t.Fatalf("%d latencies for %d exchanges", len(s.Latencies), s.OK)
	}
	// Without room in flight every arrival is dropped, none sent.
	s = OpenLoop(context.Background(), tg, body(1024), 200, 100*time.Millisecond, 0)
	if s.Dropped != 20 || s.OK != 0 || s.Failed != 0 || s.Err() == nil {
		t.Fatalf("with no room in flight: %+v", s)
	}
}

func TestEchoHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("hello"))
	req.Header.Set("Content-Type", "text/plain")
	EchoHandler().ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != "hello" || rec.Header().Get("Content-Type") != "text/plain" ||
		rec.Header().Get("Content-Length") != "5" {
		t.Fatalf("echo: %d %q %v", rec.Code, rec.Body, rec.Header())
	}
}
