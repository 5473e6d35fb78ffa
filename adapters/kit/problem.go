package kit

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/jisr-bus/jisr/internal/xerr"
)

// The codes of the boundary errors (*xerr.Error) adapters return, with the
// HTTP status each maps to. Adapters may use more specific codes (for
// example "Client.UnpaidFines") built with Errorf and one of these statuses.
const (
	// CodeBadRequest (400): the request is malformed or fails the OpenAPI
	// description.
	CodeBadRequest = "Client.BadRequest"
	// CodeForbidden (403): the citizen on whose behalf the call is made
	// (X-Road-UserId) may not do this.
	CodeForbidden = "Client.Forbidden"
	// CodeNotFound (404): no such resource.
	CodeNotFound = "Client.NotFound"
	// CodeMethodNotAllowed (405): the path exists, the method does not.
	CodeMethodNotAllowed = "Client.MethodNotAllowed"
	// CodeConflict (409): the request conflicts with the resource's state.
	CodeConflict = "Client.Conflict"
	// CodeTooLarge (413): the body exceeds MaxBodySize.
	CodeTooLarge = "Client.RequestTooLarge"
	// CodeUnsupportedMedia (415): the body is not JSON.
	CodeUnsupportedMedia = "Client.UnsupportedMediaType"
	// CodeUnprocessable (422): well-formed, but a business rule refuses it.
	CodeUnprocessable = "Client.Unprocessable"
	// CodeInternal (500): a failure inside the adapter.
	CodeInternal = "Server.InternalError"
	// CodeUnavailable (503): a service the adapter depends on (a payment
	// verifier) could not be reached.
	CodeUnavailable = "Server.Unavailable"
)

// ProblemTypePrefix starts the "type" URI of every problem object: the
// code follows it ("urn:jisr:problem:Client.NotFound").
const ProblemTypePrefix = "urn:jisr:problem:"

// ProblemMediaType is the media type of problem objects (RFC 9457).
const ProblemMediaType = "application/problem+json"

// Errorf returns a boundary error with the given code, HTTP status and
// caller-safe message (formatted), and cause as the internal reason (logged,
// never sent; may be nil).
func Errorf(code string, status int, cause error, format string, args ...any) *xerr.Error {
	e := xerr.New(code, fmt.Sprintf(format, args...), cause)
	e.Status = status
	return e
}

// BadRequest is Errorf with CodeBadRequest and 400.
func BadRequest(format string, args ...any) *xerr.Error {
	return Errorf(CodeBadRequest, http.StatusBadRequest, nil, format, args...)
}

// NotFound is Errorf with CodeNotFound and 404.
func NotFound(format string, args ...any) *xerr.Error {
	return Errorf(CodeNotFound, http.StatusNotFound, nil, format, args...)
}

// Conflict is Errorf with CodeConflict and 409.
func Conflict(format string, args ...any) *xerr.Error {
	return Errorf(CodeConflict, http.StatusConflict, nil, format, args...)
}

// Forbidden is Errorf with CodeForbidden and 403.
func Forbidden(format string, args ...any) *xerr.Error {
	return Errorf(CodeForbidden, http.StatusForbidden, nil, format, args...)
}

// Unprocessable is Errorf with CodeUnprocessable and 422.
func Unprocessable(format string, args ...any) *xerr.Error {
	return Errorf(CodeUnprocessable, http.StatusUnprocessableEntity, nil, format, args...)
}

// Internal wraps cause as a 500 whose message reveals nothing.
func Internal(cause error) *xerr.Error {
	return Errorf(CodeInternal, http.StatusInternalServerError, cause, "internal error")
}

// withFields attaches extension members to a problem.
type withFields struct {
	err    *xerr.Error
	fields map[string]any
}

func (w *withFields) Error() string { return w.err.Error() }
func (w *withFields) Unwrap() error { return w.err }

// WithFields returns e with extension members that WriteProblem adds to the
// problem object (RFC 9457 §3.2), for example the unpaid fines that block a
// renewal. The members must not be named like the standard ones (type,
// title, status, detail, instance, code); such fields are dropped.
func WithFields(e *xerr.Error, fields map[string]any) error {
	return &withFields{err: e, fields: fields}
}

// Problem is the JSON body WriteProblem sends (RFC 9457) and that clients
// of an adapter decode; Fields holds the extension members.
type Problem struct {
	// Type is ProblemTypePrefix followed by Code.
	Type string `json:"type"`
	// Title is the HTTP status text.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail is the caller-safe message.
	Detail string `json:"detail"`
	// Instance is "urn:uuid:" and the error's detail id, which the
	// adapter's log records with the internal cause.
	Instance string `json:"instance"`
	// Code is the boundary error code, e.g. "Client.NotFound".
	Code string `json:"code"`
	// Fields are the extension members.
	Fields map[string]any `json:"-"`
}

// MarshalJSON writes the standard members and the extension members in one
// object.
func (p Problem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(p.Fields)+6)
	for k, v := range p.Fields {
		m[k] = v
	}
	m["type"], m["title"], m["status"], m["detail"], m["instance"], m["code"] =
		p.Type, p.Title, p.Status, p.Detail, p.Instance, p.Code
	return json.Marshal(m)
}

// UnmarshalJSON reads the standard members and keeps the others in Fields.
func (p *Problem) UnmarshalJSON(b []byte) error {
	type plain Problem
	var std plain
	if err := json.Unmarshal(b, &std); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*p = Problem(std)
	for k, v := range all {
		switch k {
		case "type", "title", "status", "detail", "instance", "code":
			continue
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		if p.Fields == nil {
			p.Fields = map[string]any{}
		}
		p.Fields[k] = x
	}
	return nil
}

// WriteProblem sends err as a problem object; it is the only place where an
// adapter's errors become bytes on the wire. An error that is not an
// *xerr.Error (in its chain) becomes a 500 with a message that reveals
// nothing. The internal cause is logged with the detail id — at error level
// for 5xx, at info level for 4xx — and never sent.
func WriteProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := xerr.As(err, CodeInternal)
	status := e.HTTPStatus()
	if log != nil {
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		attrs := []any{"code", e.Code, "detail", e.Detail, "message", e.Message}
		if e.Err != nil {
			attrs = append(attrs, "cause", e.Err.Error())
		}
		if r != nil {
			attrs = append(attrs, "method", r.Method, "path", r.URL.Path)
		}
		log.Log(requestContext(r), level, "request refused", attrs...)
	}
	p := Problem{
		Type:     ProblemTypePrefix + e.Code,
		Title:    http.StatusText(status),
		Status:   status,
		Detail:   e.Message,
		Instance: "urn:uuid:" + e.Detail,
		Code:     e.Code,
	}
	if wf, ok := errors.AsType[*withFields](err); ok {
		p.Fields = make(map[string]any, len(wf.fields))
		for k, v := range wf.fields {
			switch strings.ToLower(k) {
			case "type", "title", "status", "detail", "instance", "code":
				continue
			}
			p.Fields[k] = v
		}
	}
	h := w.Header()
	h.Set("Content-Type", ProblemMediaType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// As returns err if it is (or wraps) a boundary error, and Internal(err)
// otherwise: for errors out of a transaction that may be either.
func As(err error) error {
	if _, ok := errors.AsType[*xerr.Error](err); ok {
		return err
	}
	return Internal(err)
}
