package message

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// HTTP headers of the security-server-to-security-server hop. They carry
// the message header's fields and the signature; the end-to-end headers
// travel as ordinary headers beside them. Optional fields are omitted when
// empty.
const (
	// HeaderSignature carries the compact JWS (requests and responses).
	HeaderSignature = "X-Jisr-Signature"
	// HeaderVersion carries Version (requests and responses).
	HeaderVersion = "X-Jisr-Version"
	// HeaderID carries RequestHeader.ID.
	HeaderID = "X-Jisr-Id"
	// HeaderClient carries RequestHeader.Client in header form.
	HeaderClient = "X-Jisr-Client"
	// HeaderService carries RequestHeader.Service in header form.
	HeaderService = "X-Jisr-Service"
	// HeaderUserID carries RequestHeader.UserID (optional).
	HeaderUserID = "X-Jisr-User-Id"
	// HeaderIssue carries RequestHeader.Issue (optional).
	HeaderIssue = "X-Jisr-Issue"
	// HeaderRepresentedParty carries RequestHeader.RepresentedParty
	// (optional).
	HeaderRepresentedParty = "X-Jisr-Represented-Party"
	// HeaderTime carries the message time in TimeLayout (requests and
	// responses).
	HeaderTime = "X-Jisr-Time"
	// HeaderMethod carries RequestHeader.Method.
	HeaderMethod = "X-Jisr-Method"
	// HeaderPath carries RequestHeader.Path (optional).
	HeaderPath = "X-Jisr-Path"
	// HeaderQuery carries RequestHeader.RawQuery (optional).
	HeaderQuery = "X-Jisr-Query"
	// HeaderBodyDigest carries the body digest, "sha256:" + base64
	// (requests and responses).
	HeaderBodyDigest = "X-Jisr-Body-Digest"
	// HeaderBodySize carries the body size in decimal (requests and
	// responses).
	HeaderBodySize = "X-Jisr-Body-Size"
	// HeaderRequestDigest carries ResponseHeader.RequestDigest,
	// "sha256:" + base64.
	HeaderRequestDigest = "X-Jisr-Request-Digest"
	// HeaderStatus carries ResponseHeader.Status in decimal.
	HeaderStatus = "X-Jisr-Status"
)

// MaxSignatureLength bounds the value of HeaderSignature: the canonical
// header (≤ about 180 KiB for the field limits, base64url-encoded), a
// certificate chain and an OCSP response, with room to spare.
const MaxSignatureLength = 512 << 10

// EncodeRequest returns the HTTP headers of the request hop: h.Headers (the
// end-to-end headers, copied) plus one X-Jisr-* header per field of h and
// HeaderSignature with sig. It does not validate h; sign h first.
func EncodeRequest(h RequestHeader, sig string) http.Header {
	out := h.Headers.Clone()
	if out == nil {
		out = make(http.Header)
	}
	out[HeaderVersion] = []string{h.Version}
	out[HeaderID] = []string{h.ID}
	out[HeaderClient] = []string{h.Client.String()}
	out[HeaderService] = []string{h.Service.String()}
	setOptional(out, HeaderUserID, h.UserID)
	setOptional(out, HeaderIssue, h.Issue)
	setOptional(out, HeaderRepresentedParty, h.RepresentedParty)
	out[HeaderTime] = []string{formatTime(h.Time)}
	out[HeaderMethod] = []string{h.Method}
	setOptional(out, HeaderPath, h.Path)
	setOptional(out, HeaderQuery, h.RawQuery)
	out[HeaderBodyDigest] = []string{formatDigest(h.BodyDigest)}
	out[HeaderBodySize] = []string{formatInt(h.BodySize)}
	out[HeaderSignature] = []string{sig}
	return out
}

