package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/securityserver/admin"
)

// adminClient calls a security server's admin API with one API key.
type adminClient struct {
	t      *testing.T
	base   string
	secret string
}

// do sends a request with a JSON body (none when nil) and returns the
// status and the body.
func (c adminClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "X-Road-ApiKey token="+c.secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// must is do that fails the test unless the status is want, and decodes
// a JSON answer into out (when not nil).
func (c adminClient) must(want int, method, path string, body, out any) []byte {
	c.t.Helper()
	code, b := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return b
}

// TestSecurityServerAdminAPI drives a running provider security server's
// admin API with X-Road's roles: the key `jisr ss init` wrote creates an
// AUDITOR key; the auditor finds an exchange in the message log (metadata
// only, time-stamped) and exports its evidence, which `jisr audit verify`
// accepts; an observer made with `jisr ss apikey create` reads keys and
// clients but is refused a write, and the refusal is in the audit trail; a
// service added with its description fetched by URL is callable once
// granted.
func TestSecurityServerAdminAPI(t *testing.T) {
	var got seen
	p, c, provider, consumer, backendURL := exchangeWorld(t, &got)
	provider.serve(t)
	consumer.serve(t)

	// One exchange through both servers.
	call := func(url string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Road-Client", "PS/GOV/CAB/portal")
		req.Header.Set("X-Road-UserId", "PS4009")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	persons := "http://" + consumer.clientAddr + "/r1/PS/GOV/MOI/civil-registry/persons/v1/persons/4009"
	var resp *http.Response
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if resp = call(persons); resp.StatusCode == http.StatusOK || time.Now().After(deadline) {
			break
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %s", resp.StatusCode, resp.Header.Get("X-Road-Error"))
	}
	messageID := resp.Header.Get("X-Road-Id")

	secret, err := os.ReadFile(filepath.Join(filepath.Dir(provider.cfg), "admin-api-key"))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + provider.adminAddr
	sysadmin := adminClient{t: t, base: base, secret: strings.TrimSpace(string(secret))}

	// The description is public; everything else needs a key.
	if code, b := (adminClient{t: t, base: base}).do(http.MethodGet, "/api/openapi.yaml", nil); code != http.StatusOK ||
		!bytes.Contains(b, []byte("x-roles")) {
		t.Fatalf("/api/openapi.yaml: %d", code)
	}
	if code, _ := (adminClient{t: t, base: base, secret: "wrong"}).do(http.MethodGet, "/api/v1/clients", nil); code != http.StatusUnauthorized {
		t.Fatalf("a wrong key: %d", code)
	}

	var auditorKey admin.CreatedAPIKey
	sysadmin.must(http.StatusCreated, http.MethodPost, "/api/v1/api-keys",
		admin.NewAPIKey{Name: "court-auditor", Roles: []string{"AUDITOR"}}, &auditorKey)
	auditor := adminClient{t: t, base: base, secret: auditorKey.Secret}

	// The auditor finds the exchange: request and response on the
	// provider's side, metadata only, time-stamped within a few rounds.
	var page admin.MessageLogPage
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		page = admin.MessageLogPage{}
		auditor.must(http.StatusOK, http.MethodGet, "/api/v1/message-log/records?messageId="+messageID, nil, &page)
		stamped := len(page.Records) == 2
		for _, r := range page.Records {
			stamped = stamped && r.Timestamp != nil
		}
		if stamped || time.Now().After(deadline) {
			break
		}
	}
	if len(page.Records) != 2 {
		t.Fatalf("the auditor found %d records of %s, want 2", len(page.Records), messageID)
	}
	req, res := page.Records[0], page.Records[1]
	if req.Direction != "REQUEST" || res.Direction != "RESPONSE" || req.Side != "PROVIDER" || req.Client != "PS:GOV:CAB:portal" ||
		req.Service != "PS:GOV:MOI:civil-registry:persons" || req.UserID != "PS4009" || req.Method != http.MethodGet ||
		res.Status != http.StatusOK || res.PrevHash == "" || req.Timestamp == nil || res.RequestDigest != req.RequestDigest {
		t.Fatalf("records %+v", page.Records)
	}
	if !res.BodyLogged || res.BodySize == 0 {
		t.Errorf("the provider's response body was not logged: %+v", res)
	}
	var recs struct {
		Records []map[string]any `json:"records"`
	}
	auditor.must(http.StatusOK, http.MethodGet, "/api/v1/message-log/records?userId=PS4009&service=PS/GOV/MOI/civil-registry/persons", nil, &recs)
	for _, r := range recs.Records {
		if _, ok := r["body"]; ok {
			t.Fatal("a search result carries a body")
		}
	}
	evidence := auditor.must(http.StatusOK, http.MethodGet, "/api/v1/message-log/exchanges/"+messageID+"/evidence", nil, nil)
	evFile := filepath.Join(t.TempDir(), "evidence.tar")
	if err := os.WriteFile(evFile, evidence, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run(t, false, "audit", "verify", "--evidence", evFile, "--roots", p.rootPEM); !strings.Contains(out, `"verified": true`) {
		t.Fatalf("evidence from the admin API: %s", out)
	}
	// The same with the auditor's command-line tools: search by user id
	// and service, export the exchange, verify it.
	keyFile := filepath.Join(t.TempDir(), "auditor.key")
	if err := os.WriteFile(keyFile, []byte(auditorKey.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	remote := []string{"--server", base, "--api-key-file", keyFile}
	out := run(t, false, append([]string{"audit", "search", "--user-id", "PS4009", "--service", "PS/GOV/MOI/civil-registry/persons"}, remote...)...)
	var found struct {
		Count   int
		Records []struct{ MessageID, UserID string }
	}
	if err := json.Unmarshal([]byte(out), &found); err != nil || found.Count != len(recs.Records) || found.Count == 0 {
		t.Fatalf("jisr audit search: %v, %d records (the API gave %d)\n%s", err, found.Count, len(recs.Records), out)
	}
	for _, r := range found.Records {
		if r.UserID != "PS4009" {
			t.Fatalf("jisr audit search returned user %q", r.UserID)
		}
	}
	if table := run(t, false, append([]string{"audit", "search", "--message-id", messageID, "--output", "table"}, remote...)...); strings.Count(table, messageID) != 2 {
		t.Fatalf("jisr audit search --output table:\n%s", table)
	}
	evCLI := filepath.Join(t.TempDir(), "evidence-cli.tar")
	run(t, false, append([]string{"audit", "export", "--message-id", messageID, "--out", evCLI}, remote...)...)
	if out := run(t, false, "audit", "verify", "--evidence", evCLI, "--roots", p.rootPEM); !strings.Contains(out, `"verified": true`) {
		t.Fatalf("evidence from jisr audit export --server: %s", out)
	}
	if msg := run(t, true, "audit", "search", "--server", base, "--api-key-file", filepath.Join(filepath.Dir(provider.cfg), "admin-api-key")); !strings.Contains(msg, "403") {
		t.Fatalf("search with a key without the AUDITOR role: %s", msg)
	}

	// The auditor sees nothing else.
	if code, _ := auditor.do(http.MethodGet, "/api/v1/clients", nil); code != http.StatusForbidden {
		t.Fatalf("auditor reading clients: %d", code)
	}

	// An observer key made on the command line, next to the running server.
	var observerKey admin.CreatedAPIKey
	out = run(t, false, "ss", "apikey", "create", "--config", provider.cfg, "--role", "SECURITY_SERVER_OBSERVER",
		"--name", "noc", "--expires", "1h")
	if err := json.Unmarshal([]byte(out), &observerKey); err != nil || observerKey.Secret == "" || observerKey.ExpiresAt == nil {
		t.Fatalf("ss apikey create: %v %s", err, out)
	}
	observer := adminClient{t: t, base: base, secret: observerKey.Secret}
	var clients []admin.Client
	observer.must(http.StatusOK, http.MethodGet, "/api/v1/clients", nil, &clients)
	if len(clients) != 1 || clients[0].ID != "PS:GOV:MOI:civil-registry" || clients[0].Status != "REGISTERED" {
		t.Fatalf("clients %+v", clients)
	}
	var keys []admin.Key
	observer.must(http.StatusOK, http.MethodGet, "/api/v1/keys", nil, &keys)
	if len(keys) < 2 || keys[0].Usage != "AUTH" || keys[0].Certificate == nil || keys[0].Certificate.OCSPStatus != "GOOD" ||
		keys[0].Certificate.Registered == nil || !*keys[0].Certificate.Registered || keys[1].Member != "PS:GOV:MOI" {
		t.Fatalf("keys %+v", keys)
	}
	svc := admin.NewServiceRequest{Provider: "PS:GOV:MOI:civil-registry", Code: "certificates", URL: backendURL}
	if code, b := observer.do(http.MethodPost, "/api/v1/services", svc); code != http.StatusForbidden {
		t.Fatalf("observer adding a service: %d %s", code, b)
	}
	var trail admin.AuditPage
	sysadmin.must(http.StatusOK, http.MethodGet, "/api/v1/audit?action=service.add&outcome=failure", nil, &trail)
	if len(trail.Events) != 1 || trail.Events[0].Actor != "noc" {
		t.Fatalf("the observer's refusal in the audit trail: %+v", trail.Events)
	}
	sysadmin.must(http.StatusOK, http.MethodGet, "/api/v1/audit?actor=court-auditor&action=messageLog.export", nil, &trail)
	// Two exports: through the API, then with jisr audit export --server.
	if len(trail.Events) != 2 || trail.Events[0].Outcome != "success" || trail.Events[1].Outcome != "success" {
		t.Fatalf("the auditor's exports in the audit trail: %+v", trail.Events)
	}

	// A service whose description the server fetches, granted and called.
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, personsOpenAPI)
	}))
	defer docs.Close()
	svc.OpenAPIURL = docs.URL + "/persons.yaml"
	var added admin.ServiceAdded
	sysadmin.must(http.StatusCreated, http.MethodPost, "/api/v1/services", svc, &added)
	if added.Service.DescriptionType != "OPENAPI" || len(added.Service.Endpoints) == 0 {
		t.Fatalf("service added by URL: %+v", added.Service)
	}
	// Granted to a local group the portal is a member of.
	sysadmin.must(http.StatusCreated, http.MethodPost, "/api/v1/clients/PS:GOV:MOI:civil-registry/local-groups",
		admin.NewLocalGroup{Code: "cabinet", Description: "Cabinet systems"}, nil)
	sysadmin.must(http.StatusOK, http.MethodPost, "/api/v1/clients/PS:GOV:MOI:civil-registry/local-groups/cabinet/members",
		admin.GroupMember{Member: "PS/GOV/CAB/portal"}, nil)
	certificates := "http://" + consumer.clientAddr + "/r1/PS/GOV/MOI/civil-registry/certificates/v1/persons/4009"
	if resp := call(certificates); resp.Header.Get("X-Road-Error") != "Server.ServerProxy.AccessDenied" {
		t.Fatalf("before the grant: %d %s", resp.StatusCode, resp.Header.Get("X-Road-Error"))
	}
	sysadmin.must(http.StatusCreated, http.MethodPost, "/api/v1/access-rights",
		admin.AccessRequest{Provider: "PS:GOV:MOI:civil-registry", Service: "certificates", Subject: "LOCALGROUP:cabinet"}, nil)
	if resp := call(certificates); resp.StatusCode != http.StatusOK {
		t.Fatalf("calling the service added by URL: %d %s", resp.StatusCode, resp.Header.Get("X-Road-Error"))
	}

	// A client's life through management requests the central server's
	// registration officer decides.
	var change admin.ClientChange
	sysadmin.must(http.StatusAccepted, http.MethodPost, "/api/v1/clients", admin.NewClient{Client: "PS/GOV/MOI/archive"}, &change)
	if change.Client.Status != "REGISTRATION_IN_PROGRESS" || change.ManagementRequest == nil || change.ManagementRequest.Type != "clientRegistration" {
		t.Fatalf("client added: %+v", change)
	}
	approve(t, c, change.ManagementRequest.ID)
	run(t, false, "central", "config", "regenerate", "--config", c.cfg)
	sysadmin.must(http.StatusConflict, http.MethodDelete, "/api/v1/clients/PS:GOV:MOI:archive", nil, nil)
	change = admin.ClientChange{}
	sysadmin.must(http.StatusAccepted, http.MethodPost, "/api/v1/clients/PS:GOV:MOI:archive/unregister", nil, &change)
	if change.Client.Status != "DELETION_IN_PROGRESS" || change.ManagementRequest == nil || change.ManagementRequest.Type != "clientDeletion" {
		t.Fatalf("client unregistered: %+v", change)
	}
	approve(t, c, change.ManagementRequest.ID)
	sysadmin.must(http.StatusNoContent, http.MethodDelete, "/api/v1/clients/PS:GOV:MOI:archive", nil, nil)
	sysadmin.must(http.StatusNotFound, http.MethodGet, "/api/v1/clients/PS:GOV:MOI:archive", nil, nil)

	// Renewals at the instance CA. The owner's sign certificate is used at
	// once: the provider signs its next response with it.
	var signKey admin.Key
	sysadmin.must(http.StatusOK, http.MethodPost, "/api/v1/keys/"+keys[1].ID+"/renew",
		admin.RenewRequest{CAURL: "https://" + p.caAddr}, &signKey)
	if signKey.Certificate == nil || signKey.Certificate.SHA256 == keys[1].Certificate.SHA256 {
		t.Fatalf("sign certificate not renewed: %+v", signKey)
	}
	if resp = call(persons); resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange after the sign certificate's renewal: %d %s", resp.StatusCode, resp.Header.Get("X-Road-Error"))
	}
	page = admin.MessageLogPage{}
	auditor.must(http.StatusOK, http.MethodGet, "/api/v1/message-log/records?messageId="+resp.Header.Get("X-Road-Id"), nil, &page)
	if len(page.Records) != 2 || page.Records[1].SignerCertSHA256 != signKey.Certificate.SHA256 {
		t.Fatalf("the response after renewal was not signed with the new certificate: %+v", page.Records)
	}
	// A renewed authentication certificate waits: registered with the
	// central server, it cannot be activated before the global
	// configuration lists it; the current one stays in use.
	var authKey admin.Key
	sysadmin.must(http.StatusOK, http.MethodPost, "/api/v1/keys/auth/renew", admin.RenewRequest{CAURL: "https://" + p.caAddr}, &authKey)
	if authKey.PendingCertificate == nil || authKey.Certificate == nil || authKey.Certificate.SHA256 != keys[0].Certificate.SHA256 ||
		*authKey.PendingCertificate.Registered {
		t.Fatalf("auth certificate renewed: %+v", authKey)
	}
	var reg admin.ManagementRequest
	sysadmin.must(http.StatusAccepted, http.MethodPost, "/api/v1/keys/auth/register", nil, &reg)
	if reg.Type != "authCertRegistration" || reg.Status != "PENDING" {
		t.Fatalf("auth certificate registration: %+v", reg)
	}
	sysadmin.must(http.StatusConflict, http.MethodPost, "/api/v1/keys/auth/activate", nil, nil)
	if resp := call(persons); resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange with a pending auth certificate: %d %s", resp.StatusCode, resp.Header.Get("X-Road-Error"))
	}
}
