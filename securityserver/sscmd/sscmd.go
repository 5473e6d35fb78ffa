// Package sscmd implements `jisr ss …`: create a security server, enrol its
// certificates, register it and its clients with the central server, add
// services and access rights, and run it.
package sscmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/logx"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/securityserver"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// New returns the `jisr ss` command.
func New(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "ss",
		Short: "Security server: the node each member runs to exchange signed, logged messages",
		Long: `A security server serves its information systems over X-Road's REST protocol
(r1) on 8080/8443, exchanges signed messages with other security servers over
mutual TLS on 5500, and keeps a durable message log. Set one up with
init → enrol → register → client add → service add → access grant → serve.`,
	}
	c.AddCommand(newInit(stdout), newEnrol(stdout), newRegister(stdout), newClient(stdout),
		newService(stdout), newAccess(stdout), newArchive(stdout), newBackup(stdout), newRestore(stdout), newServe(stderr), newAPIKey(stdout))
	return c
}

func newInit(stdout io.Writer) *cobra.Command {
	var o securityserver.InitOptions
	var id, passFile, passEnv, dsnFile, dsnEnv string
	c := &cobra.Command{
		Use:   "init --server-id PS/GOV/MOI/ss1 --dir DIR --anchor anchor.json --address HOST:5500 (--passphrase-file F | --passphrase-env VAR)",
		Short: "Create a security server directory: keys, configuration, databases",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sid, err := xroad.ParseServer(id)
			if err != nil {
				return err
			}
			o.ServerID = sid
			o.Keys = keys.Config{Type: keys.TypeSoftware, PassphraseFile: config.AbsPath(passFile), PassphraseEnv: passEnv}
			if dsnFile != "" || dsnEnv != "" {
				o.Database = securityserver.DatabaseConfig{Driver: "postgres", DSNFile: config.AbsPath(dsnFile), DSNEnv: dsnEnv}
			}
			path, err := securityserver.Init(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "security server %s created: %s\nnext: jisr ss enrol --config %s …\n", sid, path, path)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&id, "server-id", "", "security server ID, INSTANCE/CLASS/MEMBER/SERVER (required)")
	f.StringVar(&o.Dir, "dir", "", "directory to create (required)")
	f.StringVar(&o.Anchor, "anchor", "", "configuration anchor from the central server (required)")
	f.StringSliceVar(&o.Addresses, "address", nil, "public SS↔SS address host:port, as registered (repeatable; required)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the key store passphrase")
	f.StringVar(&passEnv, "passphrase-env", "", "environment variable holding the key store passphrase")
	f.StringVar(&o.Listen.ClientHTTP, "client-http-listen", "", "information-system HTTP listen address (default :8080)")
	f.StringVar(&o.Listen.ClientHTTPS, "client-https-listen", "", "information-system HTTPS listen address (default :8443)")
	f.StringVar(&o.Listen.Peer, "peer-listen", "", "SS↔SS listen address (default :5500)")
	f.StringVar(&o.Listen.Admin, "admin-listen", "", "health and metrics listen address (default 127.0.0.1:4000)")
	f.StringVar(&dsnFile, "database-dsn-file", "", "keep configuration and message log in PostgreSQL (DSN in this file)")
	f.StringVar(&dsnEnv, "database-dsn-env", "", "keep configuration and message log in PostgreSQL (DSN in this variable)")
	for _, n := range []string{"server-id", "dir", "anchor", "address"} {
		_ = c.MarkFlagRequired(n)
	}
	return c
}

func load(path string) (*securityserver.Config, error) { return securityserver.LoadConfig(path) }

func newEnrol(stdout io.Writer) *cobra.Command {
	var cfgPath string
	var o securityserver.EnrolOptions
	c := &cobra.Command{
		Use:   "enrol --ca-url URL --roots root.pem [--auth-token T --dns NAME] [--sign-token T]",
		Short: "Obtain the auth and/or the owner's sign certificate with one-time tokens from the PKI",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			if err := securityserver.Enrol(cmd.Context(), cfg, o); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "certificates stored in", filepath.Join(cfg.Dir, securityserver.CertsDir))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file")
	f.StringVar(&o.CAURL, "ca-url", "", "CA API base URL, e.g. https://ca.ps.example:4443 (required)")
	f.StringVar(&o.Roots, "roots", "", "PEM file with the instance root certificate (required)")
	f.StringVar(&o.AuthToken, "auth-token", "", "one-time token for the auth certificate")
	f.StringVar(&o.SignToken, "sign-token", "", "one-time token for the owner's sign certificate")
	f.StringSliceVar(&o.DNSNames, "dns", nil, "DNS names / IPs of the auth certificate (as in the token)")
	_ = c.MarkFlagRequired("ca-url")
	_ = c.MarkFlagRequired("roots")
	return c
}

