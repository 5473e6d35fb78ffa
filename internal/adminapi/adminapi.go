// Package adminapi holds what the central server's and the security
// server's admin APIs share below their route tables: the X-Road-ApiKey
// authorization header, API key secrets, strict JSON request bodies and a
// status-recording response writer. Each API keeps its own roles, audit
// and error mapping.
package adminapi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Scheme is the authorization scheme of both admin APIs, as X-Road's:
// "Authorization: X-Road-ApiKey token=<secret>".
const Scheme = "X-Road-ApiKey"

// ParseHeader extracts the secret from an Authorization header value of
// the form "X-Road-ApiKey token=<secret>" (scheme case-insensitive).
func ParseHeader(h string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, Scheme) {
		return "", false
	}
	secret, ok := strings.CutPrefix(strings.TrimSpace(rest), "token=")
	if !ok || secret == "" {
		return "", false
	}
	return secret, true
}

// NewSecret returns a fresh random API key secret (256 bits, base64url).
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ErrEmptyBody is returned by DecodeJSON for an empty body.
var ErrEmptyBody = errors.New("request body is empty")

// DecodeJSON reads r's body, at most maxBytes, strictly into v: unknown
// fields and trailing data are errors. An empty body gives ErrEmptyBody.
// The errors are the client's (a bad request).
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any, maxBytes int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return ErrEmptyBody
		}
		return fmt.Errorf("request body: %w", err)
	}
	if dec.More() {
		return errors.New("request body: trailing data")
	}
	return nil
}

// StatusRecorder is a ResponseWriter that remembers the status code, for
// request metrics.
type StatusRecorder struct {
	http.ResponseWriter
	Code int
}

// WriteHeader implements http.ResponseWriter.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.Code == 0 {
		s.Code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.Code == 0 {
		s.Code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
