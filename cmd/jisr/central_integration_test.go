package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/central"
	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/enrol"
	"github.com/jisr-bus/jisr/pki/ocsp"
	"github.com/jisr-bus/jisr/pki/profile"
)

type centralUnderTest struct {
	dir, cfg                      string
	adminAddr, confAddr, mgmtAddr string
	anchor                        *globalconf.Anchor
	proc                          *proc // `jisr central serve`
}

// startCentral runs `jisr central init --pki-dir` and `jisr central serve` as
// real processes on loopback, waits for /healthz and exports the anchor.
func startCentral(t *testing.T, p *pkiUnderTest) *centralUnderTest {
	t.Helper()
	c := &centralUnderTest{dir: filepath.Join(t.TempDir(), "central")}
	c.adminAddr, c.confAddr, c.mgmtAddr = freeAddr(t), freeAddr(t), freeAddr(t)
	run(t, false, "central", "init", "--instance", "PS", "--dir", c.dir, "--pki-dir", p.dir,
		"--name", "localhost", "--name", "127.0.0.1",
		"--admin-listen", c.adminAddr, "--configuration-listen", c.confAddr, "--management-listen", c.mgmtAddr)
	c.cfg = filepath.Join(c.dir, "central.yaml")

	c.proc = startProc(t, "central", "serve", "--config", c.cfg, "--log-format", "text")
	waitHealthy(t, "http://"+c.adminAddr+"/healthz", c.proc.logs)

	anchorPath := filepath.Join(c.dir, "anchor.json")
	run(t, false, "central", "anchor", "--config", c.cfg, "--out", anchorPath)
	b, err := os.ReadFile(anchorPath)
	if err != nil {
		t.Fatal(err)
	}
	if c.anchor, err = globalconf.ParseAnchor(b); err != nil {
		t.Fatalf("anchor: %v", err)
	}
	return c
}

