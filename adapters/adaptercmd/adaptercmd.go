// Package adaptercmd implements the hidden `jisr adapter serve` command: it
// serves one ministry adapter of the demo world (adapters/interior,
// transport, health, payments, finance, post) on its own listener, with its
// own database, seeded with the demo world. The demo and the integration
// tests start one process per ministry with it; security servers then call
// them as the ministries' information systems.
package adaptercmd

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/adapters/finance"
	"github.com/jisr-bus/jisr/adapters/health"
	"github.com/jisr-bus/jisr/adapters/interior"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/payments"
	"github.com/jisr-bus/jisr/adapters/post"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/adapters/transport"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/daemon"
	"github.com/jisr-bus/jisr/internal/logx"
	"github.com/jisr-bus/jisr/pki/keys"
)

// Ministries are the --ministry values: the member codes of the demo
// world's ministries, lower case.
func Ministries() []string { return []string{"moi", "mot", "moh", "pma", "mof", "post"} }

// Adapter is what every adapter's Service is.
type Adapter interface {
	Handler() http.Handler
	OpenAPI() []byte
	Close() error
}

// Compile-time guards.
var (
	_ Adapter = (*interior.Service)(nil)
	_ Adapter = (*transport.Service)(nil)
	_ Adapter = (*health.Service)(nil)
	_ Adapter = (*payments.Service)(nil)
	_ Adapter = (*finance.Service)(nil)
	_ Adapter = (*post.Service)(nil)
)

// New returns the hidden `jisr adapter` command.
func New(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:    "adapter",
		Short:  "Ministry adapters of the demo world (demo and tests)",
		Hidden: true,
	}
	c.AddCommand(newServe(stdout, stderr))
	return c
}

// Options are the flags of `jisr adapter serve`.
type Options struct {
	Ministry      string
	Listen        string
	MetricsListen string
	DB            string
	DSNFile       string
	DSNEnv        string

	Seed        bool
	SeedValue   uint64
	SeedPersons int
	SeedDate    string

	PaymentsURL     string
	PaymentsHeaders []string

	SignKeys  keys.Config
	SignLabel string
	SignCert  string
}

