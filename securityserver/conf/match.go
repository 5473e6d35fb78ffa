package conf

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// MaxEndpointPathLength bounds an endpoint's path pattern, in bytes.
const MaxEndpointPathLength = 255

// endpointMethods lists the HTTP methods an endpoint may name besides
// AnyMethod, as X-Road's endpoint editor offers them.
const endpointMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE"

// isEndpointMethod reports whether m is AnyMethod or one of endpointMethods.
func isEndpointMethod(m string) bool {
	switch m {
	case AnyMethod, "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// MatchEndpoint reports whether a request with the given method and path
// falls under endpoint pattern, with X-Road's semantics (X-Road
// BaseEndpoint.matches and PathGlob, ServerConfImpl.checkAccessRights):
//
//   - Method: AnyMethod ("*") matches every method; otherwise the methods
//     are compared ignoring ASCII case.
//   - Path: the pattern AnyPath ("**") alone matches every path, even one
//     NormalizePath refuses. Otherwise the request path is first normalized
//     (NormalizePath; a path it refuses matches nothing) and then matched
//     against the pattern as a glob over the whole path: "*" matches any run
//     of bytes other than "/" (so "/persons/*" matches "/persons/17" and
//     "/persons/" but not "/persons/17/addresses", and "/files/*.pdf"
//     matches "/files/a.pdf"); "**" (two or more stars) matches any run of
//     bytes, "/" included (so "/persons/**" matches every path below
//     "/persons/", and "/a/**b" matches "/a/x/yb"); a backslash makes the
//     next "*" or backslash literal; every other byte matches itself.
//   - Trailing slashes are significant, as in X-Road: "/persons" does not
//     match "/persons/", and "/persons/*" matches "/persons/" (an empty
//     segment) but not "/persons". Grant both, or use "/persons**", to
//     cover both spellings.
//
// Unlike X-Road's PathGlob, "?" is an ordinary byte (X-Road passes it to a
// regular expression unescaped, where it makes the previous byte optional).
//
// MatchEndpoint compiles the pattern on every call; a View compiles each
// endpoint once.
func MatchEndpoint(pattern EndpointSpec, method, path string) bool {
	if !matchMethod(pattern.Method, method) {
		return false
	}
	if pattern.Path == AnyPath {
		return true
	}
	norm, ok := NormalizePath(path)
	if !ok {
		return false
	}
	pp := compilePattern(pattern.Path)
	return pp.match(norm)
}

// matchMethod compares an endpoint's method with a request's.
func matchMethod(pattern, method string) bool {
	return pattern == AnyMethod || strings.EqualFold(pattern, method)
}

// NormalizePath returns the form of a request path (the part after the
// service code in an r1 URL, without the query) that endpoint patterns are
// matched against, as X-Road does before matching (URI normalization, then
// percent-decoding):
//
//   - the empty path (a request for the service's base URL) becomes "/";
//   - percent-escapes are decoded, except "%2F" (an encoded slash), which
//     stays "%2F" so that it cannot act as a separator;
//   - dot segments ("." and "..", also when percent-encoded) are removed as
//     RFC 3986 §5.2.4 specifies, so a pattern is matched against the
//     resource a backend that resolves them would serve.
//
// It reports false for a path that does not start with "/", holds a "?" or
// "#", a malformed percent-escape, or (decoded) an ASCII control byte: such
// a path matches no endpoint pattern, only the whole service. A path that
// needs no change is returned as is, without allocating.
func NormalizePath(p string) (string, bool) {
	if p == "" {
		return "/", true
	}
	if p[0] != '/' {
		return "", false
	}
	clean := true
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '?' || c == '#' || c < 0x20 || c == 0x7f:
			return "", false
		case c == '%':
			clean = false
		case c == '.' && p[i-1] == '/':
			// Possibly a dot segment; checked below.
			clean = false
		}
	}
	if clean {
		return p, true
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(p) {
			return "", false
		}
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		d := hi<<4 | lo
		switch {
		case d == '/':
			b.WriteString("%2F")
		case d < 0x20 || d == 0x7f:
			return "", false
		default:
			b.WriteByte(d)
		}
		i += 2
	}
	return removeDotSegments(b.String()), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// removeDotSegments implements RFC 3986 §5.2.4 for an absolute path.
func removeDotSegments(p string) string {
	if !strings.Contains(p, "/.") {
		return p
	}
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

// Tokens of a compiled path pattern besides literal bytes (0–255).
const (
	tokStar  int16 = -1 // "*": any run of bytes but '/'
	tokDStar int16 = -2 // "**": any run of bytes
)

// pathPattern is a compiled path pattern.
type pathPattern struct {
	// prefix is the literal start of the pattern, up to its first
	// wildcard (escapes removed); the whole pattern when it has none.
	prefix string
	// toks is the rest of the pattern as tokens, starting with a wildcard;
	// nil when the pattern has no wildcard.
	toks []int16
	// stars are the positions of the wildcards in toks, ascending.
	stars []int
	// any is set for AnyPath.
	any bool
}

// compilePattern compiles a path pattern (see MatchEndpoint). Any string
// compiles.
func compilePattern(p string) pathPattern {
	if p == AnyPath {
		return pathPattern{any: true}
	}
	if !strings.ContainsAny(p, `*\`) {
		return pathPattern{prefix: p}
	}
	toks := make([]int16, 0, len(p))
	wild := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p) && (p[i+1] == '*' || p[i+1] == '\\'):
			toks = append(toks, int16(p[i+1]))
			i++
		case c == '*':
			n := 1
			for i+1 < len(p) && p[i+1] == '*' {
				i++
				n++
			}
			wild = true
			if n == 1 {
				toks = append(toks, tokStar)
			} else {
				toks = append(toks, tokDStar)
			}
		default:
			toks = append(toks, int16(c))
		}
	}
	first := slices.IndexFunc(toks, func(t int16) bool { return t < 0 })
	if !wild {
		first = len(toks)
	}
	lit := make([]byte, first)
	for i, t := range toks[:first] {
		lit[i] = byte(t)
	}
	pp := pathPattern{prefix: string(lit)}
	if wild {
		pp.toks = toks[first:]
		for i, t := range pp.toks {
			if t < 0 {
				pp.stars = append(pp.stars, i)
			}
		}
	}
	return pp
}

// stateWords is the size of the state set kept on the stack: patterns of up
// to 255 tokens (MaxEndpointPathLength) match without allocating.
const stateWords = 4

// match reports whether the whole of path matches the pattern. After the
// literal prefix, it runs the pattern as a nondeterministic automaton over a
// bit set of positions, so it takes O(len(path)·len(pattern)) steps at
// worst, whatever the pattern (no backtracking).
func (pp *pathPattern) match(path string) bool {
	switch {
	case pp.any:
		return true
	case pp.toks == nil:
		return path == pp.prefix
	case !strings.HasPrefix(path, pp.prefix):
		return false
	}
	path = path[len(pp.prefix):]
	n := len(pp.toks) // states 0..n; state i: toks[:i] matched
	words := n/64 + 1
	var curBuf, nextBuf [stateWords]uint64
	cur, next := curBuf[:], nextBuf[:]
	if words > stateWords {
		cur, next = make([]uint64, words), make([]uint64, words)
	} else {
		cur, next = cur[:words], next[:words]
	}
	cur[0] = 1
	pp.closure(cur)
	for j := 0; j < len(path); j++ {
		c := path[j]
		clear(next)
		live := false
		for w, word := range cur {
			for word != 0 {
				i := w*64 + bits.TrailingZeros64(word)
				word &= word - 1
				if i == n {
					continue
				}
				switch t := pp.toks[i]; t {
				case tokStar:
					if c != '/' {
						next[i/64] |= 1 << (i % 64)
						live = true
					}
				case tokDStar:
					next[i/64] |= 1 << (i % 64)
					live = true
				default:
					if byte(t) == c {
						next[(i+1)/64] |= 1 << ((i + 1) % 64)
						live = true
					}
				}
			}
		}
		if !live {
			return false
		}
		pp.closure(next)
		cur, next = next, cur
	}
	return cur[n/64]&(1<<(n%64)) != 0
}

// closure adds to set every state reachable by letting wildcards match
// nothing. Such moves only go forward by one, so one ascending pass is
// enough.
func (pp *pathPattern) closure(set []uint64) {
	for _, i := range pp.stars {
		if set[i/64]&(1<<(i%64)) != 0 {
			set[(i+1)/64] |= 1 << ((i + 1) % 64)
		}
	}
}

// normalizeEndpoint validates an endpoint given on write and returns it with
// its method in upper case.
func normalizeEndpoint(e EndpointSpec) (EndpointSpec, error) {
	m := strings.ToUpper(e.Method)
	if !isEndpointMethod(m) {
		return EndpointSpec{}, fmt.Errorf("%w: endpoint method %q: want %s or one of %s", ErrInvalid, e.Method, AnyMethod, endpointMethods)
	}
	if err := checkEndpointPath(e.Path); err != nil {
		return EndpointSpec{}, err
	}
	if m == AnyMethod && e.Path == AnyPath {
		return EndpointSpec{}, fmt.Errorf("%w: endpoint %s %s is the service itself (the zero EndpointSpec)", ErrInvalid, m, e.Path)
	}
	return EndpointSpec{Method: m, Path: e.Path}, nil
}

// checkEndpointPath validates a path pattern: "**", or "/" followed by at
// most MaxEndpointPathLength-1 printable ASCII bytes other than space, "?"
// and "#".
func checkEndpointPath(p string) error {
	if p == AnyPath {
		return nil
	}
	if p == "" || p[0] != '/' {
		return fmt.Errorf("%w: endpoint path %q must start with \"/\"", ErrInvalid, p)
	}
	if len(p) > MaxEndpointPathLength {
		return fmt.Errorf("%w: endpoint path longer than %d bytes", ErrInvalid, MaxEndpointPathLength)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '?' || c == '#' {
			return fmt.Errorf("%w: endpoint path %q: byte %q not allowed", ErrInvalid, p, c)
		}
	}
	return nil
}
