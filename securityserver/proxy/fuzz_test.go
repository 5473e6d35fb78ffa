package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver/message"
)

// nopLog is a MessageLog that accepts everything and keeps nothing.
type nopLog struct{}

func (nopLog) LogRequest(context.Context, *Record) error  { return nil }
func (nopLog) LogResponse(context.Context, *Record) error { return nil }

// checkingTransport is a PeerTransport that never reaches a provider: it
// checks that what the client proxy would send is a well-formed, strictly
// decodable jisr/1 request whose body matches its signed digest, and then
// fails like an unreachable address.
type checkingTransport struct {
	mu       sync.Mutex
	calls    int
	problems []string
}

func (c *checkingTransport) Do(req *http.Request, target xroad.ServerID) (*http.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	h, _, err := message.DecodeRequest(req.Header)
	if err != nil {
		c.problems = append(c.problems, "hop request does not decode: "+err.Error())
	}
	body, _ := io.ReadAll(req.Body)
	req.Body.Close()
	if d := sha256.Sum256(body); err == nil && (!bytes.Equal(d[:], h.BodyDigest) || int64(len(body)) != h.BodySize) {
		c.problems = append(c.problems, "hop body does not match its signed digest")
	}
	if req.Method != http.MethodPost || req.URL.Path != HopPath || target != ssMOI1 {
		c.problems = append(c.problems, "hop sent as "+req.Method+" "+req.URL.String()+" to "+target.String())
	}
	return nil, errors.New("fuzz: provider unreachable")
}

// fuzzProxy builds a client proxy over fakes: a configuration with the
// consumer and one provider server, a software sign key for GOV/CAB, and
// checkingTransport.
func fuzzProxy(f testing.TB) (*ClientProxy, *checkingTransport) {
	p := newTestPKI(f)
	key, chain := p.issue(f, profile.Sign, cab)
	doc := &globalconf.Document{
		Schema: globalconf.Schema, Instance: "PS", Serial: 1, GeneratedAt: t0, ExpiresAt: t0.Add(time.Hour),
		CentralServer: globalconf.CentralServer{
			ManagementURL:     "https://central.ps.example:4402/managementservice",
			ConfigurationURLs: []string{"https://central.ps.example:4401/globalconf"},
		},
		MemberClasses: []globalconf.MemberClass{{Code: "GOV", Description: "Government"}},
		Members: []globalconf.Member{
			{Class: "GOV", Code: "CAB", Name: "Cabinet Secretariat", Subsystems: []globalconf.Subsystem{{Code: "portal"}}},
			{Class: "GOV", Code: "MOI", Name: "Ministry of Interior", Subsystems: []globalconf.Subsystem{{Code: "civil-registry"}}},
		},
		SecurityServers: []globalconf.SecurityServer{
			{Owner: "PS/GOV/CAB", ServerCode: "ss1", Addresses: []string{"127.0.0.1:1"}, Clients: []string{"PS/GOV/CAB/portal", "PS/GOV/CAB"}},
			{Owner: "PS/GOV/MOI", ServerCode: "ss1", Addresses: []string{"127.0.0.1:2"}, Clients: []string{"PS/GOV/MOI/civil-registry"}},
		},
		ApprovedCAs: []globalconf.ApprovedCA{{Name: "ps-ca", Profile: "jisr/v1", Certificates: [][]byte{p.Root.Raw}}},
		Settings: globalconf.Settings{OCSPFreshnessSeconds: 3600, TimestampingIntervalSeconds: 60,
			ConfigurationLifetimeSeconds: 600, RefreshIntervalSeconds: 60, MaxClockSkewSeconds: 30},
	}
	b, err := globalconf.Marshal(doc)
	if err != nil {
		f.Fatal(err)
	}
	parsed, err := globalconf.ParseDocument(b)
	if err != nil {
		f.Fatal(err)
	}
	docs := &fakeDocs{}
	docs.set(parsed)
	tr := &checkingTransport{}
	return NewClientProxy(ClientConfig{
		ServerID: ssCAB, Conf: docs, Clients: newFakeClients(portal, cab.Client()),
		Signer:    fixedSigner{key: key, chain: chain, staple: []byte{0x30, 0x00}},
		Transport: tr, Log: nopLog{}, Clock: clock.NewFake(t0), MaxBodySize: 1 << 16, MemoryLimit: 1 << 10,
		TempDir: f.TempDir(),
	}), tr
}

