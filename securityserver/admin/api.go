package admin

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/adminapi"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3 description of the admin API (a copy).
func OpenAPI() []byte { return bytes.Clone(openAPI) }

// APIKeyScheme is the Authorization scheme of the admin API, as in X-Road:
// "Authorization: X-Road-ApiKey token=<secret>".
const APIKeyScheme = adminapi.Scheme

// Paths of the admin API.
const (
	// APIPrefix is the path prefix of the operations.
	APIPrefix = "/api/v1"
	// OpenAPIPath serves the OpenAPI description, without authentication.
	OpenAPIPath = "/api/openapi.yaml"
)

// Config configures New.
type Config struct {
	// Backend carries the operations out. Required.
	Backend Backend
	// Store holds the API keys and the audit trail. Required.
	Store conf.AdminStore
	// Fetcher downloads service descriptions given by URL (a Fetcher with
	// its defaults when nil).
	Fetcher *Fetcher
	// Clock decides API key expiry; clock.System() when nil.
	Clock clock.Clock
	// Logger receives refusals and internal errors; discarded when nil.
	Logger *slog.Logger
	// Registerer receives jisr_ss_admin_api_requests_total; none when nil.
	Registerer prometheus.Registerer
}

// API is the admin REST API. Create it with New and serve Handler.
type API struct {
	backend  Backend
	store    conf.AdminStore
	fetcher  *Fetcher
	clk      clock.Clock
	log      *slog.Logger
	requests *prometheus.CounterVec
	ops      []*operation
}

// New returns the admin API.
func New(cfg Config) (*API, error) {
	if cfg.Backend == nil || cfg.Store == nil {
		return nil, errors.New("admin: a backend and a store are required")
	}
	a := &API{backend: cfg.Backend, store: cfg.Store, fetcher: cfg.Fetcher, clk: cfg.Clock, log: cfg.Logger}
	if a.fetcher == nil {
		a.fetcher = &Fetcher{}
	}
	if a.clk == nil {
		a.clk = clock.System()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jisr_ss_admin_api_requests_total",
		Help: "Security server admin API requests by route (pattern), method and status code.",
	}, []string{"route", "method", "code"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(a.requests); err != nil {
			return nil, fmt.Errorf("admin: metrics: %w", err)
		}
	}
	a.ops = a.operations()
	return a, nil
}

// Handler returns the API's handler: the operations under APIPrefix and
// the description at OpenAPIPath. Mount it at "/api/".
func (a *API) Handler() http.Handler {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, xerr.New(codeNotFound, "no such route", nil))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, xerr.New(codeMethodNotAllowed, "method not allowed", nil))
	})
	r.Get(OpenAPIPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPI)
	})
	for _, op := range a.ops {
		r.Method(op.method, APIPrefix+op.pattern, a.serve(op))
	}
	return r
}

// operation is one route: method and pattern (under APIPrefix), the
// operation id of openapi.yaml, the roles allowed, the audit action (""
// for reads that are not audited) and the handler.
type operation struct {
	method, pattern, id string
	roles               []Role
	action              string
	handle              func(ctx context.Context, c *call) (result, error)
}

// result is what an operation produced: the answer, and for audited
// operations what the audit trail records of it.
type result struct {
	status int // 0 means 200
	body   any
	// raw, when set, is written as is with contentType instead of body.
	raw         []byte
	contentType string
	filename    string
	target      string
	detail      any
}

// call is one authenticated request.
type call struct {
	r   *http.Request
	w   http.ResponseWriter
	key conf.APIKey
}

// param returns a path parameter, percent-decoded.
func (c *call) param(name string) (string, error) { return pathParam(chi.URLParam(c.r, name)) }

// maxBody bounds request bodies (OpenAPI documents are the largest).
const maxBody = DefaultMaxDocumentSize + 64<<10

// decode reads the JSON body strictly into v.
func (c *call) decode(v any) error {
	if err := adminapi.DecodeJSON(c.w, c.r, v, maxBody); err != nil {
		if errors.Is(err, adminapi.ErrEmptyBody) {
			return badRequest("request body: %v", io.EOF)
		}
		return badRequest("%v", err)
	}
	return nil
}

// decodeOptional is decode for an optional body: an empty body leaves v
// as it is.
func (c *call) decodeOptional(v any) error {
	err := adminapi.DecodeJSON(c.w, c.r, v, maxBody)
	switch {
	case errors.Is(err, adminapi.ErrEmptyBody):
		return nil
	case err != nil:
		return badRequest("%v", err)
	}
	return nil
}

