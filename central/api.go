package central

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/adminapi"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// Role is an X-Road admin role an API key grants.
type Role string

// The roles of the central server's admin API (X-Road's names). What each
// may do is the route table in routes.go, and openapi.yaml's x-roles.
const (
	// RoleSystemAdministrator may do everything, and alone manages API
	// keys and reads the audit trail.
	RoleSystemAdministrator Role = "SYSTEM_ADMINISTRATOR"
	// RoleRegistrationOfficer manages members, subsystems, security
	// servers and global groups, and decides management requests.
	RoleRegistrationOfficer Role = "REGISTRATION_OFFICER"
	// RoleSecurityOfficer manages approved CAs and TSAs, the settings, and
	// configuration regeneration.
	RoleSecurityOfficer Role = "SECURITY_OFFICER"
	// RoleObserver reads everything but API keys and the audit trail.
	RoleObserver Role = "OBSERVER"
)

// AllRoles returns every role, in a fixed order.
func AllRoles() []Role {
	return []Role{RoleSystemAdministrator, RoleRegistrationOfficer, RoleSecurityOfficer, RoleObserver}
}

// APIKeyScheme is the Authorization scheme of the admin API, as in X-Road:
// "Authorization: X-Road-ApiKey token=<secret>".
const APIKeyScheme = adminapi.Scheme

// APIPrefix is the path prefix of the admin API's operations.
const APIPrefix = "/api/v1"

// DefaultProfile is the certificate profile an approved CA gets when none is
// given: the profile of jisr's instance PKI (docs/pki.md).
const DefaultProfile = "jisr-v1"

// RequestDecider decides management requests on a registration officer's
// behalf; central/mgmt's Processor implements it. Errors wrap
// registry.ErrNotFound for an unknown request and registry.ErrConflict for
// one that is no longer pending; anything else is an internal failure.
type RequestDecider interface {
	// Approve approves request id, applies it to the registry, and returns
	// it as decided (APPROVED, or FAILED if applying it failed).
	Approve(ctx context.Context, id int64, actor string) (registry.ManagementRequest, error)
	// Reject rejects request id with a comment.
	Reject(ctx context.Context, id int64, actor, comment string) (registry.ManagementRequest, error)
}

// ConfigurationPublisher is what the admin API needs from configuration
// publishing; *Publisher implements it.
type ConfigurationPublisher interface {
	// Latest returns the latest published configuration.
	Latest(ctx context.Context) (registry.PublishedConfig, error)
	// Regenerate publishes a new configuration now; see Publisher.Regenerate.
	Regenerate(ctx context.Context) (registry.PublishedConfig, bool, error)
}

var _ ConfigurationPublisher = (*Publisher)(nil)

// APIConfig configures NewAPI.
type APIConfig struct {
	// Store is the registry.
	Store registry.Store
	// Publisher answers the configuration routes.
	Publisher ConfigurationPublisher
	// Decider decides management requests; when nil, approve and reject
	// answer 503.
	Decider RequestDecider
	// Clock decides API key expiry; clock.System() if nil.
	Clock clock.Clock
	// Logger receives refused requests and internal errors; discarded if nil.
	Logger *slog.Logger
	// Registerer receives jisr_central_api_requests_total; none if nil.
	Registerer prometheus.Registerer
	// Health and Metrics, when set, are served at /healthz and /metrics
	// without authentication.
	Health, Metrics http.Handler
}

// API is the central server's admin REST API. Create it with NewAPI and
// serve Handler on the admin listener.
type API struct {
	store     registry.Store
	publisher ConfigurationPublisher
	decider   RequestDecider
	clk       clock.Clock
	log       *slog.Logger
	requests  *prometheus.CounterVec
	health    http.Handler
	metrics   http.Handler
	ops       []*operation
}

// NewAPI returns the admin API.
func NewAPI(cfg APIConfig) (*API, error) {
	if cfg.Store == nil || cfg.Publisher == nil {
		return nil, errors.New("central: api: store and publisher are required")
	}
	a := &API{store: cfg.Store, publisher: cfg.Publisher, decider: cfg.Decider, clk: cfg.Clock, log: cfg.Logger,
		health: cfg.Health, metrics: cfg.Metrics}
	if a.clk == nil {
		a.clk = clock.System()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jisr_central_api_requests_total",
		Help: "Admin API requests by route (pattern), method and status code.",
	}, []string{"route", "method", "code"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(a.requests); err != nil {
			return nil, fmt.Errorf("central: api metrics: %w", err)
		}
	}
	a.ops = a.operations()
	return a, nil
}

