package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// ssProcess is a `jisr ss serve` that a test can kill -9 and restart.
type ssProcess struct {
	t    *testing.T
	ss   *ssUnderTestProc
	mu   sync.Mutex
	cmd  *exec.Cmd
	logs bytes.Buffer
}

func (p *ssProcess) start() {
	p.t.Helper()
	p.mu.Lock()
	p.cmd = exec.Command(jisrBin, "ss", "serve", "--config", p.ss.cfg, "--log-format", "text", "--log-level", "warn")
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		p.mu.Unlock()
		p.t.Fatal(err)
	}
	p.mu.Unlock()
	waitHealthy(p.t, "http://"+p.ss.adminAddr+"/healthz", &p.logs)
}

func (p *ssProcess) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

func randomDuration(t *testing.T, max time.Duration) time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(max)))
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(n.Int64())
}

// TestCrashKeepsEveryAcknowledgedExchangeLogged kills the provider's and
// then the consumer's security server with SIGKILL at random instants while
// clients send exchanges, ten times each, restarting them each time. After
// the last restart, every exchange a client saw succeed has its request and
// response records in both security servers' logs, and both logs' hash
// chains verify: the log commits before anything is forwarded or returned.
func TestCrashKeepsEveryAcknowledgedExchangeLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: crash test (make test and .ci/run never pass -short, so this runs on CI)")
	}
	var got seen
	pki, _, provider, consumer, _ := exchangeWorld(t, &got)
	procs := map[string]*ssProcess{"provider": {t: t, ss: provider}, "consumer": {t: t, ss: consumer}}
	for _, name := range []string{"provider", "consumer"} {
		procs[name].start()
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
		}
	})

	url := "http://" + consumer.clientAddr + "/r1/PS/GOV/MOI/civil-registry/persons/v1/persons/4001"
	var (
		mu    sync.Mutex
		acked []string
		sent  int
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("crash-%d-%d-%d", w, i, time.Now().UnixNano())
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(`{"q":"`+id+`"}`)))
				req.Header.Set("X-Road-Client", "PS/GOV/CAB/portal")
				req.Header.Set("X-Road-Id", id)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				mu.Lock()
				sent++
				mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}

	const kills = 10
	for i := 0; i < kills; i++ {
		for _, name := range []string{"provider", "consumer"} {
			time.Sleep(200*time.Millisecond + randomDuration(t, 600*time.Millisecond))
			procs[name].kill()
			procs[name].start()
		}
	}
	time.Sleep(500 * time.Millisecond)
	stop()
	wg.Wait()
	for _, p := range procs {
		p.kill()
	}

	mu.Lock()
	defer mu.Unlock()
	if len(acked) < kills {
		t.Fatalf("only %d of %d exchanges succeeded under the crashes; the test proves nothing", len(acked), sent)
	}
	t.Logf("%d exchanges acknowledged of %d sent, %d kills of each security server", len(acked), sent, kills)
	for name, ss := range map[string]*ssUnderTestProc{"provider": provider, "consumer": consumer} {
		l, err := msglog.OpenSQLite(context.Background(), filepath.Join(filepath.Dir(ss.cfg), "msglog.db"), msglog.MetadataOnly())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.VerifyChain(context.Background(), 0, 0); err != nil {
			t.Errorf("%s: chain after %d kills: %v", name, kills, err)
		}
		for _, id := range acked {
			recs, err := l.Find(context.Background(), msglog.Query{MessageID: id})
			if err != nil {
				t.Fatal(err)
			}
			var req, resp int
			for _, r := range recs {
				switch r.Direction {
				case msglog.Request:
					req++
				case msglog.Response:
					resp++
				}
			}
			if req != 1 || resp != 1 {
				t.Errorf("%s: acknowledged exchange %s has %d request and %d response records, want 1 and 1", name, id, req, resp)
			}
		}
		_ = l.Close()
	}

	// Restarted, both servers time-stamp what they logged; an archiver
	// round then writes it to archives chained to those the servers wrote
	// at each start, and the auditor's tool verifies the whole chain.
	for name, p := range procs {
		p.start()
		waitStamped(t, name, filepath.Join(filepath.Dir(p.ss.cfg), "msglog.db"))
		run(t, false, "ss", "archive", "--config", p.ss.cfg)
		p.kill()
		out := run(t, false, "audit", "verify", "--roots", pki.rootPEM, "--first", filepath.Join(filepath.Dir(p.ss.cfg), "archives"))
		var rep struct {
			Verified bool
			Archives []struct{ LastID int64 }
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.Verified || len(rep.Archives) == 0 {
			t.Fatalf("%s: audit verify: %v\n%s", name, err, out)
		}
		t.Logf("%s: %d archives verify, up to record %d", name, len(rep.Archives), rep.Archives[len(rep.Archives)-1].LastID)
	}
}

// waitStamped waits until every record of the message log at path is
// covered by a time-stamp (the servers stamp every 2 s in these tests).
func waitStamped(t *testing.T, name, path string) {
	t.Helper()
	l, err := msglog.OpenSQLite(context.Background(), path, msglog.MetadataOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		head, err := l.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tss, err := l.Timestamps(context.Background(), 0, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(tss) > 0 && tss[len(tss)-1].To == head {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: records up to %d not all time-stamped after 60 s", name, head)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
