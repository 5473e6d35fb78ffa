package message

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Version is the protocol version this package speaks, carried in every
// message header.
const Version = "jisr/1"

// TimeLayout is the text form of message times: UTC with exactly three
// fractional digits (milliseconds).
const TimeLayout = "2006-01-02T15:04:05.000Z"

// digestPrefix names the digest algorithm in the text form of a digest.
const digestPrefix = "sha256:"

// MaxCanonicalSize bounds a canonical header encoding this package parses.
// The limits on the fields keep every valid header well below it.
const MaxCanonicalSize = 256 << 10

// RequestHeader is everything a request signature covers besides the body
// itself, which it covers by digest.
type RequestHeader struct {
	// Version is the protocol version; it must be Version.
	Version string
	// ID is the message id (X-Road-Id): 1 to MaxIDLength bytes of printable
	// ASCII without space.
	ID string
	// Client is the consumer (X-Road-Client), a member or a subsystem.
	Client xroad.ClientID
	// Service is the service called, as the r1 path names it.
	Service xroad.ServiceID
	// UserID is X-Road-UserId, "" when absent.
	UserID string
	// Issue is X-Road-Issue, "" when absent.
	Issue string
	// RepresentedParty is X-Road-Represented-Party ("[CLASS/]CODE"), "" when
	// absent.
	RepresentedParty string
	// Time is when the consumer's security server signed the request. It is
	// encoded in UTC with millisecond precision (finer precision is
	// truncated).
	Time time.Time
	// Method is the HTTP method, an RFC 9110 token of at most
	// MaxMethodLength bytes.
	Method string
	// Path is the escaped path after the service code, as
	// xroad.ParseServicePath returns it: "" or starting with "/"; printable
	// ASCII without '?' or '#'.
	Path string
	// RawQuery is the query without '?', printable ASCII without '#'.
	// An empty query and no query are the same.
	RawQuery string
	// Headers are the end-to-end headers as FilterHeaders returns them.
	Headers http.Header
	// BodyDigest is the SHA-256 digest of the body (32 bytes).
	BodyDigest []byte
	// BodySize is the body's length in bytes.
	BodySize int64
}

// ResponseHeader is everything a response signature covers besides the body
// itself, which it covers by digest.
type ResponseHeader struct {
	// Version is the protocol version; it must be Version.
	Version string
	// RequestDigest is the SHA-256 digest of the canonical encoding of the
	// request answered (RequestHeader.Digest).
	RequestDigest []byte
	// Status is the HTTP status code, 200 to 599.
	Status int
	// Headers are the end-to-end headers as FilterHeaders returns them.
	Headers http.Header
	// BodyDigest is the SHA-256 digest of the body (32 bytes).
	BodyDigest []byte
	// BodySize is the body's length in bytes.
	BodySize int64
	// Time is when the provider's security server signed the response
	// (UTC, milliseconds, as for RequestHeader.Time).
	Time time.Time
}

// wireRequest is the canonical JSON encoding of a RequestHeader; the field
// order is the encoding's member order.
type wireRequest struct {
	Version          string              `json:"version"`
	ID               string              `json:"id"`
	Client           string              `json:"client"`
	Service          string              `json:"service"`
	UserID           string              `json:"userId"`
	Issue            string              `json:"issue"`
	RepresentedParty string              `json:"representedParty"`
	Time             string              `json:"time"`
	Method           string              `json:"method"`
	Path             string              `json:"path"`
	Query            string              `json:"query"`
	Headers          map[string][]string `json:"headers"`
	BodyDigest       string              `json:"bodyDigest"`
	BodySize         int64               `json:"bodySize"`
}

// wireResponse is the canonical JSON encoding of a ResponseHeader.
type wireResponse struct {
	Version       string              `json:"version"`
	RequestDigest string              `json:"requestDigest"`
	Status        int                 `json:"status"`
	Headers       map[string][]string `json:"headers"`
	BodyDigest    string              `json:"bodyDigest"`
	BodySize      int64               `json:"bodySize"`
	Time          string              `json:"time"`
}

// Validate reports whether h can be signed and encoded: every field within
// the rules documented on RequestHeader. Errors wrap ErrMalformed.
func (h RequestHeader) Validate() error {
	if h.Version != Version {
		return fmt.Errorf("%w: version %q, want %q", ErrMalformed, h.Version, Version)
	}
	if h.ID == "" {
		return fmt.Errorf("%w: empty message id", ErrMalformed)
	}
	if err := checkASCII("message id", h.ID, MaxIDLength, ""); err != nil {
		return err
	}
	if err := h.Client.Validate(); err != nil {
		return fmt.Errorf("%w: client: %w", ErrMalformed, err)
	}
	if err := h.Service.Validate(); err != nil {
		return fmt.Errorf("%w: service: %w", ErrMalformed, err)
	}
	if err := checkText("user id", h.UserID, MaxUserIDLength); err != nil {
		return err
	}
	if err := checkText("issue", h.Issue, MaxIssueLength); err != nil {
		return err
	}
	if err := checkRepresentedParty(h.RepresentedParty); err != nil {
		return err
	}
	if err := checkTime(h.Time); err != nil {
		return err
	}
	if !validToken(h.Method) || len(h.Method) > MaxMethodLength {
		return fmt.Errorf("%w: method %q is not a token of at most %d bytes", ErrMalformed, h.Method, MaxMethodLength)
	}
	if h.Path != "" && h.Path[0] != '/' {
		return fmt.Errorf("%w: path must be empty or start with '/'", ErrMalformed)
	}
	if err := checkASCII("path", h.Path, MaxPathLength, "?#"); err != nil {
		return err
	}
	if err := checkASCII("query", h.RawQuery, MaxQueryLength, "#"); err != nil {
		return err
	}
	if err := checkHeaders(h.Headers); err != nil {
		return err
	}
	return checkBody(h.BodyDigest, h.BodySize)
}

