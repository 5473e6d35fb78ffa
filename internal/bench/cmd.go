package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/internal/logx"
)

// EnvPostgresDSN names the PostgreSQL server of the jisr-postgres path when
// --postgres-dsn is not given (the variable the test suites use).
const EnvPostgresDSN = "JISR_TEST_POSTGRES_DSN"

// NewCommand returns the hidden `jisr bench` command with its helpers
// `jisr bench echo` and `jisr bench proxy`.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	o := DefaultOptions()
	var doc, sizes, topologies string
	c := &cobra.Command{
		Use:    "bench [--doc docs/performance.md]",
		Short:  "End-to-end benchmark: jisr against direct calls and a bare mTLS proxy chain (what `make bench` runs)",
		Hidden: true,
		Long: `bench measures, on loopback, exchanges with an echo service (a) directly,
(b) through a bare two-hop mTLS reverse-proxy chain and (c) through a consumer
and a provider security server (signing, durable message log with bodies,
time-stamping) on SQLite and on PostgreSQL; for each body size: saturation
throughput (closed loop), p50/p99 latency at a fraction of it (open loop),
CPU per exchange and resident memory of the intermediate processes, as
absolutes and as ratios to (b). It prints the table and, with --doc, writes
it between the generated-section markers of that file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Bin, err = os.Executable(); err != nil {
				return err
			}
			if o.Sizes, err = parseSizes(sizes); err != nil {
				return err
			}
			o.Topologies = strings.Split(topologies, ",")
			if o.Command == "" {
				o.Command = "jisr " + strings.Join(os.Args[1:], " ")
			}
			o.Progress = stderr
			rep, err := Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			md := rep.Markdown()
			fmt.Fprintln(stdout, md)
			if doc == "" {
				return nil
			}
			b, err := os.ReadFile(doc)
			if err != nil {
				return err
			}
			if err := os.WriteFile(doc, []byte(ReplaceGenerated(string(b), md)), 0o644); err != nil {
				return err
			}
			fmt.Fprintln(stderr, "jisr bench: wrote the table into", doc)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&doc, "doc", "", "Markdown file whose generated section receives the table (e.g. docs/performance.md)")
	f.StringVar(&sizes, "sizes", "1KiB,100KiB,10MiB", "body sizes (B, KiB, MiB)")
	f.StringVar(&topologies, "topologies", strings.Join(o.Topologies, ","), "paths to measure, in order")
	f.StringVar(&o.PostgresDSN, "postgres-dsn", envOr(EnvPostgresDSN, o.PostgresDSN), "PostgreSQL server for jisr-postgres (a fresh schema per security server; default $"+EnvPostgresDSN+")")
	f.DurationVar(&o.Step, "step", o.Step, "duration of one ramp step")
	f.DurationVar(&o.Measure, "measure", o.Measure, "duration of the saturation run")
	f.DurationVar(&o.Open, "open", o.Open, "least duration of the open-loop run")
	f.DurationVar(&o.MaxOpen, "max-open", o.MaxOpen, "longest open-loop run (to collect --min-samples latencies)")
	f.IntVar(&o.MinSamples, "min-samples", o.MinSamples, "latencies the open-loop run collects at least (within --max-open)")
	f.Float64Var(&o.Fraction, "fraction", o.Fraction, "open-loop rate as a fraction of the saturation throughput")
	f.DurationVar(&o.TimestampInterval, "timestamp-interval", o.TimestampInterval, "message-log time-stamping interval of the security servers")
	f.StringVar(&o.WorkDir, "work-dir", "", "keep keys, databases and child logs here (default: a temporary directory, removed)")
	f.StringVar(&o.ProfileDir, "profile-dir", "", "write CPU and allocation profiles of the security servers under load here")
	f.IntVar(&o.ProfileSeconds, "profile-seconds", 5, "length of each CPU profile")
	f.StringVar(&o.Command, "command", "", "command line to print with the report (default: this one)")
	c.AddCommand(newEcho(stderr), newProxy(stderr))
	return c
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newEcho(stderr io.Writer) *cobra.Command {
	var listen string
	var lf logx.Flags
	c := &cobra.Command{
		Use:   "echo --listen ADDR",
		Short: "Serve the benchmark's echo service (answers each request with its body)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.New(stderr)
			if err != nil {
				return err
			}
			return ServeEcho(cmd.Context(), listen, log, nil)
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "listen address")
	lf.Register(c.Flags(), "text", "warn")
	return c
}

func newProxy(stderr io.Writer) *cobra.Command {
	var pc ProxyConfig
	var lf logx.Flags
	c := &cobra.Command{
		Use:   "proxy --listen ADDR --upstream URL [TLS flags]",
		Short: "Serve one reverse proxy of the benchmark's bare mTLS chain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.New(stderr)
			if err != nil {
				return err
			}
			for _, p := range []*string{&pc.CertFile, &pc.KeyFile, &pc.ClientCAFile, &pc.UpstreamCAFile, &pc.UpstreamCertFile, &pc.UpstreamKeyFile} {
				if *p != "" {
					if *p, err = filepath.Abs(*p); err != nil {
						return err
					}
				}
			}
			if (pc.CertFile == "") != (pc.KeyFile == "") || (pc.CertFile != "") != (pc.ClientCAFile != "") {
				return errors.New("bench proxy: --cert, --key and --client-ca go together")
			}
			return ServeProxy(cmd.Context(), pc, log, nil)
		},
	}
	f := c.Flags()
	f.StringVar(&pc.Listen, "listen", "127.0.0.1:0", "listen address")
	f.StringVar(&pc.CertFile, "cert", "", "TLS certificate: listen with TLS 1.3 and require client certificates")
	f.StringVar(&pc.KeyFile, "key", "", "TLS key of --cert")
	f.StringVar(&pc.ClientCAFile, "client-ca", "", "CA certificate client certificates must chain to")
	f.StringVar(&pc.Upstream, "upstream", "", "URL to forward to (http or https)")
	f.StringVar(&pc.UpstreamCAFile, "upstream-ca", "", "CA certificate of an https upstream")
	f.StringVar(&pc.UpstreamCertFile, "upstream-cert", "", "client certificate presented to an https upstream")
	f.StringVar(&pc.UpstreamKeyFile, "upstream-key", "", "key of --upstream-cert")
	lf.Register(f, "text", "warn")
	return c
}

// parseSizes reads a comma-separated list of sizes such as "1KiB,100KiB,10MiB".
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		mult := 1
		for _, u := range []struct {
			suffix string
			mult   int
		}{{"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
			if strings.HasSuffix(part, u.suffix) {
				part, mult = strings.TrimSpace(strings.TrimSuffix(part, u.suffix)), u.mult
				break
			}
		}
		n, err := strconv.Atoi(part)
		if err != nil || n <= 0 || n > (1<<30)/mult {
			return nil, fmt.Errorf("bench: size %q: want a positive number of B, KiB or MiB up to 1 GiB", part)
		}
		out = append(out, n*mult)
	}
	return out, nil
}
