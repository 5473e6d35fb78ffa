// Package xerr is jisr's one error type for anything that crosses a trust or
// process boundary, in X-Road's "Category.Code" style
// ("Server.ServerProxy.AccessDenied"), and the one place where such errors are
// written to the wire.
//
// Inside a component, errors are wrapped with %w as usual. At the boundary the
// component returns an *Error carrying a code, a message that is safe to show
// to the caller, a detail id that correlates the caller's view with the log,
// and the internal cause, which is logged but never sent.
package xerr

import (
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// Code prefixes (X-Road's fault categories).
const (
	PrefixClient      = "Client."
	PrefixClientProxy = "Server.ClientProxy."
	PrefixServerProxy = "Server.ServerProxy."
	PrefixServer      = "Server."
	PrefixSigner      = "Signer."
)

// Error is a boundary-crossing error.
type Error struct {
	// Code is the X-Road style fault code, e.g. "Server.ServerProxy.AccessDenied".
	Code string
	// Message is shown to the caller; it must not contain secrets or internals.
	Message string
	// Detail is a random id (UUID form) logged with the cause, so an operator
	// can find the cause from what the caller reports.
	Detail string
	// Err is the internal cause: logged, never sent.
	Err error
	// Status, when not zero, overrides the HTTP status X-Road's rule gives
	// (used by admin APIs for 401/404/409).
	Status int
}

// New returns an *Error with a fresh detail id.
func New(code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Detail: NewDetailID(), Err: cause}
}

// Newf is New with a formatted message.
func Newf(code string, cause error, format string, args ...any) *Error {
	return New(code, fmt.Sprintf(format, args...), cause)
}

// Error implements error: code and message (not the cause).
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus is the status X-Road uses for the code: 400 for client faults,
// 500 for everything raised on the server side.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	if strings.HasPrefix(e.Code, PrefixClient) {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// As returns the *Error in err's chain, or wraps err as an internal server
// error (code fallback) when there is none.
func As(err error, fallback string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return New(fallback, "internal error", err)
}

// NewDetailID returns a random version-4 UUID string.
func NewDetailID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// HeaderError is the response header naming a fault raised inside the bus.
const HeaderError = "X-Road-Error"

type wireJSON struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Detail  string `json:"detail"`
}

type wireXML struct {
	XMLName xml.Name `xml:"error"`
	Type    string   `xml:"type"`
	Message string   `xml:"message"`
	Detail  string   `xml:"detail"`
}

// Write sends err as X-Road does: status 400/500, header X-Road-Error, and a
// JSON body (XML when the request's Accept prefers XML). The cause is logged
// with the detail id at error level; it is not sent. This is the only place
// where a boundary error becomes bytes on the wire.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, fallback string) {
	e := As(err, fallback)
	if log != nil {
		log.Error("request failed", "code", e.Code, "detail", e.Detail, "message", e.Message, "cause", e.Err)
	}
	h := w.Header()
	h.Set(HeaderError, e.Code)
	h.Set("Cache-Control", "no-store")
	if r != nil && prefersXML(r.Header.Get("Accept")) {
		h.Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(e.HTTPStatus())
		_, _ = w.Write([]byte(xml.Header))
		_ = xml.NewEncoder(w).Encode(wireXML{Type: e.Code, Message: e.Message, Detail: e.Detail})
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.HTTPStatus())
	_ = json.NewEncoder(w).Encode(wireJSON{Type: e.Code, Message: e.Message, Detail: e.Detail})
}

func prefersXML(accept string) bool {
	a := strings.ToLower(accept)
	x := strings.Index(a, "xml")
	j := strings.Index(a, "json")
	return x >= 0 && (j < 0 || x < j)
}
