package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/internal/demo"
	"github.com/jisr-bus/jisr/internal/logx"
)

func newDemo(stdout, stderr io.Writer) *cobra.Command {
	var o demo.Options
	var logLevel string
	c := &cobra.Command{
		Use:   "demo [--dir .demo]",
		Short: "Run the demo world on loopback with embedded defaults (what `make demo` runs)",
		Long: `demo brings up, in this process, on loopback and with everything stored
under --dir, the demo world of instance PS-DEV: the instance PKI (CA with ACME,
OCSP, time-stamping), the central server, seven security servers (the Cabinet
Secretariat's, consumer, and those of MOI, MOT, MOH, PMA, MOF and POST), each
ministry's adapter registered as the service behind its security server with
its OpenAPI description published to the central catalogue, and the Hukumati
portal. It prints how long it took to come up, the portal URL and the demo
accounts (demo data), calls every ministry through the bus, prints curl
commands that work as printed, and keeps serving until interrupted (Ctrl-C).
A later run reuses --dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Service logs go to a file so the tour stays readable.
			if err := os.MkdirAll(o.Dir, 0o700); err != nil {
				return err
			}
			logFile, err := os.OpenFile(filepath.Join(o.Dir, "demo.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return err
			}
			defer logFile.Close()
			log, err := logx.New(logFile, "text", logLevel)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "service logs: %s\n", logFile.Name())
			o.Out, o.Log = stdout, log
			return demo.Run(cmd.Context(), o)
		},
	}
	c.Flags().StringVar(&o.Dir, "dir", ".demo", "folder holding the demo's keys, certificates and databases")
	c.Flags().BoolVar(&o.Once, "once", false, "exit after the guided checks instead of serving")
	c.Flags().IntVar(&o.PortBase, "port-base", 0, "on the first run, put every listener on consecutive ports from this one instead of the defaults")
	c.Flags().StringVar(&logLevel, "log-level", "info", "service log level (logs go to demo.log in --dir)")
	return c
}
