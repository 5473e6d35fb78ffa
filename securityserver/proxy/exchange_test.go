package proxy

import (
	"bytes"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jisr-bus/jisr/securityserver/message"
)

// TestMain fails the package's tests if a goroutine (an HTTP server, a
// pooled connection) outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// independentHash computes X-Road-Request-Hash from the canonical request
// and the body as PR-REST §4.3 and docs/protocol.md (signed messages, §8) define it,
// without the message package.
func independentHash(canonical, body []byte) string {
	head := sha512.Sum512(canonical)
	if len(body) == 0 {
		return base64.StdEncoding.EncodeToString(head[:])
	}
	b := sha512.Sum512(body)
	h := sha512.New()
	h.Write(head[:])
	h.Write(b[:])
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// TestExchangeGET is the happy path end to end over real TLS: the service
// sees exactly the path and query and the X-Road headers, the client sees
// X-Road's response headers, hop-by-hop headers go nowhere, and both
// security servers log both messages.
func TestExchangeGET(t *testing.T) {
	w := newWorld(t, worldOpts{})
	resp := w.do(request{
		path: personsPath + "/v1/persons/4001?x=1&lang=ar",
		header: http.Header{
			HeaderClient:           {"PS/GOV/CAB/other", portal.String()}, // the last one wins
			HeaderUserID:           {"PS4001"},
			HeaderIssue:            {"ticket-17"},
			HeaderRepresentedParty: {"GOV/MOH"},
			"Authorization":        {"Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln"},
			"Accept":               {"application/json"},
			"Connection":           {"X-Custom-Hop"},
			"X-Custom-Hop":         {"must-not-pass"},
			"Keep-Alive":           {"timeout=5"},
			"X-Forwarded-For":      {"10.1.2.3"},
		},
	})
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	seen := w.backend.requests()
	if len(seen) != 1 {
		t.Fatalf("backend saw %d requests, want 1", len(seen))
	}
	got := seen[0]
	if got.Method != "GET" || got.RequestURI != "/v1/persons/4001?x=1&lang=ar" {
		t.Errorf("service saw %s %s, want GET /v1/persons/4001?x=1&lang=ar", got.Method, got.RequestURI)
	}
	id := resp.header.Get(HeaderID)
	if !uuidV4.MatchString(id) {
		t.Errorf("generated X-Road-Id %q is not a UUID v4", id)
	}
	for name, want := range map[string]string{
		HeaderClient:           "PS/GOV/CAB/portal",
		HeaderService:          "PS/GOV/MOI/civil-registry/persons",
		HeaderID:               id,
		HeaderUserID:           "PS4001",
		HeaderIssue:            "ticket-17",
		HeaderRepresentedParty: "GOV/MOH",
		HeaderRequestID:        resp.header.Get(HeaderRequestID),
		"Authorization":        "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
		"Accept":               "application/json",
		"X-Forwarded-For":      "10.1.2.3",
	} {
		if v := got.Header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("service saw %s = %q, want %q", name, v, want)
		}
	}
	for _, name := range []string{"X-Custom-Hop", "Keep-Alive", "X-Jisr-Signature", "X-Road-Security-Server", "X-Road-Request-Hash"} {
		if v := got.Header.Values(name); len(v) > 0 {
			t.Errorf("service saw %s = %q, want nothing", name, v)
		}
	}

	// What the information system sees.
	for name, want := range map[string]string{
		HeaderClient:   "PS/GOV/CAB/portal",
		HeaderService:  "PS/GOV/MOI/civil-registry/persons",
		"X-Backend":    "civil-registry",
		"Content-Type": "application/json",
	} {
		if v := resp.header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("client saw %s = %q, want %q", name, v, want)
		}
	}
	if !uuidV4.MatchString(resp.header.Get(HeaderRequestID)) {
		t.Errorf("X-Road-Request-Id %q is not a UUID", resp.header.Get(HeaderRequestID))
	}
	for _, name := range []string{"X-Road-Error", "X-Svc-Hop", "Keep-Alive", "X-Jisr-Signature", "X-Jisr-Status"} {
		if v := resp.header.Values(name); len(v) > 0 {
			t.Errorf("client saw %s = %q, want nothing", name, v)
		}
	}
	var echoed backendRequest
	if err := json.Unmarshal(resp.body, &echoed); err != nil || echoed.RequestURI != got.RequestURI {
		t.Errorf("client got body %q, want the service's echo", resp.body)
	}

	// Both sides logged request and response, bound to each other.
	cl, pl := w.consumer.log.all(), w.providers[0].log.all()
	if len(cl) != 2 || len(pl) != 2 {
		t.Fatalf("consumer logged %d records, provider %d; want 2 each", len(cl), len(pl))
	}
	for _, recs := range [][]*Record{cl, pl} {
		req, res := recs[0], recs[1]
		if req.Kind != KindRequest || res.Kind != KindResponse || req.MessageID != id || res.MessageID != id ||
			!bytes.Equal(res.RequestDigest, req.Digest) || res.Status != 200 || req.Signature == "" || res.Signature == "" ||
			req.RequestID != resp.header.Get(HeaderRequestID) || len(req.SignerOCSP) == 0 || len(res.SignerChain) < 2 {
			t.Errorf("log records do not describe the exchange: %+v / %+v", req, res)
		}
	}
	if cl[0].Side != ClientSide || pl[0].Side != ServerSide || !bytes.Equal(cl[0].Header, pl[0].Header) || cl[1].Signature != pl[1].Signature {
		t.Error("the two sides logged different messages")
	}

	// X-Road-Request-Hash, recomputed independently from the logged
	// canonical request (no body: SHA-512 of the header part only).
	if h, want := resp.header.Get(HeaderRequestHash), independentHash(cl[0].Header, nil); h != want {
		t.Errorf("X-Road-Request-Hash %q, want %q", h, want)
	}
	// The service's own X-Road-* headers were replaced.
	if resp.header.Get(HeaderID) == "forged-by-service" || resp.header.Get(HeaderRequestHash) == "forged" {
		t.Error("the service's X-Road headers reached the client")
	}
}

