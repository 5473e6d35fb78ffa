package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jisr-bus/jisr/internal/bench"
)

// TestBenchSmoke runs `jisr bench` (what `make bench` runs) with tiny
// durations: every path carries echoed exchanges without a failure, the
// table lands between the markers of the document and the hand-written
// text around it stays, and the SQLite security servers yield CPU and
// allocation profiles through --pprof-addr. It checks that the harness
// works, not how fast anything is.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a PKI, a central server and security servers (make test and .ci/run never pass -short, so this runs on CI)")
	}
	topologies := []string{bench.TopologyDirect, bench.TopologyChain, bench.TopologySQLite}
	args := []string{"bench", "--sizes", "1KiB", "--step", "200ms", "--measure", "300ms", "--open", "300ms",
		"--max-open", "1s", "--min-samples", "5", "--command", "bench smoke test"}
	if dsn := os.Getenv(bench.EnvPostgresDSN); dsn != "" {
		topologies = append(topologies, bench.TopologyPostgres)
		args = append(args, "--postgres-dsn", dsn)
	} else if os.Getenv("JISR_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is required (JISR_REQUIRE_TOOLS=1) but unset", bench.EnvPostgresDSN)
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "performance.md")
	if err := os.WriteFile(doc, []byte("# Performance\n\nhand-written before\n\n"+bench.BeginMarker+"\nold\n"+bench.EndMarker+"\n\nhand-written after\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	profiles := filepath.Join(dir, "profiles")
	out := run(t, false, append(args, "--topologies", strings.Join(topologies, ","), "--doc", doc, "--profile-dir", profiles, "--profile-seconds", "1")...)

	for _, label := range []string{"(a) direct", "(b) bare mTLS proxy chain", "(c) jisr, SQLite", "(c) jisr, PostgreSQL"}[:len(topologies)] {
		// | label | N | saturation/s … with a non-zero saturation.
		re := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(label) + ` \| [0-9]+ \| ([0-9][0-9 .]*)/s`)
		m := re.FindStringSubmatch(out)
		if m == nil || strings.Trim(m[1], "0. ") == "" {
			t.Errorf("no measured row for %s in:\n%s", label, out)
		}
	}
	if strings.Contains(out, "Failures:") {
		t.Errorf("exchanges failed:\n%s", out)
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.Contains(text, "hand-written before") || !strings.Contains(text, "hand-written after") ||
		strings.Contains(text, "\nold\n") || !strings.Contains(text, "Command: `bench smoke test`") {
		t.Errorf("document after the run:\n%s", text)
	}
	for _, name := range []string{"jisr-sqlite-consumer-1KiB.cpu.pprof", "jisr-sqlite-provider-1KiB.cpu.pprof",
		"jisr-sqlite-consumer-1KiB.allocs.pprof", "jisr-sqlite-provider-1KiB.allocs.pprof"} {
		p, err := os.ReadFile(filepath.Join(profiles, name))
		if err != nil || !bytes.HasPrefix(p, []byte{0x1f, 0x8b}) {
			t.Errorf("profile %s: %v (want a gzipped pprof profile)", name, err)
		}
	}
}

// TestSSServePprofAddrIsLoopbackOnly: `jisr ss serve --pprof-addr` refuses
// an address that is not a loopback IP before anything starts.
func TestSSServePprofAddrIsLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "localhost:6060", "10.1.2.3:6060", "6060"} {
		msg := run(t, true, "ss", "serve", "--config", filepath.Join(t.TempDir(), "no-such-ss.yaml"), "--pprof-addr", addr)
		if !strings.Contains(msg, "--pprof-addr") {
			t.Errorf("--pprof-addr %s: %s", addr, msg)
		}
	}
}