// Handler returns the admin listener's handler: the operations under
// /api/v1, /openapi.yaml, and /healthz and /metrics when configured.
func (a *API) Handler() http.Handler {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, notFoundErr("no such route"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, xerr.New(codeMethodNotAllowed, "method not allowed", nil))
	})
	r.Get("/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI())
	})
	if a.health != nil {
		r.Method(http.MethodGet, "/healthz", a.health)
	}
	if a.metrics != nil {
		r.Method(http.MethodGet, "/metrics", a.metrics)
	}
	for _, op := range a.ops {
		r.Method(op.method, APIPrefix+op.pattern, a.serve(op))
	}
	return r
}

// operation is one admin API route: its method and pattern (under
// APIPrefix), the roles allowed, and its handler. Exactly one of read,
// write and direct is set. Writes are audited: write's apply runs in one
// registry transaction with the audit event; direct handlers act through
// another component (the decider, the publisher) and are audited right
// after.
type operation struct {
	method, pattern, id string
	roles               []Role
	// action names the write in the audit trail ("member.add"); empty for
	// reads.
	action string
	read   func(ctx context.Context, c *call) (any, error)
	write  func(c *call) (apply, error)
	direct func(ctx context.Context, c *call) (result, error)
}

// apply performs a write inside a transaction.
type apply func(ctx context.Context, tx registry.Tx) (result, error)

// result is what a write produced: the answer and what the audit records.
type result struct {
	status int // 0 means 200
	body   any
	target string
	detail any
}

// call is one authenticated request.
type call struct {
	r   *http.Request
	w   http.ResponseWriter
	key registry.APIKey
}

func (c *call) param(name string) string { return chi.URLParam(c.r, name) }

// maxBody bounds request bodies (PEM bundles are the largest).
const maxBody = 1 << 20

// decode reads the JSON body strictly into v.
func (c *call) decode(v any) error {
	if err := adminapi.DecodeJSON(c.w, c.r, v, maxBody); err != nil {
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

// serve runs one operation: authenticate, authorise, then read or write.
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
		switch {
		case op.read != nil:
			v, err := op.read(ctx, c)
			if err != nil {
				a.writeError(rec, r, err)
				return
			}
			if raw, ok := v.(rawDocument); ok {
				rec.Header().Set("Content-Type", raw.contentType)
				rec.WriteHeader(http.StatusOK)
				_, _ = rec.Write(raw.body)
				return
			}
			writeJSON(rec, http.StatusOK, v)
		case op.write != nil:
			a.serveWrite(ctx, rec, c, op)
		default:
			a.serveDirect(ctx, rec, c, op)
		}
	}
}

func (a *API) serveWrite(ctx context.Context, w http.ResponseWriter, c *call, op *operation) {
	fn, err := op.write(c)
	if err != nil {
		a.auditFailure(ctx, c.r, op, c.key.Name, err)
		a.writeError(w, c.r, err)
		return
	}
	var res result
	err = a.store.Update(ctx, func(tx registry.Tx) error {
		var err error
		if res, err = fn(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx, a.event(op, c.key.Name, res.target, res.detail, registry.OutcomeSuccess)); err != nil {
			return fmt.Errorf("central: audit: %w", err)
		}
		return nil
	})
	if err != nil {
		a.auditFailure(ctx, c.r, op, c.key.Name, err)
		a.writeError(w, c.r, err)
		return
	}
	writeResult(w, res)
}

func (a *API) serveDirect(ctx context.Context, w http.ResponseWriter, c *call, op *operation) {
	res, err := op.direct(ctx, c)
	if err != nil {
		a.auditFailure(ctx, c.r, op, c.key.Name, err)
		a.writeError(w, c.r, err)
		return
	}
	// The action took effect in another transaction; record it now, with a
	// context that survives the client hanging up.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := a.store.AppendAudit(actx, a.event(op, c.key.Name, res.target, res.detail, registry.OutcomeSuccess)); err != nil {
		a.log.Error("admin API: action done but its audit event was not recorded", "action", op.action, "target", res.target, "err", err)
	}
	writeResult(w, res)
}

func writeResult(w http.ResponseWriter, res result) {
	status := res.status
	if status == 0 {
		status = http.StatusOK
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, res.body)
}

func (a *API) event(op *operation, actor, target string, detail any, outcome registry.AuditOutcome) registry.AuditEvent {
	var raw json.RawMessage
	if detail != nil {
		if b, err := json.Marshal(detail); err == nil {
			raw = b
		}
	}
	return registry.AuditEvent{Actor: actor, Action: op.action, Target: target, Detail: raw, Outcome: outcome}
}

