// Package demo runs `jisr demo`: the demo world on loopback with embedded
// defaults (software keys, SQLite, files under one folder), with a guided
// tour printed for the operator.
//
// It brings up the instance PKI of PS-DEV, the central server, a sample
// civil-registry "persons" service of the Ministry of Interior, and two
// security servers — the Interior ministry's (provider) and the Cabinet
// Secretariat's (consumer, the Hukumati portal's) — registered through signed
// management requests with certificates from the PKI. It then calls the
// service through the bus and prints curl commands that work as printed.
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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	"github.com/jisr-bus/jisr/securityserver/conf"
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

// portNames lists the listeners, in PortBase order, with their default
// ports.
func portNames() []struct {
	name string
	def  int
} {
	return []struct {
		name string
		def  int
	}{
		{"pki-ca", 4443}, {"pki-ocsp", 4480}, {"pki-tsa", 4318}, {"pki-admin", 4490},
		{"central-admin", 4400}, {"central-conf", 4401}, {"central-mgmt", 4402},
		{"cab-http", 8080}, {"cab-https", 8443}, {"cab-peer", 5500}, {"cab-admin", 4000},
		{"moi-http", 8180}, {"moi-https", 8543}, {"moi-peer", 5501}, {"moi-admin", 4001},
		{"persons", 8090},
	}
}

func addrs(base int) map[string]string {
	names := portNames()
	m := make(map[string]string, len(names))
	for i, p := range names {
		port := p.def
		if base != 0 {
			port = base + i
		}
		m[p.name] = "127.0.0.1:" + strconv.Itoa(port)
	}
	return m
}

// The demo world's identifiers (constants in all but name: Go has no
// constant structs).
const (
	moiCode = "MOI"
	cabCode = "CAB"
)

func member(code string) xroad.MemberID {
	return xroad.MemberID{Instance: Instance, Class: "GOV", Code: code}
}

func server(code string) xroad.ServerID { return xroad.ServerID{Owner: member(code), Code: "ss1"} }

// civilRegistry is the Interior ministry's provider subsystem; portal the
// Cabinet Secretariat's consumer subsystem (the Hukumati portal).
func civilRegistry() xroad.ClientID { return member(moiCode).Subsystem("civil-registry") }
func portal() xroad.ClientID        { return member(cabCode).Subsystem("portal") }

// Run runs the demo.
func Run(ctx context.Context, o Options) error {
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
	errc := make(chan error, 8)
	defer func() {
		cancel()
		for range d.running {
			<-errc
		}
	}()
	if err := d.start(ctx, errc); err != nil {
		return err
	}
	if err := d.tour(ctx); err != nil {
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
		d.running--
		return err
	}
}

type world struct {
	dir     string
	out     io.Writer
	log     *slog.Logger
	addr    map[string]string
	pki     *pki.Service
	central *central.Service
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
		return m, nil
	}
	m := addrs(base)
	b, _ := json.MarshalIndent(m, "", "  ")
	return m, os.WriteFile(path, b, 0o600)
}

