package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Ministry names a provider the portal calls; each is one X-Road service
// of a ministry's subsystem (Config.Services maps them).
type Ministry string

// The ministries of the demo world.
const (
	Interior  Ministry = "moi"
	Transport Ministry = "mot"
	Health    Ministry = "moh"
	Payments  Ministry = "pma"
	Finance   Ministry = "mof"
	Post      Ministry = "post"
)

// Ministries lists every ministry the portal calls.
func Ministries() []Ministry { return []Ministry{Interior, Transport, Health, Payments, Finance, Post} }

// Call is one request to a ministry through the bus.
type Call struct {
	Ministry Ministry
	Method   string
	// Path is the path below the service, e.g. "/v1/persons/401234562".
	Path string
	// Body, when not nil, is sent as JSON.
	Body any
	// UserID is the citizen's national ID (X-Road-UserId) and Issue the
	// application number (X-Road-Issue). Both are required for a citizen's
	// or an officer's calls; only the public verification page calls
	// without a citizen (UserID empty).
	UserID string
	Issue  string
	// IdempotencyKey, when set, is sent as Idempotency-Key.
	IdempotencyKey string
}

// Response is a ministry's answer (any status).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Bus sends calls to ministries through the portal's security server.
//
// Do returns a Response for every answer that came back, including
// problem objects (4xx/5xx) written by the ministry and faults raised by
// the bus (X-Road-Error); the caller decides with Decode. It returns an
// error only when no answer came back (the security server could not be
// reached, the context ended); that error wraps ErrBusUnreachable.
type Bus interface {
	Do(ctx context.Context, c Call) (*Response, error)
}

// ErrBusUnreachable is wrapped by Bus.Do errors when the security server
// gave no answer.
var ErrBusUnreachable = errors.New("portal: the security server could not be reached")

// HTTPBus is the Bus over X-Road REST r1: it calls
// {SecurityServer}/r1/{service path}{Call.Path} with X-Road-Client.
type HTTPBus struct {
	securityServer string
	client         xroad.ClientID
	services       map[Ministry]xroad.ServiceID
	http           *http.Client
}

var _ Bus = (*HTTPBus)(nil)

// NewHTTPBus returns a bus that calls the security server at ssURL (e.g.
// http://127.0.0.1:8080) as client, with services naming each ministry's
// service. hc may be nil (a client with a 30-second timeout is used).
func NewHTTPBus(ssURL string, client xroad.ClientID, services map[Ministry]xroad.ServiceID, hc *http.Client) (*HTTPBus, error) {
	if ssURL == "" {
		return nil, errors.New("portal: bus: the security server URL is required")
	}
	if err := client.Validate(); err != nil {
		return nil, fmt.Errorf("portal: bus: client: %w", err)
	}
	for _, m := range Ministries() {
		s, ok := services[m]
		if !ok {
			return nil, fmt.Errorf("portal: bus: no service for %s", m)
		}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("portal: bus: service for %s: %w", m, err)
		}
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &HTTPBus{securityServer: strings.TrimRight(ssURL, "/"), client: client, services: services, http: hc}, nil
}

// URL returns the r1 URL of path at ministry m.
func (b *HTTPBus) URL(m Ministry, path string) string {
	return b.securityServer + "/r1/" + b.services[m].URLPath() + path
}

// Do implements Bus.
func (b *HTTPBus) Do(ctx context.Context, c Call) (*Response, error) {
	if _, ok := b.services[c.Ministry]; !ok {
		return nil, fmt.Errorf("portal: bus: unknown ministry %q", c.Ministry)
	}
	var body io.Reader
	if c.Body != nil {
		raw, err := json.Marshal(c.Body)
		if err != nil {
			return nil, fmt.Errorf("portal: bus: encode request: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, b.URL(c.Ministry, c.Path), body)
	if err != nil {
		return nil, fmt.Errorf("portal: bus: %w", err)
	}
	req.Header.Set("X-Road-Client", b.client.String())
	req.Header.Set("Accept", "application/json")
	if c.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.UserID != "" {
		req.Header.Set(HeaderUserID, c.UserID)
	}
	if c.Issue != "" {
		req.Header.Set(HeaderIssue, c.Issue)
	}
	if c.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", c.IdempotencyKey)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrBusUnreachable, c.Method, c.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: read answer: %w", ErrBusUnreachable, c.Method, c.Path, err)
	}
	if len(raw) > maxAnswer {
		return nil, fmt.Errorf("portal: bus: %s %s: answer larger than %d bytes", c.Method, c.Path, maxAnswer)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}

// maxAnswer bounds what the portal reads of one answer.
const maxAnswer = 4 << 20

// X-Road headers the portal sets on every citizen's call.
const (
	HeaderUserID = "X-Road-UserId"
	HeaderIssue  = "X-Road-Issue"
)

// CallError is a call's answer that was not a success: a fault raised by
// the bus (BusFault: the X-Road-Error code) or a problem object written by
// the ministry (Code: its "code" member). It is what the pages turn into a
// plain-language message (see message).
type CallError struct {
	Ministry Ministry
	Status   int
	// BusFault is set when the bus raised the fault (X-Road-Error).
	BusFault bool
	// Code is the X-Road error code or the problem's code.
	Code string
	// Detail is the ministry's own explanation (English; logged, not shown).
	Detail string
	// Extra holds a problem object's other members (fines, blockers…).
	Extra map[string]json.RawMessage
}

func (e *CallError) Error() string {
	kind := "problem"
	if e.BusFault {
		kind = "bus fault"
	}
	return fmt.Sprintf("portal: %s answered %d (%s %s): %s", e.Ministry, e.Status, kind, e.Code, e.Detail)
}

// do sends c and decodes a 2xx answer into out (when out is not nil). Any
// other answer is a *CallError.
func do(ctx context.Context, bus Bus, c Call, out any) (*Response, error) {
	resp, err := bus.Do(ctx, c)
	if err != nil {
		return nil, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return resp, callError(c.Ministry, resp)
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return resp, fmt.Errorf("portal: %s %s: decode answer: %w", c.Ministry, c.Path, err)
		}
	}
	return resp, nil
}

// callError reads a failed answer: X-Road faults have the X-Road-Error
// header and a {"type","message","detail"} body; ministries' problems are
// RFC 9457 objects with a code.
func callError(m Ministry, resp *Response) *CallError {
	e := &CallError{Ministry: m, Status: resp.Status}
	if code := resp.Header.Get("X-Road-Error"); code != "" {
		e.BusFault, e.Code = true, code
		var f struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(resp.Body, &f) == nil {
			if f.Type != "" {
				e.Code = f.Type
			}
			e.Detail = f.Message
		}
		return e
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(resp.Body, &p) == nil {
		_ = json.Unmarshal(p["code"], &e.Code)
		_ = json.Unmarshal(p["detail"], &e.Detail)
		for _, k := range []string{"type", "title", "status", "detail", "instance", "code"} {
			delete(p, k)
		}
		e.Extra = p
	}
	if e.Code == "" {
		e.Code = fmt.Sprintf("HTTP.%d", resp.Status)
	}
	return e
}
