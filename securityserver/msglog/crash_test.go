package msglog_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/msglog/msglogtest"
)

// crashEnv names the environment variable that makes TestCrashChild run:
// it holds the path of the log's SQLite file.
const crashEnv = "JISR_MSGLOG_CRASH_CHILD"

// crashKeys returns the body key of the crash test's log.
func crashKeys(t testing.TB) msglog.KeyProvider {
	k, err := msglog.NewStaticKeys("c", map[string][]byte{"c": bytes.Repeat([]byte{0xc}, msglog.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCrashChild is the process TestCrashSafety kills: it appends from
// several goroutines until killed, writing "ACK <id> <message id>" to
// stdout after each Append returns.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process of TestCrashSafety")
	}
	f := msglogtest.NewFixture(t)
	recs := f.Records(t, 16, 512)
	l, err := msglog.OpenSQLite(context.Background(), path, msglog.WithKeys(crashKeys(t)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	for g := range 8 {
		go func() {
			for i := g; ; i += 8 {
				r := recs[i%len(recs)]
				if err := l.Append(context.Background(), &r); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				line := fmt.Sprintf("ACK %d %s\n", r.ID, r.MessageID)
				mu.Lock()
				// One write per line: a pipe write of up to PIPE_BUF bytes
				// is atomic, so a kill never leaves half an acknowledgement.
				_, _ = os.Stdout.WriteString(line)
				mu.Unlock()
			}
		}()
	}
	select {} // until killed
}

// TestCrashSafety runs TestCrashChild in a child process, kills it with
// SIGKILL after a random number of acknowledgements, and checks that every
// acknowledged record is in the reopened log and that the chain verifies.
// The same log is crashed and reopened again and again.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[int64]string{}
	const rounds = 10
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rand.IntN(200)
		r := bufio.NewReader(stdout)
		n, killed := 0, false
		for {
			line, err := r.ReadString('\n')
			if errors.Is(err, io.EOF) {
				break // a partial last line is not an acknowledgement
			}
			if err != nil {
				t.Fatal(err)
			}
			id, msgID, ok := parseAck(line)
			if !ok {
				continue
			}
			if prev, dup := acked[id]; dup {
				t.Fatalf("round %d: id %d acknowledged twice (%s, %s)", round, id, prev, msgID)
			}
			acked[id] = msgID
			if n++; n == killAfter && !killed {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited before being killed: %v\n%s", round, err, stderr.String())
		}
		t.Logf("round %d: killed after %d acknowledgements (%d read in all)", round, killAfter, n)
	}

	l, err := msglog.OpenSQLite(t.Context(), path, msglog.WithKeys(crashKeys(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := l.VerifyChain(t.Context(), 0, 0)
	if err != nil {
		t.Fatalf("VerifyChain after %d crashes: %v", rounds, err)
	}
	for id, msgID := range acked {
		rec, err := l.Get(t.Context(), id)
		if err != nil {
			t.Fatalf("acknowledged record %d: %v", id, err)
		}
		if rec.MessageID != msgID || rec.Body == nil {
			t.Fatalf("acknowledged record %d: message id %q (want %q), body %v", id, rec.MessageID, msgID, rec.Body != nil)
		}
	}
	t.Logf("%d acknowledged records present; chain of %d records verifies", len(acked), res.To)
}

// parseAck parses "ACK <id> <message id>\n".
func parseAck(line string) (int64, string, bool) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ACK" {
		return 0, "", false
	}
	id, err := strconv.ParseInt(f[1], 10, 64)
	return id, f[2], err == nil
}
