// Package demo runs `jisr demo`: the demo world on loopback with embedded
// defaults (software keys, SQLite, files under one folder), with a guided
// tour printed for the operator.
//
// It brings up, in this process, the instance PKI of PS-DEV, the central
// server, seven security servers — the Cabinet Secretariat's (consumer, the
// Hukumati portal's) and six ministries' (providers) — registered through
// signed management requests with certificates from the PKI, each
// ministry's adapter (adapters/…) as the service behind its security server,
// published with its OpenAPI description to the central catalogue, and the
// Hukumati portal. It then calls every ministry through the bus and prints
// curl commands that work as printed.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/central"
	"github.com/jisr-bus/jisr/central/centralcmd"
	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/securityserver"
)

// Instance is the demo world's X-Road instance.
const Instance = "PS-DEV"

// Options configures Run.
type Options struct {
	// Dir holds everything the demo creates; reused across runs.
	Dir string
	// Once makes Run return after the guided tour instead of serving until
	// ctx is cancelled (used by tests).
	Once bool
	// PortBase, if not zero, moves every listener to PortBase, PortBase+1, …
	// (first run only; later runs reuse the configuration written then).
	PortBase int
	// Out receives the guided tour; Log the services' logs.
	Out io.Writer
	Log *slog.Logger
}

// port is a listener with its default port.
type port struct {
	name string
	def  int
}

// Ports returns the names of the demo's listeners in PortBase order
// (PortBase puts the i-th on PortBase+i).
func Ports() []string {
	ps := portList()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.name
	}
	return out
}

func portList() []port {
	ps := []port{
		{"pki-ca", 4443}, {"pki-ocsp", 4480}, {"pki-tsa", 4318}, {"pki-admin", 4490},
		{"central-admin", 4400}, {"central-conf", 4401}, {"central-mgmt", 4402},
	}
	// Security servers: the Cabinet Secretariat's information systems
	// call 8080 (as in X-Road); the i-th server's ports follow.
	for i, o := range orgs() {
		ps = append(ps, port{o.Prefix + "-http", 8080 + 100*i}, port{o.Prefix + "-https", 8443 + 100*i},
			port{o.Prefix + "-peer", 5500 + i}, port{o.Prefix + "-admin", 4000 + i})
	}
	for i, o := range Providers() {
		ps = append(ps, port{o.Prefix + "-adapter", 7101 + i})
	}
	return append(ps, port{"portal", 8000})
}

func addrs(base int) map[string]string {
	ps := portList()
	m := make(map[string]string, len(ps))
	for i, p := range ps {
		n := p.def
		if base != 0 {
			n = base + i
		}
		m[p.name] = "127.0.0.1:" + strconv.Itoa(n)
	}
	return m
}

func member(code string) xroad.MemberID {
	return xroad.MemberID{Instance: Instance, Class: "GOV", Code: code}
}

// state is what the first run decided and later runs reuse (state.json).
type state struct {
	// Reference is the demo world's "today" (adapters/seed), fixed on the
	// first run so that later runs generate the same world.
	Reference string `json:"reference"`
	// CitizenPassword is the demo citizen's portal password and
	// OfficerPassword the demo registration officer's (demo data).
	CitizenPassword string `json:"citizenPassword"`
	OfficerPassword string `json:"officerPassword"`
}

const stateFile = "state.json"