// refuse answers 401 or 403 and, for writes, records the refusal.
func (a *API) refuse(ctx context.Context, w http.ResponseWriter, r *http.Request, op *operation, key registry.APIKey, err error) {
	actor := key.Name
	if actor == "" {
		actor = anonymousActor
	}
	a.log.Warn("admin API: request refused", "method", r.Method, "path", r.URL.Path, "actor", actor, "remote", r.RemoteAddr, "err", err)
	a.auditFailure(ctx, r, op, actor, err)
	a.writeError(w, r, err)
}

// anonymousActor names the actor of a request without a usable API key in
// the audit trail.
const anonymousActor = "anonymous"

// auditFailure records a refused or failed write (reads are not audited).
// The registry transaction of the write, if any, has rolled back, so this
// is a transaction of its own.
func (a *API) auditFailure(ctx context.Context, r *http.Request, op *operation, actor string, err error) {
	if op.action == "" {
		return
	}
	e := classify(err)
	detail := map[string]any{"status": statusOf(e.Code), "code": e.Code, "error": e.Message, "errorDetail": e.Detail}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, aerr := a.store.AppendAudit(actx, a.event(op, actor, r.URL.Path, detail, registry.OutcomeFailure)); aerr != nil {
		a.log.Error("admin API: audit of a refused or failed write not recorded", "action", op.action, "err", aerr)
	}
}

// authenticate returns the usable API key the request presents. Errors are
// *xerr.Error with codeUnauthorized, or internal errors; the key is returned
// (without being usable) when it exists but is expired or revoked, so the
// refusal can name it.
func (a *API) authenticate(ctx context.Context, r *http.Request) (registry.APIKey, error) {
	secret, ok := adminapi.ParseHeader(r.Header.Get("Authorization"))
	if !ok {
		return registry.APIKey{}, xerr.New(codeUnauthorized, "missing or malformed Authorization: "+APIKeyScheme+" token=…", nil)
	}
	key, err := a.store.APIKeyByHash(ctx, registry.HashAPIKeySecret([]byte(secret)))
	if errors.Is(err, registry.ErrNotFound) {
		return registry.APIKey{}, xerr.New(codeUnauthorized, "unknown API key", nil)
	}
	if err != nil {
		return registry.APIKey{}, fmt.Errorf("central: look up API key: %w", err)
	}
	now := a.clk.Now()
	if !key.RevokedAt.IsZero() {
		return key, xerr.New(codeUnauthorized, "API key revoked", nil)
	}
	if !key.Usable(now) {
		return key, xerr.New(codeUnauthorized, "API key expired", nil)
	}
	return key, nil
}

// NewAPIKeySecret returns a fresh random API key secret (256 bits,
// base64url).
func NewAPIKeySecret() string { return adminapi.NewSecret() }

// Error handling: the one place where errors become HTTP statuses.

// Admin API error codes (xerr style). Each maps to one status in
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

// statusOf is the HTTP status of an error code: the one place where the
// admin API's errors become statuses.
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

func notFoundErr(msg string) error { return xerr.New(codeNotFound, msg, nil) }

// classify maps any error to an *xerr.Error: the API's own errors as they
// are, registry and identifier errors by their sentinel (their text is
// safe to show an administrator), anything else as an internal error whose
// cause is only logged.
func classify(err error) *xerr.Error {
	var xe *xerr.Error
	if errors.As(err, &xe) {
		return xe
	}
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return xerr.New(codeNotFound, err.Error(), err)
	case errors.Is(err, registry.ErrConflict):
		return xerr.New(codeConflict, err.Error(), err)
	case errors.Is(err, registry.ErrInvalid), errors.Is(err, xroad.ErrInvalid):
		return xerr.New(codeInvalidRequest, err.Error(), err)
	}
	return xerr.New(codeInternal, "internal error", err)
}

// errorBody is the wire form of an error, as xerr writes it.
type errorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Detail  string `json:"detail"`
}

// writeError answers with err's status, the X-Road-Error header and an
// xerr-style JSON body; internal causes are logged with the detail id.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	status := statusOf(e.Code)
	if status >= 500 {
		a.log.Error("admin API: request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code, "detail", e.Detail, "err", err)
	}
	w.Header().Set(xerr.HeaderError, e.Code)
	writeJSON(w, status, errorBody{Type: e.Code, Message: e.Message, Detail: e.Detail})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