// TestExchangePOST carries a body both ways, keeps the client's X-Road-Id
// and checks the request hash with a body part.
func TestExchangePOST(t *testing.T) {
	w := newWorld(t, worldOpts{})
	body := `{"name":"Layla","nationalId":"400100010"}`
	resp := w.do(request{
		method: http.MethodPost, path: personsPath + "/v1/persons", body: body,
		header: http.Header{HeaderID: {"portal-msg-1"}, "Content-Type": {"application/json; charset=utf-8"}},
	})
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	seen := w.backend.requests()
	if len(seen) != 1 || seen[0].Method != "POST" || seen[0].Body != body || seen[0].RequestURI != "/v1/persons" ||
		seen[0].Header.Get("Content-Type") != "application/json; charset=utf-8" || seen[0].Header.Get(HeaderID) != "portal-msg-1" {
		t.Fatalf("service saw %+v", seen)
	}
	if resp.header.Get(HeaderID) != "portal-msg-1" {
		t.Errorf("X-Road-Id %q, want the client's", resp.header.Get(HeaderID))
	}
	cl := w.consumer.log.all()
	if got, want := resp.header.Get(HeaderRequestHash), independentHash(cl[0].Header, []byte(body)); got != want {
		t.Errorf("X-Road-Request-Hash %q, want %q", got, want)
	}
	// The canonical header in the log is the one the message package parses.
	h, err := message.ParseCanonicalRequest(cl[0].Header)
	if err != nil || h.Method != "POST" || h.Path != "/v1/persons" || h.BodySize != int64(len(body)) {
		t.Errorf("logged canonical request %+v, %v", h, err)
	}
	if string(w.consumer.log.bodies[0]) != body || string(w.providers[0].log.bodies[0]) != body {
		t.Error("the request body did not reach the message logs")
	}
}

// TestServiceBasePath appends the r1 path to a base URL with a path, as
// X-Road does, and keeps percent-encoding exactly.
func TestServiceBasePath(t *testing.T) {
	w := newWorld(t, worldOpts{})
	resp := w.do(request{path: "/r1/PS/GOV/MOI/civil-registry/births/v1/births/a%2Fb%20c?q=%C3%A9&empty="})
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	if seen := w.backend.requests(); len(seen) != 1 || seen[0].RequestURI != "/births-api/v1/births/a%2Fb%20c?q=%C3%A9&empty=" {
		t.Fatalf("service saw %+v", seen)
	}
}

// TestServiceErrorPassesThrough: a service's own error response reaches the
// client unchanged and without X-Road-Error.
func TestServiceErrorPassesThrough(t *testing.T) {
	w := newWorld(t, worldOpts{})
	resp := w.do(request{path: personsPath + "/v1/teapot"})
	if resp.status != http.StatusTeapot || resp.header.Get("X-Road-Error") != "" ||
		resp.header.Get("Content-Type") != "application/problem+json" || string(resp.body) != `{"title":"I'm a teapot"}` {
		t.Fatalf("got %d %v %q", resp.status, resp.header, resp.body)
	}
	if resp.header.Get(HeaderRequestHash) == "" {
		t.Error("no X-Road-Request-Hash on a service error")
	}
}

