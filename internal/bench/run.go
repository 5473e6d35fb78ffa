// Package bench is jisr's end-to-end benchmark (`jisr bench`, run by
// `make bench`): it measures exchanges through two security servers against
// two baselines on loopback, in one invocation, and writes the table into
// docs/performance.md.
//
// Every path ends at the same echo service (`jisr bench echo`, a separate
// process) and is driven by the same load generator (in the harness's own
// process):
//
//	(a) direct       client → echo
//	(b) mTLS chain   client → proxy 1 → (TLS 1.3, mutual, HTTP/2) → proxy 2 → echo,
//	                 both `jisr bench proxy` processes (httputil.ReverseProxy):
//	                 the limit of the security servers' topology
//	(c) jisr         client → consumer SS → provider SS → echo, both `jisr ss serve`
//	                 processes with signing, body logging and time-stamping, on
//	                 SQLite and on PostgreSQL (a fresh schema per server)
//
// For each body size it finds the saturation throughput (closed loop, N
// clients chosen by a ramp), the p50 and p99 latency at a fraction of it
// (open loop, fixed arrival rate), the CPU per exchange of the intermediate
// processes (/proc/PID/stat) and their resident memory (/proc/PID/status),
// and reports them absolutely and as ratios to (b).
//
// It is a measuring tool, not a test: it makes no assertion about speed.
// The instance PKI and central server of (c) run inside the harness
// (internal/demo.Infra); they are idle while exchanges run.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configures Run. Zero durations and sizes mean the defaults of
// DefaultOptions.
type Options struct {
	// Bin is the jisr binary whose `bench echo`, `bench proxy` and
	// `ss serve` commands are run as child processes.
	Bin string
	// WorkDir holds keys, databases and child processes' logs; a
	// temporary directory (removed afterwards) when empty.
	WorkDir string
	// Sizes are the body sizes in bytes.
	Sizes []int
	// Topologies selects and orders the paths measured (Topology…).
	Topologies []string
	// PostgresDSN is the PostgreSQL server (URL form) of jisr-postgres.
	PostgresDSN string
	// Step is the duration of one ramp step; Measure of the saturation
	// run; Open the least duration of the open-loop run, which is
	// lengthened (up to MaxOpen) to collect at least MinSamples latencies.
	Step, Measure, Open, MaxOpen time.Duration
	MinSamples                   int
	// Fraction of the saturation throughput is the open-loop rate.
	Fraction float64
	// TimestampInterval is the message log's time-stamping interval.
	TimestampInterval time.Duration
	// ProfileDir, when set, receives CPU and allocation profiles of the
	// security servers, taken under closed-loop load after each size's
	// measurement (the servers are started with --pprof-addr), each CPU
	// profile ProfileSeconds long (default 5).
	ProfileDir     string
	ProfileSeconds int
	// Command is the command line printed with the report.
	Command string
	// Progress receives a line per measurement; Log the in-process PKI's
	// and central server's logs.
	Progress io.Writer
	Log      *slog.Logger
}

