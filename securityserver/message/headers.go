package message

import (
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits on what a message header may carry. They bound the canonical
// encoding (and so the JWS) and are part of the protocol: a message beyond
// them is refused with ErrMalformed.
const (
	// MaxIDLength bounds the message id (X-Road-Id).
	MaxIDLength = 255
	// MaxUserIDLength bounds the user id (X-Road-UserId).
	MaxUserIDLength = 255
	// MaxIssueLength bounds the issue (X-Road-Issue).
	MaxIssueLength = 1024
	// MaxRepresentedPartyLength bounds the represented party
	// (X-Road-Represented-Party, "[CLASS/]CODE").
	MaxRepresentedPartyLength = 2*255 + 1
	// MaxMethodLength bounds the HTTP method.
	MaxMethodLength = 32
	// MaxPathLength bounds the escaped path after the service code.
	MaxPathLength = 8 << 10
	// MaxQueryLength bounds the raw query.
	MaxQueryLength = 8 << 10
	// MaxHeaderBytes bounds the end-to-end headers: the sum over every value
	// of len(name)+len(value).
	MaxHeaderBytes = 64 << 10
	// MaxHeaderValues bounds the number of end-to-end header values.
	MaxHeaderValues = 256
)

// hopByHop lists the headers that never travel end to end, in canonical
// form: the hop-by-hop headers of RFC 9110 §7.6.1 (Proxy-* is matched by
// prefix), HTTP/2's HTTP2-Settings, and those X-Road's PR-REST excludes
// (Host, Content-Length, User-Agent, Server, Expect).
func hopByHop(name string) bool {
	switch name {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding",
		"Upgrade", "Http2-Settings", "Host", "Content-Length", "User-Agent", "Server", "Expect":
		return true
	}
	return false
}

// EndToEnd reports whether a header of this name is carried end to end, that
// is, passed from the client to the service (or back) and covered by the
// message signature. Not carried: hop-by-hop headers (Connection,
// Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade,
// HTTP2-Settings), Host, Content-Length, User-Agent, Server, Expect, every
// X-Road-* header (the security servers set those from the signed metadata),
// every X-Jisr-* header (this protocol's own), and names that are not valid
// HTTP tokens. Everything else is carried, including Authorization, Cookie
// and forwarding headers (Forwarded, X-Forwarded-*, Via), as X-Road does.
// name is matched case-insensitively.
func EndToEnd(name string) bool {
	if !validToken(name) {
		return false
	}
	c := textproto.CanonicalMIMEHeaderKey(name)
	if hopByHop(c) {
		return false
	}
	for _, p := range []string{"Proxy-", "X-Road-", "X-Jisr-"} {
		if strings.HasPrefix(c, p) {
			return false
		}
	}
	return true
}

// FilterHeaders returns the end-to-end part of h, normalised as the
// signature covers it:
//
//   - only names EndToEnd accepts, minus any name listed in a Connection
//     header of h (RFC 9110 §7.6.1);
//   - names in canonical form (textproto.CanonicalMIMEHeaderKey); values of
//     names that differ only in case are merged in byte order of the
//     original names, each keeping its order;
//   - leading and trailing spaces and tabs removed from every value (they
//     are not part of a field value, RFC 9110 §5.5);
//   - Cookie values split at ';' and joined again with "; " into one value,
//     as an HTTP/2 hop does (RFC 9113 §8.2.3), so a signed Cookie survives
//     HTTP/2 unchanged; an empty result is dropped.
//
// h is not modified. The result is never nil. FilterHeaders does not
// validate values; Validate refuses values with control characters or
// invalid UTF-8.
func FilterHeaders(h http.Header) http.Header {
	out := make(http.Header)
	drop := make(map[string]bool)
	for k, vv := range h {
		if textproto.CanonicalMIMEHeaderKey(k) != "Connection" {
			continue
		}
		for _, v := range vv {
			for _, tok := range strings.Split(v, ",") {
				drop[textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(tok))] = true
			}
		}
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !EndToEnd(k) {
			continue
		}
		c := textproto.CanonicalMIMEHeaderKey(k)
		if drop[c] {
			continue
		}
		for _, v := range h[k] {
			out[c] = append(out[c], trimOWS(v))
		}
	}
	if vv, ok := out["Cookie"]; ok {
		if j := joinCookies(vv); j != "" {
			out["Cookie"] = []string{j}
		} else {
			delete(out, "Cookie")
		}
	}
	for k, vv := range out {
		if len(vv) == 0 {
			delete(out, k)
		}
	}
	return out
}

// joinCookies splits Cookie values the way Go's HTTP/2 client does (at ';',
// skipping spaces after it, dropping an empty last piece) and joins the
// pieces with "; " the way Go's HTTP/2 server does. The result is a fixed
// point: joinCookies([]string{joinCookies(v)}) == joinCookies(v).
func joinCookies(vv []string) string {
	var pieces []string
	for _, v := range vv {
		for {
			p := strings.IndexByte(v, ';')
			if p < 0 {
				break
			}
			pieces = append(pieces, v[:p])
			p++
			for p < len(v) && v[p] == ' ' {
				p++
			}
			v = v[p:]
		}
		if v != "" {
			pieces = append(pieces, v)
		}
	}
	return trimOWS(strings.Join(pieces, "; "))
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }

// validToken reports whether s is an RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// checkText checks a value that travels in an HTTP header field: valid
// UTF-8, no control characters except HTAB, no leading or trailing space or
// tab (which HTTP would strip), at most max bytes (max < 0: no bound).
func checkText(what, s string, max int) error {
	if max >= 0 && len(s) > max {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrMalformed, what, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrMalformed, what)
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return fmt.Errorf("%w: %s contains control character %U", ErrMalformed, what, r)
		}
	}
	if trimOWS(s) != s {
		return fmt.Errorf("%w: %s has leading or trailing white space", ErrMalformed, what)
	}
	return nil
}

// checkASCII checks that s is 0..max bytes of printable ASCII without space
// (0x21–0x7E), none of them in forbidden.
func checkASCII(what, s string, max int, forbidden string) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrMalformed, what, max)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || strings.IndexByte(forbidden, c) >= 0 {
			return fmt.Errorf("%w: %s contains byte %#x", ErrMalformed, what, c)
		}
	}
	return nil
}

// checkHeaders checks end-to-end headers as they must be signed: canonical
// names EndToEnd accepts, at least one value each, values passing
// checkText, a fixed-point Cookie, and the size limits.
func checkHeaders(h http.Header) error {
	total, count := 0, 0
	for name, vv := range h {
		if !EndToEnd(name) || textproto.CanonicalMIMEHeaderKey(name) != name {
			return fmt.Errorf("%w: header %q is not a canonical end-to-end header name", ErrMalformed, name)
		}
		if len(vv) == 0 {
			return fmt.Errorf("%w: header %q has no value", ErrMalformed, name)
		}
		for _, v := range vv {
			count++
			total += len(name) + len(v)
			if count > MaxHeaderValues || total > MaxHeaderBytes {
				return fmt.Errorf("%w: end-to-end headers exceed %d values or %d bytes", ErrMalformed, MaxHeaderValues, MaxHeaderBytes)
			}
			if err := checkText("header "+name, v, -1); err != nil {
				return err
			}
		}
		if name == "Cookie" && (len(vv) != 1 || vv[0] == "" || joinCookies(vv) != vv[0]) {
			return fmt.Errorf("%w: Cookie header is not normalised (see FilterHeaders)", ErrMalformed)
		}
	}
	return nil
}
