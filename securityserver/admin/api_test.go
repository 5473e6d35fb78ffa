package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// failingAudit is an AdminStore whose audit trail cannot be written.
type failingAudit struct {
	conf.AdminStore
}

func (failingAudit) AppendAudit(context.Context, conf.AuditEvent) (conf.AuditEvent, error) {
	return conf.AuditEvent{}, errors.New("disk full")
}

// TestAuditFailsClosed: when the audit trail cannot be written, a write
// is refused with 503 before the backend sees it; reads go on.
func TestAuditFailsClosed(t *testing.T) {
	e := newTestEnv(t)
	secret, _ := e.newKey("ops", time.Time{}, FirstKeyRoles()...)
	api, err := New(Config{Backend: e.backend, Store: failingAudit{e.admin}, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	e.srv = srv
	resp, body := e.do(http.MethodPost, APIPrefix+"/clients", secret, NewClient{Client: "PS:GOV:MOI:new"})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(xerr.HeaderError) != codeUnavailable {
		t.Fatalf("write without an audit trail: %d %s", resp.StatusCode, body)
	}
	if w := e.backend.writes.Load(); w != 0 {
		t.Errorf("the backend saw %d writes", w)
	}
	if _, err := e.store.Client(e.ctx, moi.Subsystem("new")); !errors.Is(err, conf.ErrNotFound) {
		t.Errorf("the client was added: %v", err)
	}
	if resp, body := e.do(http.MethodGet, APIPrefix+"/clients", secret, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("read without an audit trail: %d %s", resp.StatusCode, body)
	}
}

// TestFailedWriteAudited: a write the backend refuses is answered with the
// mapped status and completes its audit event as a failure naming it.
func TestFailedWriteAudited(t *testing.T) {
	e := newTestEnv(t)
	secret, _ := e.newKey("registrar", time.Time{}, RoleRegistrationOfficer)
	last := e.lastAuditID()
	resp, body := e.do(http.MethodPost, APIPrefix+"/clients", secret, NewClient{Client: civilID})
	if resp.StatusCode != http.StatusConflict || resp.Header.Get(xerr.HeaderError) != codeConflict {
		t.Fatalf("adding an existing client: %d %s", resp.StatusCode, body)
	}
	evs := e.auditAfter(last)
	if len(evs) != 1 || evs[0].Outcome != conf.AuditFailure || evs[0].Action != "client.add" || evs[0].Actor != "registrar" {
		t.Fatalf("audit events %+v", evs)
	}
	var d struct {
		Status int
		Code   string
	}
	if err := json.Unmarshal(evs[0].Detail, &d); err != nil || d.Status != http.StatusConflict || d.Code != codeConflict {
		t.Errorf("audit detail %s", evs[0].Detail)
	}
	// A client DELETE refused by the backend's state rule.
	resp, body = e.do(http.MethodDelete, APIPrefix+"/clients/"+civilID, secret, nil)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("deleting a REGISTERED client: %d %s", resp.StatusCode, body)
	}
}

// TestBadRequests: malformed bodies, identifiers and parameters are 400
// with Client.InvalidRequest, and reach no backend write.
func TestBadRequests(t *testing.T) {
	e := newTestEnv(t)
	all, _ := e.newKey("all", time.Time{}, AllRoles()...)
	for _, tc := range []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"unknown field", http.MethodPost, "/clients", map[string]string{"client": "PS:GOV:MOI:x", "colour": "red"}, 400},
		{"malformed client", http.MethodPost, "/clients", NewClient{Client: "PS:GOV"}, 400},
		{"bad connection type", http.MethodPost, "/clients", NewClient{Client: "PS:GOV:MOI:x", ConnectionType: "FTP"}, 400},
		{"both connection names differ", http.MethodPost, "/clients", NewClient{Client: "PS:GOV:MOI:x", ConnectionType: "HTTP", Connection: "HTTPS"}, 400},
		{"malformed path id", http.MethodGet, "/clients/PS:GOV", nil, 400},
		{"unknown client", http.MethodGet, "/clients/PS:GOV:MOI:nobody", nil, 404},
		{"member provider", http.MethodPost, "/services", NewServiceRequest{Provider: "PS/GOV/MOI", Code: "x", URL: "http://x.test/"}, 400},
		{"both documents", http.MethodPost, "/services", NewServiceRequest{Provider: civilID, Code: "x", URL: "http://x.test/", OpenAPI: "a", OpenAPIURL: "http://y.test/"}, 400},
		{"invalid OpenAPI", http.MethodPost, "/services", NewServiceRequest{Provider: civilID, Code: "x", URL: "http://x.test/", OpenAPI: "not: openapi"}, 400},
		{"document URL 404", http.MethodPost, "/services", NewServiceRequest{Provider: civilID, Code: "x", URL: "http://x.test/", OpenAPIURL: e.docs.URL + "/missing.yaml"}, 400},
		{"duplicate service", http.MethodPost, "/services", NewServiceRequest{Provider: civilID, Code: "persons", URL: "http://x.test/"}, 409},
		{"unknown service", http.MethodGet, "/services/" + civilID + ":nothing", nil, 404},
		{"wrong service version", http.MethodGet, "/services/" + personsID + ":v9", nil, 404},
		{"endpoint half given", http.MethodPost, "/access-rights", AccessRequest{Provider: civilID, Service: "persons", Subject: "PS/GOV/CAB/portal", Method: "GET"}, 400},
		{"revoke without subject", http.MethodDelete, "/services/" + personsID + "/access-rights", nil, 400},
		{"revoke what was not granted", http.MethodDelete, "/services/" + personsID + "/access-rights?subject=PS/GOV/CAB/portal", nil, 404},
		{"unknown role", http.MethodPost, "/api-keys", NewAPIKey{Roles: []string{"ROOT"}}, 400},
		{"no role", http.MethodPost, "/api-keys", NewAPIKey{Name: "x"}, 400},
		{"expired at creation", http.MethodPost, "/api-keys", map[string]any{"roles": []string{"AUDITOR"}, "expiresAt": t0}, 400},
		{"bad key id", http.MethodDelete, "/api-keys/abc", nil, 400},
		{"unknown key id", http.MethodDelete, "/api-keys/999", nil, 404},
		{"bad cursor", http.MethodGet, "/message-log/records?cursor=-1", nil, 400},
		{"bad time", http.MethodGet, "/message-log/records?from=yesterday", nil, 400},
		{"unknown parameter", http.MethodGet, "/message-log/records?body=1", nil, 400},
		{"unknown exchange", http.MethodGet, "/message-log/exchanges/none/evidence", nil, 404},
		{"bad request digest", http.MethodGet, "/message-log/exchanges/msg-1/evidence?requestDigest=zz", nil, 400},
		{"bad audit order", http.MethodGet, "/audit?order=up", nil, 400},
		{"bad audit outcome", http.MethodGet, "/audit?outcome=maybe", nil, 400},
		{"not a certificate", http.MethodPost, "/certificates", NewCertificate{PEM: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, 400},
		{"no PEM", http.MethodPost, "/clients/" + civilID + "/tls-certificates", NewCertificate{PEM: "hello"}, 400},
		{"CA over http", http.MethodPost, "/keys/auth/renew", RenewRequest{CAURL: "http://ca.test"}, 400},
		{"enrol without token", http.MethodPost, "/keys/auth/enrol", EnrolRequest{CAURL: "https://ca.test"}, 400},
		{"register a sign key", http.MethodPost, "/keys/sign-GOV-MOI/register", nil, 400},
		{"activate without pending", http.MethodPost, "/keys/auth/activate", nil, 409},
		{"no such route", http.MethodGet, "/nothing", nil, 404},
		{"method not allowed", http.MethodPut, "/clients", nil, 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.with(t).do(tc.method, APIPrefix+tc.path, all, tc.body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.want)
			}
			var eb struct{ Type, Message, Detail string }
			if err := json.Unmarshal(body, &eb); err != nil || eb.Type != resp.Header.Get(xerr.HeaderError) || eb.Detail == "" {
				t.Errorf("error body %s (%v), header %q", body, err, resp.Header.Get(xerr.HeaderError))
			}
			if want := statusOf(eb.Type); want != tc.want {
				t.Errorf("type %s maps to %d", eb.Type, want)
			}
		})
	}
}