func waitHealthy(t *testing.T, url string, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become healthy (%v)\n%s", url, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ssUnderTest is what a security server holds after enrolment: its auth and
// sign keys with certificates from the PKI and fresh OCSP responses.
type ssUnderTest struct {
	id                   xroad.ServerID
	authKey, signKey     crypto.Signer
	authChain, signChain []*x509.Certificate
	authOCSP, signOCSP   []byte
}

func enrolServer(t *testing.T, p *pkiUnderTest, id xroad.ServerID) *ssUnderTest {
	t.Helper()
	ctx := context.Background()
	opts := enrol.Options{CAURL: "https://" + p.caAddr, HTTPClient: p.httpClient, Roots: p.roots}
	s := &ssUnderTest{id: id, authKey: newKey(t), signKey: newKey(t)}
	var err error
	tok := strings.TrimSpace(run(t, false, "pki", "token", "--config", p.cfg, "--kind", "auth", "--id", id.Typed(), "--dns", "localhost"))
	if s.authChain, err = enrol.WithToken(ctx, opts, tok, s.authKey, profile.Auth, id, []string{"localhost"}); err != nil {
		t.Fatalf("auth enrolment of %s: %v", id, err)
	}
	tok = strings.TrimSpace(run(t, false, "pki", "token", "--config", p.cfg, "--kind", "sign", "--id", id.Owner.Typed()))
	if s.signChain, err = enrol.WithToken(ctx, opts, tok, s.signKey, profile.Sign, id.Owner, nil); err != nil {
		t.Fatalf("sign enrolment of %s: %v", id.Owner, err)
	}
	issuer := readCert(t, p.interPEM)
	for _, x := range []struct {
		chain []*x509.Certificate
		out   *[]byte
	}{{s.authChain, &s.authOCSP}, {s.signChain, &s.signOCSP}} {
		if _, *x.out, err = ocsp.Fetch(ctx, p.httpClient, "http://"+p.ocspAddr, x.chain[0], issuer); err != nil {
			t.Fatalf("OCSP for %s: %v", x.chain[0].Subject.CommonName, err)
		}
	}
	return s
}

func (s *ssUnderTest) signer() mgmtproto.Signer {
	return mgmtproto.Signer{Key: s.signKey, Chain: s.signChain, OCSP: s.signOCSP}
}

func (s *ssUnderTest) tlsCert() *tls.Certificate {
	c := &tls.Certificate{PrivateKey: s.authKey, Leaf: s.authChain[0], OCSPStaple: s.authOCSP}
	for _, x := range s.authChain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// approve approves a management request through the CLI (as a registration
// officer would) and checks it was applied.
func approve(t *testing.T, c *centralUnderTest, id int64) {
	t.Helper()
	out := run(t, false, "central", "requests", "approve", "--config", c.cfg, "--id", strconv.FormatInt(id, 10))
	if !strings.Contains(out, "APPROVED") {
		t.Fatalf("approve %d: %s", id, out)
	}
}

// TestCentralRegistersServersThroughManagementRequests is issue 3's end-to-end
// path: PKI and central server running as processes; two members, each with a
// security server whose certificates come from the PKI, registered through
// signed management requests (auth certificate over plain TLS with proof of
// both keys, client registration over mTLS with the registered auth
// certificate), approved by a registration officer through the CLI; the
// published configuration lists them; the configuration client refuses a
// tampered document, one signed by an unknown key and an expired one, each
// with its own error.
func TestCentralRegistersServersThroughManagementRequests(t *testing.T) {
	p := startPKI(t)
	c := startCentral(t, p)
	ctx := context.Background()

	gc, err := globalconf.NewClient(globalconf.ClientConfig{Anchor: c.anchor, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := gc.Refresh(ctx); err != nil {
		t.Fatalf("first download: %v", err)
	}
	doc, err := gc.Current()
	if err != nil {
		t.Fatal(err)
	}

	members := []struct {
		member    xroad.MemberID
		name      string
		subsystem string
	}{
		{xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}, "Ministry of Interior", "civil-registry"},
		{xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOT"}, "Ministry of Transport", "licensing"},
	}
	servers := map[xroad.ServerID]*ssUnderTest{}
	for _, m := range members {
		run(t, false, "central", "member", "add", "--config", c.cfg, "--class", m.member.Class, "--code", m.member.Code, "--name", m.name)
		ss := enrolServer(t, p, xroad.ServerID{Owner: m.member, Code: "ss1"})
		servers[ss.id] = ss

		// 1. Auth certificate registration: no client certificate yet; the
		// request proves possession of the sign key and the new auth key.
		authSigner := mgmtproto.Signer{Key: ss.authKey, Chain: ss.authChain, OCSP: ss.authOCSP}
		signed, err := mgmtproto.Sign(mgmtproto.Request{
			ID: mgmtproto.NewRequestID(), Type: mgmtproto.TypeAuthCertRegistration, Server: ss.id,
			CreatedAt: time.Now(), Addresses: []string{"localhost:5500"}, AuthCert: ss.authChain[0].Raw,
		}, []mgmtproto.Signer{ss.signer(), authSigner})
		if err != nil {
			t.Fatal(err)
		}
		anon := &mgmtproto.Client{URL: doc.CentralServer.ManagementURL, TrustedCerts: doc.CentralServer.ManagementTLSCertificates}
		st, err := anon.Submit(ctx, signed)
		if err != nil {
			t.Fatalf("auth cert registration of %s: %v", ss.id, err)
		}
		if st.Status != mgmtproto.StatusPending {
			t.Fatalf("auth cert registration: status %s, want PENDING (no auto-approval)", st.Status)
		}
		approve(t, c, st.ID)

		// 2. Client registration over mTLS with the now registered auth
		// certificate, signed by the member.
		client := m.member.Subsystem(m.subsystem)
		signed, err = mgmtproto.Sign(mgmtproto.Request{
			ID: mgmtproto.NewRequestID(), Type: mgmtproto.TypeClientRegistration, Server: ss.id,
			Client: client, CreatedAt: time.Now(),
		}, []mgmtproto.Signer{ss.signer()})
		if err != nil {
			t.Fatal(err)
		}
		authed := &mgmtproto.Client{URL: doc.CentralServer.ManagementURL,
			TrustedCerts: doc.CentralServer.ManagementTLSCertificates, ClientCert: ss.tlsCert()}
		if st, err = authed.Submit(ctx, signed); err != nil {
			t.Fatalf("client registration of %s: %v", client, err)
		}
		approve(t, c, st.ID)
		if st, err = authed.Status(ctx, st.ID); err != nil || st.Status != mgmtproto.StatusApproved {
			t.Fatalf("status after approval: %+v %v", st, err)
		}

		// Publish the subsystem's service description to the catalogue.
		svc := xroad.ServiceID{Provider: client, Code: "records", Version: "v1"}
		signed, err = mgmtproto.Sign(mgmtproto.Request{
			ID: mgmtproto.NewRequestID(), Type: mgmtproto.TypeServiceDescriptionPublish, Server: ss.id, CreatedAt: time.Now(),
			ServiceDescription: &mgmtproto.ServiceDescription{Service: svc, Type: mgmtproto.ServiceOpenAPI,
				Title: m.name + " records", Description: "registry queries of " + m.name, OpenAPI: sampleOpenAPI},
		}, []mgmtproto.Signer{ss.signer()})
		if err != nil {
			t.Fatal(err)
		}
		if st, err = authed.Submit(ctx, signed); err != nil {
			t.Fatalf("service description of %s: %v", svc, err)
		}
		approve(t, c, st.ID)

		// The same client registration without mTLS is refused.
		signed, _ = mgmtproto.Sign(mgmtproto.Request{
			ID: mgmtproto.NewRequestID(), Type: mgmtproto.TypeClientRegistration, Server: ss.id,
			Client: m.member.Subsystem("other"), CreatedAt: time.Now(),
		}, []mgmtproto.Signer{ss.signer()})
		if _, err := anon.Submit(ctx, signed); err == nil {
			t.Fatal("a client registration without the registered auth certificate was accepted")
		}
	}

	// The catalogue finds both descriptions by free text and one by member.
	if out := run(t, false, "central", "catalogue", "search", "--config", c.cfg, "--q", "records"); !strings.Contains(out, "Ministry of Interior records") || !strings.Contains(out, "Ministry of Transport records") {
		t.Fatalf("catalogue search:\n%s", out)
	}
	if out := run(t, false, "central", "catalogue", "search", "--config", c.cfg, "--member", "PS:GOV:MOT"); strings.Contains(out, "Interior") || !strings.Contains(out, "Transport") {
		t.Fatalf("catalogue search by member:\n%s", out)
	}

	run(t, false, "central", "config", "regenerate", "--config", c.cfg)
	if err := gc.Refresh(ctx); err != nil {
		t.Fatalf("download after registration: %v", err)
	}
	if doc, err = gc.Current(); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		id := xroad.ServerID{Owner: m.member, Code: "ss1"}
		srv, ok := doc.ServerByID(id)
		if !ok {
			t.Fatalf("published configuration lacks %s", id)
		}
		hash := globalconf.AuthCertHash(servers[id].authChain[0])
		if byHash, ok := doc.ServerByAuthCertHash(hash); !ok || byHash.ID != id {
			t.Errorf("auth certificate of %s not registered in the configuration", id)
		}
		if got := doc.ServersFor(m.member.Subsystem(m.subsystem)); len(got) != 1 || got[0].ID != id {
			t.Errorf("configuration: %s hosted by %v, want %s", m.member.Subsystem(m.subsystem), got, id)
		}
		_ = srv
	}

	// The client package refuses bad documents with distinct errors.
	resp, err := http.Get(c.anchor.ConfigurationURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	now := time.Now()
	if _, err := globalconf.Verify(signed, c.anchor, now); err != nil {
		t.Fatalf("the served document does not verify: %v", err)
	}
	otherAnchor, err := globalconf.NewAnchor("PS", now, c.anchor.ConfigurationURLs, map[string]crypto.PublicKey{"central-config-1": newKey(t).Public()})
	if err != nil {
		t.Fatal(err)
	}
	unknownKid, err := globalconf.NewAnchor("PS", now, c.anchor.ConfigurationURLs, map[string]crypto.PublicKey{"someone-else": newKey(t).Public()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		doc    []byte
		anchor *globalconf.Anchor
		now    time.Time
		want   error
	}{
		{"tampered", tamper(t, signed), c.anchor, now, globalconf.ErrBadSignature},
		{"signed by a key the anchor does not hold", signed, unknownKid, now, globalconf.ErrUnknownKey},
		{"signed by another key under the anchored id", signed, otherAnchor, now, globalconf.ErrBadSignature},
		{"expired", signed, c.anchor, doc.ExpiresAt.Add(time.Second), globalconf.ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := globalconf.Verify(tc.doc, tc.anchor, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// tamper changes one member's name inside the signed payload, keeping the
// JWS structure and the signatures.
func tamper(t *testing.T, signed []byte) []byte {
	t.Helper()
	var env map[string]json.RawMessage
	if err := json.Unmarshal(signed, &env); err != nil {
		t.Fatal(err)
	}
	var b64 string
	if err := json.Unmarshal(env["payload"], &b64); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(payload, []byte("Ministry of Transport"), []byte("Ministry of Tr4nsport"), 1)
	if bytes.Equal(changed, payload) {
		t.Fatal("nothing to tamper with")
	}
	env["payload"], _ = json.Marshal(base64.RawURLEncoding.EncodeToString(changed))
	out, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTwoCentralProcessesOverPostgres runs two `jisr central serve` processes
// sharing one PostgreSQL registry (the second node is a copy of the first
// one's directory with its own listen addresses): both serve byte-identical,
// verifying configuration, also after a change made through one node and
// published through the other.
func TestTwoCentralProcessesOverPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	p := startPKI(t)
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir1 := filepath.Join(t.TempDir(), "central1")
	run(t, false, "central", "init", "--instance", "PS", "--dir", dir1, "--pki-dir", p.dir,
		"--database-dsn-file", dsnFile, "--admin-listen", freeAddr(t),
		"--configuration-listen", freeAddr(t), "--management-listen", freeAddr(t))

	// Node 2: the same keys, certificate and registry; other listeners.
	dir2 := filepath.Join(t.TempDir(), "central2")
	if out, err := exec.Command("cp", "-a", dir1, dir2).CombinedOutput(); err != nil {
		t.Fatalf("copying the node directory: %v %s", err, out)
	}
	var cfg2 central.Config
	cfgPath2 := filepath.Join(dir2, central.ConfigFile)
	b, err := os.ReadFile(cfgPath2)
	if err != nil {
		t.Fatal(err)
	}
	if err := config.DecodeOnly(b, &cfg2); err != nil {
		t.Fatal(err)
	}
	cfg2.Listen.Admin, cfg2.Listen.Configuration, cfg2.Listen.Management = freeAddr(t), freeAddr(t), freeAddr(t)
	if err := config.Write(cfgPath2, &cfg2); err != nil {
		t.Fatal(err)
	}

	var nodes []*centralUnderTest
	for _, dir := range []string{dir1, dir2} {
		nodes = append(nodes, serveCentral(t, dir))
	}
	fetch := func(c *centralUnderTest) ([]byte, string) {
		t.Helper()
		resp, err := http.Get("http://" + c.confAddr + central.ConfigurationPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("node %s: %d %s", c.confAddr, resp.StatusCode, body)
		}
		return body, resp.Header.Get("ETag")
	}
	same := func(step string) *globalconf.Document {
		t.Helper()
		d1, e1 := fetch(nodes[0])
		d2, e2 := fetch(nodes[1])
		if !bytes.Equal(d1, d2) || e1 != e2 || e1 == "" {
			t.Fatalf("%s: the nodes serve different documents (ETags %q, %q)", step, e1, e2)
		}
		for _, n := range nodes {
			if _, err := globalconf.Verify(d1, n.anchor, time.Now()); err != nil {
				t.Fatalf("%s: document does not verify with node %s's anchor: %v", step, n.confAddr, err)
			}
		}
		doc, err := globalconf.Verify(d1, nodes[0].anchor, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	before := same("at start")

	// A change through node 1, published through node 2.
	run(t, false, "central", "member", "add", "--config", nodes[0].cfg, "--class", "GOV", "--code", "MOH", "--name", "Ministry of Health")
	run(t, false, "central", "config", "regenerate", "--config", nodes[1].cfg)
	after := same("after a change")
	if after.Serial <= before.Serial || len(after.Members) != len(before.Members)+1 {
		t.Fatalf("change not published: serial %d→%d, members %d→%d", before.Serial, after.Serial, len(before.Members), len(after.Members))
	}
}

// serveCentral starts `jisr central serve` for an initialised directory and
// exports its anchor.
func serveCentral(t *testing.T, dir string) *centralUnderTest {
	t.Helper()
	c := &centralUnderTest{dir: dir, cfg: filepath.Join(dir, central.ConfigFile)}
	var cfg central.Config
	b, err := os.ReadFile(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := config.DecodeOnly(b, &cfg); err != nil {
		t.Fatal(err)
	}
	c.adminAddr, c.confAddr, c.mgmtAddr = cfg.Listen.Admin, cfg.Listen.Configuration, cfg.Listen.Management
	logs := serveProcess(t, "central", "serve", "--config", c.cfg, "--log-format", "text")
	waitHealthy(t, "http://"+c.adminAddr+"/healthz", logs)
	anchorPath := filepath.Join(dir, "anchor.json")
	run(t, false, "central", "anchor", "--config", c.cfg, "--out", anchorPath)
	if b, err = os.ReadFile(anchorPath); err != nil {
		t.Fatal(err)
	}
	if c.anchor, err = globalconf.ParseAnchor(b); err != nil {
		t.Fatal(err)
	}
	return c
}

const sampleOpenAPI = `openapi: 3.0.3
info:
  title: registry records
  version: "1"
paths:
  /records/{id}:
    get:
      parameters:
        - name: id
          in: path
          required: true
          schema: {type: string}
      responses:
        "200":
          description: the record
`