// EncodeResponse returns the HTTP headers of the response hop: h.Headers
// (copied) plus one X-Jisr-* header per field of h and HeaderSignature with
// sig. The HTTP status of the hop should be h.Status, but the receiver reads
// the status from HeaderStatus.
//
// When h has no Date or no Content-Type, the result maps that name to a nil
// slice: net/http's server then does not add one of its own (a header the
// signature would not cover, refused by the receiver as ErrTampered).
// Copy the result into the ResponseWriter's header map as it is.
func EncodeResponse(h ResponseHeader, sig string) http.Header {
	out := h.Headers.Clone()
	if out == nil {
		out = make(http.Header)
	}
	for _, name := range []string{"Date", "Content-Type"} {
		if _, ok := out[name]; !ok {
			out[name] = nil
		}
	}
	out[HeaderVersion] = []string{h.Version}
	out[HeaderRequestDigest] = []string{formatDigest(h.RequestDigest)}
	out[HeaderStatus] = []string{formatInt(int64(h.Status))}
	out[HeaderTime] = []string{formatTime(h.Time)}
	out[HeaderBodyDigest] = []string{formatDigest(h.BodyDigest)}
	out[HeaderBodySize] = []string{formatInt(h.BodySize)}
	out[HeaderSignature] = []string{sig}
	return out
}

func setOptional(h http.Header, name, v string) {
	if v != "" {
		h[name] = []string{v}
	}
}

// jisrHeaders collects the X-Jisr-* headers of h. Each must be one of
// allowed and occur once (names compared case-insensitively, values of
// names that differ only in case counted together).
type jisrHeaders map[string]string

func collectJisr(h http.Header, allowed map[string]bool) (jisrHeaders, error) {
	out := make(jisrHeaders)
	seen := make(map[string]int)
	for k, vv := range h {
		c := textproto.CanonicalMIMEHeaderKey(k)
		if !strings.HasPrefix(c, "X-Jisr-") {
			continue
		}
		if !allowed[c] {
			return nil, fmt.Errorf("%w: unexpected header %s", ErrMalformed, c)
		}
		seen[c] += len(vv)
		if seen[c] != 1 {
			return nil, fmt.Errorf("%w: header %s occurs %d times", ErrMalformed, c, seen[c])
		}
		out[c] = vv[0]
	}
	return out, nil
}

// required returns the value of a header that must be present and
// non-empty.
func (j jisrHeaders) required(name string) (string, error) {
	v, ok := j[name]
	if !ok || v == "" {
		return "", fmt.Errorf("%w: missing header %s", ErrMalformed, name)
	}
	return v, nil
}

// optional returns the value of a header that may be absent; present, it
// must not be empty (EncodeRequest omits empty values).
func (j jisrHeaders) optional(name string) (string, error) {
	v, ok := j[name]
	if ok && v == "" {
		return "", fmt.Errorf("%w: empty header %s (omit it instead)", ErrMalformed, name)
	}
	return v, nil
}

func allowedSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// checkSignatureText checks the size and alphabet of a compact JWS before
// it is parsed.
func checkSignatureText(sig string) error {
	if len(sig) > MaxSignatureLength {
		return fmt.Errorf("%w: signature longer than %d bytes", ErrMalformed, MaxSignatureLength)
	}
	for i := 0; i < len(sig); i++ {
		c := sig[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: signature contains byte %#x", ErrMalformed, c)
		}
	}
	return nil
}

