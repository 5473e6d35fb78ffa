package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/demo"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// The topologies, in report order. Ratios are to TopologyChain.
const (
	TopologyDirect   = "direct"
	TopologyChain    = "mtls-chain"
	TopologySQLite   = "jisr-sqlite"
	TopologyPostgres = "jisr-postgres"
)

// topologyName is a topology's row label in the report.
func topologyName(key string) string {
	switch key {
	case TopologyDirect:
		return "(a) direct"
	case TopologyChain:
		return "(b) bare mTLS proxy chain"
	case TopologySQLite:
		return "(c) jisr, SQLite"
	case TopologyPostgres:
		return "(c) jisr, PostgreSQL"
	}
	return key
}

// topology is one running path to the echo service.
type topology struct {
	key    string
	target Target
	// measured are the intermediaries whose CPU and memory are reported
	// (none for direct calls).
	measured []*proc
	// pprof maps a measured process's name to its pprof address, if any.
	pprof map[string]string
	stop  func() error
}

// startEcho starts the echo service all topologies end at.
func (h *harness) startEcho(ctx context.Context) (*proc, string, error) {
	addr, err := freeAddrs(1)
	if err != nil {
		return nil, "", err
	}
	p, err := startProc("echo", h.logDir, h.opts.Bin, "bench", "echo", "--listen", addr[0])
	if err != nil {
		return nil, "", err
	}
	if err := p.waitUntil(ctx, 30*time.Second, "listening", listening(addr[0])); err != nil {
		_ = p.stop(5 * time.Second)
		return nil, "", err
	}
	return p, addr[0], nil
}

// direct is (a): the client calls the echo service itself.
func (h *harness) direct(echoAddr string) *topology {
	return &topology{key: TopologyDirect, target: Target{URL: "http://" + echoAddr + "/echo"}, stop: func() error { return nil }}
}

// chain is (b): client → proxy 1 (HTTP) → proxy 2 (TLS 1.3, mutual, HTTP/2)
// → echo service (HTTP), both proxies `jisr bench proxy` processes.
func (h *harness) chain(ctx context.Context, echoAddr string) (*topology, error) {
	certs, err := writeChainCerts(h.workDir, time.Now())
	if err != nil {
		return nil, err
	}
	addr, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	p2, err := startProc("proxy2", h.logDir, h.opts.Bin, "bench", "proxy", "--listen", addr[1],
		"--cert", certs.ServerCert, "--key", certs.ServerKey, "--client-ca", certs.CA, "--upstream", "http://"+echoAddr)
	if err != nil {
		return nil, err
	}
	p1, err := startProc("proxy1", h.logDir, h.opts.Bin, "bench", "proxy", "--listen", addr[0],
		"--upstream", "https://localhost:"+port(addr[1]), "--upstream-ca", certs.CA,
		"--upstream-cert", certs.ClientCert, "--upstream-key", certs.ClientKey)
	if err != nil {
		_ = p2.stop(5 * time.Second)
		return nil, err
	}
	t := &topology{key: TopologyChain, target: Target{URL: "http://" + addr[0] + "/echo"}, measured: []*proc{p1, p2},
		stop: func() error { return errors.Join(p1.stop(30*time.Second), p2.stop(30*time.Second)) }}
	for i, p := range []*proc{p1, p2} {
		if err := p.waitUntil(ctx, 30*time.Second, "listening", listening(addr[i])); err != nil {
			_ = t.stop()
			return nil, err
		}
	}
	return t, nil
}

// jisrWorld is the instance PKI and central server (in this process) and
// the security server pairs set up for (c).
type jisrWorld struct {
	infra *demo.Infra
	pairs map[string]*ssPair
	// dropSchemas removes the PostgreSQL schemas of the run.
	dropSchemas func() error
}

// ssPair is a consumer and a provider security server on one database.
type ssPair struct {
	key                string
	consumer, provider string // ss.yaml paths
	consumerAdmin      string
	providerAdmin      string
	clientHTTP         string
	client             xroad.ClientID
	service            xroad.ServiceID
	consumerPprof      string
	providerPprof      string
}