func (op *operation) allows(roles []string) bool {
	for _, r := range roles {
		if slices.Contains(op.roles, Role(r)) {
			return true
		}
	}
	return false
}

// serve runs one operation: authenticate, authorise, audit, handle.
func (a *API) serve(op *operation) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &adminapi.StatusRecorder{ResponseWriter: w}
		defer func() {
			a.requests.WithLabelValues(APIPrefix+op.pattern, op.method, strconv.Itoa(rec.Code)).Inc()
		}()
		ctx := r.Context()
		key, err := a.authenticate(ctx, r)
		if err != nil {
			a.refuse(ctx, rec, r, op, key, err)
			return
		}
		if !op.allows(key.Roles) {
			a.refuse(ctx, rec, r, op, key, xerr.Newf(codeAccessDenied, nil,
				"API key %q lacks a role allowed to %s %s", key.Name, op.method, APIPrefix+op.pattern))
			return
		}
		c := &call{r: r, w: rec, key: key}
		if op.action == "" {
			res, err := op.handle(ctx, c)
			if err != nil {
				a.writeError(rec, r, err)
				return
			}
			writeResult(rec, res)
			return
		}
		// Audit fails closed: the action is recorded as pending before it
		// is carried out, and not carried out when that fails.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
		ev, err := a.store.AppendAudit(actx, conf.AuditEvent{Actor: key.Name, KeyID: key.ID, Remote: r.RemoteAddr,
			Action: op.action, Target: r.URL.Path, Outcome: conf.AuditPending})
		cancel()
		if err != nil {
			a.writeError(rec, r, xerr.New(codeUnavailable, "the audit trail cannot be written; nothing was done", err))
			return
		}
		res, err := op.handle(ctx, c)
		outcome, target, detail := conf.AuditSuccess, res.target, res.detail
		if err != nil {
			outcome, target, detail = conf.AuditFailure, "", failureDetail(err)
		}
		a.completeAudit(ctx, ev.ID, op, outcome, target, detail)
		if err != nil {
			a.writeError(rec, r, err)
			return
		}
		writeResult(rec, res)
	}
}

// auditTimeout bounds one audit write, which survives the client hanging
// up.
const auditTimeout = 10 * time.Second

