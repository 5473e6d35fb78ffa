package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/central"
	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/pki/tsa"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// ssUnderTestProc is a security server run as a `jisr ss serve` process.
type ssUnderTestProc struct {
	id, cfg              string
	clientAddr, peerAddr string
	adminAddr            string
}

// setupSS runs init, enrol (tokens from the PKI), register (approved by the
// registration officer) and client add (approved) for one security server.
func setupSS(t *testing.T, p *pkiUnderTest, c *centralUnderTest, id, client, pass string, clientArgs ...string) *ssUnderTestProc {
	t.Helper()
	return setupSSWith(t, p, c, id, client, pass, nil, clientArgs...)
}

// setupSSWith is setupSS with extra `jisr ss init` arguments (more
// addresses, a PostgreSQL database).
func setupSSWith(t *testing.T, p *pkiUnderTest, c *centralUnderTest, id, client, pass string, initArgs []string, clientArgs ...string) *ssUnderTestProc {
	t.Helper()
	s := &ssUnderTestProc{id: id, clientAddr: freeAddr(t), peerAddr: freeAddr(t), adminAddr: freeAddr(t)}
	dir := filepath.Join(t.TempDir(), "ss")
	run(t, false, append([]string{"ss", "init", "--server-id", id, "--dir", dir, "--anchor", filepath.Join(c.dir, "anchor.json"),
		"--address", "localhost:" + port(s.peerAddr), "--passphrase-file", pass,
		"--client-http-listen", s.clientAddr, "--client-https-listen", freeAddr(t),
		"--peer-listen", s.peerAddr, "--admin-listen", s.adminAddr}, initArgs...)...)
	s.cfg = filepath.Join(dir, "ss.yaml")
	parts := strings.Split(id, "/")
	authTok := strings.TrimSpace(run(t, false, "pki", "token", "--config", p.cfg, "--kind", "auth", "--id", "SERVER:"+id, "--dns", "localhost"))
	signTok := strings.TrimSpace(run(t, false, "pki", "token", "--config", p.cfg, "--kind", "sign", "--id", "MEMBER:"+strings.Join(parts[:3], "/")))
	run(t, false, "ss", "enrol", "--config", s.cfg, "--ca-url", "https://"+p.caAddr, "--roots", p.rootPEM,
		"--auth-token", authTok, "--dns", "localhost", "--sign-token", signTok)
	approve(t, c, requestID(t, run(t, false, "ss", "register", "--config", s.cfg)))
	approve(t, c, requestID(t, run(t, false, append([]string{"ss", "client", "add", "--config", s.cfg, "--client", client}, clientArgs...)...)))
	return s
}

func requestID(t *testing.T, out string) int64 {
	t.Helper()
	var st struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.ID == 0 {
		t.Fatalf("management request status %q: %v", out, err)
	}
	return st.ID
}

func (s *ssUnderTestProc) serve(t *testing.T) {
	t.Helper()
	logs := serveProcess(t, "ss", "serve", "--config", s.cfg, "--log-format", "text")
	waitHealthy(t, "http://"+s.adminAddr+"/healthz", logs)
}

// seen is what the backend received.
type seen struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (s *seen) last() (*http.Request, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return nil, nil
	}
	return s.reqs[len(s.reqs)-1], s.body[len(s.body)-1]
}

// TestExchangeThroughSecurityServers is issue 4's whole path over real TCP
// and TLS on loopback, every component a process: PKI, central server, the
// Interior ministry's security server (provider of a persons service) and
// the Cabinet Secretariat's (consumer), configured through the CLI exactly
// as an operator would. The service sees the X-Road headers and the path;
// the client sees X-Road's response headers with the request hash PR-REST
// defines.
// exchangeWorld sets up PKI, central server, a backend and two security
// servers (MOI provider of "persons", CAB consumer granted access), all as
// processes but for the security servers, which the caller starts.
func exchangeWorld(t *testing.T, got *seen) (p *pkiUnderTest, c *centralUnderTest, provider, consumer *ssUnderTestProc, backendURL string) {
	t.Helper()
	return exchangeWorldWith(t, got, nil)
}

