package conf

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMatchEndpoint(t *testing.T) {
	ep := func(method, path string) EndpointSpec { return EndpointSpec{Method: method, Path: path} }
	long := "/" + strings.Repeat("a/", 120) + "*"
	for _, tc := range []struct {
		name    string
		pattern EndpointSpec
		method  string
		path    string
		want    bool
	}{
		// Methods.
		{"exact method", ep("GET", "/persons"), "GET", "/persons", true},
		{"method case ignored", ep("GET", "/persons"), "get", "/persons", true},
		{"other method", ep("GET", "/persons"), "POST", "/persons", false},
		{"any method", ep("*", "/persons"), "DELETE", "/persons", true},
		{"base endpoint", ep("*", "**"), "PATCH", "/anything/at/all", true},
		{"base endpoint, unnormalizable path", ep("*", "**"), "GET", "no-leading-slash", true},

		// Exact paths and trailing slashes.
		{"exact path", ep("GET", "/persons/17"), "GET", "/persons/17", true},
		{"exact path, other", ep("GET", "/persons/17"), "GET", "/persons/18", false},
		{"prefix is not a match", ep("GET", "/persons"), "GET", "/persons/17", false},
		{"trailing slash significant", ep("GET", "/persons"), "GET", "/persons/", false},
		{"trailing slash in pattern", ep("GET", "/persons/"), "GET", "/persons", false},
		{"empty path is root", ep("GET", "/"), "GET", "", true},

		// One star: within a segment.
		{"star segment", ep("GET", "/persons/*"), "GET", "/persons/17", true},
		{"star is one segment only", ep("GET", "/persons/*"), "GET", "/persons/17/addresses", false},
		{"star matches empty segment", ep("GET", "/persons/*"), "GET", "/persons/", true},
		{"star needs the slash", ep("GET", "/persons/*"), "GET", "/persons", false},
		{"star in the middle", ep("GET", "/persons/*/addresses"), "GET", "/persons/17/addresses", true},
		{"star in the middle, wrong tail", ep("GET", "/persons/*/addresses"), "GET", "/persons/17/phones", false},
		{"star within a segment", ep("GET", "/files/*.pdf"), "GET", "/files/report.pdf", true},
		{"star within a segment, wrong suffix", ep("GET", "/files/*.pdf"), "GET", "/files/report.txt", false},
		{"star within a segment, no slash", ep("GET", "/files/*.pdf"), "GET", "/files/a/b.pdf", false},

		// Two stars: across segments.
		{"double star tail", ep("GET", "/persons/**"), "GET", "/persons/17/addresses/3", true},
		{"double star tail, empty", ep("GET", "/persons/**"), "GET", "/persons/", true},
		{"double star tail, not the parent", ep("GET", "/persons/**"), "GET", "/persons", false},
		{"double star inside", ep("GET", "/a/**/z"), "GET", "/a/b/c/z", true},
		{"double star glued", ep("GET", "/a/**b"), "GET", "/a/x/yb", true},
		{"double star then star", ep("GET", "/**/*x"), "GET", "/a/bx/cx", true},
		{"three stars are two", ep("GET", "/a/***"), "GET", "/a/b/c", true},
		{"stars everywhere, no match", ep("GET", "/*/*/*/*/end"), "GET", "/a/b/c/d/e/end", false},

		// Escapes and literal bytes.
		{"escaped star is literal", ep("GET", `/a/\*`), "GET", "/a/*", true},
		{"escaped star is not a wildcard", ep("GET", `/a/\*`), "GET", "/a/b", false},
		{"question mark is literal", ep("GET", "/a?"), "GET", "/a", false},

		// Normalization of the request path.
		{"dot segments removed", ep("GET", "/admin"), "GET", "/public/../admin", true},
		{"dot segments cannot escape a star", ep("GET", "/public/*"), "GET", "/public/../admin", false},
		{"encoded dot segments removed", ep("GET", "/public/**"), "GET", "/public/%2e%2e/admin", false},
		{"percent-decoding", ep("GET", "/persons/Ali Hasan"), "GET", "/persons/Ali%20Hasan", true},
		{"encoded slash is no separator", ep("GET", "/files/*"), "GET", "/files/a%2Fb", true},
		{"malformed escape matches nothing", ep("GET", "/files/*"), "GET", "/files/%zz", false},
		{"relative path matches nothing", ep("GET", "*"), "GET", "files", false},
		{"encoded control byte matches nothing", ep("GET", "/files/*"), "GET", "/files/%00", false},

		// Long patterns take the heap path of the matcher.
		{"long pattern", ep("GET", long), "GET", "/" + strings.Repeat("a/", 120) + "x", true},
		{"long pattern, mismatch", ep("GET", long), "GET", "/" + strings.Repeat("a/", 119) + "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MatchEndpoint(tc.pattern, tc.method, tc.path); got != tc.want {
				t.Errorf("MatchEndpoint(%q %q, %q, %q) = %v, want %v", tc.pattern.Method, tc.pattern.Path, tc.method, tc.path, got, tc.want)
			}
		})
	}
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "/", true},
		{"/", "/", true},
		{"/a/b", "/a/b", true},
		{"/a/./b", "/a/b", true},
		{"/a/../b", "/b", true},
		{"/../../b", "/b", true},
		{"/a/..", "/", true},
		{"/a/.", "/a/", true},
		{"/a/%2E%2E/b", "/b", true},
		{"/a%2fb", "/a%2Fb", true},
		{"/.well-known/x", "/.well-known/x", true},
		{"/caf%C3%A9", "/café", true},
		{"a/b", "", false},
		{"/a?b", "", false},
		{"/a#b", "", false},
		{"/a%", "", false},
		{"/a%4", "", false},
		{"/a%0A", "", false},
		{"/a\tb", "", false},
	} {
		got, ok := NormalizePath(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNormalizeEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   EndpointSpec
		want EndpointSpec
		ok   bool
	}{
		{"upper-cased", EndpointSpec{"get", "/a"}, EndpointSpec{"GET", "/a"}, true},
		{"any method", EndpointSpec{"*", "/a/**"}, EndpointSpec{"*", "/a/**"}, true},
		{"any path", EndpointSpec{"GET", "**"}, EndpointSpec{"GET", "**"}, true},
		{"base endpoint refused", EndpointSpec{"*", "**"}, EndpointSpec{}, false},
		{"unknown method", EndpointSpec{"FETCH", "/a"}, EndpointSpec{}, false},
		{"relative path", EndpointSpec{"GET", "a"}, EndpointSpec{}, false},
		{"empty path", EndpointSpec{"GET", ""}, EndpointSpec{}, false},
		{"query", EndpointSpec{"GET", "/a?b"}, EndpointSpec{}, false},
		{"space", EndpointSpec{"GET", "/a b"}, EndpointSpec{}, false},
		{"too long", EndpointSpec{"GET", "/" + strings.Repeat("a", MaxEndpointPathLength)}, EndpointSpec{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalizeEndpoint(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("normalizeEndpoint(%v) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

// TestMatchDoesNotAllocate checks the hot path: a compiled pattern matched
// against a path that needs no normalizing.
func TestMatchDoesNotAllocate(t *testing.T) {
	pp := compilePattern("/persons/*/addresses/**")
	allocs := testing.AllocsPerRun(100, func() {
		norm, _ := NormalizePath("/persons/17/addresses/home/1")
		if !pp.match(norm) {
			t.Fatal("no match")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per match, want 0", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	pp := compilePattern("/persons/*/addresses/**")
	for b.Loop() {
		pp.match("/persons/17/addresses/home/1")
	}
}

// globRegexp translates a path pattern the way X-Road's PathGlob does ("*"
// to "[^/]*", a run of stars to ".*", backslash escapes), as a reference.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p) && (p[i+1] == '*' || p[i+1] == '\\'):
			b.WriteString(regexp.QuoteMeta(p[i+1 : i+2]))
			i++
		case c == '*':
			if i+1 < len(p) && p[i+1] == '*' {
				for i+1 < len(p) && p[i+1] == '*' {
					i++
				}
				b.WriteString("(?s:.*)")
			} else {
				b.WriteString("[^/]*")
			}
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// FuzzMatchPath checks the automaton against the regular expression
// X-Road compiles the same pattern to.
func FuzzMatchPath(f *testing.F) {
	for _, s := range [][2]string{
		{"/a/*", "/a/b"}, {"/**/*x", "/a/bx/cx"}, {`/a\*b`, "/a*b"}, {"/a/**b/*", "/a/x/b/y"},
		{"/*.pdf", "/x.pdf"}, {"/a/***/b", "/a/b"}, {"**", ""}, {`\\*`, `\x`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		if len(pattern) > 300 || len(path) > 300 || !utf8.ValidString(pattern) || !utf8.ValidString(path) {
			return
		}
		pp := compilePattern(pattern)
		if got, want := pp.match(path), globRegexp(pattern).MatchString(path); got != want {
			t.Fatalf("pattern %q, path %q: match %v, regexp %v", pattern, path, got, want)
		}
	})
}
