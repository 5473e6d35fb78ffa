package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// MaxBodySize bounds every request body an adapter reads.
const MaxBodySize = 1 << 20

// The X-Road headers a security server gives the service (PR-REST).
const (
	HeaderClient = "X-Road-Client"
	HeaderID     = "X-Road-Id"
	HeaderUserID = "X-Road-UserId"
	HeaderIssue  = "X-Road-Issue"
)

// API is the HTTP side of one adapter: a chi router whose every request
// under the description's paths is validated against the adapter's OpenAPI
// description before its handler runs, with request logging, metrics and
// panic containment. The adapter mounts its handlers on Router.
type API struct {
	// Router is the chi router the adapter adds its routes to.
	Router chi.Router
	// Log is the adapter's logger.
	Log *slog.Logger

	spec    []byte
	doc     *openapi3.T
	router  routers.Router
	metrics *httpMetrics
}

// APIConfig configures NewAPI.
type APIConfig struct {
	// Name is the adapter's short name ("interior", "payments", …): the
	// value of the "adapter" label on its metrics.
	Name string
	// OpenAPI is the adapter's OpenAPI 3 description (YAML or JSON). It
	// must validate; it is served at GET /openapi.yaml.
	OpenAPI []byte
	// Log receives one line per request and the causes of failures
	// (default: discard).
	Log *slog.Logger
	// Registerer receives the HTTP metrics (default: none registered).
	Registerer prometheus.Registerer
	// Health answers GET /healthz: nil when the adapter can serve.
	Health func(context.Context) error
}

// LoadOpenAPI parses and validates an OpenAPI 3 description.
func LoadOpenAPI(ctx context.Context, spec []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("openapi: invalid description: %w", err)
	}
	return doc, nil
}

// NewAPI returns an API with GET /healthz and GET /openapi.yaml mounted.
func NewAPI(cfg APIConfig) (*API, error) {
	if cfg.Name == "" {
		return nil, errors.New("api: a name is required")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	doc, err := LoadOpenAPI(context.Background(), cfg.OpenAPI)
	if err != nil {
		return nil, err
	}
	rt, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	m, err := newHTTPMetrics(cfg.Name, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	a := &API{Log: log, spec: bytes.Clone(cfg.OpenAPI), doc: doc, router: rt, metrics: m}
	r := chi.NewRouter()
	r.Use(a.recoverer, a.observe, a.validateRequest)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, a.Log, NotFound("no such resource"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, a.Log, Errorf(CodeMethodNotAllowed, http.StatusMethodNotAllowed, nil, "method %s not allowed here", r.Method))
	})
	health := cfg.Health
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		status, code := "ok", http.StatusOK
		if health != nil {
			if err := health(r.Context()); err != nil {
				a.Log.Warn("health check failed", "error", err)
				status, code = "fail", http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		WriteJSON(w, code, map[string]string{"status": status})
	})
	r.Get("/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(a.spec)
	})
	a.Router = r
	return a, nil
}

// Spec returns a copy of the OpenAPI description.
func (a *API) Spec() []byte { return bytes.Clone(a.spec) }

// Handler returns the router as an http.Handler.
func (a *API) Handler() http.Handler { return a.Router }

// Handle adapts a handler that returns an error: a nil error means it has
// written its answer, a non-nil one is written by WriteProblem.
func (a *API) Handle(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteProblem(w, r, a.Log, err)
		}
	}
}

