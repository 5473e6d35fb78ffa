package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// TestTwoProviderNodesOverPostgres runs the provider's security server as
// two nodes — two `jisr ss serve` processes with one identity (a copy of
// the same directory) over one PostgreSQL database — registered with both
// addresses, so the global configuration lists both. The consumer spreads
// exchanges over them and, when either node is killed (SIGKILL), goes on
// with the other: no exchange fails but those in flight at the kill. Every
// acknowledged exchange is in the shared message log, whose one hash chain
// both nodes extend, and which verifies.
func TestTwoProviderNodesOverPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: multi-node test (make test and .ci/run never pass -short, so this runs on CI)")
	}
	dsn := storetest.PostgresDSN(t)
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	peer2 := freeAddr(t)
	var got seen
	_, _, provider, consumer, _ := exchangeWorldWith(t, &got, []string{"--database-dsn-file", dsnFile, "--address", "localhost:" + port(peer2)})

	// Node 2: the same directory (keys, certificates, body key), its own
	// listeners.
	dir2 := filepath.Join(t.TempDir(), "node2")
	if out, err := exec.Command("cp", "-a", filepath.Dir(provider.cfg), dir2).CombinedOutput(); err != nil {
		t.Fatalf("copying the node directory: %v %s", err, out)
	}
	node2 := &ssUnderTestProc{id: provider.id, cfg: filepath.Join(dir2, securityserver.ConfigFile),
		clientAddr: freeAddr(t), peerAddr: peer2, adminAddr: freeAddr(t)}
	var cfg2 securityserver.Config
	b, err := os.ReadFile(node2.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := config.DecodeOnly(b, &cfg2); err != nil {
		t.Fatal(err)
	}
	cfg2.Listen.ClientHTTP, cfg2.Listen.ClientHTTPS, cfg2.Listen.Peer, cfg2.Listen.Admin = node2.clientAddr, freeAddr(t), node2.peerAddr, node2.adminAddr
	if err := config.Write(node2.cfg, &cfg2); err != nil {
		t.Fatal(err)
	}

	nodes := []*ssProcess{{t: t, ss: provider}, {t: t, ss: node2}}
	cons := &ssProcess{t: t, ss: consumer}
	for _, p := range append(nodes, cons) {
		p.start()
	}
	t.Cleanup(func() {
		for _, p := range append(nodes, cons) {
			p.kill()
		}
	})

	url := "http://" + consumer.clientAddr + "/r1/PS/GOV/MOI/civil-registry/persons/v1/persons/4001"
	const workers = 4
	var (
		mu             sync.Mutex
		acked, refused []string
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			client := &http.Client{Timeout: 15 * time.Second}
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("node-%d-%d", w, i)
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(`{"q":"`+id+`"}`)))
				req.Header.Set("X-Road-Client", "PS/GOV/CAB/portal")
				req.Header.Set("X-Road-Id", id)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				status := 0
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				mu.Lock()
				if status == http.StatusOK {
					acked = append(acked, id)
				} else {
					refused = append(refused, fmt.Sprintf("%s: %d %v %s", id, status, err, body))
				}
				mu.Unlock()
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	// waitProgress waits until n more exchanges succeeded.
	waitProgress := func(step string, n int) {
		t.Helper()
		start, deadline := count(), time.Now().Add(30*time.Second)
		for count() < start+n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: only %d exchanges in 30 s", step, count()-start)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitProgress("both nodes up", 50)
	nodes[0].kill()
	waitProgress("node 1 killed", 50)
	nodes[0].start()
	waitProgress("node 1 back", 50)
	nodes[1].kill()
	waitProgress("node 2 killed", 50)
	stop()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	// Each kill may fail the exchanges in flight on the killed node: at
	// most one per worker.
	if len(refused) > 2*workers {
		t.Errorf("%d exchanges failed, more than the %d that can be in flight at two kills:", len(refused), 2*workers)
		for _, r := range refused {
			t.Log(r)
		}
	}
	t.Logf("%d exchanges acknowledged, %d failed across two node kills", len(acked), len(refused))

	l, err := msglog.OpenPostgres(context.Background(), dsn, msglog.MetadataOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.VerifyChain(context.Background(), 0, 0); err != nil {
		t.Errorf("the shared chain: %v", err)
	}
	for _, id := range acked {
		recs, err := l.Find(context.Background(), msglog.Query{MessageID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 {
			t.Errorf("acknowledged exchange %s has %d records in the provider's log, want request and response", id, len(recs))
		}
	}
}
