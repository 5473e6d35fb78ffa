// Package adaptertest holds what the ministry adapters' tests share: running
// a test on both databases (SQLite and PostgreSQL), a client that calls an
// adapter's handler in process and checks every answer against the
// adapter's OpenAPI description, and the check that the description and the
// chi routes agree.
//
// It is imported only from _test.go files.
package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-chi/chi/v5"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/internal/store/storetest"
)

// Reference returns the fixed "now" of the adapters' tests: seed data and
// fake clocks start here, so every run sees the same world.
func Reference() time.Time { return time.Date(2026, time.March, 15, 9, 30, 0, 0, time.UTC) }

// ForEachDatabase runs fn as two subtests, "sqlite" on a fresh SQLite file
// and "postgres" on a fresh schema of the server in JISR_TEST_POSTGRES_DSN
// (skipped when it is unset, failing when JISR_REQUIRE_TOOLS=1).
func ForEachDatabase(t *testing.T, fn func(t *testing.T, db kit.Database)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, kit.Database{Driver: kit.DriverSQLite, Path: storetest.SQLitePath(t)})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, kit.Database{Driver: kit.DriverPostgres, DSN: storetest.PostgresDSN(t)})
	})
}

// Client calls a handler in process. Every answer to a request for an
// operation of the description is checked against it: the status must be
// documented, and the body must match the documented schema for its
// content type.
type Client struct {
	t       testing.TB
	h       http.Handler
	doc     *openapi3.T
	router  routers.Router
	headers http.Header
}

// NewClient returns a Client for h described by spec.
func NewClient(t testing.TB, h http.Handler, spec []byte) *Client {
	t.Helper()
	doc, err := kit.LoadOpenAPI(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{t: t, h: h, doc: doc, router: rt, headers: http.Header{}}
}

// With returns a copy of c that adds header name: value to every request.
func (c *Client) With(name, value string) *Client {
	cc := *c
	cc.headers = c.headers.Clone()
	cc.headers.Set(name, value)
	return &cc
}

// Response is a recorded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends method path with body (nil: none; []byte or string: raw; else
// JSON-encoded) and extra headers as "Name: value" strings.
func (c *Client) Do(method, path string, body any, headers ...string) *Response {
	c.t.Helper()
	var rd io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	for k, v := range c.headers {
		req.Header[k] = v
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			c.t.Fatalf("header %q: want Name: value", h)
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	resp := &Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	c.checkAgainstSpec(req, raw, resp)
	return resp
}

// checkAgainstSpec validates resp against the description of the
// operation req was for (if any), failing the test when it does not match.
func (c *Client) checkAgainstSpec(req *http.Request, raw []byte, resp *Response) {
	c.t.Helper()
	if err := c.validateResponse(req, raw, resp); err != nil {
		c.t.Errorf("%s %s → %d does not match the OpenAPI description: %v\nbody: %s", req.Method, req.URL, resp.Status, err, resp.Body)
	}
}

// validateResponse returns why resp does not match the description of the
// operation req was for; nil when it does or when req is for no operation.
func (c *Client) validateResponse(req *http.Request, raw []byte, resp *Response) error {
	// A fresh request: the handler consumed the body.
	vreq := httptest.NewRequest(req.Method, req.URL.String(), bytes.NewReader(raw))
	vreq.Header = req.Header.Clone()
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: resp.Status,
		Header: resp.Header,
		Body:   io.NopCloser(bytes.NewReader(resp.Body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		},
	}
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// Want fails the test unless the status is want, showing the body.
func (r *Response) Want(t testing.TB, want int) *Response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body: %s", r.Status, want, r.Body)
	}
	return r
}

// JSON decodes the body into v.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem decodes a problem body and checks its shape: media type,
// matching status, type URI derived from the code, an instance URN.
func (r *Response) Problem(t testing.TB) kit.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != kit.ProblemMediaType {
		t.Fatalf("Content-Type %q, want %s; body %s", ct, kit.ProblemMediaType, r.Body)
	}
	var p kit.Problem
	r.JSON(t, &p)
	if p.Status != r.Status || p.Type != kit.ProblemTypePrefix+p.Code || !strings.HasPrefix(p.Instance, "urn:uuid:") || p.Detail == "" || p.Title == "" {
		t.Fatalf("malformed problem for status %d: %s", r.Status, r.Body)
	}
	return p
}

// WantProblem fails unless the answer is a problem with this status and
// code, and returns it.
func (r *Response) WantProblem(t testing.TB, status int, code string) kit.Problem {
	t.Helper()
	r.Want(t, status)
	p := r.Problem(t)
	if p.Code != code {
		t.Fatalf("problem code %q, want %q: %s", p.Code, code, r.Body)
	}
	return p
}

// CheckRoutes checks that the chi routes of h and the operations of spec
// are the same set (GET /healthz and GET /openapi.yaml included), and that
// the description validates.
func CheckRoutes(t *testing.T, h http.Handler, spec []byte) {
	t.Helper()
	doc, err := kit.LoadOpenAPI(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	cr, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("handler %T is not a chi router", h)
	}
	routes := map[string]bool{}
	if err := chi.Walk(cr, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes[method+" "+route] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = true
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			if op.Responses.Value("default") == nil && op.Responses.Value("400") == nil && path != "/healthz" && path != "/openapi.yaml" {
				t.Errorf("%s %s documents no 400 (every operation is validated)", method, path)
			}
		}
	}
	var missingSpec, missingRouter []string
	for r := range routes {
		if !ops[r] {
			missingSpec = append(missingSpec, r)
		}
	}
	for o := range ops {
		if !routes[o] {
			missingRouter = append(missingRouter, o)
		}
	}
	sort.Strings(missingSpec)
	sort.Strings(missingRouter)
	if len(missingSpec) > 0 {
		t.Errorf("routes not in the OpenAPI description: %v", missingSpec)
	}
	if len(missingRouter) > 0 {
		t.Errorf("operations of the OpenAPI description without a route: %v", missingRouter)
	}
}