// Run runs the demo.
func Run(ctx context.Context, o Options) error {
	began := time.Now()
	if o.Dir == "" {
		return errors.New("demo: dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	d := &world{dir: dir, out: o.Out, log: o.Log}
	if d.out == nil {
		d.out = io.Discard
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.addr, err = d.ports(o.PortBase); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(portList()))
	defer func() {
		cancel()
		for range d.running {
			<-errc
		}
	}()
	if err := d.start(ctx, errc); err != nil {
		return err
	}
	if err := d.tour(ctx, began); err != nil {
		return err
	}
	if o.Once {
		return nil
	}
	fmt.Fprintln(d.out, "\neverything keeps running; press Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		d.mu.Lock()
		d.running--
		d.mu.Unlock()
		if err == nil {
			err = errors.New("a service stopped")
		}
		return fmt.Errorf("demo: %w", err)
	}
}

type world struct {
	dir     string
	out     io.Writer
	log     *slog.Logger
	addr    map[string]string
	state   state
	seed    *seed.World
	pki     *pki.Service
	central *central.Service
	portal  portalInfo

	mu      sync.Mutex
	running int
}

// ports fixes the listen addresses on the first run and reads them back on
// later ones.
func (d *world) ports(base int) (map[string]string, error) {
	path := filepath.Join(d.dir, "ports.json")
	if b, err := os.ReadFile(path); err == nil {
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("demo: %s: %w", path, err)
		}
		for _, p := range portList() {
			if _, ok := m[p.name]; !ok {
				return nil, fmt.Errorf("demo: %s was made by an earlier version of the demo (no listener %q); remove it (make clean) and start again", d.dir, p.name)
			}
		}
		return m, nil
	}
	m := addrs(base)
	b, _ := json.MarshalIndent(m, "", "  ")
	return m, os.WriteFile(path, b, 0o600)
}

func (d *world) passphrase() (string, error) {
	pass := filepath.Join(d.dir, "passphrase")
	if _, err := os.Stat(pass); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(pass, []byte(randomText(24)+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	return pass, nil
}

// randomText returns n random bytes, base64url-encoded.
func randomText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// serve runs fn in the background, counting it for shutdown, and waits for
// its ready signal. It may be called from several goroutines.
func (d *world) serve(name string, errc chan error, fn func(ready func()) error) error {
	ready := make(chan struct{})
	done := make(chan error, 1)
	d.mu.Lock()
	d.running++
	d.mu.Unlock()
	go func() {
		err := fn(func() { close(ready) })
		select {
		case done <- err:
		default:
		}
		errc <- err
	}()
	select {
	case <-ready:
		return nil
	case err := <-done:
		// fn returned before it was ready; its result is also on errc,
		// where shutdown collects it.
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("demo: starting %s (are the ports free?): %w", name, err)
	}
}

// parallel runs fns concurrently and joins their errors.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (d *world) start(ctx context.Context, errc chan error) error {
	pass, err := d.passphrase()
	if err != nil {
		return err
	}
	fresh, err := d.loadState()
	if err != nil {
		return err
	}
	ref, err := time.Parse(time.DateOnly, d.state.Reference)
	if err != nil {
		return fmt.Errorf("demo: %s: reference date: %w", stateFile, err)
	}
	if d.seed, err = seed.Generate(seed.Options{Reference: ref}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := d.startPKI(ctx, errc, pass); err != nil {
		return err
	}
	anchor, err := d.startCentral(ctx, errc)
	if err != nil {
		return err
	}

	// The security servers are set up (first run) in parallel: each is
	// enrolled, registered, given its subsystem and, for a ministry, its
	// service (published to the catalogue) and access rights. All are
	// registered before any starts, so each one's first configuration
	// download knows the others. Meanwhile the adapters open and seed
	// their databases and start listening; Interior's needs its
	// ministry's signing key, so it waits for its server.
	cfgs := make([]*securityserver.Config, len(orgs()))
	var fns []func() error
	for i, o := range orgs() {
		fns = append(fns, func() error {
			cfg, err := d.setupSS(ctx, o, pass, anchor, fresh)
			if err != nil {
				return fmt.Errorf("demo: security server %s: %w", o.Server(), err)
			}
			cfgs[i] = cfg
			if o.Prefix == "moi" {
				return d.startAdapter(ctx, errc, o, d.seed, cfg)
			}
			return nil
		})
	}
	for _, o := range Providers() {
		if o.Prefix != "moi" {
			fns = append(fns, func() error { return d.startAdapter(ctx, errc, o, d.seed, nil) })
		}
	}
	if err := parallel(fns...); err != nil {
		return err
	}
	if fresh {
		if _, _, err := d.central.Publisher().Regenerate(ctx); err != nil {
			return err
		}
	}

	fns = fns[:0]
	for i, o := range orgs() {
		fns = append(fns, func() error {
			svc, err := securityserver.New(ctx, cfgs[i], securityserver.WithLogger(d.log.With("component", "ss-"+o.Prefix)))
			if err != nil {
				return fmt.Errorf("demo: security server %s: %w", o.Server(), err)
			}
			return d.serve("security server "+o.Server().String(), errc, func(ready func()) error {
				defer svc.Close()
				return svc.Serve(ctx, ready)
			})
		})
	}
	fns = append(fns, func() error { return d.startPortal(ctx, errc) })
	if err := parallel(fns...); err != nil {
		return err
	}
	if fresh {
		return d.saveState()
	}
	return nil
}

// loadState reads state.json, or on the first run (no PKI yet) makes a new
// state. It reports whether this is the first run.
func (d *world) loadState() (bool, error) {
	path := filepath.Join(d.dir, stateFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &d.state); err != nil {
			return false, fmt.Errorf("demo: %s: %w", path, err)
		}
		return false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if _, err := os.Stat(filepath.Join(d.dir, "pki")); err == nil {
		return false, fmt.Errorf("demo: %s holds a demo world whose first run did not finish; remove it (make clean) and start again", d.dir)
	}
	d.state = state{Reference: seed.Day(time.Now()).Format(time.DateOnly), CitizenPassword: randomText(12), OfficerPassword: randomText(12)}
	return true, nil
}

// saveState records the state once the first run has set everything up.
func (d *world) saveState() error {
	b, err := json.MarshalIndent(d.state, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.dir, stateFile), b, 0o600)
}

// startPKI initialises (first run) and starts the instance PKI.
func (d *world) startPKI(ctx context.Context, errc chan error, pass string) error {
	pkiDir := filepath.Join(d.dir, "pki")
	if _, err := os.Stat(filepath.Join(pkiDir, pki.ConfigFile)); errors.Is(err, os.ErrNotExist) {
		tmpl := &pki.Config{CA: pki.CAConfig{Listen: d.addr["pki-ca"]}, OCSP: pki.OCSPConfig{Listen: d.addr["pki-ocsp"]},
			TSA: pki.TSAConfig{Listen: d.addr["pki-tsa"]}, Admin: pki.AdminConfig{Listen: d.addr["pki-admin"]}}
		if _, err := pki.Init(ctx, pki.InitOptions{Instance: Instance, Dir: pkiDir, CANames: []string{"localhost", "127.0.0.1"},
			Keys: keys.Config{Type: keys.TypeSoftware, PassphraseFile: pass}, Template: tmpl}); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "initialised instance PKI %s in %s\n", Instance, pkiDir)
	}
	var pcfg pki.Config
	if err := config.Load(filepath.Join(pkiDir, pki.ConfigFile), &pcfg); err != nil {
		return err
	}
	pcfg.Resolve(pkiDir)
	if err := pcfg.Validate(); err != nil {
		return err
	}
	var err error
	if d.pki, err = pki.New(pcfg, pki.WithLogger(d.log.With("component", "pki"))); err != nil {
		return err
	}
	return d.serve("the PKI", errc, func(ready func()) error { defer d.pki.Close(); return d.pki.Serve(ctx, ready) })
}

// startCentral initialises (first run) and starts the central server,
// auto-approving management requests (a demo), registers the members and
// writes the configuration anchor, whose path it returns.
func (d *world) startCentral(ctx context.Context, errc chan error) (string, error) {
	centralDir := filepath.Join(d.dir, "central")
	if _, err := os.Stat(filepath.Join(centralDir, central.ConfigFile)); errors.Is(err, os.ErrNotExist) {
		tmpl := &central.Config{AutoApprove: true, Listen: central.ListenConfig{Admin: d.addr["central-admin"],
			Configuration: d.addr["central-conf"], Management: d.addr["central-mgmt"]}}
		if _, err := central.Init(ctx, central.InitOptions{Instance: Instance, Dir: centralDir, PKIDir: filepath.Join(d.dir, "pki"),
			Names: []string{"localhost", "127.0.0.1"}, Template: tmpl}); err != nil {
			return "", err
		}
		fmt.Fprintf(d.out, "initialised the central server in %s\n", centralDir)
	}
	ccfg, err := central.LoadConfig(filepath.Join(centralDir, central.ConfigFile))
	if err != nil {
		return "", err
	}
	if d.central, err = central.New(ctx, ccfg, central.WithManagement(centralcmd.ManagementFactory()),
		central.WithLogger(d.log.With("component", "central"))); err != nil {
		return "", err
	}
	if err := d.serve("the central server", errc, func(ready func()) error { defer d.central.Close(); return d.central.Serve(ctx, ready) }); err != nil {
		return "", err
	}
	for _, o := range orgs() {
		if _, err := d.central.Store().Member(ctx, o.Member()); errors.Is(err, registry.ErrNotFound) {
			if err := d.central.Store().AddMember(ctx, o.Member(), o.Name); err != nil {
				return "", err
			}
		} else if err != nil {
			return "", err
		}
	}
	anchor, err := d.central.Anchor()
	if err != nil {
		return "", err
	}
	anchorBytes, err := json.MarshalIndent(anchor, "", "  ")
	if err != nil {
		return "", err
	}
	anchorPath := filepath.Join(d.dir, "anchor.json")
	if err := os.WriteFile(anchorPath, anchorBytes, 0o644); err != nil {
		return "", err
	}
	if _, _, err := d.central.Publisher().Regenerate(ctx); err != nil {
		return "", err
	}
	return anchorPath, nil
}
