package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/jisr-bus/jisr/central"
	"github.com/jisr-bus/jisr/central/centralcmd"
	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver"
)

// InfraOptions configures StartInfra.
type InfraOptions struct {
	// Dir is created and holds everything; it must not hold a PKI yet.
	Dir string
	// Instance is the X-Road instance code; default Instance (PS-DEV).
	Instance string
	// Settings are registry settings set before the first configuration
	// is published (e.g. a short time-stamping interval).
	Settings map[registry.Setting]time.Duration
	// Log receives the PKI's and the central server's logs; nil discards.
	Log *slog.Logger
}

// Infra is an instance PKI (CA, OCSP, TSA) and a central server that
// approves management requests on receipt, run in this process on loopback
// ports chosen at start, with everything under one directory. It is for
// tools that place security servers of their own — the end-to-end
// benchmark sets them up with AddSecurityServer and runs them as separate
// `jisr ss serve` processes. The demo itself does not use it.
type Infra struct {
	// Instance is the instance code.
	Instance string
	// AnchorPath is the configuration anchor security servers start from.
	AnchorPath string
	// PassphrasePath is the passphrase file of every software key store.
	PassphrasePath string

	dir     string
	pki     *pki.Service
	central *central.Service
	cancel  context.CancelFunc
	errc    chan error
	running int
}