// Validate reports whether h can be signed and encoded: every field within
// the rules documented on ResponseHeader. Errors wrap ErrMalformed.
func (h ResponseHeader) Validate() error {
	if h.Version != Version {
		return fmt.Errorf("%w: version %q, want %q", ErrMalformed, h.Version, Version)
	}
	if len(h.RequestDigest) != sha256.Size {
		return fmt.Errorf("%w: request digest of %d bytes, want %d", ErrMalformed, len(h.RequestDigest), sha256.Size)
	}
	if h.Status < 200 || h.Status > 599 {
		return fmt.Errorf("%w: status %d outside 200..599", ErrMalformed, h.Status)
	}
	if err := checkHeaders(h.Headers); err != nil {
		return err
	}
	if err := checkBody(h.BodyDigest, h.BodySize); err != nil {
		return err
	}
	return checkTime(h.Time)
}

func checkRepresentedParty(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxRepresentedPartyLength {
		return fmt.Errorf("%w: represented party too long", ErrMalformed)
	}
	parts := strings.Split(s, "/")
	if len(parts) > 2 {
		return fmt.Errorf("%w: represented party %q: want [CLASS/]CODE", ErrMalformed, s)
	}
	for _, p := range parts {
		if err := xroad.ValidatePart(p); err != nil {
			return fmt.Errorf("%w: represented party: %w", ErrMalformed, err)
		}
	}
	return nil
}

func checkTime(t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("%w: no time", ErrMalformed)
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: time %v out of range", ErrMalformed, t)
	}
	return nil
}

func checkBody(digest []byte, size int64) error {
	if len(digest) != sha256.Size {
		return fmt.Errorf("%w: body digest of %d bytes, want %d", ErrMalformed, len(digest), sha256.Size)
	}
	if size < 0 {
		return fmt.Errorf("%w: negative body size", ErrMalformed)
	}
	return nil
}

// formatTime returns the canonical text form of t.
func formatTime(t time.Time) string { return t.UTC().Truncate(time.Millisecond).Format(TimeLayout) }

// parseTime parses the canonical text form and nothing else.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil || t.Format(TimeLayout) != s {
		return time.Time{}, fmt.Errorf("%w: time %q is not in the form %s", ErrMalformed, s, TimeLayout)
	}
	return t, nil
}

// formatDigest returns "sha256:" followed by the standard base64 encoding
// (with padding) of d.
func formatDigest(d []byte) string { return digestPrefix + base64.StdEncoding.EncodeToString(d) }

// parseDigest parses formatDigest's output for a 32-byte digest.
func parseDigest(what, s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, digestPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: %s %q does not start with %q", ErrMalformed, what, s, digestPrefix)
	}
	d, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(d) != sha256.Size {
		return nil, fmt.Errorf("%w: %s %q is not a base64 SHA-256 digest", ErrMalformed, what, s)
	}
	return d, nil
}

// headerMap returns h as a non-nil map, so that no headers encode as {}.
func headerMap(h http.Header) map[string][]string {
	if h == nil {
		return map[string][]string{}
	}
	return h
}

