package cli

import (
	"io"

	"github.com/spf13/cobra"
)

func newDemo(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{Use: "demo"}
}