// TestFuzzHarnessForwards makes sure the fuzz target's valid seed reaches
// the transport, so that its property about forwarded requests is not
// vacuous.
func TestFuzzHarnessForwards(t *testing.T) {
	cp, tr := fuzzProxy(t)
	req := httptest.NewRequest(http.MethodPost, "/r1/PS/GOV/MOI/civil-registry/persons/v1/persons", strings.NewReader(`{"a":1}`))
	req.Header.Set(HeaderClient, portal.String())
	rec := httptest.NewRecorder()
	cp.ServeHTTP(rec, req)
	if rec.Header().Get("X-Road-Error") != "Server.ClientProxy.NetworkError" || tr.calls != 1 || len(tr.problems) != 0 {
		t.Fatalf("got %d %s, %d transport calls, problems %v", rec.Code, rec.Body.Bytes(), tr.calls, tr.problems)
	}
}

// validHeaderValue reports whether net/http's server would accept v as a
// header value (it refuses control characters other than tab).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzClientRequest feeds arbitrary request targets, methods, X-Road
// headers and bodies to the client proxy. It must never panic, and must
// answer either with a well-formed X-Road error (status 400 for Client.*,
// 500 otherwise, the same code in X-Road-Error and the body) or, for
// /listClients, with the client list; whatever it forwards must be a
// strictly decodable jisr/1 request whose body matches its digest.
func FuzzClientRequest(f *testing.F) {
	cp, tr := fuzzProxy(f)
	for _, s := range [][6]string{
		{"GET", "/r1/PS/GOV/MOI/civil-registry/persons/v1/persons/4001?x=1", "PS/GOV/CAB/portal", "", "", ""},
		{"POST", "/r1/PS/GOV/MOI/civil-registry/persons/v1/persons", "PS/GOV/CAB/portal", "msg-1", "PS/GOV/MOI/ss1", `{"a":1}`},
		{"GET", "/r1/PS/GOV/MOI/civil-registry/getOpenAPI?serviceCode=persons", "PS/GOV/CAB", "", "", ""},
		{"GET", "/r1/PS/GOV/MOI/civil-registry/listMethods", "PS/GOV/CAB/portal", "", "", ""},
		{"GET", "/listClients?xRoadInstance=PS", "", "", "", ""},
		{"DELETE", "/r1/PS/GOV/MOI/civil%2Dregistry/persons/%2e%2e/x", "PS/GOV/CAB/portal", "id with space", "PS/GOV/MOI", ""},
		{"PUT", "/r1/PS/GOV/MOI/civil-registry/persons//a/./b?%zz", "PS/GOV//portal", "", "x", "body"},
		{"GET", "/r1/%E2%82%AC/GOV/MOI/civil-registry/persons", "PS/GOV/CAB/portal", "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	f.Fuzz(func(t *testing.T, method, target, client, id, server, body string) {
		if !validHeaderValue(client) || !validHeaderValue(id) || !validHeaderValue(server) {
			t.Skip("net/http refuses such header values before any handler")
		}
		req, err := http.NewRequest(method, "http://ss.example"+target, strings.NewReader(body))
		if err != nil || !strings.HasPrefix(target, "/") {
			t.Skip("net/http refuses such a request line")
		}
		for name, v := range map[string]string{HeaderClient: client, HeaderID: id, HeaderSecurityServer: server} {
			if v != "" {
				req.Header.Set(name, v)
			}
		}
		rec := httptest.NewRecorder()
		cp.ServeHTTP(rec, req)

		if rec.Code == http.StatusOK && req.URL.EscapedPath() == "/listClients" {
			return
		}
		code := rec.Header().Get("X-Road-Error")
		var e xroadError
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Type != code || code == "" {
			t.Fatalf("%s %q: status %d, X-Road-Error %q, body %q: not an X-Road error", method, target, rec.Code, code, rec.Body.Bytes())
		}
		if strings.HasPrefix(code, "Client.") != (rec.Code == http.StatusBadRequest) || (rec.Code != 400 && rec.Code != 500) {
			t.Fatalf("%s %q: status %d for %s", method, target, rec.Code, code)
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if len(tr.problems) > 0 {
			t.Fatalf("%s %q: %v", method, target, tr.problems)
		}
	})
}
