// Package portalcmd is `jisr portal`: it serves the Hukumati citizen
// portal (adapters/portal) from a YAML configuration file, and prints
// argon2id password hashes for that file.
package portalcmd

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/adapters/document"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/portal"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/daemon"
	"github.com/jisr-bus/jisr/internal/logx"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// Config is the portal's YAML configuration (`jisr portal serve --config`).
// Paths are relative to the working directory. Secrets (password hashes,
// the PostgreSQL DSN) are in files named here.
type Config struct {
	// Listen is the web address, e.g. 127.0.0.1:8300.
	Listen string `yaml:"listen"`
	// MetricsListen, when set, serves /metrics.
	MetricsListen string `yaml:"metricsListen"`
	// SecurityServer is the base URL of the portal's own security server
	// (its client-side HTTP port), e.g. http://127.0.0.1:8080.
	SecurityServer string `yaml:"securityServer"`
	// Client is the portal's subsystem, e.g. PS-DEV/GOV/CAB/portal.
	Client string `yaml:"client"`
	// Services maps each ministry (moi mot moh pma mof post) to its service
	// as CLASS/MEMBER/SUBSYSTEM/SERVICE under the client's instance;
	// missing ones take DefaultServices.
	Services map[string]string `yaml:"services"`
	// Database: SQLite file (path) or PostgreSQL (postgresDSNFile).
	Database struct {
		Path            string `yaml:"path"`
		PostgresDSNFile string `yaml:"postgresDSNFile"`
	} `yaml:"database"`
	// TrustRoots is a PEM file of the instance's trust anchors (document
	// verification).
	TrustRoots string `yaml:"trustRoots"`
	// SecureCookies marks cookies Secure (behind HTTPS).
	SecureCookies bool `yaml:"secureCookies"`
	// Officers are the registration officers.
	Officers []struct {
		Username         string `yaml:"username"`
		PasswordHashFile string `yaml:"passwordHashFile"`
	} `yaml:"officers"`
	// Accounts are citizen accounts created active (the demo's).
	Accounts []struct {
		NationalID       string `yaml:"nationalId"`
		PasswordHashFile string `yaml:"passwordHashFile"`
	} `yaml:"accounts"`
}

// DefaultServices are the ministries' services in the demo world.
func DefaultServices() map[string]string {
	return map[string]string{
		"moi": "GOV/MOI/civil-registry/registry", "mot": "GOV/MOT/licensing/licensing",
		"moh": "GOV/MOH/insurance/insurance", "pma": "GOV/PMA/payments/payments",
		"mof": "GOV/MOF/revenue/revenue", "post": "GOV/POST/delivery/delivery",
	}
}

// Validate implements config.Validator.
func (c *Config) Validate() error {
	switch {
	case c.Listen == "":
		return errors.New("listen is required")
	case c.SecurityServer == "":
		return errors.New("securityServer is required")
	case c.Client == "":
		return errors.New("client is required")
	case c.TrustRoots == "":
		return errors.New("trustRoots is required")
	case (c.Database.Path == "") == (c.Database.PostgresDSNFile == ""):
		return errors.New("database: exactly one of path and postgresDSNFile")
	}
	for m := range c.Services {
		if _, ok := DefaultServices()[m]; !ok {
			return fmt.Errorf("services: unknown ministry %q", m)
		}
	}
	return nil
}

// New returns the hidden `jisr portal` command.
func New(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "portal", Short: "The Hukumati citizen portal (demo and tests)", Hidden: true}
	c.AddCommand(newServe(stdout, stderr), newHash(stdout))
	return c
}

func newHash(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "hash-password",
		Short: "Read a password from standard input and print its argon2id hash",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			pw := strings.TrimRight(line, "\r\n")
			if pw == "" {
				return errors.New("portal: empty password")
			}
			h, err := portal.HashPassword(pw, portal.DefaultArgon2())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, h)
			return err
		},
	}
}