// exchangeWorldWith is exchangeWorld with extra `jisr ss init` arguments
// for the provider's security server.
func exchangeWorldWith(t *testing.T, got *seen, providerInit []string) (p *pkiUnderTest, c *centralUnderTest, provider, consumer *ssUnderTestProc, backendURL string) {
	t.Helper()
	p = startPKI(t)
	c = startCentral(t, p)
	pass := filepath.Join(t.TempDir(), "ss-pass")
	if err := os.WriteFile(pass, []byte("ss-passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, false, "central", "member", "add", "--config", c.cfg, "--class", "GOV", "--code", "MOI", "--name", "Ministry of Interior")
	run(t, false, "central", "member", "add", "--config", c.cfg, "--class", "GOV", "--code", "CAB", "--name", "Cabinet Secretariat")

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.mu.Lock()
		got.reqs, got.body = append(got.reqs, r), append(got.body, b)
		got.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Road-Request-Hash", "forged-by-the-service")
		_ = json.NewEncoder(w).Encode(map[string]string{"nationalId": "4001", "name": "Amal Haddad"})
	}))
	t.Cleanup(backend.Close)

	provider = setupSSWith(t, p, c, "PS/GOV/MOI/ss1", "PS/GOV/MOI/civil-registry", pass, providerInit)
	// The portal keeps no message bodies in its log (body logging off).
	consumer = setupSS(t, p, c, "PS/GOV/CAB/ss1", "PS/GOV/CAB/portal", pass, "--body-logging", "METADATA_ONLY")
	oas := filepath.Join(t.TempDir(), "persons.yaml")
	if err := os.WriteFile(oas, []byte(personsOpenAPI), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, false, "ss", "service", "add", "--config", provider.cfg, "--client", "PS/GOV/MOI/civil-registry",
		"--code", "persons", "--url", backend.URL, "--openapi", oas)
	run(t, false, "ss", "access", "grant", "--config", provider.cfg, "--client", "PS/GOV/MOI/civil-registry",
		"--service", "persons", "--subject", "PS/GOV/CAB/portal")
	// Time-stamp the message logs every 2 s (X-Road's default is 60 s).
	run(t, false, "central", "settings", "set", "--config", c.cfg, "--timestamping-interval", "2s")
	run(t, false, "central", "config", "regenerate", "--config", c.cfg)
	return p, c, provider, consumer, backend.URL
}