// DefaultOptions are the settings `make bench` runs with.
func DefaultOptions() Options {
	return Options{
		Sizes:             []int{1 << 10, 100 << 10, 10 << 20},
		Topologies:        []string{TopologyDirect, TopologyChain, TopologySQLite, TopologyPostgres},
		PostgresDSN:       "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		Step:              time.Second,
		Measure:           3 * time.Second,
		Open:              3 * time.Second,
		MaxOpen:           10 * time.Second,
		MinSamples:        40,
		Fraction:          0.5,
		TimestampInterval: 5 * time.Second,
	}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if len(o.Sizes) == 0 {
		o.Sizes = d.Sizes
	}
	if len(o.Topologies) == 0 {
		o.Topologies = d.Topologies
	}
	if o.PostgresDSN == "" {
		o.PostgresDSN = d.PostgresDSN
	}
	for _, p := range []struct{ v, d *time.Duration }{{&o.Step, &d.Step}, {&o.Measure, &d.Measure}, {&o.Open, &d.Open},
		{&o.MaxOpen, &d.MaxOpen}, {&o.TimestampInterval, &d.TimestampInterval}} {
		if *p.v <= 0 {
			*p.v = *p.d
		}
	}
	if o.MinSamples <= 0 {
		o.MinSamples = d.MinSamples
	}
	if o.ProfileSeconds <= 0 {
		o.ProfileSeconds = 5
	}
	if o.Fraction <= 0 || o.Fraction > 1 {
		o.Fraction = d.Fraction
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// harness is one run.
type harness struct {
	opts            Options
	workDir, logDir string
	log             *slog.Logger
}

// Run measures every topology of o at every size and returns the report.
// A topology that cannot be set up fails the run; failed exchanges are
// counted in the report.
func Run(ctx context.Context, o Options) (_ *Report, err error) {
	o.defaults()
	for _, t := range o.Topologies {
		if topologyName(t) == t {
			return nil, fmt.Errorf("bench: unknown topology %q", t)
		}
	}
	if o.Bin == "" {
		return nil, errors.New("bench: the jisr binary is required")
	}
	h := &harness{opts: o, log: o.Log}
	if o.WorkDir == "" {
		if h.workDir, err = os.MkdirTemp("", "jisr-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(h.workDir)
	} else if h.workDir, err = filepath.Abs(o.WorkDir); err != nil {
		return nil, err
	}
	h.logDir = filepath.Join(h.workDir, "logs")
	if err := os.MkdirAll(h.logDir, 0o700); err != nil {
		return nil, err
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	rep := &Report{Date: time.Now(), Machine: ReadMachine(), Command: o.Command, Sizes: o.Sizes,
		Settings: Settings{Step: o.Step, Measure: o.Measure, Open: o.Open, Fraction: o.Fraction, TimestampInterval: o.TimestampInterval}}
	h.progress("jisr bench: work directory %s (child logs in %s)", h.workDir, h.logDir)

	echo, echoAddr, err := h.startEcho(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, echo.stop(10*time.Second)) }()

	var world *jisrWorld
	defer func() {
		if world != nil {
			err = errors.Join(err, world.close())
		}
	}()
	for _, key := range o.Topologies {
		var t *topology
		switch key {
		case TopologyDirect:
			t = h.direct(echoAddr)
		case TopologyChain:
			if t, err = h.chain(ctx, echoAddr); err != nil {
				return nil, err
			}
		case TopologySQLite, TopologyPostgres:
			if world == nil {
				var dbs []string
				for _, k := range o.Topologies {
					switch k {
					case TopologySQLite:
						dbs = append(dbs, "sqlite")
					case TopologyPostgres:
						dbs = append(dbs, "postgres")
					}
				}
				h.progress("setting up the jisr world (PKI, central server, security servers on %s)", strings.Join(dbs, ", "))
				if world, err = h.setupJisr(ctx, echoAddr, dbs); err != nil {
					return nil, err
				}
			}
			if t, err = h.startPair(ctx, world.pairs[key], o.ProfileDir != ""); err != nil {
				return nil, err
			}
		}
		rows, err := h.measure(ctx, t)
		if serr := t.stop(); err == nil && serr != nil {
			err = serr
		}
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	rep.Machine.LoadAfter = LoadAverage()
	h.progress("jisr bench: measured in %s", time.Since(rep.Date).Round(time.Second))
	return rep, nil
}

func (h *harness) progress(format string, args ...any) {
	fmt.Fprintf(h.opts.Progress, format+"\n", args...)
}

// measure runs every body size over t.
func (h *harness) measure(ctx context.Context, t *topology) ([]Row, error) {
	idle := make([]int64, len(t.measured))
	for i, p := range t.measured {
		m, err := ReadMemory(p.PID())
		if err != nil {
			return nil, err
		}
		idle[i] = m.RSS
	}
	maxConns := 64
	t.target.Client = NewClient(maxConns)
	defer t.target.Client.CloseIdleConnections()
	// Warm up: connection pools, TLS sessions, the servers' first
	// allocations.
	warm := make([]byte, 1<<10)
	_, _ = rand.Read(warm)
	if err := ClosedLoop(ctx, t.target, warm, 4, h.opts.Step/2).Err(); err != nil {
		return nil, fmt.Errorf("bench: %s: warm-up: %w", t.key, err)
	}
	var rows []Row
	for _, size := range h.opts.Sizes {
		row, err := h.measureSize(ctx, t, size, idle)
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
		if t.pprof != nil {
			if err := h.profile(ctx, t, size, row.Concurrency); err != nil {
				return nil, err
			}
		}
	}
	return rows, nil
}

// maxConcurrency bounds the ramp so that bodies in flight stay under
// 256 MiB.
func maxConcurrency(size int) int {
	return min(64, max(4, (256<<20)/size))
}

func (h *harness) measureSize(ctx context.Context, t *topology, size int, idle []int64) (Row, error) {
	row := Row{Topology: t.key, Size: size}
	body := make([]byte, size)
	_, _ = rand.Read(body)
	note := func(s Sample) {
		row.Failed += s.Failed + s.Dropped
		if row.FirstError == "" && s.FirstError != nil {
			row.FirstError = strings.ReplaceAll(s.FirstError.Error(), "\n", " ")
		} else if row.FirstError == "" && s.Dropped > 0 {
			row.FirstError = "open-loop arrivals dropped: too many in flight"
		}
	}

	// Memory: the peak is reset now and read at the end; a sampler covers
	// kernels without clear_refs.
	resetOK := true
	for _, p := range t.measured {
		if ResetPeak(p.PID()) != nil {
			resetOK = false
		}
	}
	sampled := make([]int64, len(t.measured))
	stopSampler := make(chan struct{})
	var samplerDone sync.WaitGroup
	samplerDone.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for i, p := range t.measured {
				if m, err := ReadMemory(p.PID()); err == nil {
					sampled[i] = max(sampled[i], m.RSS)
				}
			}
			select {
			case <-stopSampler:
				return
			case <-tick.C:
			}
		}
	})

	// Ramp: double N until two doublings in a row fail to raise the best
	// throughput by 10 % (one noisy step on a shared machine does not end
	// it); N is the best step's.
	var best float64
	var ramp []string
	row.Concurrency = 1
	for n, flat := 1, 0; n <= maxConcurrency(size) && flat < 2; n *= 2 {
		s := ClosedLoop(ctx, t.target, body, n, h.opts.Step)
		note(s)
		tp := s.Throughput()
		ramp = append(ramp, fmt.Sprintf("N=%d %s/s", n, fmtRate(tp)))
		if tp >= best*1.1 {
			flat = 0
		} else {
			flat++
		}
		if tp > best {
			best, row.Concurrency = tp, n
		}
	}

	// Saturation, with the intermediaries' CPU time around it.
	cpu0, err := cpuOf(t.measured)
	if err != nil {
		return row, err
	}
	sat := ClosedLoop(ctx, t.target, body, row.Concurrency, h.opts.Measure)
	cpu1, err := cpuOf(t.measured)
	if err != nil {
		return row, err
	}
	note(sat)
	row.Throughput = sat.Throughput()
	if n := sat.OK + sat.Failed; n > 0 && len(t.measured) > 0 {
		row.CPU = cpu1.Sub(cpu0).Total() / time.Duration(n)
	}

	// Latency at a fixed arrival rate.
	row.Rate = h.opts.Fraction * row.Throughput
	if row.Rate > 0 {
		d := max(h.opts.Open, time.Duration(float64(h.opts.MinSamples)/row.Rate*float64(time.Second)))
		d = min(d, h.opts.MaxOpen)
		// Arrivals share a fixed pool of connections (as wrk2 does): a
		// burst queues for a connection — which the latency counts —
		// instead of opening new ones. Beyond inFlight outstanding
		// arrivals, they are dropped and reported.
		inFlight := max(16, min(1024, (256<<20)/size))
		ot := t.target
		ot.Client = NewClient(maxConcurrency(size))
		open := OpenLoop(ctx, ot, body, row.Rate, d, inFlight)
		ot.Client.CloseIdleConnections()
		note(open)
		row.P50, row.P99, row.Latencies = Percentile(open.Latencies, 50), Percentile(open.Latencies, 99), len(open.Latencies)
	}

	close(stopSampler)
	samplerDone.Wait()
	for i, p := range t.measured {
		pm := ProcMemory{Name: shortName(p.name), Idle: idle[i], Peak: sampled[i]}
		if m, err := ReadMemory(p.PID()); err == nil && resetOK {
			pm.Peak = max(pm.Peak, m.Peak)
		}
		row.Memory = append(row.Memory, pm)
	}
	h.progress("%-14s %-8s ramp %s → N=%d; saturation %s/s; open loop %s/s: p50 %s p99 %s (%d samples); CPU/exchange %s; failed %d",
		t.key, sizeName(size), strings.Join(ramp, ", "), row.Concurrency, fmtRate(row.Throughput), fmtRate(row.Rate),
		fmtDur(row.P50), fmtDur(row.P99), row.Latencies, fmtDur(row.CPU), row.Failed)
	return row, nil
}

// shortName is a process's name in the report: consumer, provider, proxy1 …
func shortName(name string) string {
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func cpuOf(ps []*proc) (CPUTime, error) {
	var sum CPUTime
	for _, p := range ps {
		c, err := ReadCPU(p.PID())
		if err != nil {
			return CPUTime{}, fmt.Errorf("bench: CPU time of %s: %w", p.name, err)
		}
		sum.User += c.User
		sum.System += c.System
	}
	return sum, nil
}

// profile takes a CPU profile of each measured process under closed loop
// load at n clients, then its allocation profile, into ProfileDir.
func (h *harness) profile(ctx context.Context, t *topology, size, n int) error {
	body := make([]byte, size)
	_, _ = rand.Read(body)
	seconds := h.opts.ProfileSeconds
	names := slices.Sorted(maps.Keys(t.pprof))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			errs[i] = fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", t.pprof[name], seconds),
				filepath.Join(h.opts.ProfileDir, fmt.Sprintf("%s-%s.cpu.pprof", name, strings.ReplaceAll(sizeName(size), " ", ""))))
		})
	}
	s := ClosedLoop(ctx, t.target, body, n, time.Duration(seconds+1)*time.Second)
	wg.Wait()
	for i, name := range names {
		if errs[i] == nil {
			errs[i] = fetch(ctx, "http://"+t.pprof[name]+"/debug/pprof/allocs",
				filepath.Join(h.opts.ProfileDir, fmt.Sprintf("%s-%s.allocs.pprof", name, strings.ReplaceAll(sizeName(size), " ", ""))))
		}
	}
	h.progress("%-14s %-8s profiled under load (%d clients, %s/s) into %s", t.key, sizeName(size), n, fmtRate(s.Throughput()), h.opts.ProfileDir)
	return errors.Join(errs...)
}

func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("bench: profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: profile %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// freeAddrs returns n distinct loopback addresses free when asked.
func freeAddrs(n int) ([]string, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	out := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
