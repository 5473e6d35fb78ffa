package webui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/jisr-bus/jisr/internal/xerr"
)

// apiKeyScheme is the admin APIs' Authorization scheme (X-Road's).
const apiKeyScheme = "X-Road-ApiKey"

// maxAnswer bounds an answer read from an in-process call (an OpenAPI
// document of 4 MiB is the largest a console reads).
const maxAnswer = 8 << 20

// errAnswerTooLarge reports an answer above maxAnswer.
var errAnswerTooLarge = errors.New("webui: answer too large")

// capture is the ResponseWriter of an in-process call.
type capture struct {
	header http.Header
	code   int
	body   bytes.Buffer
	over   bool
}

func newCapture() *capture { return &capture{header: http.Header{}} }

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}

func (c *capture) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	if c.body.Len()+len(b) > maxAnswer {
		c.over = true
		return 0, errAnswerTooLarge
	}
	return c.body.Write(b)
}

func (c *capture) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

// Answer is the answer of an in-process call.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// callContext is the context of an in-process call: the console
// request's (cancelled with it), without the console router's chi route
// context, which a chi router downstream would otherwise take for its own
// (and route by the console request's method and path).
func (c *Ctx) callContext() context.Context {
	return context.WithValue(c.R.Context(), chi.RouteCtxKey, (*chi.Context)(nil))
}

// serve sends req to h in-process, on behalf of the console request r:
// the operator's remote address goes along, so that the API's audit
// trail names it.
func (c *Ctx) serve(h http.Handler, req *http.Request) (Answer, error) {
	req.RemoteAddr = c.R.RemoteAddr
	req.Host = c.R.Host
	if c.R.TLS != nil {
		req.TLS = c.R.TLS
	}
	w := newCapture()
	h.ServeHTTP(w, req)
	if w.over {
		return Answer{}, fmt.Errorf("webui: %s %s: %w", req.Method, req.URL.Path, errAnswerTooLarge)
	}
	return Answer{Status: w.status(), Header: w.header, Body: w.body.Bytes()}, nil
}

// API sends one request to the admin API with the session's key: method,
// path under the API prefix ("/clients"; identifiers escaped by the
// caller) and a JSON body (none when nil). A 2xx answer is returned as it
// is; any other is returned as the API's *xerr.Error (its code, message,
// detail id and status), which Ctx's error handling shows as it is.
func (c *Ctx) API(method, path string, body any) (Answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Answer{}, fmt.Errorf("webui: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.callContext(), method, c.ui.cfg.APIPrefix+path, rd)
	if err != nil {
		return Answer{}, fmt.Errorf("webui: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", apiKeyScheme+" token="+c.sess.secret)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	a, err := c.serve(c.ui.cfg.API, req)
	if err != nil {
		return Answer{}, err
	}
	if a.Status < 200 || a.Status > 299 {
		return a, answerError(a)
	}
	return a, nil
}

// Call is API that decodes a JSON answer into out (unless out is nil).
func (c *Ctx) Call(method, path string, body, out any) error {
	a, err := c.API(method, path, body)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(a.Body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(a.Body, out); err != nil {
		return fmt.Errorf("webui: decode the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Get is Call for a GET.
func (c *Ctx) Get(path string, out any) error { return c.Call(http.MethodGet, path, nil, out) }

// Fetch sends a GET without the API key to h in-process (the readiness
// handler, the operational monitoring API), with the given headers, and
// returns the answer whatever its status.
func (c *Ctx) Fetch(h http.Handler, target string, header http.Header) (Answer, error) {
	req, err := http.NewRequestWithContext(c.callContext(), http.MethodGet, target, nil)
	if err != nil {
		return Answer{}, fmt.Errorf("webui: GET %s: %w", target, err)
	}
	for k, vv := range header {
		for _, v := range vv {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/json")
	return c.serve(h, req)
}

// answerError turns a refusal or failure of an API into the *xerr.Error it
// carries: the X-Road style JSON body {"type","message","detail"} and the
// status. An answer without that body keeps its status with the status
// text as the message.
func answerError(a Answer) *xerr.Error {
	var wire struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	}
	e := &xerr.Error{Status: a.Status}
	if err := json.Unmarshal(a.Body, &wire); err == nil && wire.Message != "" {
		e.Code, e.Message, e.Detail = wire.Type, wire.Message, wire.Detail
	} else {
		e.Message = strings.TrimSpace(http.StatusText(a.Status))
	}
	if e.Code == "" {
		e.Code = a.Header.Get(xerr.HeaderError)
	}
	return e
}