func TestExchangeThroughSecurityServers(t *testing.T) {
	var got seen
	p, c, provider, consumer, backendURL := exchangeWorld(t, &got)
	provider.serve(t)
	consumer.serve(t)

	url := "http://" + consumer.clientAddr + "/r1/PS/GOV/MOI/civil-registry/persons/v1/persons/4001?x=1"
	call := func(method, client string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("X-Road-Client", client)
		req.Header.Set("X-Road-UserId", "PS4001234567")
		req.Header.Set("X-Road-Issue", "APP-2026-000042")
		req.Header.Set("Authorization", "Bearer citizen-jwt")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	// The security servers pick up their registered clients within a second
	// of their first configuration refresh; wait until the path is open.
	var resp *http.Response
	var body []byte
	deadline := time.Now().Add(45 * time.Second)
	for {
		resp, body = call(http.MethodGet, "PS/GOV/CAB/portal", nil)
		if resp.StatusCode == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %s %s", resp.StatusCode, resp.Header.Get("X-Road-Error"), body)
	}
	firstID := resp.Header.Get("X-Road-Id")
	r, _ := got.last()
	if r == nil || r.URL.Path != "/v1/persons/4001" || r.URL.RawQuery != "x=1" {
		t.Fatalf("the service saw %v", r)
	}
	for h, want := range map[string]string{"X-Road-Client": "PS/GOV/CAB/portal", "X-Road-UserId": "PS4001234567",
		"X-Road-Issue": "APP-2026-000042", "Authorization": "Bearer citizen-jwt"} {
		if r.Header.Get(h) != want {
			t.Errorf("service saw %s %q, want %q", h, r.Header.Get(h), want)
		}
	}
	if r.Header.Get("X-Road-Id") == "" {
		t.Error("service saw no X-Road-Id")
	}
	for h, want := range map[string]string{"X-Road-Client": "PS/GOV/CAB/portal", "X-Road-Service": "PS/GOV/MOI/civil-registry/persons"} {
		if resp.Header.Get(h) != want {
			t.Errorf("client saw %s %q, want %q", h, resp.Header.Get(h), want)
		}
	}
	rh := resp.Header.Get("X-Road-Request-Hash")
	if rh == "" || rh == "forged-by-the-service" || resp.Header.Get("X-Road-Id") == "" || resp.Header.Get("X-Road-Error") != "" {
		t.Errorf("client saw X-Road headers %v", resp.Header)
	}
	if raw, err := base64.StdEncoding.DecodeString(rh); err != nil || len(raw) != sha512.Size {
		t.Errorf("X-Road-Request-Hash %q is not a base64 SHA-512", rh)
	}
	if !strings.Contains(string(body), "Amal Haddad") {
		t.Errorf("body %s", body)
	}

	// A POST carries its body end to end.
	resp, body = call(http.MethodPost, "PS/GOV/CAB/portal", []byte(`{"query":"birth records"}`))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	if _, b := got.last(); string(b) != `{"query":"birth records"}` {
		t.Errorf("service got body %q", b)
	}

	// Refusals keep X-Road's shape.
	for _, tc := range []struct {
		name, client, wantCode string
		wantStatus             int
	}{
		{"client not hosted by the consumer's server", "PS/GOV/MOI/civil-registry", "Server.ClientProxy.UnknownMember", 500},
		{"malformed client", "PS/GOV", "Client.BadRequest", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := call(http.MethodGet, tc.client, nil)
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("X-Road-Error") != tc.wantCode {
				t.Fatalf("%d %s %s, want %d %s", resp.StatusCode, resp.Header.Get("X-Road-Error"), body, tc.wantStatus, tc.wantCode)
			}
		})
	}

	// The provider's admin API adds a service and grants it; the consumer
	// can call it at once. Without the API key nothing changes.
	apiKey, err := os.ReadFile(filepath.Join(filepath.Dir(provider.cfg), "admin-api-key"))
	if err != nil {
		t.Fatal(err)
	}
	admin := func(path, key string, body any) int {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, "http://"+provider.adminAddr+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "X-Road-ApiKey token="+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 && key != "wrong" {
			t.Fatalf("admin API %s: %d %s", path, resp.StatusCode, msg)
		}
		return resp.StatusCode
	}
	svc := map[string]any{"provider": "PS/GOV/MOI/civil-registry", "code": "births", "url": backendURL}
	grant := map[string]any{"provider": "PS/GOV/MOI/civil-registry", "service": "births", "subject": "PS/GOV/CAB/portal"}
	if code := admin("/api/v1/services", "wrong", svc); code != http.StatusUnauthorized {
		t.Fatalf("admin API without the key: %d", code)
	}
	key := strings.TrimSpace(string(apiKey))
	admin("/api/v1/services", key, svc)
	births := "http://" + consumer.clientAddr + "/r1/PS/GOV/MOI/civil-registry/births/v1/births/2026-1"
	get := func() *http.Response {
		req, _ := http.NewRequest(http.MethodGet, births, nil)
		req.Header.Set("X-Road-Client", "PS/GOV/CAB/portal")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get(); resp.Header.Get("X-Road-Error") != "Server.ServerProxy.AccessDenied" {
		t.Fatalf("service not yet granted: %d %s", resp.StatusCode, resp.Header.Get("X-Road-Error"))
	}
	admin("/api/v1/access-rights", key, grant)
	if resp := get(); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the grant: %d %s", resp.StatusCode, resp.Header.Get("X-Road-Error"))
	}

	// Both security servers logged both messages; the logged request
	// signature is a standard JWS: it verifies with crypto/ecdsa over the
	// signing input, with the x5c certificate, without any JOSE library.
	for _, ss := range []*ssUnderTestProc{consumer, provider} {
		l, err := msglog.OpenSQLite(context.Background(), filepath.Join(filepath.Dir(ss.cfg), "msglog.db"), msglog.MetadataOnly())
		if err != nil {
			t.Fatal(err)
		}
		recs, err := l.Find(context.Background(), msglog.Query{Issue: "APP-2026-000042"})
		_ = l.Close()
		if err != nil || len(recs) < 4 {
			t.Fatalf("%s logged %d records (%v), want request and response of both exchanges", ss.id, len(recs), err)
		}
		for _, r := range recs {
			if r.Direction == msglog.Request {
				verifyJWSWithoutJOSE(t, r.Signature)
			}
		}
		// Body logging: the provider's subsystem logs bodies (encrypted),
		// the portal logs none; no plaintext body byte is in either file.
		for _, r := range recs {
			if r.Direction != msglog.Request || r.Method != http.MethodPost {
				continue
			}
			if want := ss == provider; r.BodyLogged != want {
				t.Errorf("%s: POST request record BodyLogged = %v, want %v", ss.id, r.BodyLogged, want)
			}
		}
		for _, f := range []string{"msglog.db", "msglog.db-wal"} {
			if raw, err := os.ReadFile(filepath.Join(filepath.Dir(ss.cfg), f)); err == nil && bytes.Contains(raw, []byte("birth records")) {
				t.Errorf("%s: %s holds the body in plaintext", ss.id, f)
			}
		}

		// The log's chain verifies, and within a few time-stamping rounds
		// RFC 3161 tokens from the instance TSA cover it.
		v, err := msglog.OpenSQLite(context.Background(), filepath.Join(filepath.Dir(ss.cfg), "msglog.db"), msglog.MetadataOnly())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyChain(context.Background(), 0, 0); err != nil {
			t.Errorf("%s: message log chain: %v", ss.id, err)
		}
		verifyToken := func(token, digest []byte) error {
			_, err := tsa.Verify(token, digest, crypto.SHA256, p.roots, []*x509.Certificate{readCert(t, p.interPEM)})
			return err
		}
		var lastID int64
		for _, r := range recs {
			lastID = max(lastID, r.ID)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := v.VerifyTimestamps(context.Background(), verifyToken)
			if err != nil {
				t.Fatalf("%s: time-stamps: %v", ss.id, err)
			}
			if res.Tokens > 0 && res.To >= lastID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the message log was not time-stamped in time: %+v", ss.id, res)
			}
			time.Sleep(500 * time.Millisecond)
		}
		_ = v.Close()

		// The operator archives the time-stamped log; the auditor verifies
		// it offline with the instance root only; a tampered copy fails.
		arch := filepath.Join(t.TempDir(), "archive.tar")
		run(t, false, "ss", "archive", "--config", ss.cfg, "--out", arch)
		if out := run(t, false, "audit", "verify", arch, "--roots", p.rootPEM); !strings.Contains(out, `"verified": true`) {
			t.Fatalf("%s: audit verify: %s", ss.id, out)
		}
		// The same trusting only the configuration anchor: the approved
		// CAs come from the global configuration, downloaded or saved.
		anchor := filepath.Join(c.dir, "anchor.json")
		if out := run(t, false, "audit", "verify", arch, "--anchor", anchor); !strings.Contains(out, `"verified": true`) {
			t.Fatalf("%s: audit verify --anchor: %s", ss.id, out)
		}
		resp, err := http.Get("http://" + c.confAddr + central.ConfigurationPath)
		if err != nil {
			t.Fatal(err)
		}
		saved, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		savedPath := filepath.Join(t.TempDir(), "globalconf.json")
		if err := os.WriteFile(savedPath, saved, 0o600); err != nil {
			t.Fatal(err)
		}
		if out := run(t, false, "audit", "verify", arch, "--anchor", anchor, "--configuration", savedPath); !strings.Contains(out, `"verified": true`) {
			t.Fatalf("%s: audit verify --anchor --configuration: %s", ss.id, out)
		}
		if msg := run(t, true, "audit", "verify", arch, "--anchor", anchor, "--configuration", arch); !strings.Contains(msg, "global configuration") {
			t.Fatalf("%s: audit verify with a file that is no configuration: %s", ss.id, msg)
		}
		b, err := os.ReadFile(arch)
		if err != nil {
			t.Fatal(err)
		}
		if hasBodies := bytes.Contains(b, []byte("bodies/")); hasBodies != (ss == provider) {
			t.Errorf("%s: archive holds body entries: %v", ss.id, hasBodies)
		}
		if bytes.Contains(b, []byte("birth records")) && ss == consumer {
			t.Errorf("%s: the archive holds a body of a client without body logging", ss.id)
		}
		// One exchange as a small evidence file that verifies on its own.
		ev := filepath.Join(t.TempDir(), "evidence.tar")
		run(t, false, "audit", "export", "--config", ss.cfg, "--message-id", firstID, "--out", ev)
		if out := run(t, false, "audit", "verify", "--evidence", ev, "--roots", p.rootPEM); !strings.Contains(out, `"verified": true`) {
			t.Fatalf("%s: evidence: %s", ss.id, out)
		}
		i := bytes.Index(b, []byte("APP-2026-000042"))
		if i < 0 {
			t.Fatalf("%s: the archive does not hold the exchange", ss.id)
		}
		b[i+4] = 'X'
		bad := filepath.Join(t.TempDir(), "tampered.tar")
		if err := os.WriteFile(bad, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if msg := run(t, true, "audit", "verify", bad, "--roots", p.rootPEM); !strings.Contains(msg, "does NOT verify") || !strings.Contains(msg, "record") {
			t.Fatalf("%s: tampered archive: %s", ss.id, msg)
		}
	}

	// The live log in the database verifies too (chain and tokens); once
	// an operator deletes one record there, it no longer does, and the
	// failure names the record.
	if out := run(t, false, "audit", "verify", "--log", provider.cfg, "--roots", p.rootPEM); !strings.Contains(out, `"verified": true`) {
		t.Fatalf("audit verify --log: %s", out)
	}
	db, err := store.OpenSQLite(context.Background(), filepath.Join(filepath.Dir(provider.cfg), "msglog.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM msglog_records WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if msg := run(t, true, "audit", "verify", "--log", provider.cfg, "--roots", p.rootPEM); !strings.Contains(msg, "does NOT verify") || !strings.Contains(msg, "record 2") {
		t.Fatalf("audit verify --log after deleting record 2: %s", msg)
	}
}

// verifyJWSWithoutJOSE checks an ES256 compact JWS with the standard
// library only.
func verifyJWSWithoutJOSE(t *testing.T, compact string) {
	t.Helper()
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", compact)
	}
	hdrJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Alg string   `json:"alg"`
		X5C []string `json:"x5c"`
	}
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil || hdr.Alg != "ES256" || len(hdr.X5C) == 0 {
		t.Fatalf("protected header %s: %v", hdrJSON, err)
	}
	der, _ := base64.StdEncoding.DecodeString(hdr.X5C[0])
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("signer key %T", cert.PublicKey)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %v", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("the logged request signature does not verify with crypto/ecdsa")
	}
}

const personsOpenAPI = `openapi: 3.0.3
info:
  title: Civil registry persons
  version: "1"
paths:
  /v1/persons/{nationalId}:
    get:
      parameters:
        - {name: nationalId, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: the person}
    post:
      parameters:
        - {name: nationalId, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: search result}
`
