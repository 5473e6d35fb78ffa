package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// largeBody is the size of the request and of the response of the
// streaming test.
const largeBody = 1 << 30

// patternReader yields n bytes repeating one random block.
type patternReader struct {
	block []byte
	left  int64
	off   int
}

func newPatternReader(block []byte, n int64) *patternReader {
	return &patternReader{block: block, left: n}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.left > 0 {
		c := copy(p[n:min(len(p), n+int(min(r.left, int64(len(r.block)-r.off))))], r.block[r.off:])
		n += c
		r.left -= int64(c)
		r.off = (r.off + c) % len(r.block)
	}
	return n, nil
}

// peakRSS returns the peak resident set size (VmHWM) of a process, bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestGigabyteStreams sends a 1 GiB request and gets a 1 GiB response
// through both security servers — signed (digest computed while
// streaming), logged, verified — and checks, from /proc, that neither
// security server's resident memory grew beyond a bound far below the
// body size. The provider's service checks the request's digest; the
// client checks the response's.
func TestGigabyteStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 1 GiB streaming (make test and .ci/run never pass -short, so this runs on CI)")
	}
	const rssBound = 256 << 20
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	want := sha256.New()
	if _, err := io.Copy(want, newPatternReader(block, largeBody)); err != nil {
		t.Fatal(err)
	}
	wantSum := want.Sum(nil)

	var got seen
	_, _, provider, consumer, _ := exchangeWorld(t, &got)
	// A service that reads the whole request, checks its digest and
	// answers with the same bytes.
	var mu sync.Mutex
	var serviceErr error
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err == nil && (n != largeBody || !bytes.Equal(h.Sum(nil), wantSum)) {
			err = fmt.Errorf("service received %d bytes with another digest", n)
		}
		if err != nil {
			mu.Lock()
			serviceErr = err
			mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(largeBody))
		_, _ = io.Copy(w, newPatternReader(block, largeBody))
	}))
	t.Cleanup(big.Close)
	run(t, false, "ss", "service", "add", "--config", provider.cfg, "--client", "PS/GOV/MOI/civil-registry",
		"--code", "bulk", "--url", big.URL, "--timeout", "10m")
	run(t, false, "ss", "access", "grant", "--config", provider.cfg, "--client", "PS/GOV/MOI/civil-registry",
		"--service", "bulk", "--subject", "PS/GOV/CAB/portal")
	procs := []*ssProcess{{t: t, ss: provider}, {t: t, ss: consumer}}
	for _, p := range procs {
		p.start()
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
		}
	})

	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, "http://"+consumer.clientAddr+"/r1/PS/GOV/MOI/civil-registry/bulk/upload",
		newPatternReader(block, largeBody))
	req.ContentLength = largeBody
	req.Header.Set("X-Road-Client", "PS/GOV/CAB/portal")
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := (&http.Client{Timeout: 15 * time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("1 GiB exchange: %d %s (service: %v)", resp.StatusCode, b, serviceErr)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if n != largeBody || !bytes.Equal(h.Sum(nil), wantSum) {
		t.Fatalf("response: %d bytes, digest differs: %v", n, !bytes.Equal(h.Sum(nil), wantSum))
	}
	took := time.Since(start)
	for _, p := range procs {
		rss := peakRSS(t, p.cmd.Process.Pid)
		t.Logf("%s: peak RSS %d MiB", p.ss.id, rss>>20)
		if rss > rssBound {
			t.Errorf("%s: peak RSS %d MiB for 1 GiB bodies, bound %d MiB", p.ss.id, rss>>20, rssBound>>20)
		}
	}
	t.Logf("1 GiB up and 1 GiB down through two security servers in %v (%.0f MiB/s each way)", took.Round(time.Millisecond),
		float64(largeBody>>20)/took.Seconds())
}