func printStatus(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newRegister(stdout io.Writer) *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "register",
		Short: "Ask the central server to register this server's auth certificate (signed by the owner and the auth key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			st, err := securityserver.Register(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return printStatus(stdout, st)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file")
	return c
}

func newClient(stdout io.Writer) *cobra.Command {
	var cfgPath, client, conn, bodies string
	add := &cobra.Command{
		Use:   "add --client PS/GOV/MOI/civil-registry [--connection HTTP|HTTPS|HTTPS_CERT]",
		Short: "Add a client subsystem and ask the central server to register it on this server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			id, err := xroad.ParseClient(client)
			if err != nil {
				return err
			}
			st, err := securityserver.AddClient(cmd.Context(), cfg, id, conf.ConnectionType(conn), conf.BodyLogging(bodies))
			if err != nil {
				return err
			}
			return printStatus(stdout, st)
		},
	}
	add.Flags().StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file")
	add.Flags().StringVar(&client, "client", "", "member or subsystem, header form (required)")
	add.Flags().StringVar(&conn, "connection", "HTTP", "how its information systems connect: HTTP, HTTPS or HTTPS_CERT")
	add.Flags().StringVar(&bodies, "body-logging", "FULL", "FULL, or METADATA_ONLY to keep no message bodies of this client in the log")
	_ = add.MarkFlagRequired("client")
	c := &cobra.Command{Use: "client", Short: "Clients hosted on this security server"}
	c.AddCommand(add)
	return c
}

func newService(stdout io.Writer) *cobra.Command {
	var cfgPath, provider, openapi string
	var o securityserver.ServiceOptions
	add := &cobra.Command{
		Use:   "add --client PS/GOV/MOI/civil-registry --code persons --url http://backend/ [--openapi file] [--publish]",
		Short: "Add a service (its OpenAPI description gives its endpoints); optionally publish it to the central catalogue",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			if o.Provider, err = xroad.ParseSubsystem(provider); err != nil {
				return err
			}
			if openapi != "" {
				if o.OpenAPI, err = os.ReadFile(openapi); err != nil {
					return err
				}
			}
			st, err := securityserver.AddService(cmd.Context(), cfg, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "service %s/%s added\n", o.Provider, o.Code)
			if st != nil {
				return printStatus(stdout, st)
			}
			return nil
		},
	}
	f := add.Flags()
	f.StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file")
	f.StringVar(&provider, "client", "", "provider subsystem, header form (required)")
	f.StringVar(&o.Code, "code", "", "service code (required)")
	f.StringVar(&o.Version, "version", "", "service version")
	f.StringVar(&o.URL, "url", "", "backend base URL (required)")
	f.DurationVar(&o.Timeout, "timeout", 30*time.Second, "backend timeout")
	f.StringVar(&openapi, "openapi", "", "OpenAPI 3 description (YAML or JSON)")
	f.StringVar(&o.Title, "title", "", "title for the central catalogue")
	f.StringVar(&o.Description, "description", "", "description for the central catalogue")
	f.BoolVar(&o.Publish, "publish", false, "publish the description to the central catalogue (signed management request)")
	for _, n := range []string{"client", "code", "url"} {
		_ = add.MarkFlagRequired(n)
	}
	c := &cobra.Command{Use: "service", Short: "Services offered by this server's subsystems"}
	c.AddCommand(add)
	return c
}

