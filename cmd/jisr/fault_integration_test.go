package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// interrupt stops the security server gracefully (SIGINT) and waits: it
// drains exchanges in flight first.
func (p *ssProcess) interrupt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// faultWorld is exchangeWorld with the provider's security server on
// PostgreSQL (its connections tagged with an application name, so the test
// can cut them), a second service "slow" whose backend waits as long as it
// is told (GET /wait/MILLISECONDS; /hang waits until the caller gives up)
// with a 2 s timeout, and both security servers running as killable
// processes.
type faultWorld struct {
	p         *pkiUnderTest
	c         *centralUnderTest
	provider  *ssProcess
	consumer  *ssProcess
	dsn, app  string
	clientURL string
}

func newFaultWorld(t *testing.T) *faultWorld {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	w := &faultWorld{app: "jisr_fault_" + hex.EncodeToString(b[:])}
	w.dsn = storetest.PostgresDSN(t)
	sep := "?"
	if strings.Contains(w.dsn, "?") {
		sep = "&"
	}
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(w.dsn+sep+"application_name="+w.app+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got seen
	var provider, consumer *ssUnderTestProc
	w.p, w.c, provider, consumer, _ = exchangeWorldWith(t, &got, []string{"--database-dsn-file", dsnFile})

	slow := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/hang":
			<-r.Context().Done()
			return
		case strings.HasPrefix(r.URL.Path, "/wait/"):
			ms, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/wait/"))
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"waited":true}`)
	}))
	t.Cleanup(slow.Close)
	run(t, false, "ss", "service", "add", "--config", provider.cfg, "--client", "PS/GOV/MOI/civil-registry",
		"--code", "slow", "--url", slow.URL, "--timeout", "2s")
	run(t, false, "ss", "access", "grant", "--config", provider.cfg, "--client", "PS/GOV/MOI/civil-registry",
		"--service", "slow", "--subject", "PS/GOV/CAB/portal")

	w.provider, w.consumer = &ssProcess{t: t, ss: provider}, &ssProcess{t: t, ss: consumer}
	w.provider.start()
	w.consumer.start()
	t.Cleanup(func() { w.provider.kill(); w.consumer.kill() })
	w.clientURL = "http://" + consumer.clientAddr + "/r1/PS/GOV/MOI/civil-registry/"
	return w
}

// call sends one exchange to service/path and returns the status and the
// X-Road error code ("" on success).
func (w *faultWorld) call(t *testing.T, servicePath string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.clientURL+servicePath, nil)
	req.Header.Set("X-Road-Client", "PS/GOV/CAB/portal")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get(xerr.HeaderError)
}

// mustCall fails unless n exchanges in a row succeed.
func (w *faultWorld) mustCall(t *testing.T, step string, n int) {
	t.Helper()
	for i := range n {
		if st, code := w.call(t, "persons/v1/persons/4001"); st != http.StatusOK {
			t.Fatalf("%s: exchange %d: %d %s", step, i, st, code)
		}
	}
}

// recovers waits until n exchanges in a row succeed again.
func (w *faultWorld) recovers(t *testing.T, step string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	ok := 0
	var last string
	for ok < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: exchanges did not recover within %v (last: %s)", step, within, last)
		}
		st, code := w.call(t, "persons/v1/persons/4001")
		if st == http.StatusOK {
			ok++
			continue
		}
		ok, last = 0, fmt.Sprintf("%d %s", st, code)
		time.Sleep(200 * time.Millisecond)
	}
}

// metric reads one sample of an unlabelled metric from a security server's
// /metrics.
func metric(t *testing.T, ss *ssUnderTestProc, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + ss.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// eventually waits until cond holds.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestFaults injects, one after the other on one running world, the
// faults the architecture names, and checks the behaviour it prescribes:
// the bus fails closed and explicitly where it must, and keeps going where
// it can.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: fault injection (make test and .ci/run never pass -short, so this runs on CI)")
	}
	w := newFaultWorld(t)
	w.mustCall(t, "at start", 3)

	t.Run("backend hangs: ServiceFailed after the service timeout, other exchanges unaffected", func(t *testing.T) {
		type result struct {
			status int
			code   string
			took   time.Duration
		}
		done := make(chan result, 1)
		go func() {
			start := time.Now()
			st, code := w.call(t, "slow/hang")
			done <- result{st, code, time.Since(start)}
		}()
		time.Sleep(300 * time.Millisecond)
		w.mustCall(t, "while a backend hangs", 5) // the server is not blocked
		r := <-done
		if r.status != http.StatusInternalServerError || r.code != "Server.ServerProxy.ServiceFailed" {
			t.Fatalf("hanging backend: %d %q, want 500 Server.ServerProxy.ServiceFailed", r.status, r.code)
		}
		if r.took < 2*time.Second || r.took > 20*time.Second {
			t.Errorf("hanging backend answered after %v; the service timeout is 2 s", r.took)
		}
		if st, code := w.call(t, "slow/wait/300"); st != http.StatusOK {
			t.Errorf("slow backend within its timeout: %d %s", st, code)
		}
	})

	t.Run("PKI down (TSA and OCSP): traffic goes on, the time-stamp backlog grows, then is stamped", func(t *testing.T) {
		before := metric(t, w.consumer.ss, "jisr_msglog_timestamp_failures_total")
		w.p.proc.stop()
		// Stapled OCSP responses stay fresh (1 h) and the time-stamping
		// grace period is 4 h: exchanges continue.
		w.mustCall(t, "PKI down", 5)
		eventually(t, "a failed time-stamping round and a backlog", 20*time.Second, func() bool {
			return metric(t, w.consumer.ss, "jisr_msglog_timestamp_failures_total") > before &&
				metric(t, w.consumer.ss, "jisr_msglog_timestamp_backlog_records") > 0
		})
		w.mustCall(t, "PKI down, after failed rounds", 3)
		w.p.proc.start()
		eventually(t, "the backlog stamped once the TSA is back", 60*time.Second, func() bool {
			return metric(t, w.consumer.ss, "jisr_msglog_timestamp_backlog_records") == 0 &&
				metric(t, w.provider.ss, "jisr_msglog_timestamp_backlog_records") == 0
		})
	})

	t.Run("central server down: the last good configuration serves", func(t *testing.T) {
		w.c.proc.stop()
		w.mustCall(t, "central down", 5)
		time.Sleep(3 * time.Second) // refresh attempts fail meanwhile
		w.mustCall(t, "central down, after failed downloads", 3)
		w.c.proc.start()
		waitHealthy(t, "http://"+w.c.adminAddr+"/healthz", w.c.proc.logs)
		w.mustCall(t, "central back", 2)
	})

	t.Run("PostgreSQL connections cut: the pool reconnects without a restart, the chain stays whole", func(t *testing.T) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, os.Getenv(storetest.EnvPostgresDSN))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var cut int
		if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, w.app).Scan(&cut); err != nil {
			t.Fatal(err)
		}
		if cut == 0 {
			t.Fatal("no connection of the provider's security server to cut")
		}
		// Some exchanges may now fail with LoggingFailed — never succeed
		// unlogged; the pool reconnects by itself.
		w.recovers(t, "after cutting "+strconv.Itoa(cut)+" connections", 5, 30*time.Second)
		l, err := msglog.OpenPostgres(ctx, w.dsn, msglog.MetadataOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, err := l.VerifyChain(ctx, 0, 0); err != nil {
			t.Errorf("chain after the cut: %v", err)
		}
	})

	t.Run("consumer restarted gracefully: the exchange in flight completes", func(t *testing.T) {
		var wg sync.WaitGroup
		var st int
		var code string
		wg.Go(func() { st, code = w.call(t, "slow/wait/1500") })
		time.Sleep(400 * time.Millisecond)
		w.consumer.interrupt()
		wg.Wait()
		if st != http.StatusOK {
			t.Fatalf("exchange in flight during a graceful stop: %d %s", st, code)
		}
		w.consumer.start()
		w.mustCall(t, "consumer restarted", 3)
	})
}