// TestRedirectPassedBack: a 3xx of the service is returned to the client,
// not followed by either security server.
func TestRedirectPassedBack(t *testing.T) {
	w := newWorld(t, worldOpts{})
	resp := w.do(request{path: personsPath + "/v1/redirect"})
	if resp.status != http.StatusFound || resp.header.Get("Location") != "https://elsewhere.example/v1/moved" {
		t.Fatalf("got %d, Location %q", resp.status, resp.header.Get("Location"))
	}
	if n := len(w.backend.requests()); n != 1 {
		t.Errorf("backend saw %d requests, want 1 (redirect not followed)", n)
	}
}

// TestXMLError: a bus error is XML when Accept asks for it.
func TestXMLError(t *testing.T) {
	w := newWorld(t, worldOpts{})
	resp := w.do(request{path: personsPath + "/v1/persons/1", header: http.Header{HeaderClient: nil, "Accept": {"application/xml"}}})
	if resp.status != 400 || resp.header.Get("X-Road-Error") != "Client.MissingHeaderField" ||
		!strings.HasPrefix(resp.header.Get("Content-Type"), "text/xml") ||
		!strings.Contains(string(resp.body), "<type>Client.MissingHeaderField</type>") {
		t.Fatalf("got %d %v %s", resp.status, resp.header, resp.body)
	}
	// A provider-side error is re-encoded for the client too.
	resp = w.do(request{path: "/r1/PS/GOV/MOI/civil-registry/nosuch", header: http.Header{"Accept": {"text/xml"}}})
	if resp.status != 500 || !strings.Contains(string(resp.body), "<type>Server.ServerProxy.UnknownService</type>") {
		t.Fatalf("got %d %s", resp.status, resp.body)
	}
}

// TestServiceTLS: an https service is called with or without verification
// of its certificate, as its VerifyTLS setting says.
func TestServiceTLS(t *testing.T) {
	tlsBackend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "tls:"+r.URL.Path)
	}))
	t.Cleanup(tlsBackend.Close)
	roots := x509.NewCertPool()
	roots.AddCert(tlsBackend.Certificate())

	for _, c := range []struct {
		name       string
		verify     bool
		serviceTLS *tls.Config
		code       string
	}{
		{name: "not verified", verify: false},
		{name: "verified against configured roots", verify: true, serviceTLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
		{name: "verification fails", verify: true, code: "Server.ServerProxy.ServiceFailed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, worldOpts{serverCfg: func(s *ServerConfig) { s.ServiceTLS = c.serviceTLS }})
			w.access.setService("persons", Service{URL: mustURL(t, tlsBackend.URL), VerifyTLS: c.verify, Timeout: 5 * time.Second})
			resp := w.do(request{path: personsPath + "/v1/x"})
			if c.code != "" {
				wantError(t, resp, c.code, 500)
				return
			}
			if resp.status != 200 || string(resp.body) != "tls:/v1/x" {
				t.Fatalf("got %d %q", resp.status, resp.body)
			}
		})
	}
}

// TestLargeBodySpooled: bodies larger than the memory limit go through
// temporary files on both security servers and arrive intact.
func TestLargeBodySpooled(t *testing.T) {
	w := newWorld(t, worldOpts{
		clientCfg: func(c *ClientConfig) { c.MemoryLimit = 1 << 10 },
		serverCfg: func(s *ServerConfig) { s.MemoryLimit = 1 << 10 },
	})
	body := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB
	resp := w.do(request{method: http.MethodPost, path: personsPath + "/v1/persons", body: body})
	if resp.status != 200 {
		t.Fatalf("%d %s", resp.status, resp.body)
	}
	seen := w.backend.requests()
	if len(seen) != 1 || seen[0].Body != body {
		t.Fatal("the service did not receive the body intact")
	}
	var echoed backendRequest
	if err := json.Unmarshal(resp.body, &echoed); err != nil || echoed.Body != body {
		t.Fatal("the response body did not come back intact")
	}
	if got, want := resp.header.Get(HeaderRequestHash), independentHash(w.consumer.log.all()[0].Header, []byte(body)); got != want {
		t.Errorf("X-Road-Request-Hash %q, want %q", got, want)
	}
}