func (a *API) completeAudit(ctx context.Context, id int64, op *operation, outcome conf.AuditOutcome, target string, detail any) {
	var raw json.RawMessage
	if detail != nil {
		if b, err := json.Marshal(detail); err == nil {
			raw = b
		}
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if _, err := a.store.CompleteAudit(actx, id, outcome, target, raw); err != nil {
		a.log.Error("admin API: outcome of an audited action not recorded (the event stays pending)",
			"event", id, "action", op.action, "outcome", outcome, "err", err)
	}
}

// failureDetail is what the audit trail records of a failed or refused
// action.
func failureDetail(err error) map[string]any {
	e := classify(err)
	return map[string]any{"status": statusOf(e.Code), "code": e.Code, "error": e.Message, "errorDetail": e.Detail}
}

// refuse answers 401 or 403 and, for audited operations, records the
// refusal.
func (a *API) refuse(ctx context.Context, w http.ResponseWriter, r *http.Request, op *operation, key conf.APIKey, err error) {
	actor := key.Name
	if actor == "" {
		actor = anonymousActor
	}
	a.log.Warn("admin API: request refused", "method", r.Method, "path", r.URL.Path, "actor", actor, "remote", r.RemoteAddr, "err", err)
	if op.action != "" {
		detail, _ := json.Marshal(failureDetail(err))
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
		defer cancel()
		if _, aerr := a.store.AppendAudit(actx, conf.AuditEvent{Actor: actor, KeyID: key.ID, Remote: r.RemoteAddr,
			Action: op.action, Target: r.URL.Path, Detail: detail, Outcome: conf.AuditFailure}); aerr != nil {
			a.log.Error("admin API: refusal not recorded in the audit trail", "action", op.action, "err", aerr)
		}
	}
	a.writeError(w, r, err)
}

// anonymousActor names the actor of a request without a usable API key.
const anonymousActor = "anonymous"

// authenticate returns the usable API key the request presents. Errors
// are *xerr.Error with codeUnauthorized, or internal errors; the key is
// returned (not usable) when it exists but is expired or revoked, so that
// the refusal can name it.
func (a *API) authenticate(ctx context.Context, r *http.Request) (conf.APIKey, error) {
	secret, ok := ParseAPIKeyHeader(r.Header.Get("Authorization"))
	if !ok {
		return conf.APIKey{}, xerr.New(codeUnauthorized, "missing or malformed Authorization: "+APIKeyScheme+" token=…", nil)
	}
	key, err := a.store.APIKeyByHash(ctx, conf.HashAPIKeySecret([]byte(secret)))
	if errors.Is(err, conf.ErrNotFound) {
		return conf.APIKey{}, xerr.New(codeUnauthorized, "unknown API key", nil)
	}
	if err != nil {
		return conf.APIKey{}, fmt.Errorf("admin: look up API key: %w", err)
	}
	if !key.RevokedAt.IsZero() {
		return key, xerr.New(codeUnauthorized, "API key revoked", nil)
	}
	if !key.Usable(a.clk.Now()) {
		return key, xerr.New(codeUnauthorized, "API key expired", nil)
	}
	return key, nil
}

// ParseAPIKeyHeader extracts the secret from "X-Road-ApiKey token=<secret>".
func ParseAPIKeyHeader(h string) (string, bool) { return adminapi.ParseHeader(h) }

// NewAPIKeySecret returns a fresh random API key secret (256 bits,
// base64url).
func NewAPIKeySecret() string { return adminapi.NewSecret() }

func writeResult(w http.ResponseWriter, res result) {
	status := res.status
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case status == http.StatusNoContent:
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
	case res.raw != nil:
		w.Header().Set("Content-Type", res.contentType)
		w.Header().Set("Cache-Control", "no-store")
		if res.filename != "" {
			w.Header().Set("Content-Disposition", `attachment; filename="`+res.filename+`"`)
		}
		w.WriteHeader(status)
		_, _ = w.Write(res.raw)
	default:
		writeJSON(w, status, res.body)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Error handling: the one place where errors become HTTP statuses.

// The admin API's error codes (xerr style). Each maps to one status in
// statusOf.
const (
	codeInvalidRequest   = xerr.PrefixClient + "InvalidRequest"
	codeUnauthorized     = xerr.PrefixClient + "Unauthorized"
	codeAccessDenied     = xerr.PrefixClient + "AccessDenied"
	codeNotFound         = xerr.PrefixClient + "NotFound"
	codeMethodNotAllowed = xerr.PrefixClient + "MethodNotAllowed"
	codeConflict         = xerr.PrefixClient + "Conflict"
	codeUnavailable      = xerr.PrefixServer + "ServiceUnavailable"
	codeInternal         = xerr.PrefixServer + "InternalError"
)

// statusOf is the HTTP status of an error code.
func statusOf(code string) int {
	switch code {
	case codeInvalidRequest:
		return http.StatusBadRequest
	case codeUnauthorized:
		return http.StatusUnauthorized
	case codeAccessDenied:
		return http.StatusForbidden
	case codeNotFound:
		return http.StatusNotFound
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case codeConflict:
		return http.StatusConflict
	case codeUnavailable:
		return http.StatusServiceUnavailable
	}
	if strings.HasPrefix(code, xerr.PrefixClient) {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func badRequest(format string, args ...any) error {
	return xerr.Newf(codeInvalidRequest, nil, format, args...)
}

// classify maps any error to an *xerr.Error: the API's own as they are,
// the sentinels of this package, conf and xroad by kind (their text is
// safe to show an administrator), anything else as an internal error whose
// cause is only logged.
func classify(err error) *xerr.Error {
	var xe *xerr.Error
	if errors.As(err, &xe) {
		return xe
	}
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, conf.ErrNotFound):
		return xerr.New(codeNotFound, err.Error(), err)
	case errors.Is(err, ErrConflict), errors.Is(err, conf.ErrConflict):
		return xerr.New(codeConflict, err.Error(), err)
	case errors.Is(err, ErrInvalid), errors.Is(err, conf.ErrInvalid), errors.Is(err, xroad.ErrInvalid):
		return xerr.New(codeInvalidRequest, err.Error(), err)
	case errors.Is(err, ErrUnavailable):
		return xerr.New(codeUnavailable, err.Error(), err)
	}
	return xerr.New(codeInternal, "internal error", err)
}

// writeError answers with err's status, the X-Road-Error header and the
// xerr JSON body (xerr.Write, the one place errors reach the wire);
// internal causes are logged with the detail id.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	e.Status = statusOf(e.Code)
	if e.Status >= 500 {
		a.log.Error("admin API: request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code, "detail", e.Detail, "err", err)
	}
	// The request's Accept header does not choose XML here: the admin API
	// speaks JSON only.
	xerr.Write(w, nil, nil, e, codeInternal)
}
