package xroad

import "testing"

// FuzzParse checks every parser of this package on arbitrary bytes: bad input
// is an error (never a panic), and whatever parses formats canonically: the
// formatted form parses back to the same identifier and formats to the same
// bytes (parse → format → parse is byte-exact).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"PS/GOV/MOI", "PS/GOV/MOI/civil-registry", "PS/GOV/MOI/civil-registry/persons/v1",
		"SERVER:PS/GOV/MOI/ss1", "xroad:SERVICE:PS/GOV/a%3Fb/s/svc", "GLOBALGROUP:PS/g",
		"LOCALGROUP:x", "PS/GOV/MOI/sub/svc/extra/path?q=1", "xroad:MEMBER:PS/GOV/M%2fOI", "%", "///",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		headerParsers := []func(string) (ID, error){
			func(s string) (ID, error) { return ParseMember(s) },
			func(s string) (ID, error) { return ParseClient(s) },
			func(s string) (ID, error) { return ParseServer(s) },
			func(s string) (ID, error) { return ParseService(s) },
			func(s string) (ID, error) { return ParseGlobalGroup(s) },
		}
		for _, parse := range headerParsers {
			if id, err := parse(s); err == nil {
				if id.String() != s {
					t.Fatalf("header form not byte-exact: %q -> %q", s, id.String())
				}
				checkCanonical(t, id)
			}
		}
		if id, err := ParseTyped(s); err == nil {
			if id.Typed() != s {
				t.Fatalf("typed form not byte-exact: %q -> %q", s, id.Typed())
			}
			checkCanonical(t, id)
		}
		if id, err := ParseURI(s); err == nil {
			checkCanonical(t, id)
		}
		if c, err := ParseClientPath(s); err == nil {
			back, err := ParseClientPath(c.URLPath())
			if err != nil || back != c || back.URLPath() != c.URLPath() {
				t.Fatalf("client path round trip: %q -> %q -> %v, %v", s, c.URLPath(), back, err)
			}
			checkCanonical(t, c)
		}
		if svc, rest, err := ParseServicePath(s); err == nil {
			back, rest2, err := ParseServicePath(svc.URLPath() + rest)
			if err != nil || back != svc || rest2 != rest {
				t.Fatalf("service path round trip: %q -> %v %q, %v", s, back, rest2, err)
			}
			checkCanonical(t, svc)
		}
	})
}

func checkCanonical(t *testing.T, id ID) {
	t.Helper()
	if err := id.Validate(); err != nil {
		t.Fatalf("parsed %q fails Validate: %v", id.Typed(), err)
	}
	typed := id.Typed()
	back, err := ParseTyped(typed)
	if err != nil {
		t.Fatalf("ParseTyped(%q): %v", typed, err)
	}
	if back.Typed() != typed || back.String() != id.String() {
		t.Fatalf("typed round trip: %q -> %q", typed, back.Typed())
	}
	u := id.URI()
	backU, err := ParseURI(u)
	if err != nil {
		t.Fatalf("ParseURI(%q): %v", u, err)
	}
	if backU.URI() != u || backU.Typed() != typed {
		t.Fatalf("URI round trip: %q -> %q", u, backU.URI())
	}
}