// TestClientLifecycle goes through a client's life as the API shows it.
func TestClientLifecycle(t *testing.T) {
	e := newTestEnv(t)
	all, _ := e.newKey("all", time.Time{}, FirstKeyRoles()...)
	no := false
	resp, body := e.do(http.MethodPost, APIPrefix+"/clients", all, NewClient{Client: "PS/GOV/MOI/archive", Connection: "HTTPS", Register: &no})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add without registration: %d %s", resp.StatusCode, body)
	}
	var ch ClientChange
	if err := json.Unmarshal(body, &ch); err != nil || ch.Client.Status != "SAVED" || ch.ManagementRequest != nil ||
		ch.Client.ConnectionType != "HTTPS" || ch.Client.ID != "PS:GOV:MOI:archive" || ch.Client.SubsystemCode != "archive" {
		t.Fatalf("added client %s", body)
	}
	resp, body = e.do(http.MethodPost, APIPrefix+"/clients/PS:GOV:MOI:archive/register", all, nil)
	if err := json.Unmarshal(body, &ch); err != nil || resp.StatusCode != http.StatusAccepted || ch.Client.Status != "REGISTRATION_IN_PROGRESS" ||
		ch.ManagementRequest == nil || ch.ManagementRequest.Type != "clientRegistration" {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(http.MethodDelete, APIPrefix+"/clients/PS:GOV:MOI:archive", all, nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("delete while registered: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(http.MethodPost, APIPrefix+"/clients/PS:GOV:MOI:archive/unregister", all, nil)
	if err := json.Unmarshal(body, &ch); err != nil || ch.Client.Status != "DELETION_IN_PROGRESS" {
		t.Fatalf("unregister: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(http.MethodPatch, APIPrefix+"/clients/PS:GOV:MOI:archive", all, ClientUpdate{BodyLogging: "METADATA_ONLY"})
	var cl Client
	if err := json.Unmarshal(body, &cl); err != nil || cl.BodyLogging != "METADATA_ONLY" || cl.ConnectionType != "HTTPS" {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(http.MethodDelete, APIPrefix+"/clients/PS:GOV:MOI:archive", all, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(http.MethodGet, APIPrefix+"/clients/PS:GOV:MOI:archive", all, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("get after delete: %d", resp.StatusCode)
	}
}

// TestServiceByURL adds a service whose description the server fetches,
// then refreshes it from a new URL: endpoints follow the document, and the
// access right on a kept endpoint stays.
func TestServiceByURL(t *testing.T) {
	e := newTestEnv(t)
	admin, _ := e.newKey("svc", time.Time{}, RoleServiceAdministrator)
	resp, body := e.do(http.MethodPost, APIPrefix+"/services", admin, NewServiceRequest{Provider: civilID, Code: "people",
		URL: "http://backend.moi.test/", TimeoutSeconds: 5, OpenAPIURL: e.docs.URL + "/persons.yaml"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add: %d %s", resp.StatusCode, body)
	}
	var added ServiceAdded
	if err := json.Unmarshal(body, &added); err != nil {
		t.Fatal(err)
	}
	s := added.Service
	if s.ID != civilID+":people" || s.DescriptionType != "OPENAPI" || s.DescriptionURL != e.docs.URL+"/persons.yaml" ||
		s.TimeoutSeconds != 5 || !s.VerifyTLS || len(s.Endpoints) != 1 || s.Endpoints[0].Path != "/persons/*" || !s.Endpoints[0].Generated {
		t.Fatalf("added service %s", body)
	}
	resp, body = e.do(http.MethodPost, APIPrefix+"/access-rights", admin, AccessRequest{Provider: "PS/GOV/MOI/civil-registry",
		Service: "people", Subject: "PS/GOV/CAB/portal", Method: "GET", Path: "/persons/*"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("grant: %d %s", resp.StatusCode, body)
	}
	var ar AccessRight
	if err := json.Unmarshal(body, &ar); err != nil || ar.Subject != "SUBSYSTEM:PS/GOV/CAB/portal" || ar.Endpoint == nil ||
		ar.GrantedAt.IsZero() || ar.ServiceID != civilID+":people" {
		t.Fatalf("granted %s", body)
	}
	resp, body = e.do(http.MethodPost, APIPrefix+"/services/"+civilID+":people/refresh", admin, ServiceRefresh{OpenAPIURL: e.docs.URL + "/persons-v2.yaml"})
	if err := json.Unmarshal(body, &s); err != nil || resp.StatusCode != http.StatusOK || len(s.Endpoints) != 2 ||
		s.DescriptionURL != e.docs.URL+"/persons-v2.yaml" {
		t.Fatalf("refresh: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(http.MethodGet, APIPrefix+"/services/"+civilID+":people/access-rights", admin, nil)
	var rights []AccessRight
	if err := json.Unmarshal(body, &rights); err != nil || len(rights) != 1 {
		t.Fatalf("rights after refresh: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(http.MethodGet, APIPrefix+"/services/"+civilID+":people/openapi", admin, nil)
	if resp.StatusCode != http.StatusOK || string(body) != personsOpenAPIv2 || resp.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("document: %d %q", resp.StatusCode, body)
	}
	// Disabled with a notice.
	yes, notice := true, "maintenance until noon"
	resp, body = e.do(http.MethodPatch, APIPrefix+"/services/"+civilID+":people", admin, ServiceUpdate{Disabled: &yes, DisabledNotice: &notice})
	if err := json.Unmarshal(body, &s); err != nil || !s.Disabled || s.DisabledNotice != notice || s.TimeoutSeconds != 5 {
		t.Fatalf("disable: %d %s", resp.StatusCode, body)
	}
	// An uploaded description cannot be refreshed by URL.
	resp, body = e.do(http.MethodPost, APIPrefix+"/services", admin, NewServiceRequest{Provider: civilID, Code: "uploaded",
		URL: "http://backend.moi.test/", OpenAPI: personsOpenAPI})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(http.MethodPost, APIPrefix+"/services/"+civilID+":uploaded/refresh", admin, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("refresh of an uploaded description: %d %s", resp.StatusCode, body)
	}
	// It is refreshed by uploading a new document.
	resp, body = e.do(http.MethodPost, APIPrefix+"/services/"+civilID+":uploaded/refresh", admin, ServiceRefresh{OpenAPI: personsOpenAPIv2})
	s = Service{}
	if err := json.Unmarshal(body, &s); err != nil || resp.StatusCode != http.StatusOK || len(s.Endpoints) != 2 || s.DescriptionURL != "" {
		t.Fatalf("refresh by upload: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(http.MethodDelete, APIPrefix+"/services/"+civilID+":people", admin, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(http.MethodGet, APIPrefix+"/services/"+civilID+":people", admin, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("get after delete: %d", resp.StatusCode)
	}
}

// TestAPIKeys: a system administrator creates a key whose secret is shown
// once; the key works with its role only, until it expires or is revoked.
func TestAPIKeys(t *testing.T) {
	e := newTestEnv(t)
	sys, _ := e.newKey("sysadmin", time.Time{}, RoleSystemAdministrator)
	exp := t0.Add(time.Hour)
	resp, body := e.do(http.MethodPost, APIPrefix+"/api-keys", sys, NewAPIKey{Name: "auditor", Roles: []string{"AUDITOR"}, ExpiresAt: &exp})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var created CreatedAPIKey
	if err := json.Unmarshal(body, &created); err != nil || created.Secret == "" || created.CreatedBy != "sysadmin" || created.Status != "ACTIVE" {
		t.Fatalf("created %s", body)
	}
	// The secret is not stored, nor listed, nor in the audit trail.
	_, list := e.do(http.MethodGet, APIPrefix+"/api-keys", sys, nil)
	_, audit := e.do(http.MethodGet, APIPrefix+"/audit", sys, nil)
	for what, b := range map[string][]byte{"list": list, "audit": audit} {
		if strings.Contains(string(b), created.Secret) {
			t.Errorf("the %s shows the secret", what)
		}
	}
	if resp, body := e.do(http.MethodGet, APIPrefix+"/message-log/records", created.Secret, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("auditor searching: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(http.MethodGet, APIPrefix+"/clients", created.Secret, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("auditor reading clients: %d", resp.StatusCode)
	}
	e.clk.Set(exp)
	if resp, body := e.do(http.MethodGet, APIPrefix+"/message-log/records", created.Secret, nil); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(string(body), "expired") {
		t.Fatalf("after expiry: %d %s", resp.StatusCode, body)
	}
	_, list = e.do(http.MethodGet, APIPrefix+"/api-keys", sys, nil)
	var keys []APIKey
	if err := json.Unmarshal(list, &keys); err != nil || len(keys) != 2 || keys[1].Status != "EXPIRED" {
		t.Fatalf("list after expiry: %s", list)
	}
	resp, body = e.do(http.MethodDelete, APIPrefix+fmt.Sprintf("/api-keys/%d", keys[0].ID), sys, nil)
	var revoked APIKey
	if err := json.Unmarshal(body, &revoked); err != nil || resp.StatusCode != http.StatusOK || revoked.Status != "REVOKED" {
		t.Fatalf("self-revocation: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(http.MethodGet, APIPrefix+"/api-keys", sys, nil); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(string(body), "revoked") {
		t.Fatalf("after revocation: %d %s", resp.StatusCode, body)
	}
	// The refusal of a revoked key names it in the audit trail.
	evs, err := e.admin.AuditEvents(e.ctx, conf.AuditQuery{NewestFirst: true, Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].Action != "apiKey.revoke" || evs[0].Outcome != conf.AuditSuccess {
		t.Fatalf("last audit event %+v %v", evs, err)
	}
}

// TestMessageLogSearch checks the query the backend gets, paging, and
// that the search is audited with its filters.
func TestMessageLogSearch(t *testing.T) {
	e := newTestEnv(t)
	aud, _ := e.newKey("auditor", time.Time{}, RoleAuditor)
	path := "/message-log/records?client=PS/GOV/CAB/portal&service=" + personsID + ":v1&userId=PS4001&issue=APP-1" +
		"&from=2026-04-01T00:00:00Z&to=2026-04-03T00:00:00Z&limit=2"
	resp, body := e.do(http.MethodGet, APIPrefix+path, aud, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	q := e.backend.lastQuery
	want := MessageLogQuery{Client: portal, Service: xroad.ServiceID{Provider: moiSub, Code: "persons", Version: "v1"}, UserID: "PS4001",
		Issue: "APP-1", From: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC), Limit: 2}
	if fmt.Sprint(q) != fmt.Sprint(want) {
		t.Errorf("backend query %+v, want %+v", q, want)
	}
	var page MessageLogPage
	if err := json.Unmarshal(body, &page); err != nil || len(page.Records) != 2 || page.NextCursor != "2" {
		t.Fatalf("page %s", body)
	}
	r := page.Records[0]
	if r.Client != "PS:GOV:CAB:portal" || r.Service != personsID || r.Timestamp == nil || r.Hash != "06" || r.PrevHash != "05" {
		t.Errorf("record %+v", r)
	}
	if strings.Contains(string(body), `"body"`) {
		t.Error("a record carries a body")
	}
	_, body = e.do(http.MethodGet, APIPrefix+"/message-log/records?limit=2&cursor="+page.NextCursor, aud, nil)
	page = MessageLogPage{}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Records) != 1 || page.Records[0].ID != 3 || page.NextCursor != "" {
		t.Fatalf("second page %s", body)
	}
	evs, err := e.admin.AuditEvents(e.ctx, conf.AuditQuery{Action: "messageLog.search"})
	if err != nil || len(evs) != 2 || !strings.Contains(string(evs[0].Detail), "PS4001") || !strings.Contains(string(evs[0].Detail), `"records":2`) {
		t.Fatalf("search audit %+v %v", evs, err)
	}
	resp, body = e.do(http.MethodGet, APIPrefix+"/message-log/exchanges/msg-1/evidence", aud, nil)
	if resp.StatusCode != http.StatusOK || string(body) != "evidence of msg-1" || resp.Header.Get("Content-Type") != "application/x-tar" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "evidence-msg-1.tar") {
		t.Fatalf("evidence: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// TestKeys goes through an authentication certificate's renewal as the
// API shows it: pending, registered, activated.
func TestKeys(t *testing.T) {
	e := newTestEnv(t)
	sec, _ := e.newKey("security", time.Time{}, RoleSecurityOfficer)
	_, body := e.do(http.MethodGet, APIPrefix+"/keys", sec, nil)
	var keys []Key
	if err := json.Unmarshal(body, &keys); err != nil || len(keys) != 2 || keys[0].ID != "auth" || keys[0].Usage != "AUTH" ||
		keys[0].Certificate == nil || keys[0].Certificate.Validity != "VALID" || keys[0].Certificate.Registered == nil ||
		keys[1].Member != "PS:GOV:MOI" || keys[1].Certificate.OCSPStatus != "GOOD" {
		t.Fatalf("keys %s", body)
	}
	resp, body := e.do(http.MethodPost, APIPrefix+"/keys/auth/renew", sec, RenewRequest{CAURL: "https://ca.test"})
	var k Key
	if err := json.Unmarshal(body, &k); err != nil || resp.StatusCode != http.StatusOK || k.PendingCertificate == nil ||
		*k.PendingCertificate.Registered {
		t.Fatalf("renew: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(http.MethodPost, APIPrefix+"/keys/auth/register", sec, nil)
	var mr ManagementRequest
	if err := json.Unmarshal(body, &mr); err != nil || resp.StatusCode != http.StatusAccepted || mr.Type != "authCertRegistration" {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(http.MethodPost, APIPrefix+"/keys/auth/activate", sec, nil)
	k = Key{}
	if err := json.Unmarshal(body, &k); err != nil || resp.StatusCode != http.StatusOK || k.PendingCertificate != nil || k.Certificate == nil {
		t.Fatalf("activate: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(http.MethodPost, APIPrefix+"/keys/auth/csr", sec, CSRRequest{DNSNames: []string{"ss1.moi.ps"}})
	var csr CSR
	if err := json.Unmarshal(body, &csr); err != nil || resp.StatusCode != http.StatusCreated || !strings.HasPrefix(csr.PEM, "-----BEGIN CERTIFICATE REQUEST-----") {
		t.Fatalf("csr: %d %s", resp.StatusCode, body)
	}
	// The clock decides validity.
	e.clk.Set(t0.Add(2 * 365 * 24 * time.Hour))
	_, body = e.do(http.MethodGet, APIPrefix+"/keys", sec, nil)
	if err := json.Unmarshal(body, &keys); err != nil || keys[0].Certificate.Validity != "EXPIRED" {
		t.Fatalf("keys later %s", body)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("x: %w", conf.ErrNotFound), codeNotFound},
		{fmt.Errorf("x: %w", ErrNotFound), codeNotFound},
		{fmt.Errorf("x: %w", conf.ErrConflict), codeConflict},
		{fmt.Errorf("x: %w", ErrConflict), codeConflict},
		{fmt.Errorf("x: %w", conf.ErrInvalid), codeInvalidRequest},
		{fmt.Errorf("x: %w", xroad.ErrInvalid), codeInvalidRequest},
		{fmt.Errorf("x: %w", ErrInvalid), codeInvalidRequest},
		{fmt.Errorf("x: %w", ErrUnavailable), codeUnavailable},
		{xerr.New(codeAccessDenied, "no", nil), codeAccessDenied},
		{errors.New("database on fire"), codeInternal},
	} {
		e := classify(tc.err)
		if e.Code != tc.code {
			t.Errorf("%v: %s, want %s", tc.err, e.Code, tc.code)
		}
		if tc.code == codeInternal && strings.Contains(e.Message, "fire") {
			t.Errorf("internal cause shown: %q", e.Message)
		}
	}
}

func TestParseIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // typed form, "" for an error
	}{
		{"PS:GOV:MOI", "MEMBER:PS/GOV/MOI"},
		{"PS:GOV:MOI:civil-registry", "SUBSYSTEM:PS/GOV/MOI/civil-registry"},
		{"PS/GOV/MOI/civil-registry", "SUBSYSTEM:PS/GOV/MOI/civil-registry"},
		{"PS:GOV", ""},
		{"PS:GOV:MOI:a:b", ""},
		{"PS:GOV:M OI", ""},
		{"", ""},
	} {
		id, err := ParseClientID(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseClientID(%q) = %v, want an error", tc.in, id)
		case tc.want != "" && (err != nil || id.Typed() != tc.want):
			t.Errorf("ParseClientID(%q) = %v, %v; want %s", tc.in, id, err, tc.want)
		case tc.want != "" && ParseRoundTrip(t, id) != id:
			t.Errorf("%q does not round-trip", tc.in)
		}
	}
	for in, want := range map[string]string{
		"SUBSYSTEM:PS/GOV/CAB/portal": "SUBSYSTEM:PS/GOV/CAB/portal",
		"MEMBER:PS/GOV/CAB":           "MEMBER:PS/GOV/CAB",
		"GLOBALGROUP:PS/ministries":   "GLOBALGROUP:PS/ministries",
		"LOCALGROUP:auditors":         "LOCALGROUP:auditors",
		"PS/GOV/CAB/portal":           "SUBSYSTEM:PS/GOV/CAB/portal",
		"PS:GOV:CAB:portal":           "SUBSYSTEM:PS/GOV/CAB/portal",
	} {
		id, err := ParseSubject(in)
		if err != nil || id.Typed() != want {
			t.Errorf("ParseSubject(%q) = %v, %v; want %s", in, id, err, want)
		}
	}
	s, err := ParseServiceID(personsID + ":v1")
	if err != nil || FormatServiceID(s) != personsID+":v1" || s.Version != "v1" {
		t.Errorf("service id: %v %v", s, err)
	}
}

// ParseRoundTrip formats and parses id again.
func ParseRoundTrip(t *testing.T, id xroad.ClientID) xroad.ClientID {
	t.Helper()
	out, err := ParseClientID(FormatClientID(id))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseAPIKeyHeader(t *testing.T) {
	for h, want := range map[string]string{
		"X-Road-ApiKey token=abc":    "abc",
		"x-road-apikey token=abc":    "abc",
		"  X-Road-ApiKey  token=abc": "abc",
		"X-Road-ApiKey token=":       "",
		"Bearer abc":                 "",
		"X-Road-ApiKey abc":          "",
		"":                           "",
	} {
		got, ok := ParseAPIKeyHeader(h)
		if got != want || ok != (want != "") {
			t.Errorf("ParseAPIKeyHeader(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
}