// DecodeRequest reads the headers of a request hop: the X-Jisr-* fields,
// the signature, and the end-to-end headers (FilterHeaders of hdr). It is
// strict: every X-Jisr-* header must be known for requests and occur at
// most once; required ones must be present; each value must be in the
// exact form EncodeRequest writes; the result must pass Validate. Errors
// wrap ErrMalformed. Headers that are neither X-Jisr-* nor end-to-end
// (Host, User-Agent, X-Road-* …) are ignored.
//
// DecodeRequest authenticates nothing: pass the result to
// Verifier.VerifyRequest, and forward the returned RequestHeader's
// Headers, not hdr.
func DecodeRequest(hdr http.Header) (RequestHeader, string, error) {
	j, err := collectJisr(hdr, allowedSet(HeaderSignature, HeaderVersion, HeaderID, HeaderClient,
		HeaderService, HeaderUserID, HeaderIssue, HeaderRepresentedParty, HeaderTime, HeaderMethod,
		HeaderPath, HeaderQuery, HeaderBodyDigest, HeaderBodySize))
	if err != nil {
		return RequestHeader{}, "", err
	}
	var h RequestHeader
	var v string
	get := func(name string, req bool) string {
		if err != nil {
			return ""
		}
		if req {
			v, err = j.required(name)
		} else {
			v, err = j.optional(name)
		}
		return v
	}
	sig := get(HeaderSignature, true)
	h.Version = get(HeaderVersion, true)
	h.ID = get(HeaderID, true)
	client := get(HeaderClient, true)
	service := get(HeaderService, true)
	h.UserID = get(HeaderUserID, false)
	h.Issue = get(HeaderIssue, false)
	h.RepresentedParty = get(HeaderRepresentedParty, false)
	tm := get(HeaderTime, true)
	h.Method = get(HeaderMethod, true)
	h.Path = get(HeaderPath, false)
	h.RawQuery = get(HeaderQuery, false)
	digest := get(HeaderBodyDigest, true)
	size := get(HeaderBodySize, true)
	if err != nil {
		return RequestHeader{}, "", err
	}
	if err := checkSignatureText(sig); err != nil {
		return RequestHeader{}, "", err
	}
	if h.Client, err = xroad.ParseClient(client); err != nil {
		return RequestHeader{}, "", fmt.Errorf("%w: %s: %w", ErrMalformed, HeaderClient, err)
	}
	if h.Service, err = xroad.ParseService(service); err != nil {
		return RequestHeader{}, "", fmt.Errorf("%w: %s: %w", ErrMalformed, HeaderService, err)
	}
	if h.Time, err = parseTime(tm); err != nil {
		return RequestHeader{}, "", err
	}
	if h.BodyDigest, err = parseDigest(HeaderBodyDigest, digest); err != nil {
		return RequestHeader{}, "", err
	}
	if h.BodySize, err = parseInt(HeaderBodySize, size); err != nil {
		return RequestHeader{}, "", err
	}
	h.Headers = FilterHeaders(hdr)
	if err := h.Validate(); err != nil {
		return RequestHeader{}, "", err
	}
	return h, sig, nil
}

// DecodeResponse reads the headers of a response hop under the rules of
// DecodeRequest. It authenticates nothing: pass the result to
// Verifier.VerifyResponse.
func DecodeResponse(hdr http.Header) (ResponseHeader, string, error) {
	j, err := collectJisr(hdr, allowedSet(HeaderSignature, HeaderVersion, HeaderRequestDigest,
		HeaderStatus, HeaderTime, HeaderBodyDigest, HeaderBodySize))
	if err != nil {
		return ResponseHeader{}, "", err
	}
	vals := make(map[string]string, 7)
	for _, name := range []string{HeaderSignature, HeaderVersion, HeaderRequestDigest, HeaderStatus,
		HeaderTime, HeaderBodyDigest, HeaderBodySize} {
		if vals[name], err = j.required(name); err != nil {
			return ResponseHeader{}, "", err
		}
	}
	sig := vals[HeaderSignature]
	if err := checkSignatureText(sig); err != nil {
		return ResponseHeader{}, "", err
	}
	h := ResponseHeader{Version: vals[HeaderVersion]}
	if h.RequestDigest, err = parseDigest(HeaderRequestDigest, vals[HeaderRequestDigest]); err != nil {
		return ResponseHeader{}, "", err
	}
	status, err := parseInt(HeaderStatus, vals[HeaderStatus])
	if err != nil {
		return ResponseHeader{}, "", err
	}
	if status > 999 {
		return ResponseHeader{}, "", fmt.Errorf("%w: status %d", ErrMalformed, status)
	}
	h.Status = int(status)
	if h.Time, err = parseTime(vals[HeaderTime]); err != nil {
		return ResponseHeader{}, "", err
	}
	if h.BodyDigest, err = parseDigest(HeaderBodyDigest, vals[HeaderBodyDigest]); err != nil {
		return ResponseHeader{}, "", err
	}
	if h.BodySize, err = parseInt(HeaderBodySize, vals[HeaderBodySize]); err != nil {
		return ResponseHeader{}, "", err
	}
	h.Headers = FilterHeaders(hdr)
	if err := h.Validate(); err != nil {
		return ResponseHeader{}, "", err
	}
	return h, sig, nil
}