// validateRequest checks requests for operations of the description against
// it (parameters, headers, body) and refuses the invalid ones with 400. A
// request whose path and method are not in the description passes through
// to chi (/healthz and /openapi.yaml, or a 404/405).
func (a *API) validateRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodySize)
		}
		route, params, err := a.router.FindRoute(r)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		in := &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: params,
			Route:      route,
			Options: &openapi3filter.Options{
				SkipSettingDefaults:               true,
				AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
				RejectWhenRequestBodyNotSpecified: true,
			},
		}
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				WriteProblem(w, r, a.Log, Errorf(CodeTooLarge, http.StatusRequestEntityTooLarge, err, "request body larger than %d bytes", MaxBodySize))
				return
			}
			if re, ok := errors.AsType[*openapi3filter.RequestError](err); ok && re.RequestBody != nil && strings.HasPrefix(re.Reason, "header Content-Type has unexpected value") {
				WriteProblem(w, r, a.Log, Errorf(CodeUnsupportedMedia, http.StatusUnsupportedMediaType, err, "request body must be application/json"))
				return
			}
			WriteProblem(w, r, a.Log, Errorf(CodeBadRequest, http.StatusBadRequest, err, "%s", validationMessage(err)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// validationMessage turns a kin-openapi validation error into one line for
// the caller: which parameter or body member failed and why, without the
// schema dump kin-openapi appends.
func validationMessage(err error) string {
	if re, ok := errors.AsType[*openapi3filter.RequestError](err); ok {
		var msg string
		switch {
		case re.Parameter != nil:
			msg = fmt.Sprintf("%s parameter %q: ", re.Parameter.In, re.Parameter.Name)
		case re.RequestBody != nil:
			msg = "request body: "
		}
		if se, ok := errors.AsType[*openapi3.SchemaError](re.Err); ok {
			if p := se.JSONPointer(); len(p) > 0 {
				msg += "/" + joinPointer(p) + ": "
			}
			return msg + se.Reason
		}
		if re.Reason != "" {
			return msg + re.Reason
		}
		if re.Err != nil {
			return msg + re.Err.Error()
		}
	}
	if se, ok := errors.AsType[*openapi3filter.SecurityRequirementsError](err); ok {
		return se.Error()
	}
	return "request does not match the API description"
}

func joinPointer(p []string) string {
	var b bytes.Buffer
	for i, s := range p {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s)
	}
	return b.String()
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.status, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe logs every request and counts it in the metrics, by chi route
// pattern (bounded), method and status. The citizen's national ID
// (X-Road-UserId) is personal data and is not logged; the message id and
// the issue are, so a request can be matched with the security servers'
// message logs.
func (a *API) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		elapsed := time.Since(start)
		a.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
		a.metrics.duration.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())
		a.Log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", rec.status),
			slog.Duration("duration", elapsed),
			slog.String("client", r.Header.Get(HeaderClient)),
			slog.String("messageId", r.Header.Get(HeaderID)),
			slog.String("issue", r.Header.Get(HeaderIssue)),
		)
	})
}

// recoverer turns a panic in a handler into a 500 problem and logs the
// stack: a bug must not take the adapter down, and the caller learns
// nothing about it beyond the detail id.
func (a *API) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.Log.Error("handler panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			WriteProblem(w, r, a.Log, Internal(fmt.Errorf("panic: %v", v)))
		}()
		next.ServeHTTP(w, r)
	})
}

// WriteJSON sends v as JSON with the given status and Cache-Control:
// no-store (adapters answer with personal data).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DecodeJSON reads r's body (at most MaxBodySize bytes) into v strictly: the
// content type must be JSON, unknown members and trailing data are refused.
// Its errors are *xerr.Error ready for WriteProblem.
func DecodeJSON(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return Errorf(CodeUnsupportedMedia, http.StatusUnsupportedMediaType, err, "request body must be application/json")
	}
	body := http.MaxBytesReader(nil, r.Body, MaxBodySize)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return Errorf(CodeTooLarge, http.StatusRequestEntityTooLarge, err, "request body larger than %d bytes", MaxBodySize)
		}
		return Errorf(CodeBadRequest, http.StatusBadRequest, err, "request body is not valid JSON for this operation: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest("request body holds data after the JSON value")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Sprintf("member %q has the wrong type", te.Field)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "empty or truncated body"
	}
	// Unknown members, and errors from UnmarshalText of typed fields
	// (national IDs, amounts), which name no input.
	return err.Error()
}

func requestContext(r *http.Request) context.Context {
	if r == nil {
		return context.Background()
	}
	return r.Context()
}

// httpMetrics are the request metrics of one adapter.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(name string, reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "jisr_adapter_http_requests_total",
			Help:        "Requests served by a ministry adapter, by route pattern, method and status.",
			ConstLabels: prometheus.Labels{"adapter": name},
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "jisr_adapter_http_request_duration_seconds",
			Help:        "Time a ministry adapter took to answer, by route pattern and method.",
			ConstLabels: prometheus.Labels{"adapter": name},
			Buckets:     []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("metrics: %w", err)
			}
		}
	}
	return m, nil
}