// StartInfra initialises and starts the PKI and the central server under
// o.Dir. Close stops them.
func StartInfra(ctx context.Context, o InfraOptions) (_ *Infra, err error) {
	if o.Dir == "" {
		return nil, errors.New("demo: infra: dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Infra{Instance: o.Instance, dir: dir, errc: make(chan error, 2)}
	if in.Instance == "" {
		in.Instance = Instance
	}
	ctx, in.cancel = context.WithCancel(ctx)
	defer func() {
		if err != nil {
			_ = in.Close()
		}
	}()
	in.PassphrasePath = filepath.Join(dir, "passphrase")
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	if err := os.WriteFile(in.PassphrasePath, []byte(base64.RawURLEncoding.EncodeToString(b[:])+"\n"), 0o600); err != nil {
		return nil, err
	}
	addr, err := loopbackAddrs(7)
	if err != nil {
		return nil, err
	}

	pkiDir := filepath.Join(dir, "pki")
	tmpl := &pki.Config{CA: pki.CAConfig{Listen: addr[0]}, OCSP: pki.OCSPConfig{Listen: addr[1]},
		TSA: pki.TSAConfig{Listen: addr[2]}, Admin: pki.AdminConfig{Listen: addr[3]}}
	if _, err := pki.Init(ctx, pki.InitOptions{Instance: in.Instance, Dir: pkiDir, CANames: []string{"localhost", "127.0.0.1"},
		Keys: keys.Config{Type: keys.TypeSoftware, PassphraseFile: in.PassphrasePath}, Template: tmpl}); err != nil {
		return nil, err
	}
	var pcfg pki.Config
	if err := config.Load(filepath.Join(pkiDir, pki.ConfigFile), &pcfg); err != nil {
		return nil, err
	}
	pcfg.Resolve(pkiDir)
	if err := pcfg.Validate(); err != nil {
		return nil, err
	}
	if in.pki, err = pki.New(pcfg, pki.WithLogger(log.With("component", "pki"))); err != nil {
		return nil, err
	}
	if err := in.serve(ctx, "the PKI", in.pki.Serve); err != nil {
		return nil, err
	}

	centralDir := filepath.Join(dir, "central")
	ctmpl := &central.Config{AutoApprove: true, Listen: central.ListenConfig{Admin: addr[4], Configuration: addr[5], Management: addr[6]}}
	if _, err := central.Init(ctx, central.InitOptions{Instance: in.Instance, Dir: centralDir, PKIDir: pkiDir,
		Names: []string{"localhost", "127.0.0.1"}, Template: ctmpl}); err != nil {
		return nil, err
	}
	ccfg, err := central.LoadConfig(filepath.Join(centralDir, central.ConfigFile))
	if err != nil {
		return nil, err
	}
	if in.central, err = central.New(ctx, ccfg, central.WithManagement(centralcmd.ManagementFactory()),
		central.WithLogger(log.With("component", "central"))); err != nil {
		return nil, err
	}
	if err := in.serve(ctx, "the central server", in.central.Serve); err != nil {
		return nil, err
	}
	for k, v := range o.Settings {
		if err := in.central.Store().SetSetting(ctx, k, v); err != nil {
			return nil, fmt.Errorf("demo: infra: setting %s: %w", k, err)
		}
	}
	anchor, err := in.central.Anchor()
	if err != nil {
		return nil, err
	}
	ab, err := json.MarshalIndent(anchor, "", "  ")
	if err != nil {
		return nil, err
	}
	in.AnchorPath = filepath.Join(dir, "anchor.json")
	if err := os.WriteFile(in.AnchorPath, ab, 0o644); err != nil {
		return nil, err
	}
	return in, in.Publish(ctx)
}

// serve runs fn in the background and waits for its ready signal.
func (in *Infra) serve(ctx context.Context, name string, fn func(context.Context, func()) error) error {
	ready := make(chan struct{})
	in.running++
	go func() { in.errc <- fn(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
		return nil
	case err := <-in.errc:
		in.running--
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("demo: infra: starting %s: %w", name, err)
	}
}

// Publish makes the central server publish a new configuration now.
func (in *Infra) Publish(ctx context.Context) error {
	_, _, err := in.central.Publisher().Regenerate(ctx)
	return err
}

// Close stops the PKI and the central server and releases them.
func (in *Infra) Close() error {
	in.cancel()
	var errs []error
	for ; in.running > 0; in.running-- {
		if err := <-in.errc; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	if in.central != nil {
		errs = append(errs, in.central.Close())
	}
	if in.pki != nil {
		errs = append(errs, in.pki.Close())
	}
	return errors.Join(errs...)
}

// SecurityServerSpec describes a security server for AddSecurityServer.
type SecurityServerSpec struct {
	// Server is the security server; its owner is added to the registry
	// as a member named MemberName when it is not there yet.
	Server     xroad.ServerID
	MemberName string
	// Client is the subsystem the server hosts (registered, FULL body
	// logging).
	Client xroad.ClientID
	// Listen are the server's listen addresses; Listen.Peer's port is
	// registered as its SS↔SS address (localhost:port).
	Listen securityserver.ListenConfig
	// Database selects SQLite (zero value) or PostgreSQL.
	Database securityserver.DatabaseConfig
}

// AddSecurityServer creates the security server under <dir>/ss-<dirName>,
// enrols its certificates with the PKI, registers it and its client with
// the central server and publishes the configuration. It returns the
// loaded ss.yaml; the caller runs the server (`jisr ss serve --config`).
func (in *Infra) AddSecurityServer(ctx context.Context, dirName string, s SecurityServerSpec) (*securityserver.Config, error) {
	st := in.central.Store()
	if _, err := st.Member(ctx, s.Server.Owner); errors.Is(err, registry.ErrNotFound) {
		if err := st.AddMember(ctx, s.Server.Owner, s.MemberName); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	_, peerPort, err := net.SplitHostPort(s.Listen.Peer)
	if err != nil {
		return nil, fmt.Errorf("demo: infra: peer listen address: %w", err)
	}
	dir := filepath.Join(in.dir, "ss-"+dirName)
	cfgPath, err := securityserver.Init(ctx, securityserver.InitOptions{ServerID: s.Server, Dir: dir, Anchor: in.AnchorPath,
		Keys:      keys.Config{Type: keys.TypeSoftware, PassphraseFile: in.PassphrasePath},
		Addresses: []string{"localhost:" + peerPort}, Listen: s.Listen, Database: s.Database})
	if err != nil {
		return nil, err
	}
	cfg, err := securityserver.LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	authTok, err := in.pki.Authority().NewEnrolmentToken(profile.Auth, s.Server, []string{"localhost"}, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	signTok, err := in.pki.Authority().NewEnrolmentToken(profile.Sign, s.Server.Owner, nil, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	if err := securityserver.Enrol(ctx, cfg, securityserver.EnrolOptions{CAURL: "https://" + in.pki.Addr("ca"),
		Roots: filepath.Join(in.dir, "pki", pki.CertsDir, "root-ca.pem"), AuthToken: authTok, SignToken: signTok,
		DNSNames: []string{"localhost"}}); err != nil {
		return nil, err
	}
	if _, err := securityserver.Register(ctx, cfg); err != nil {
		return nil, err
	}
	if err := in.Publish(ctx); err != nil {
		return nil, err
	}
	if _, err := securityserver.AddClient(ctx, cfg, s.Client, "", ""); err != nil {
		return nil, err
	}
	return cfg, in.Publish(ctx)
}

// loopbackAddrs returns n distinct free 127.0.0.1 addresses (free when
// asked: the ports are released before they are returned).
func loopbackAddrs(n int) ([]string, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	out := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}
