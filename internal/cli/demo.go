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
		Long: `demo brings up, on loopback and with everything stored under --dir, the demo
world of instance PS-DEV: the instance PKI (CA with ACME, OCSP, time-stamping),
the central server, the Ministry of Interior's security server with a sample
civil-registry persons service, and the Cabinet Secretariat's security server
(the Hukumati portal's). The security servers are enrolled with the PKI and
registered through signed management requests. It then calls the service
through the bus and prints curl commands that work as printed, and keeps
serving until interrupted (Ctrl-C).`,
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
	c.Flags().IntVar(&o.PortBase, "port-base", 0, "on the first run, put the 16 listeners on consecutive ports from this one instead of the defaults")
	c.Flags().StringVar(&logLevel, "log-level", "info", "service log level (logs go to demo.log in --dir)")
	return c
}
