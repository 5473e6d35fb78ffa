package bench

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendering (run with -update if the change is intended):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func sampleReport() *Report {
	mem := func(pairs ...any) []ProcMemory {
		var out []ProcMemory
		for i := 0; i < len(pairs); i += 3 {
			out = append(out, ProcMemory{Name: pairs[i].(string), Idle: int64(pairs[i+1].(int)) << 20, Peak: int64(pairs[i+2].(int)) << 20})
		}
		return out
	}
	return &Report{
		Date:    time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC),
		Machine: Machine{CPUs: 2, Model: "AMD EPYC 7B13", GoVersion: "go1.26.8", Kernel: "6.1.0", LoadBefore: "0.50 0.40 0.30", LoadAfter: "1.90 1.10 0.60"},
		Command: "make bench",
		Settings: Settings{Step: time.Second, Measure: 3 * time.Second, Open: 3 * time.Second, Fraction: 0.5,
			TimestampInterval: 5 * time.Second},
		Sizes: []int{1 << 10, 10 << 20},
		Rows: []Row{
			{Topology: TopologyDirect, Size: 1 << 10, Concurrency: 8, Throughput: 12345.6, Rate: 6172.8,
				P50: 180 * time.Microsecond, P99: 1200 * time.Microsecond, Latencies: 18000},
			{Topology: TopologyChain, Size: 1 << 10, Concurrency: 16, Throughput: 2500, Rate: 1250,
				P50: 900 * time.Microsecond, P99: 4 * time.Millisecond, Latencies: 3750, CPU: 400 * time.Microsecond,
				Memory: mem("proxy1", 20, 30, "proxy2", 20, 30)},
			{Topology: TopologySQLite, Size: 1 << 10, Concurrency: 8, Throughput: 250, Rate: 125,
				P50: 9 * time.Millisecond, P99: 40 * time.Millisecond, Latencies: 375, CPU: 4 * time.Millisecond,
				Memory: mem("consumer", 45, 70, "provider", 44, 71)},
			{Topology: TopologyPostgres, Size: 1 << 10, Concurrency: 16, Throughput: 180, Rate: 90,
				P50: 12 * time.Millisecond, P99: 60 * time.Millisecond, Latencies: 270, CPU: 5 * time.Millisecond,
				Memory: mem("consumer", 46, 75, "provider", 45, 76), Failed: 2, FirstError: "bench: status 500 Server.ClientProxy.LoggingFailed"},
			{Topology: TopologyDirect, Size: 10 << 20, Concurrency: 1, Throughput: 28.7, Rate: 14.35,
				P50: 34 * time.Millisecond, P99: 47 * time.Millisecond, Latencies: 43},
			{Topology: TopologyChain, Size: 10 << 20, Concurrency: 2, Throughput: 9.2, Rate: 4.6,
				P50: 107 * time.Millisecond, P99: 183 * time.Millisecond, Latencies: 40, CPU: 89 * time.Millisecond,
				Memory: mem("proxy1", 20, 52, "proxy2", 20, 44)},
			{Topology: TopologySQLite, Size: 10 << 20, Concurrency: 2, Throughput: 1.09, Rate: 0.545,
				P50: 1090 * time.Millisecond, P99: 1260 * time.Millisecond, Latencies: 6, CPU: 640 * time.Millisecond,
				Memory: mem("consumer", 45, 191, "provider", 44, 182)},
		},
	}
}

func TestReportMarkdownGolden(t *testing.T) {
	golden(t, "report.md", sampleReport().Markdown())
}

func TestReportWithoutBaselineHasNoRatios(t *testing.T) {
	r := sampleReport()
	var rows []Row
	for _, row := range r.Rows {
		if row.Topology != TopologyChain {
			rows = append(rows, row)
		}
	}
	r.Rows = rows
	if md := r.Markdown(); regexp.MustCompile(`×[0-9]`).MatchString(md) {
		t.Fatalf("ratios without a baseline row:\n%s", md)
	}
}

func TestReplaceGenerated(t *testing.T) {
	section := "### table\n\n| a |\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"appended when there are no markers", "# Performance\n\nhand-written\n",
			"# Performance\n\nhand-written\n\n" + BeginMarker + "\n\n### table\n\n| a |\n\n" + EndMarker + "\n"},
		{"replaced between the markers, the rest kept", "# P\n\nbefore\n\n" + BeginMarker + "\nold table\n" + EndMarker + "\n\nafter\n",
			"# P\n\nbefore\n\n" + BeginMarker + "\n\n### table\n\n| a |\n\n" + EndMarker + "\n\nafter\n"},
		{"end marker before begin: appended", EndMarker + "\n" + BeginMarker + "\n",
			EndMarker + "\n" + BeginMarker + "\n\n" + BeginMarker + "\n\n### table\n\n| a |\n\n" + EndMarker + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ReplaceGenerated(tc.doc, section)
			if got != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
			// Replacing again is stable.
			if again := ReplaceGenerated(got, section); again != got {
				t.Fatalf("not idempotent:\n%q\n%q", got, again)
			}
		})
	}
}

func TestCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  7B13 64-Core Processor\n\nprocessor\t: 1\nmodel name\t: other\n"
	if got := cpuModel([]byte(info)); got != "AMD EPYC 7B13 64-Core Processor" {
		t.Fatalf("cpuModel = %q", got)
	}
	if got := cpuModel([]byte("processor\t: 0\n")); got != "unknown CPU" {
		t.Fatalf("cpuModel without a model = %q", got)
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("1KiB, 100KiB,10MiB,512B,7")
	if err != nil {
		t.Fatal(err)
	}
	want := []int{1 << 10, 100 << 10, 10 << 20, 512, 7}
	if len(got) != len(want) {
		t.Fatalf("parseSizes = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("parseSizes = %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"", "0", "-1KiB", "1GiB", "2048MiB", "ten", "1KiB,,2KiB"} {
		if s, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) = %v, want an error", bad, s)
		}
	}
}