func (d *world) passphrase() (string, error) {
	pass := filepath.Join(d.dir, "passphrase")
	if _, err := os.Stat(pass); errors.Is(err, os.ErrNotExist) {
		var b [24]byte
		_, _ = rand.Read(b[:])
		if err := os.WriteFile(pass, []byte(base64.RawURLEncoding.EncodeToString(b[:])+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	return pass, nil
}

// serve runs fn in the background, counting it for shutdown, and waits for
// its ready signal.
func (d *world) serve(name string, errc chan error, fn func(ready func()) error) error {
	ready := make(chan struct{})
	d.running++
	go func() { errc <- fn(func() { close(ready) }) }()
	select {
	case <-ready:
		return nil
	case err := <-errc:
		d.running--
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("demo: starting %s (are the ports free?): %w", name, err)
	}
}

func (d *world) start(ctx context.Context, errc chan error) error {
	pass, err := d.passphrase()
	if err != nil {
		return err
	}
	// 1. The instance PKI.
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
	if d.pki, err = pki.New(pcfg, pki.WithLogger(d.log.With("component", "pki"))); err != nil {
		return err
	}
	if err := d.serve("the PKI", errc, func(ready func()) error { defer d.pki.Close(); return d.pki.Serve(ctx, ready) }); err != nil {
		return err
	}

	// 2. The central server (auto-approving management requests: a demo).
	centralDir := filepath.Join(d.dir, "central")
	if _, err := os.Stat(filepath.Join(centralDir, central.ConfigFile)); errors.Is(err, os.ErrNotExist) {
		tmpl := &central.Config{AutoApprove: true, Listen: central.ListenConfig{Admin: d.addr["central-admin"],
			Configuration: d.addr["central-conf"], Management: d.addr["central-mgmt"]}}
		if _, err := central.Init(ctx, central.InitOptions{Instance: Instance, Dir: centralDir, PKIDir: pkiDir,
			Names: []string{"localhost", "127.0.0.1"}, Template: tmpl}); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "initialised the central server in %s\n", centralDir)
	}
	ccfg, err := central.LoadConfig(filepath.Join(centralDir, central.ConfigFile))
	if err != nil {
		return err
	}
	if d.central, err = central.New(ctx, ccfg, central.WithManagement(centralcmd.ManagementFactory()),
		central.WithLogger(d.log.With("component", "central"))); err != nil {
		return err
	}
	if err := d.serve("the central server", errc, func(ready func()) error { defer d.central.Close(); return d.central.Serve(ctx, ready) }); err != nil {
		return err
	}
	for _, m := range []struct {
		id   xroad.MemberID
		name string
	}{{member(moiCode), "Ministry of Interior"}, {member(cabCode), "Cabinet Secretariat"}} {
		if _, err := d.central.Store().Member(ctx, m.id); errors.Is(err, registry.ErrNotFound) {
			if err := d.central.Store().AddMember(ctx, m.id, m.name); err != nil {
				return err
			}
		}
	}
	anchor, err := d.central.Anchor()
	if err != nil {
		return err
	}
	anchorBytes, err := json.MarshalIndent(anchor, "", "  ")
	if err != nil {
		return err
	}
	anchorPath := filepath.Join(d.dir, "anchor.json")
	if err := os.WriteFile(anchorPath, anchorBytes, 0o644); err != nil {
		return err
	}
	if _, _, err := d.central.Publisher().Regenerate(ctx); err != nil {
		return err
	}

	// 3. The Interior ministry's persons service (its backend).
	l, err := net.Listen("tcp", d.addr["persons"])
	if err != nil {
		return fmt.Errorf("demo: persons service: %w", err)
	}
	hs := &http.Server{Handler: personsHandler(), ReadHeaderTimeout: 10 * time.Second}
	d.running++
	go func() { <-ctx.Done(); _ = hs.Close() }()
	go func() {
		err := hs.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()

	// 4. Two security servers, set up as an operator would; both are
	// registered before either starts, so each one's first configuration
	// download already knows the other.
	type ssDef struct {
		id     xroad.ServerID
		client xroad.ClientID
		prefix string
	}
	defs := []ssDef{{server(moiCode), civilRegistry(), "moi"}, {server(cabCode), portal(), "cab"}}
	cfgs := make([]*securityserver.Config, len(defs))
	for i, ss := range defs {
		if cfgs[i], err = d.setupSS(ctx, ss.id, ss.client, ss.prefix, pass, anchorPath); err != nil {
			return fmt.Errorf("demo: security server %s: %w", ss.id, err)
		}
	}
	for i, ss := range defs {
		svc, err := securityserver.New(ctx, cfgs[i], securityserver.WithLogger(d.log.With("component", "ss-"+ss.prefix)))
		if err != nil {
			return fmt.Errorf("demo: security server %s: %w", ss.id, err)
		}
		if err := d.serve("security server "+ss.id.String(), errc, func(ready func()) error { defer svc.Close(); return svc.Serve(ctx, ready) }); err != nil {
			return err
		}
	}
	return nil
}

// setupSS creates, enrols and registers a security server on the first run.
func (d *world) setupSS(ctx context.Context, id xroad.ServerID, client xroad.ClientID, prefix, pass, anchor string) (*securityserver.Config, error) {
	dir := filepath.Join(d.dir, "ss-"+prefix)
	cfgPath := filepath.Join(dir, securityserver.ConfigFile)
	fresh := false
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		fresh = true
		if _, err := securityserver.Init(ctx, securityserver.InitOptions{ServerID: id, Dir: dir, Anchor: anchor,
			Keys:      keys.Config{Type: keys.TypeSoftware, PassphraseFile: pass},
			Addresses: []string{"localhost:" + portOf(d.addr[prefix+"-peer"])},
			Listen: securityserver.ListenConfig{ClientHTTP: d.addr[prefix+"-http"], ClientHTTPS: d.addr[prefix+"-https"],
				Peer: d.addr[prefix+"-peer"], Admin: d.addr[prefix+"-admin"]}}); err != nil {
			return nil, err
		}
	}
	cfg, err := securityserver.LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	if !fresh {
		return cfg, nil
	}
	authTok, err := d.pki.Authority().NewEnrolmentToken(profile.Auth, id, []string{"localhost"}, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	signTok, err := d.pki.Authority().NewEnrolmentToken(profile.Sign, id.Owner, nil, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	if err := securityserver.Enrol(ctx, cfg, securityserver.EnrolOptions{CAURL: "https://" + d.pki.Addr("ca"),
		Roots: filepath.Join(d.dir, "pki", pki.CertsDir, "root-ca.pem"), AuthToken: authTok, SignToken: signTok,
		DNSNames: []string{"localhost"}}); err != nil {
		return nil, err
	}
	if _, err := securityserver.Register(ctx, cfg); err != nil {
		return nil, err
	}
	if _, _, err := d.central.Publisher().Regenerate(ctx); err != nil {
		return nil, err
	}
	if _, err := securityserver.AddClient(ctx, cfg, client, "", ""); err != nil {
		return nil, err
	}
	if id == server(moiCode) {
		if _, _, err := d.central.Publisher().Regenerate(ctx); err != nil {
			return nil, err
		}
		if _, err := securityserver.AddService(ctx, cfg, securityserver.ServiceOptions{Provider: civilRegistry(), Code: "persons",
			URL: "http://" + d.addr["persons"], OpenAPI: []byte(personsOpenAPI), Title: "Persons by national ID",
			Description: "Civil registry: persons by national ID (demo data)", Publish: true}); err != nil {
			return nil, err
		}
		if _, err := securityserver.AddService(ctx, cfg, securityserver.ServiceOptions{Provider: civilRegistry(), Code: "birth-records",
			URL: "http://" + d.addr["persons"]}); err != nil {
			return nil, err
		}
		if err := securityserver.Grant(ctx, cfg, civilRegistry(), "persons", portal().String(), conf.EndpointSpec{}); err != nil {
			return nil, err
		}
	}
	if _, _, err := d.central.Publisher().Regenerate(ctx); err != nil {
		return nil, err
	}
	return cfg, nil
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// call is one request of the tour, printed as the curl command that makes
// it.
type call struct {
	title, method, path string
	headers             [][2]string
	wantStatus          int
}

func (c call) curl(base string) string {
	var b strings.Builder
	b.WriteString("curl -s")
	if c.method != http.MethodGet {
		b.WriteString(" -X " + c.method)
	}
	for _, h := range c.headers {
		fmt.Fprintf(&b, " -H '%s: %s'", h[0], h[1])
	}
	fmt.Fprintf(&b, " '%s%s'", base, c.path)
	return b.String()
}

// tour waits until the bus carries traffic, then makes the calls and
// prints them as curl commands with what came back.
func (d *world) tour(ctx context.Context) error {
	base := "http://" + d.addr["cab-http"]
	client := [2]string{"X-Road-Client", portal().String()}
	svcPath := "/r1/" + civilRegistry().URLPath() + "/persons"
	calls := []call{
		{"a person from the civil registry, through both security servers", http.MethodGet, svcPath + "/v1/persons/400123456",
			[][2]string{client, {"X-Road-UserId", "PS400123456"}, {"X-Road-Issue", "HUK-2026-000001"}}, http.StatusOK},
		{"listClients (who is on the bus)", http.MethodGet, "/listClients", [][2]string{{"Accept", "application/json"}}, http.StatusOK},
		{"listMethods of the civil registry", http.MethodGet, "/r1/" + civilRegistry().URLPath() + "/listMethods", [][2]string{client}, http.StatusOK},
		{"allowedMethods for the portal", http.MethodGet, "/r1/" + civilRegistry().URLPath() + "/allowedMethods", [][2]string{client}, http.StatusOK},
		{"getOpenAPI of the persons service", http.MethodGet, "/r1/" + civilRegistry().URLPath() + "/getOpenAPI?serviceCode=persons", [][2]string{client}, http.StatusOK},
		{"a service the portal was not granted: refused", http.MethodGet, "/r1/" + civilRegistry().URLPath() + "/birth-records/v1/persons", [][2]string{client}, http.StatusInternalServerError},
	}
	// Registrations reach the security servers with their next configuration
	// download; wait for the first exchange to go through.
	deadline := time.Now().Add(90 * time.Second)
	for {
		status, _, err := d.do(ctx, base, calls[0])
		if err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: the bus did not carry the first exchange in time (last status %d, %v)", status, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}

	fmt.Fprintf(d.out, "\n== the demo world of %s is up ==\n", Instance)
	fmt.Fprintf(d.out, "  instance PKI     CA %s  OCSP %s  TSA %s\n", d.addr["pki-ca"], d.addr["pki-ocsp"], d.addr["pki-tsa"])
	fmt.Fprintf(d.out, "  central server   admin %s  configuration http://%s/globalconf  management %s\n", d.addr["central-admin"], d.addr["central-conf"], d.addr["central-mgmt"])
	fmt.Fprintf(d.out, "  security server  %s (Cabinet Secretariat, consumer)  information systems: http://%s\n", server(cabCode), d.addr["cab-http"])
	fmt.Fprintf(d.out, "  security server  %s (Ministry of Interior, provider) peer %s\n", server(moiCode), d.addr["moi-peer"])
	fmt.Fprintf(d.out, "  persons service  http://%s (reached only through the bus)\n", d.addr["persons"])
	fmt.Fprintf(d.out, "\ntry these (each was just run and answered as shown):\n")
	for _, c := range calls {
		status, body, err := d.do(ctx, base, c)
		if err != nil {
			return fmt.Errorf("demo: %s: %w", c.title, err)
		}
		if status != c.wantStatus {
			return fmt.Errorf("demo: %s: status %d, want %d: %s", c.title, status, c.wantStatus, body)
		}
		fmt.Fprintf(d.out, "\n# %s\n%s\n  → %d %s\n", c.title, c.curl(base), status, summary(body))
	}
	return nil
}

func (d *world) do(ctx context.Context, base string, c call) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, c.method, base+c.path, nil)
	if err != nil {
		return 0, nil, err
	}
	for _, h := range c.headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

func summary(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