func newServe(stdout, stderr io.Writer) *cobra.Command {
	var o Options
	var lf logx.Flags
	c := &cobra.Command{
		Use:   "serve --ministry moi|mot|moh|pma|mof|post --listen HOST:PORT (--db FILE | --postgres-dsn-file F | --postgres-dsn-env VAR)",
		Short: "Serve one ministry adapter",
		Long: `serve runs one ministry adapter of the demo world until interrupted:

  moi   Ministry of Interior, civil registry (needs the ministry's signing key:
        --sign-keys-dir, --sign-keys-passphrase-file|-env, --sign-key-label,
        --sign-cert; a security server keeps them in DIR/keys as
        sign-GOV-MOI and DIR/certs/sign-GOV-MOI.pem)
  mot   Ministry of Transport, licensing (needs --payments-url)
  moh   Ministry of Health, insurance (needs --payments-url)
  pma   Monetary Authority, payments
  mof   Ministry of Finance, revenue (needs --payments-url)
  post  Palestine Post, delivery and appointments

--payments-url is the payments adapter's base URL, directly or through the
caller's security server (http://ss:8080/r1/PS/GOV/PMA/payments/SERVICE);
--payments-header adds headers such as "X-Road-Client: PS/GOV/MOT/licensing".

The database is SQLite (--db FILE) unless a PostgreSQL DSN is given in a file
or an environment variable. An empty database is loaded with the demo world
(--seed, on by default), the same for every ministry given the same
--seed-value, --seed-persons and --seed-date.

When serving, it prints "serving <ministry> on http://ADDR" to standard output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.New(stderr)
			if err != nil {
				return err
			}
			return Serve(cmd.Context(), o, log, stdout)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Ministry, "ministry", "", "the ministry: "+strings.Join(Ministries(), ", "))
	f.StringVar(&o.Listen, "listen", "", "listen address of the REST API (HOST:PORT; port 0 picks one)")
	f.StringVar(&o.MetricsListen, "metrics-listen", "", "listen address of /metrics (keep on loopback); empty: no metrics listener")
	f.StringVar(&o.DB, "db", "", "SQLite database file")
	f.StringVar(&o.DSNFile, "postgres-dsn-file", "", "file holding a PostgreSQL DSN (instead of --db)")
	f.StringVar(&o.DSNEnv, "postgres-dsn-env", "", "environment variable holding a PostgreSQL DSN (instead of --db)")
	f.BoolVar(&o.Seed, "seed", true, "load the demo world into an empty database")
	f.Uint64Var(&o.SeedValue, "seed-value", seed.DefaultSeed, "demo world: random seed")
	f.IntVar(&o.SeedPersons, "seed-persons", seed.DefaultPersons, "demo world: population size")
	f.StringVar(&o.SeedDate, "seed-date", "", "demo world: reference date YYYY-MM-DD (default today, UTC)")
	f.StringVar(&o.PaymentsURL, "payments-url", "", "base URL of the payments adapter (mot, moh, mof)")
	f.StringArrayVar(&o.PaymentsHeaders, "payments-header", nil, `header sent to the payments adapter, "Name: value" (repeatable)`)
	f.StringVar(&o.SignKeys.Type, "sign-keys-type", keys.TypeSoftware, "moi: signing key store type, software or pkcs11")
	f.StringVar(&o.SignKeys.Dir, "sign-keys-dir", "", "moi: software key store directory")
	f.StringVar(&o.SignKeys.PassphraseFile, "sign-keys-passphrase-file", "", "moi: file holding the key store passphrase")
	f.StringVar(&o.SignKeys.PassphraseEnv, "sign-keys-passphrase-env", "", "moi: environment variable holding the key store passphrase")
	f.StringVar(&o.SignKeys.PKCS11.Module, "sign-pkcs11-module", "", "moi: PKCS#11 module (pkcs11 store)")
	f.StringVar(&o.SignKeys.PKCS11.TokenLabel, "sign-pkcs11-token", "", "moi: PKCS#11 token label (pkcs11 store)")
	f.StringVar(&o.SignKeys.PKCS11.PINFile, "sign-pkcs11-pin-file", "", "moi: file holding the PKCS#11 PIN")
	f.StringVar(&o.SignKeys.PKCS11.PINEnv, "sign-pkcs11-pin-env", "", "moi: environment variable holding the PKCS#11 PIN")
	f.StringVar(&o.SignLabel, "sign-key-label", "sign-GOV-MOI", "moi: label of the member signing key")
	f.StringVar(&o.SignCert, "sign-cert", "", "moi: PEM file of the signing certificate chain, leaf first")
	lf.Register(f, "json", "info")
	return c
}

// Serve runs the adapter o describes until ctx ends.
func Serve(ctx context.Context, o Options, log *slog.Logger, stdout io.Writer) error {
	if !slices.Contains(Ministries(), o.Ministry) {
		return fmt.Errorf("adapter: --ministry must be one of %s", strings.Join(Ministries(), ", "))
	}
	if o.Listen == "" {
		return errors.New("adapter: --listen is required")
	}
	db, err := database(o)
	if err != nil {
		return err
	}
	var world *seed.World
	clk := clock.System()
	if o.Seed {
		ref := clk.Now().UTC()
		if o.SeedDate != "" {
			if ref, err = time.Parse(time.DateOnly, o.SeedDate); err != nil {
				return fmt.Errorf("adapter: --seed-date: %w", err)
			}
		}
		if world, err = seed.Generate(seed.Options{Seed: o.SeedValue, Persons: o.SeedPersons, Reference: ref}); err != nil {
			return fmt.Errorf("adapter: %w", err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := build(o, db, world, clk, log, reg)
	if err != nil {
		return err
	}
	defer a.Close()
	ls := []daemon.Listener{{Name: o.Ministry, Addr: o.Listen, Handler: a.Handler()}}
	if o.MetricsListen != "" {
		ls = append(ls, daemon.Listener{Name: "metrics", Addr: o.MetricsListen, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})})
	}
	var bound daemon.Bound
	return daemon.Serve(ctx, "adapter "+o.Ministry, log, &bound, ls, func() {
		fmt.Fprintf(stdout, "serving %s on http://%s\n", o.Ministry, bound.Addr(o.Ministry))
		if o.MetricsListen != "" {
			fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", bound.Addr("metrics"))
		}
	})
}

func database(o Options) (kit.Database, error) {
	given := 0
	for _, v := range []string{o.DB, o.DSNFile, o.DSNEnv} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return kit.Database{}, errors.New("adapter: give exactly one of --db, --postgres-dsn-file and --postgres-dsn-env")
	}
	switch {
	case o.DB != "":
		return kit.Database{Driver: kit.DriverSQLite, Path: o.DB}, nil
	case o.DSNFile != "":
		b, err := os.ReadFile(o.DSNFile)
		if err != nil {
			return kit.Database{}, fmt.Errorf("adapter: %w", err)
		}
		return kit.Database{Driver: kit.DriverPostgres, DSN: strings.TrimSpace(string(b))}, nil
	}
	dsn := os.Getenv(o.DSNEnv)
	if dsn == "" {
		return kit.Database{}, fmt.Errorf("adapter: environment variable %s is empty", o.DSNEnv)
	}
	return kit.Database{Driver: kit.DriverPostgres, DSN: dsn}, nil
}

// paymentsClient returns the verifier the paid services use.
func paymentsClient(o Options) (*payments.Client, error) {
	if o.PaymentsURL == "" {
		return nil, fmt.Errorf("adapter: %s needs --payments-url", o.Ministry)
	}
	h := http.Header{}
	for _, kv := range o.PaymentsHeaders {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("adapter: --payments-header %q: want \"Name: value\"", kv)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return &payments.Client{BaseURL: strings.TrimSuffix(o.PaymentsURL, "/"), HTTP: &http.Client{Timeout: 15 * time.Second}, Header: h}, nil
}

// withStore is an adapter that closes a key store after itself.
type withStore struct {
	Adapter
	store keys.Store
}

func (w withStore) Close() error { return errors.Join(w.Adapter.Close(), w.store.Close()) }

func build(o Options, db kit.Database, world *seed.World, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer) (Adapter, error) {
	switch o.Ministry {
	case "moi":
		st, key, chain, err := signingMaterial(o)
		if err != nil {
			return nil, err
		}
		svc, err := interior.New(interior.Config{Database: db, Seed: world, SignKey: key, SignChain: chain, Clock: clk, Log: log, Registerer: reg})
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		return withStore{Adapter: svc, store: st}, nil
	case "pma":
		return payments.New(payments.Config{Database: db, Seed: world, Clock: clk, Log: log, Registerer: reg})
	case "post":
		return post.New(post.Config{Database: db, Seed: world, Clock: clk, Log: log, Registerer: reg})
	}
	pc, err := paymentsClient(o)
	if err != nil {
		return nil, err
	}
	switch o.Ministry {
	case "mot":
		return transport.New(transport.Config{Database: db, Seed: world, Payments: pc, Clock: clk, Log: log, Registerer: reg})
	case "moh":
		return health.New(health.Config{Database: db, Seed: world, Payments: pc, Clock: clk, Log: log, Registerer: reg})
	default: // "mof"
		return finance.New(finance.Config{Database: db, Payments: pc, Clock: clk, Log: log, Registerer: reg})
	}
}

// signingMaterial opens the Ministry of Interior's signing key and reads
// its certificate chain. The store stays open while the adapter runs (the
// signer may be an HSM session); the caller closes it.
func signingMaterial(o Options) (keys.Store, crypto.Signer, []*x509.Certificate, error) {
	if o.SignCert == "" {
		return nil, nil, nil, errors.New("adapter: moi needs --sign-cert and a signing key store (--sign-keys-dir …)")
	}
	chain, err := readChain(o.SignCert)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := keys.Open(o.SignKeys)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("adapter: signing key store: %w", err)
	}
	signer, err := st.Signer(context.Background(), o.SignLabel)
	if err != nil {
		_ = st.Close()
		return nil, nil, nil, fmt.Errorf("adapter: signing key %q: %w", o.SignLabel, err)
	}
	return st, signer, chain, nil
}

// readChain reads the PEM certificates of a file, in order.
func readChain(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	var chain []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("adapter: %s: %w", path, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("adapter: %s holds no certificate", path)
	}
	return chain, nil
}
