package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/demo"
	"github.com/jisr-bus/jisr/internal/testutil"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/ca"
	"github.com/jisr-bus/jisr/pki/enrol"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/pki/tsa"
)

// jisrBin is the binary under test, built once by TestMain.
var jisrBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jisr-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	jisrBin = filepath.Join(dir, "jisr")
	out, err := exec.Command("go", "build", "-o", jisrBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building jisr: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serveProcess starts `jisr ARGS…` (a serving command) as a process that is
// interrupted at test cleanup; its output, logged if the test failed, is
// returned for waitHealthy.
func serveProcess(t *testing.T, args ...string) *bytes.Buffer {
	t.Helper()
	return startProc(t, args...).logs
}

// proc is a serving `jisr` process that a test may stop (SIGINT, graceful)
// and start again with the same arguments.
type proc struct {
	t    *testing.T
	args []string
	logs *bytes.Buffer
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// startProc starts `jisr ARGS…`; it is stopped at test cleanup.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, args: args, logs: &bytes.Buffer{}}
	p.start()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("jisr %v logs:\n%s", args, p.logs.String())
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd = exec.Command(jisrBin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
}

// stop interrupts the process and waits for it to exit.
func (p *proc) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// run executes the jisr binary and returns its stdout; it fails the test on a
// non-zero exit unless wantErr.
func run(t *testing.T, wantErr bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(jisrBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if wantErr {
		if err == nil {
			t.Fatalf("jisr %v succeeded, want failure; stdout: %s", args, stdout.String())
		}
		return stderr.String()
	}
	if err != nil {
		t.Fatalf("jisr %v: %v\nstdout: %s\nstderr: %s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

type pkiUnderTest struct {
	dir, cfg                  string
	caAddr, ocspAddr, tsaAddr string
	adminAddr                 string
	challengeAddr             string
	roots                     *x509.CertPool
	rootPEM, interPEM, tsaPEM string
	httpClient                *http.Client
	proc                      *proc // `jisr pki serve`
}

// startPKI runs `jisr pki init` and `jisr pki serve` as real processes on
// loopback and waits until /healthz answers.
func startPKI(t *testing.T) *pkiUnderTest {
	t.Helper()
	p := &pkiUnderTest{dir: filepath.Join(t.TempDir(), "pki")}
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("integration-test-passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.caAddr, p.ocspAddr, p.tsaAddr, p.adminAddr, p.challengeAddr = freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	run(t, false, "pki", "init", "--instance", "PS", "--dir", p.dir, "--passphrase-file", pass,
		"--ca-name", "localhost", "--ca-name", "127.0.0.1",
		"--ca-listen", p.caAddr, "--ocsp-listen", p.ocspAddr, "--tsa-listen", p.tsaAddr,
		"--admin-listen", p.adminAddr, "--acme-challenge-port", port(p.challengeAddr))
	p.cfg = filepath.Join(p.dir, "pki.yaml")

	p.proc = startProc(t, "pki", "serve", "--config", p.cfg, "--log-format", "text")
	logs := p.proc.logs

	certs := filepath.Join(p.dir, "certs")
	p.rootPEM = filepath.Join(certs, ca.FileRoot)
	p.interPEM = filepath.Join(certs, ca.FileIntermediate)
	p.tsaPEM = filepath.Join(certs, ca.FileTSA)
	rootBytes, err := os.ReadFile(p.rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	p.roots = x509.NewCertPool()
	p.roots.AppendCertsFromPEM(rootBytes)
	p.httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12},
	}}

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.adminAddr + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			t.Fatalf("healthz %d: %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("pki serve did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// opensslOCSP asks the running responder about leaf with openssl and returns
// openssl's combined output.
func opensslOCSP(t *testing.T, p *pkiUnderTest, leafPEM string, extra ...string) string {
	t.Helper()
	openssl := testutil.RequireTool(t, "openssl")
	// Digest options must come before -cert.
	args := append(append([]string{"ocsp", "-issuer", p.interPEM}, extra...),
		"-cert", leafPEM, "-url", "http://"+p.ocspAddr, "-CAfile", p.rootPEM)
	out, err := exec.Command(openssl, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl ocsp: %v\n%s", err, out)
	}
	return string(out)
}

// TestPKIEndToEnd drives the real binary: init, serve, token enrolment, OCSP
// (checked by openssl) before and after `jisr pki revoke`, ACME enrolment,
// time-stamps (checked by openssl ts -verify) and metrics.
func TestPKIEndToEnd(t *testing.T) {
	p := startPKI(t)
	ctx := context.Background()
	work := t.TempDir()
	server := xroad.ServerID{Owner: xroad.MemberID{Instance: "PS", Class: "GOV", Code: "MOI"}, Code: "ss1"}
	opts := enrol.Options{CAURL: "https://" + p.caAddr, HTTPClient: p.httpClient, Roots: p.roots}

	// Token path: auth certificate for the server, sign certificate for its owner.
	authTok := strings.TrimSpace(run(t, false, "pki", "token", "--config", p.cfg, "--kind", "auth",
		"--id", server.Typed(), "--dns", "localhost"))
	authKey := newKey(t)
	authChain, err := enrol.WithToken(ctx, opts, authTok, authKey, profile.Auth, server, []string{"localhost"})
	if err != nil {
		t.Fatalf("token enrolment (auth): %v", err)
	}
	if got, err := profile.ServerIDFromCert(authChain[0]); err != nil || got != server {
		t.Fatalf("auth certificate names %v (%v), want %v", got, err, server)
	}
	signTok := strings.TrimSpace(run(t, false, "pki", "token", "--config", p.cfg, "--kind", "sign", "--id", server.Owner.Typed()))
	signChain, err := enrol.WithToken(ctx, opts, signTok, newKey(t), profile.Sign, server.Owner, nil)
	if err != nil {
		t.Fatalf("token enrolment (sign): %v", err)
	}
	if got, err := profile.MemberIDFromCert(signChain[0]); err != nil || got != server.Owner {
		t.Fatalf("sign certificate names %v (%v), want %v", got, err, server.Owner)
	}
	for name, chain := range map[string][]*x509.Certificate{"auth": authChain, "sign": signChain} {
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: p.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s certificate does not chain to the root: %v", name, err)
		}
	}

	// A used token is refused.
	if _, err := enrol.WithToken(ctx, opts, authTok, newKey(t), profile.Auth, server, []string{"localhost"}); err == nil {
		t.Fatal("a used enrolment token was accepted a second time")
	}

	// OCSP, verified by openssl: good, then revoked after `jisr pki revoke`.
	leaf := writePEM(t, work, "auth.pem", authChain[0])
	for _, extra := range [][]string{nil, {"-sha256"}} {
		out := opensslOCSP(t, p, leaf, extra...)
		if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, leaf+": good") {
			t.Fatalf("openssl ocsp %v before revocation:\n%s", extra, out)
		}
	}
	serial := authChain[0].SerialNumber.String()
	if out := run(t, false, "pki", "revoke", "--config", p.cfg, "--serial", serial, "--reason", "keyCompromise"); !strings.Contains(out, "revoked") {
		t.Fatalf("jisr pki revoke: %s", out)
	}
	out := opensslOCSP(t, p, leaf)
	if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, leaf+": revoked") ||
		!strings.Contains(out, "Reason: keyCompromise") {
		t.Fatalf("openssl ocsp after revocation:\n%s", out)
	}
	// The sign certificate is still good; an unissued serial is unknown.
	signLeaf := writePEM(t, work, "sign.pem", signChain[0])
	if out := opensslOCSP(t, p, signLeaf); !strings.Contains(out, signLeaf+": good") {
		t.Fatalf("sign certificate:\n%s", out)
	}
	var st struct{ Status string }
	if err := json.Unmarshal([]byte(run(t, false, "pki", "status", "--config", p.cfg, "--serial", "12345")), &st); err != nil || st.Status != "unknown" {
		t.Fatalf("status of an unissued serial: %+v %v", st, err)
	}

	// ACME: allow the DNS name, answer http-01 on the configured challenge port.
	server2 := xroad.ServerID{Owner: server.Owner, Code: "ss2"}
	run(t, false, "pki", "acme-allow", "--config", p.cfg, "--server", server2.String(), "--dns", "localhost")
	solver := &enrol.HTTP01Solver{}
	l, err := net.Listen("tcp", p.challengeAddr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: solver, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })
	acmeOpts := enrol.ACMEOptions{DirectoryURL: "https://" + p.caAddr + "/acme/acme/directory",
		HTTPClient: p.httpClient, AccountKey: newKey(t), Solver: solver, Roots: p.roots}
	acmeChain, err := enrol.WithACME(ctx, acmeOpts, newKey(t), profile.Auth, server2, "localhost")
	if err != nil {
		t.Fatalf("ACME enrolment: %v", err)
	}
	if got, err := profile.ServerIDFromCert(acmeChain[0]); err != nil || got != server2 {
		t.Fatalf("ACME certificate names %v (%v), want %v", got, err, server2)
	}
	// The ACME-issued certificate is known to the OCSP responder too.
	if out := opensslOCSP(t, p, writePEM(t, work, "acme.pem", acmeChain[0])); !strings.Contains(out, ": good") {
		t.Fatalf("ACME certificate OCSP:\n%s", out)
	}

	// Time-stamping, verified by openssl ts -verify.
	testTSA(t, p, work)

	// Metrics count what happened.
	resp, err := http.Get("http://" + p.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"jisr_pki_certificates_issued_total", "jisr_pki_certificates_revoked_total", "jisr_pki_ocsp_responses_total", "jisr_pki_timestamps_issued_total"} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	// The admin API refuses callers without the token.
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.adminAddr+"/v1/revoke", strings.NewReader(`{"serial":"`+serial+`"}`))
	req.Header.Set("Authorization", "Bearer wrong")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("admin API without a valid token: %d", resp.StatusCode)
	}
}