func newServe(stdout, stderr io.Writer) *cobra.Command {
	var path string
	var lf logx.Flags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the portal",
		Long: `Serve the Hukumati portal described by --config (YAML; see docs/portal.md).
It reaches ministries only through its security server. When serving, it
prints "serving portal on http://ADDR" to standard output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg Config
			if err := config.Load(path, &cfg); err != nil {
				return err
			}
			log, err := lf.New(stderr)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, stdout, log)
		},
	}
	c.Flags().StringVar(&path, "config", "portal.yaml", "configuration file")
	lf.Register(c.Flags(), "json", "info")
	return c
}

func readTrimmed(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Build turns the configuration into the portal's Config (bus, roots,
// database, accounts).
func Build(cfg Config) (portal.Config, error) {
	client, err := xroad.ParseClient(cfg.Client)
	if err != nil || !client.IsSubsystem() {
		return portal.Config{}, fmt.Errorf("portal: client %q: want INSTANCE/CLASS/MEMBER/SUBSYSTEM", cfg.Client)
	}
	names := DefaultServices()
	for m, s := range cfg.Services {
		names[m] = s
	}
	services := map[portal.Ministry]xroad.ServiceID{}
	for m, s := range names {
		id, err := xroad.ParseService(client.Instance + "/" + s)
		if err != nil {
			return portal.Config{}, fmt.Errorf("portal: service of %s: %w", m, err)
		}
		services[portal.Ministry(m)] = id
	}
	bus, err := portal.NewHTTPBus(cfg.SecurityServer, client, services, nil)
	if err != nil {
		return portal.Config{}, err
	}
	pem, err := os.ReadFile(cfg.TrustRoots)
	if err != nil {
		return portal.Config{}, fmt.Errorf("portal: trust roots: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return portal.Config{}, fmt.Errorf("portal: no certificate in %s", cfg.TrustRoots)
	}
	moi := services[portal.Interior].Provider.Member()
	out := portal.Config{
		Bus: bus, Roots: roots, SecureCookies: cfg.SecureCookies,
		Issuers: map[string][]xroad.MemberID{document.TypeBirthCertificate: {moi}, document.TypeCivilRegistryExtract: {moi}},
	}
	if cfg.Database.Path != "" {
		out.Database = kit.Database{Driver: kit.DriverSQLite, Path: cfg.Database.Path}
	} else {
		dsn, err := readTrimmed(cfg.Database.PostgresDSNFile)
		if err != nil {
			return portal.Config{}, fmt.Errorf("portal: database: %w", err)
		}
		out.Database = kit.Database{Driver: kit.DriverPostgres, DSN: dsn}
	}
	for _, o := range cfg.Officers {
		h, err := readTrimmed(o.PasswordHashFile)
		if err != nil {
			return portal.Config{}, fmt.Errorf("portal: officer %s: %w", o.Username, err)
		}
		out.Officers = append(out.Officers, portal.Officer{Username: o.Username, PasswordHash: h})
	}
	for _, a := range cfg.Accounts {
		h, err := readTrimmed(a.PasswordHashFile)
		if err != nil {
			return portal.Config{}, fmt.Errorf("portal: account %s: %w", a.NationalID, err)
		}
		out.Accounts = append(out.Accounts, portal.SeedAccount{NationalID: a.NationalID, PasswordHash: h})
	}
	return out, nil
}

func serve(ctx context.Context, cfg Config, stdout io.Writer, log *slog.Logger) error {
	pc, err := Build(cfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pc.Clock, pc.Log, pc.Registerer = clock.System(), log, reg
	p, err := portal.New(ctx, pc)
	if err != nil {
		return err
	}
	defer p.Close()
	ls := []daemon.Listener{{Name: "portal", Addr: cfg.Listen, Handler: p.Handler()}}
	if cfg.MetricsListen != "" {
		ls = append(ls, daemon.Listener{Name: "metrics", Addr: cfg.MetricsListen, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})})
	}
	var bound daemon.Bound
	return daemon.Serve(ctx, "portal", log, &bound, ls, func() {
		fmt.Fprintf(stdout, "serving portal on http://%s\n", bound.Addr("portal"))
	})
}
