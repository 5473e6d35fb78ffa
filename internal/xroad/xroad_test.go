package xroad

import (
	"errors"
	"testing"
)

func TestHeaderForms(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		parse func(string) (ID, error)
		typed string
		uri   string
	}{
		{"member", "PS/GOV/MOI", func(s string) (ID, error) { return ParseMember(s) }, "MEMBER:PS/GOV/MOI", "xroad:MEMBER:PS/GOV/MOI"},
		{"subsystem", "PS/GOV/MOI/civil-registry", func(s string) (ID, error) { return ParseClient(s) }, "SUBSYSTEM:PS/GOV/MOI/civil-registry", "xroad:SUBSYSTEM:PS/GOV/MOI/civil-registry"},
		{"client member", "PS/GOV/MOI", func(s string) (ID, error) { return ParseClient(s) }, "MEMBER:PS/GOV/MOI", "xroad:MEMBER:PS/GOV/MOI"},
		{"server", "PS/GOV/MOI/ss1", func(s string) (ID, error) { return ParseServer(s) }, "SERVER:PS/GOV/MOI/ss1", "xroad:SERVER:PS/GOV/MOI/ss1"},
		{"service", "PS/GOV/MOI/civil-registry/persons", func(s string) (ID, error) { return ParseService(s) }, "SERVICE:PS/GOV/MOI/civil-registry/persons", "xroad:SERVICE:PS/GOV/MOI/civil-registry/persons"},
		{"service version", "PS/GOV/MOI/civil-registry/persons/v1", func(s string) (ID, error) { return ParseService(s) }, "SERVICE:PS/GOV/MOI/civil-registry/persons/v1", "xroad:SERVICE:PS/GOV/MOI/civil-registry/persons/v1"},
		{"global group", "PS/security-server-owners", func(s string) (ID, error) { return ParseGlobalGroup(s) }, "GLOBALGROUP:PS/security-server-owners", "xroad:GLOBALGROUP:PS/security-server-owners"},
		{"odd characters", "PS/GOV/a'(b)+c,d-e.f=g?h", func(s string) (ID, error) { return ParseMember(s) }, "MEMBER:PS/GOV/a'(b)+c,d-e.f=g?h", "xroad:MEMBER:PS/GOV/a'(b)+c,d-e.f=g%3Fh"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.parse(tc.in)
			if err != nil {
				t.Fatalf("parse %q: %v", tc.in, err)
			}
			if got := id.String(); got != tc.in {
				t.Errorf("String() = %q, want %q", got, tc.in)
			}
			if got := id.Typed(); got != tc.typed {
				t.Errorf("Typed() = %q, want %q", got, tc.typed)
			}
			if got := id.URI(); got != tc.uri {
				t.Errorf("URI() = %q, want %q", got, tc.uri)
			}
			if err := id.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			back, err := ParseTyped(tc.typed)
			if err != nil || back.Typed() != tc.typed {
				t.Errorf("ParseTyped(%q) = %v, %v", tc.typed, back, err)
			}
			back, err = ParseURI(tc.uri)
			if err != nil || back.URI() != tc.uri {
				t.Errorf("ParseURI(%q) = %v, %v", tc.uri, back, err)
			}
		})
	}
}

func TestRejects(t *testing.T) {
	long := make([]byte, MaxPartLength+1)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		name string
		fn   func() error
	}{
		{"empty", func() error { _, err := ParseClient(""); return err }},
		{"too few parts", func() error { _, err := ParseClient("PS/GOV"); return err }},
		{"too many parts", func() error { _, err := ParseClient("PS/GOV/MOI/a/b"); return err }},
		{"empty part", func() error { _, err := ParseClient("PS//MOI"); return err }},
		{"space", func() error { _, err := ParseMember("PS/GOV/M OI"); return err }},
		{"underscore", func() error { _, err := ParseMember("PS/GOV/M_OI"); return err }},
		{"colon", func() error { _, err := ParseMember("PS/GOV/M:OI"); return err }},
		{"percent in header", func() error { _, err := ParseMember("PS/GOV/M%41"); return err }},
		{"non-ascii", func() error { _, err := ParseMember("PS/GOV/وزارة"); return err }},
		{"newline", func() error { _, err := ParseMember("PS/GOV/MOI\n"); return err }},
		{"long part", func() error { _, err := ParseMember("PS/GOV/" + string(long)); return err }},
		{"escaped slash in path", func() error { _, err := ParseClientPath("PS/GOV/M%2FOI"); return err }},
		{"bad escape", func() error { _, err := ParseClientPath("PS/GOV/M%G1"); return err }},
		{"truncated escape", func() error { _, err := ParseClientPath("PS/GOV/M%4"); return err }},
		{"unknown type", func() error { _, err := ParseTyped("THING:PS/GOV/MOI"); return err }},
		{"no type", func() error { _, err := ParseTyped("PS/GOV/MOI"); return err }},
		{"wrong scheme", func() error { _, err := ParseURI("urn:MEMBER:PS/GOV/MOI"); return err }},
		{"uri member with 4 parts", func() error { _, err := ParseURI("xroad:MEMBER:PS/GOV/MOI/x"); return err }},
		{"service of member", func() error { return ServiceID{Provider: ClientID{"PS", "GOV", "MOI", ""}, Code: "x"}.Validate() }},
		{"service path too short", func() error { _, _, err := ParseServicePath("PS/GOV/MOI/sub"); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn()
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestParseServicePath(t *testing.T) {
	tests := []struct {
		in       string
		wantID   string
		wantRest string
	}{
		{"PS/GOV/MOI/civil-registry/persons", "PS/GOV/MOI/civil-registry/persons", ""},
		{"PS/GOV/MOI/civil-registry/persons/", "PS/GOV/MOI/civil-registry/persons", "/"},
		{"PS/GOV/MOI/civil-registry/persons/v1/persons/4001%2F2", "PS/GOV/MOI/civil-registry/persons", "/v1/persons/4001%2F2"},
		{"PS/GOV/MOI/civil-registry/a%3Fb/x", "PS/GOV/MOI/civil-registry/a?b", "/x"},
		{"PS/GOV/MOI/civil-registry/a%3fb", "PS/GOV/MOI/civil-registry/a?b", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			id, rest, err := ParseServicePath(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if id.String() != tc.wantID || rest != tc.wantRest {
				t.Errorf("got %q %q, want %q %q", id, rest, tc.wantID, tc.wantRest)
			}
		})
	}
}

func TestURLPathEscapesEachPart(t *testing.T) {
	s := ServiceID{Provider: ClientID{"PS", "GOV", "a?b", "sub"}, Code: "svc", Version: "v1"}
	if got, want := s.URLPath(), "PS/GOV/a%3Fb/sub/svc"; got != want {
		t.Fatalf("URLPath = %q, want %q", got, want)
	}
	back, rest, err := ParseServicePath(s.URLPath())
	if err != nil || rest != "" || back != s.Unversioned() {
		t.Fatalf("round trip: %v %q %v", back, rest, err)
	}
}

func TestMapKeys(t *testing.T) {
	m := map[ClientID]int{}
	a, _ := ParseClient("PS/GOV/MOI/civil-registry")
	b, _ := ParseClientPath("PS/GOV/MOI/civil-registry")
	m[a]++
	m[b]++
	if len(m) != 1 || m[a] != 2 {
		t.Fatalf("identifiers parsed from different forms are not equal keys: %v", m)
	}
	if a.Member() != (MemberID{"PS", "GOV", "MOI"}) || a.Member().Subsystem("civil-registry") != a {
		t.Fatal("member/subsystem conversions disagree")
	}
}