// marshalCanonical encodes v as compact JSON without HTML escaping and
// without the trailing newline. Map keys come out sorted byte-wise.
func marshalCanonical(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only strings, integers and maps of string slices are encoded;
		// encoding/json cannot fail on them.
		panic("message: canonical encoding failed: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Canonical returns the canonical encoding of h: the JWS payload of its
// signature. It is JSON with the members, in this order, version, id,
// client (header form), service (header form, with version if any), userId,
// issue, representedParty, time (TimeLayout), method, path, query, headers
// (an object, names sorted byte-wise, each with its values in order),
// bodyDigest ("sha256:" + base64), bodySize; every member always present;
// no insignificant white space; strings escaped as encoding/json does
// without HTML escaping. Canonical does not validate h; for a valid h it is
// injective, and ParseCanonicalRequest(h.Canonical()) gives back h.
func (h RequestHeader) Canonical() []byte {
	return marshalCanonical(wireRequest{
		Version:          h.Version,
		ID:               h.ID,
		Client:           h.Client.String(),
		Service:          h.Service.String(),
		UserID:           h.UserID,
		Issue:            h.Issue,
		RepresentedParty: h.RepresentedParty,
		Time:             formatTime(h.Time),
		Method:           h.Method,
		Path:             h.Path,
		Query:            h.RawQuery,
		Headers:          headerMap(h.Headers),
		BodyDigest:       formatDigest(h.BodyDigest),
		BodySize:         h.BodySize,
	})
}

// Digest returns the SHA-256 digest of h.Canonical(): what a response to h
// carries as its RequestDigest.
func (h RequestHeader) Digest() []byte {
	d := sha256.Sum256(h.Canonical())
	return d[:]
}

// Canonical returns the canonical encoding of h: JSON with the members
// version, requestDigest, status, headers, bodyDigest, bodySize, time, in
// this order, under the rules of RequestHeader.Canonical.
func (h ResponseHeader) Canonical() []byte {
	return marshalCanonical(wireResponse{
		Version:       h.Version,
		RequestDigest: formatDigest(h.RequestDigest),
		Status:        h.Status,
		Headers:       headerMap(h.Headers),
		BodyDigest:    formatDigest(h.BodyDigest),
		BodySize:      h.BodySize,
		Time:          formatTime(h.Time),
	})
}

// strictUnmarshal decodes one JSON value into v, refusing unknown members
// and trailing data.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

// ParseCanonicalRequest parses the canonical encoding of a request header.
// It accepts only bytes that Canonical of the result reproduces exactly,
// and only valid headers. Errors wrap ErrMalformed.
func ParseCanonicalRequest(b []byte) (RequestHeader, error) {
	if len(b) > MaxCanonicalSize {
		return RequestHeader{}, fmt.Errorf("%w: canonical request larger than %d bytes", ErrMalformed, MaxCanonicalSize)
	}
	var w wireRequest
	if err := strictUnmarshal(b, &w); err != nil {
		return RequestHeader{}, fmt.Errorf("%w: canonical request: %w", ErrMalformed, err)
	}
	client, err := xroad.ParseClient(w.Client)
	if err != nil {
		return RequestHeader{}, fmt.Errorf("%w: client: %w", ErrMalformed, err)
	}
	service, err := xroad.ParseService(w.Service)
	if err != nil {
		return RequestHeader{}, fmt.Errorf("%w: service: %w", ErrMalformed, err)
	}
	t, err := parseTime(w.Time)
	if err != nil {
		return RequestHeader{}, err
	}
	body, err := parseDigest("body digest", w.BodyDigest)
	if err != nil {
		return RequestHeader{}, err
	}
	h := RequestHeader{
		Version: w.Version, ID: w.ID, Client: client, Service: service,
		UserID: w.UserID, Issue: w.Issue, RepresentedParty: w.RepresentedParty,
		Time: t, Method: w.Method, Path: w.Path, RawQuery: w.Query,
		Headers: w.Headers, BodyDigest: body, BodySize: w.BodySize,
	}
	if err := h.Validate(); err != nil {
		return RequestHeader{}, err
	}
	if !bytes.Equal(h.Canonical(), b) {
		return RequestHeader{}, fmt.Errorf("%w: request header is not in canonical form", ErrMalformed)
	}
	return h, nil
}

// ParseCanonicalResponse parses the canonical encoding of a response
// header, under the rules of ParseCanonicalRequest.
func ParseCanonicalResponse(b []byte) (ResponseHeader, error) {
	if len(b) > MaxCanonicalSize {
		return ResponseHeader{}, fmt.Errorf("%w: canonical response larger than %d bytes", ErrMalformed, MaxCanonicalSize)
	}
	var w wireResponse
	if err := strictUnmarshal(b, &w); err != nil {
		return ResponseHeader{}, fmt.Errorf("%w: canonical response: %w", ErrMalformed, err)
	}
	reqDigest, err := parseDigest("request digest", w.RequestDigest)
	if err != nil {
		return ResponseHeader{}, err
	}
	body, err := parseDigest("body digest", w.BodyDigest)
	if err != nil {
		return ResponseHeader{}, err
	}
	t, err := parseTime(w.Time)
	if err != nil {
		return ResponseHeader{}, err
	}
	h := ResponseHeader{
		Version: w.Version, RequestDigest: reqDigest, Status: w.Status,
		Headers: w.Headers, BodyDigest: body, BodySize: w.BodySize, Time: t,
	}
	if err := h.Validate(); err != nil {
		return ResponseHeader{}, err
	}
	if !bytes.Equal(h.Canonical(), b) {
		return ResponseHeader{}, fmt.Errorf("%w: response header is not in canonical form", ErrMalformed)
	}
	return h, nil
}

// formatInt and parseInt give the canonical decimal form (no sign, no
// leading zeros) used in HTTP headers.
func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

func parseInt(what, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || formatInt(n) != s {
		return 0, fmt.Errorf("%w: %s %q is not a canonical non-negative decimal", ErrMalformed, what, s)
	}
	return n, nil
}