// setupJisr creates the PKI, the central server and one security server
// pair per database in dbs ("sqlite", "postgres"); the provider of each
// pair offers the echo service to the consumer's client. Time-stamping
// runs every TimestampInterval; bodies are logged (FULL).
func (h *harness) setupJisr(ctx context.Context, echoAddr string, dbs []string) (*jisrWorld, error) {
	infra, err := demo.StartInfra(ctx, demo.InfraOptions{Dir: filepath.Join(h.workDir, "jisr"), Log: h.log,
		Settings: map[registry.Setting]time.Duration{registry.SettingTimestampingInterval: h.opts.TimestampInterval}})
	if err != nil {
		return nil, fmt.Errorf("bench: jisr world: %w", err)
	}
	w := &jisrWorld{infra: infra, pairs: map[string]*ssPair{}, dropSchemas: func() error { return nil }}
	ok := false
	defer func() {
		if !ok {
			_ = w.close()
		}
	}()
	moi := xroad.MemberID{Instance: infra.Instance, Class: "GOV", Code: "MOI"}
	cab := xroad.MemberID{Instance: infra.Instance, Class: "GOV", Code: "CAB"}
	var schemas []string
	for _, db := range dbs {
		// The zero DatabaseConfig is SQLite in the server's directory.
		var consumerDB, providerDB securityserver.DatabaseConfig
		if db == "postgres" {
			names, err := createSchemas(ctx, h.opts.PostgresDSN, 2)
			if err != nil {
				return nil, err
			}
			schemas = append(schemas, names...)
			w.dropSchemas = func() error { return dropSchemas(h.opts.PostgresDSN, schemas) }
			for i, d := range []*securityserver.DatabaseConfig{&consumerDB, &providerDB} {
				dsn, err := withSearchPath(h.opts.PostgresDSN, names[i])
				if err != nil {
					return nil, err
				}
				f := filepath.Join(h.workDir, "pg-"+names[i]+".dsn")
				if err := os.WriteFile(f, []byte(dsn+"\n"), 0o600); err != nil {
					return nil, err
				}
				*d = securityserver.DatabaseConfig{Driver: "postgres", DSNFile: f}
			}
		}
		addr, err := freeAddrs(10)
		if err != nil {
			return nil, err
		}
		p := &ssPair{key: "jisr-" + db, consumerAdmin: addr[3], providerAdmin: addr[7], clientHTTP: addr[0],
			consumerPprof: addr[8], providerPprof: addr[9], client: cab.Subsystem("bench-" + db)}
		provider := moi.Subsystem("bench-" + db)
		p.service = xroad.ServiceID{Provider: provider, Code: "echo"}
		pcfg, err := infra.AddSecurityServer(ctx, "moi-"+db, demo.SecurityServerSpec{
			Server: xroad.ServerID{Owner: moi, Code: "ss-" + db}, MemberName: "Ministry of Interior", Client: provider,
			Listen:   securityserver.ListenConfig{ClientHTTP: addr[4], ClientHTTPS: addr[5], Peer: addr[6], Admin: addr[7]},
			Database: providerDB})
		if err != nil {
			return nil, fmt.Errorf("bench: provider security server (%s): %w", db, err)
		}
		ccfg, err := infra.AddSecurityServer(ctx, "cab-"+db, demo.SecurityServerSpec{
			Server: xroad.ServerID{Owner: cab, Code: "ss-" + db}, MemberName: "Cabinet Secretariat", Client: p.client,
			Listen:   securityserver.ListenConfig{ClientHTTP: addr[0], ClientHTTPS: addr[1], Peer: addr[2], Admin: addr[3]},
			Database: consumerDB})
		if err != nil {
			return nil, fmt.Errorf("bench: consumer security server (%s): %w", db, err)
		}
		if _, err := securityserver.AddService(ctx, pcfg, securityserver.ServiceOptions{Provider: provider, Code: "echo",
			URL: "http://" + echoAddr}); err != nil {
			return nil, err
		}
		if err := securityserver.Grant(ctx, pcfg, provider, "echo", p.client.String(), conf.EndpointSpec{}); err != nil {
			return nil, err
		}
		p.provider = filepath.Join(pcfg.Dir, securityserver.ConfigFile)
		p.consumer = filepath.Join(ccfg.Dir, securityserver.ConfigFile)
		w.pairs[p.key] = p
	}
	if err := infra.Publish(ctx); err != nil {
		return nil, err
	}
	ok = true
	return w, nil
}

func (w *jisrWorld) close() error {
	return errors.Join(w.infra.Close(), w.dropSchemas())
}

// startPair runs a pair's security servers as `jisr ss serve` processes and
// waits until an exchange goes through.
func (h *harness) startPair(ctx context.Context, p *ssPair, withPprof bool) (*topology, error) {
	args := func(cfg, pprofAddr string) []string {
		a := []string{"ss", "serve", "--config", cfg}
		if withPprof {
			a = append(a, "--pprof-addr", pprofAddr)
		}
		return a
	}
	prov, err := startProc(p.key+"-provider", h.logDir, h.opts.Bin, args(p.provider, p.providerPprof)...)
	if err != nil {
		return nil, err
	}
	cons, err := startProc(p.key+"-consumer", h.logDir, h.opts.Bin, args(p.consumer, p.consumerPprof)...)
	if err != nil {
		_ = prov.stop(5 * time.Second)
		return nil, err
	}
	t := &topology{key: p.key, measured: []*proc{cons, prov},
		target: Target{URL: "http://" + p.clientHTTP + "/r1/" + p.service.URLPath() + "/echo",
			Header: http.Header{"X-Road-Client": {p.client.String()}}},
		stop: func() error { return errors.Join(cons.stop(60*time.Second), prov.stop(60*time.Second)) }}
	if withPprof {
		t.pprof = map[string]string{cons.name: p.consumerPprof, prov.name: p.providerPprof}
	}
	for _, s := range []struct {
		p     *proc
		admin string
	}{{prov, p.providerAdmin}, {cons, p.consumerAdmin}} {
		if err := s.p.waitUntil(ctx, 60*time.Second, "healthy", healthy("http://"+s.admin+"/healthz")); err != nil {
			_ = t.stop()
			return nil, err
		}
	}
	// The servers admit their clients once their first configuration
	// download shows them registered.
	tg := t.target
	tg.Client = NewClient(1)
	buf := make([]byte, 32<<10)
	if err := cons.waitUntil(ctx, 90*time.Second, "a first exchange", func(ctx context.Context) error {
		return tg.exchange(ctx, []byte("ping"), buf)
	}); err != nil {
		_ = t.stop()
		return nil, err
	}
	return t, nil
}

// createSchemas creates n fresh schemas jb_<random>_<i> on the PostgreSQL
// server at dsn.
func createSchemas(ctx context.Context, dsn string, n int) ([]string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("bench: PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	suffix := randomHex(6)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("jb_%s_%d", suffix, i)
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+names[i]); err != nil {
			return nil, fmt.Errorf("bench: PostgreSQL: create schema: %w", err)
		}
	}
	return names, nil
}

func dropSchemas(dsn string, names []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("bench: PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var errs []error
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+n+" CASCADE"); err != nil {
			errs = append(errs, fmt.Errorf("bench: PostgreSQL: drop schema %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// withSearchPath adds search_path=schema to a URL-form DSN.
func withSearchPath(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("bench: the PostgreSQL DSN must be a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
