package cli

import (
	"io"

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
		Long: `demo brings up, on loopback and with everything stored under --dir, the parts
of the federation that exist today — the instance PKI of PS-DEV (CA with ACME,
OCSP responder, time-stamping authority) — enrols a demonstration security
server, checks it over OCSP, time-stamps a document, and prints what it started
and commands to try. It keeps serving until interrupted (Ctrl-C).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logx.New(stderr, "text", logLevel)
			if err != nil {
				return err
			}
			o.Out, o.Log = stdout, log
			return demo.Run(cmd.Context(), o)
		},
	}
	c.Flags().StringVar(&o.Dir, "dir", ".demo", "folder holding the demo's keys, certificates and databases")
	c.Flags().BoolVar(&o.Once, "once", false, "exit after the guided checks instead of serving")
	c.Flags().StringToStringVar(&o.Listen, "listen", nil, "override listen addresses on first run: ca=…,ocsp=…,tsa=…,admin=…")
	c.Flags().StringVar(&logLevel, "log-level", "warn", "service log level")
	return c
}
