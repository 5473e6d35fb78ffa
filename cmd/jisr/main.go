// Command jisr is the one binary of the jisr interoperability bus: instance
// PKI, central server, security server, auditor tools and the demo, as
// subcommands.
package main

import (
	"os"

	"github.com/jisr-bus/jisr/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