func newAccess(stdout io.Writer) *cobra.Command {
	var cfgPath, provider, service, subject, endpoint string
	grant := &cobra.Command{
		Use:   "grant --client PROVIDER --service CODE --subject SUBJECT [--endpoint 'GET /persons/*']",
		Short: "Grant a client, global group or local group access to a service or one endpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			p, err := xroad.ParseSubsystem(provider)
			if err != nil {
				return err
			}
			var ep conf.EndpointSpec
			if endpoint != "" {
				m, path, ok := strings.Cut(strings.TrimSpace(endpoint), " ")
				if !ok {
					return fmt.Errorf("--endpoint %q: want METHOD PATH", endpoint)
				}
				ep = conf.EndpointSpec{Method: m, Path: strings.TrimSpace(path)}
			}
			if err := securityserver.Grant(cmd.Context(), cfg, p, service, subject, ep); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s may call %s/%s\n", subject, p, service)
			return nil
		},
	}
	f := grant.Flags()
	f.StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file")
	f.StringVar(&provider, "client", "", "provider subsystem, header form (required)")
	f.StringVar(&service, "service", "", "service code (required)")
	f.StringVar(&subject, "subject", "", "client in header form, or typed: SUBSYSTEM:…, GLOBALGROUP:INST/CODE, LOCALGROUP:CODE (required)")
	f.StringVar(&endpoint, "endpoint", "", "one endpoint instead of the whole service: 'METHOD /path/pattern'")
	for _, n := range []string{"client", "service", "subject"} {
		_ = grant.MarkFlagRequired(n)
	}
	c := &cobra.Command{Use: "access", Short: "Access rights to this server's services"}
	c.AddCommand(grant)
	return c
}

func newServe(stderr io.Writer) *cobra.Command {
	var cfgPath, pprofAddr string
	var lf logx.Flags
	c := &cobra.Command{
		Use:   "serve --config ss.yaml",
		Short: "Run the security server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.New(stderr)
			if err != nil {
				return err
			}
			if pprofAddr != "" {
				stop, err := startPprof(pprofAddr, log)
				if err != nil {
					return err
				}
				defer stop()
			}
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			s, err := securityserver.New(cmd.Context(), cfg, securityserver.WithLogger(log))
			if err != nil {
				return err
			}
			defer s.Close()
			return s.Serve(cmd.Context(), func() { log.Info("security server ready", "server", cfg.ServerID) })
		},
	}
	c.Flags().StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file")
	lf.Register(c.Flags(), "json", "info")
	c.Flags().StringVar(&pprofAddr, "pprof-addr", "", "serve Go runtime profiles on this loopback address (benchmarking only)")
	_ = c.Flags().MarkHidden("pprof-addr")
	return c
}

func newArchive(stdout io.Writer) *cobra.Command {
	var cfgPath, out, prev string
	var from int64
	c := &cobra.Command{
		Use:   "archive [--out FILE [--from ID] [--prev-manifest HEX]]",
		Short: "Write the time-stamped message log to self-contained, signed archives for auditors",
		Long: `Without --out, archive runs one round of the server's archiver now: every
time-stamped record not yet archived is written to the archive directory
(archive.dir, default DIR/archives) as files chained to the last one there,
and archived records older than archive.retention are deleted from the log.
"jisr audit verify DIR" checks the whole chain.

With --out, it writes the records from --from on to one file, outside the
archiver's chain (link it with --prev-manifest).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			if out == "" {
				r, err := securityserver.ArchiveNow(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				files := []map[string]any{}
				for i, m := range r.Manifests {
					files = append(files, map[string]any{"file": r.Files[i], "from": m.From, "to": m.To,
						"manifestHash": fmt.Sprintf("%x", m.Hash)})
				}
				return printStatus(stdout, map[string]any{"dir": cfg.Archive.Dir, "written": files,
					"purgedRecords": r.Purged.Records, "purgedUpTo": r.Purged.Purged.LastID})
			}
			f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			m, err := securityserver.Archive(cmd.Context(), cfg, f, from, prev)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				_ = os.Remove(out)
				return err
			}
			return printStatus(stdout, map[string]any{"file": out, "from": m.From, "to": m.To,
				"manifestHash": fmt.Sprintf("%x", m.Hash)})
		},
	}
	c.Flags().StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file")
	c.Flags().StringVar(&out, "out", "", "write one archive file here instead of an archiver round")
	c.Flags().Int64Var(&from, "from", 0, "first record (the first record of a time-stamped range; default 1)")
	c.Flags().StringVar(&prev, "prev-manifest", "", "manifest hash of the previous archive (hex)")
	return c
}
