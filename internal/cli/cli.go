// Package cli assembles the jisr command tree from the components' commands.
// It holds no logic of its own beyond wiring and the shared logging flags.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/adapters/adaptercmd"
	"github.com/jisr-bus/jisr/adapters/portal/portalcmd"
	"github.com/jisr-bus/jisr/central/centralcmd"
	"github.com/jisr-bus/jisr/internal/bench"
	"github.com/jisr-bus/jisr/pki/pkicmd"
	"github.com/jisr-bus/jisr/securityserver/auditcmd"
	"github.com/jisr-bus/jisr/securityserver/sscmd"
)

// Main runs the jisr command line with args and returns the process exit
// code. Interrupts (SIGINT, SIGTERM) cancel the command's context so servers
// drain and stop gracefully.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := NewRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "jisr:", err)
		}
		return 1
	}
	return 0
}

// NewRoot returns the root command with every subcommand attached.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "jisr",
		Short: "jisr — a government interoperability bus (X-Road tradition)",
		Long: `jisr connects ministries' information systems through security servers
that sign, verify, access-control and log every exchange, over mutual TLS,
using a signed global configuration published by a central server and an
instance PKI (CA, OCSP, time-stamping).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(pkicmd.New(stdout, stderr))
	root.AddCommand(centralcmd.New(stdout, stderr))
	root.AddCommand(sscmd.New(stdout, stderr))
	root.AddCommand(auditcmd.New(stdout))
	root.AddCommand(newDemo(stdout, stderr))
	root.AddCommand(adaptercmd.New(stdout, stderr))
	root.AddCommand(portalcmd.New(stdout, stderr))
	root.AddCommand(bench.NewCommand(stdout, stderr))
	return root
}