func testTSA(t *testing.T, p *pkiUnderTest, work string) {
	t.Helper()
	openssl := testutil.RequireTool(t, "openssl")
	data := filepath.Join(work, "document.txt")
	other := filepath.Join(work, "other.txt")
	if err := os.WriteFile(data, []byte("birth certificate 2026/0001 issued\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("birth certificate 2026/0002 issued\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	query := filepath.Join(work, "req.tsq")
	if out, err := exec.Command(openssl, "ts", "-query", "-data", data, "-sha256", "-cert", "-out", query).CombinedOutput(); err != nil {
		t.Fatalf("openssl ts -query: %v\n%s", err, out)
	}
	q, err := os.ReadFile(query)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+p.tsaAddr, "application/timestamp-query", bytes.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/timestamp-reply" {
		t.Fatalf("TSA answered %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	replyPath := filepath.Join(work, "resp.tsr")
	if err := os.WriteFile(replyPath, reply, 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(file string) (string, error) {
		out, err := exec.Command(openssl, "ts", "-verify", "-data", file, "-in", replyPath,
			"-CAfile", p.rootPEM, "-untrusted", p.interPEM).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(data); err != nil || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify of the stamped data: %v\n%s", err, out)
	}
	if out, err := verify(other); err == nil || strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify accepted other data:\n%s", out)
	}

	// jisr's own client and verifier agree.
	digest := sha256.Sum256([]byte("batch root"))
	token, err := tsa.Stamp(context.Background(), http.DefaultClient, "http://"+p.tsaAddr, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	inter := readCert(t, p.interPEM)
	if _, err := tsa.Verify(token, digest[:], crypto.SHA256, p.roots, []*x509.Certificate{inter}); err != nil {
		t.Fatalf("tsa.Verify: %v", err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDemo runs what `make demo` runs: a first run (with --once) sets the
// demo world up; a second run serves it, and every curl command it prints is
// then run with the real curl and must answer as the tour said.
func TestDemo(t *testing.T) {
	curl := testutil.RequireTool(t, "curl")
	dir := t.TempDir()
	base := freePortRange(t, len(demo.Ports()))
	out := run(t, false, "demo", "--dir", dir, "--once", "--port-base", strconv.Itoa(base))
	for _, w := range []string{"initialised instance PKI PS-DEV", "initialised the central server", "== the demo world of PS-DEV is up", "Khaled Yousef Ibrahim Haddad"} {
		if !strings.Contains(out, w) {
			t.Fatalf("first run: output lacks %q:\n%s", w, out)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, jisrBin, "demo", "--dir", dir)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait(); pw.Close() })
	var printed bytes.Buffer
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(2 * time.Minute)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo stopped:\n%s", printed.String())
			}
			printed.WriteString(l + "\n")
			done = strings.HasPrefix(l, "everything keeps running")
		case <-timeout:
			t.Fatalf("demo not up:\n%s", printed.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	var cmds []string
	for _, l := range strings.Split(printed.String(), "\n") {
		if strings.HasPrefix(l, "curl ") {
			cmds = append(cmds, l)
		}
	}
	if len(cmds) < 10 {
		t.Fatalf("the demo printed %d curl commands:\n%s", len(cmds), printed.String())
	}
	for _, c := range cmds {
		out, err := exec.Command("sh", "-c", strings.Replace(c, "curl ", curl+" --fail-with-body -o - -w '\\n%{http_code}' ", 1)).CombinedOutput()
		got := string(out)
		status := got[strings.LastIndex(got, "\n")+1:]
		want := "200"
		if strings.HasSuffix(c, "/v1/payment-orders'") {
			want = "500" // the refused call of the tour
		}
		if status != want || (want == "200" && err != nil) {
			t.Errorf("%s\n  → %s (%v), want status %s", c, got, err, want)
		}
		if strings.HasSuffix(c, "/v1/persons/401234562'") && !strings.Contains(got, "Khaled Yousef Ibrahim Haddad") {
			t.Errorf("%s: %s", c, got)
		}
	}
}

// freePortRange finds n consecutive free loopback ports.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		var b [2]byte
		_, _ = rand.Read(b[:])
		base := 20000 + int(b[0])<<8%30000 + int(b[1])
		ok := true
		for i := 0; i < n && ok; i++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}
