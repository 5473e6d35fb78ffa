// Package xroad defines the X-Road identifiers jisr speaks: members,
// subsystems, services, security servers, global groups and local groups.
//
// Every identifier is a small comparable struct of strings, so it can be used
// as a map key and compared with ==. Each has three text forms:
//
//   - the header form, used in X-Road-* HTTP headers and in logs:
//     "PS/GOV/MOI/civil-registry" (String, ParseClient, ParseServer, …);
//   - the r1 URL form, used in REST request paths, where each part is
//     percent-encoded on its own: "PS/GOV/MOI/civil-registry/persons"
//     (URLPath, ParseServicePath, ParseClientPath);
//   - the typed form, used in documents, certificates and configuration:
//     "SERVICE:PS/GOV/MOI/civil-registry/persons/v1" (Typed, ParseTyped), and
//     its URI variant "xroad:SERVICE:…" with each part percent-encoded, which
//     certificates carry as a URI subject alternative name (URI, ParseURI).
//
// Parts may only use the characters PR-REST §4.8 allows: A–Z a–z 0–9 and
// ' ( ) + , - . = ?. Anything else is rejected, so no identifier can smuggle a
// separator into a header, path or certificate. Formatting is canonical:
// parsing the output of a formatter gives back the same identifier, and
// formatting it again gives the same bytes.
//
// This package is not a registry: it says whether an identifier is well
// formed, not whether it exists.
package xroad

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error this package returns for malformed
// input; test with errors.Is.
var ErrInvalid = errors.New("invalid X-Road identifier")

// MaxPartLength bounds every identifier part (the registry stores them in
// columns of this width).
const MaxPartLength = 255

// ObjectType names the kind of an identifier, as in X-Road's objectType.
type ObjectType string

// The identifier kinds.
const (
	TypeMember      ObjectType = "MEMBER"
	TypeSubsystem   ObjectType = "SUBSYSTEM"
	TypeService     ObjectType = "SERVICE"
	TypeServer      ObjectType = "SERVER"
	TypeGlobalGroup ObjectType = "GLOBALGROUP"
	TypeLocalGroup  ObjectType = "LOCALGROUP"
)

// ID is implemented by every identifier type of this package (by value).
type ID interface {
	// Type is the identifier's kind.
	Type() ObjectType
	// String is the header form, e.g. "PS/GOV/MOI/civil-registry".
	String() string
	// Typed is the typed form, e.g. "SUBSYSTEM:PS/GOV/MOI/civil-registry".
	Typed() string
	// URI is the typed form as a URI with each part percent-encoded, e.g.
	// "xroad:SUBSYSTEM:PS/GOV/MOI/civil-registry".
	URI() string
	// Validate reports whether every part is present and well formed.
	Validate() error
}

// Compile-time guards.
var (
	_ ID = MemberID{}
	_ ID = ClientID{}
	_ ID = ServiceID{}
	_ ID = ServerID{}
	_ ID = GlobalGroupID{}
	_ ID = LocalGroupID{}
)

// MemberID identifies a member organisation: instance, member class, member
// code.
type MemberID struct {
	Instance string
	Class    string
	Code     string
}

// Type returns TypeMember.
func (m MemberID) Type() ObjectType { return TypeMember }

// String returns "INST/CLASS/CODE".
func (m MemberID) String() string { return join(m.parts()) }

// Typed returns "MEMBER:INST/CLASS/CODE".
func (m MemberID) Typed() string { return typed(TypeMember, m.parts()) }

// URI returns "xroad:MEMBER:INST/CLASS/CODE" with each part percent-encoded.
func (m MemberID) URI() string { return uri(TypeMember, m.parts()) }

// Validate checks every part.
func (m MemberID) Validate() error { return validateParts(TypeMember, m.parts()) }

// Client returns the member as a ClientID (a client without a subsystem).
func (m MemberID) Client() ClientID {
	return ClientID{Instance: m.Instance, Class: m.Class, Code: m.Code}
}

// Subsystem returns the member's subsystem with the given code.
func (m MemberID) Subsystem(code string) ClientID {
	return ClientID{Instance: m.Instance, Class: m.Class, Code: m.Code, Subsystem: code}
}

func (m MemberID) parts() []string { return []string{m.Instance, m.Class, m.Code} }

// ClientID identifies an X-Road client: a member (Subsystem empty) or one of
// its subsystems. It is what the X-Road-Client header carries.
type ClientID struct {
	Instance  string
	Class     string
	Code      string
	Subsystem string
}

// Type returns TypeSubsystem, or TypeMember when Subsystem is empty.
func (c ClientID) Type() ObjectType {
	if c.Subsystem == "" {
		return TypeMember
	}
	return TypeSubsystem
}

// IsSubsystem reports whether c names a subsystem.
func (c ClientID) IsSubsystem() bool { return c.Subsystem != "" }

// Member returns the member c belongs to (or is).
func (c ClientID) Member() MemberID {
	return MemberID{Instance: c.Instance, Class: c.Class, Code: c.Code}
}

// String returns "INST/CLASS/CODE" or "INST/CLASS/CODE/SUB".
func (c ClientID) String() string { return join(c.parts()) }

// Typed returns "MEMBER:INST/CLASS/CODE" or "SUBSYSTEM:INST/CLASS/CODE/SUB".
func (c ClientID) Typed() string { return typed(c.Type(), c.parts()) }

// URI returns the typed form as an "xroad:" URI.
func (c ClientID) URI() string { return uri(c.Type(), c.parts()) }

// URLPath returns the r1 URL form: each part percent-encoded, joined by "/".
func (c ClientID) URLPath() string { return joinEscaped(c.parts()) }

// Validate checks every part.
func (c ClientID) Validate() error { return validateParts(c.Type(), c.parts()) }

func (c ClientID) parts() []string {
	if c.Subsystem == "" {
		return []string{c.Instance, c.Class, c.Code}
	}
	return []string{c.Instance, c.Class, c.Code, c.Subsystem}
}

// ServiceID identifies a service offered by a provider subsystem, with an
// optional version. Access rights apply to the service code regardless of
// version (see Unversioned).
type ServiceID struct {
	Provider ClientID
	Code     string
	Version  string
}

// Type returns TypeService.
func (s ServiceID) Type() ObjectType { return TypeService }

// String returns "INST/CLASS/CODE/SUB/SERVICE[/VERSION]".
func (s ServiceID) String() string { return join(s.parts()) }

// Typed returns "SERVICE:INST/CLASS/CODE/SUB/SERVICE[/VERSION]".
func (s ServiceID) Typed() string { return typed(TypeService, s.parts()) }

// URI returns the typed form as an "xroad:" URI.
func (s ServiceID) URI() string { return uri(TypeService, s.parts()) }

// URLPath returns the r1 URL form "INST/CLASS/CODE/SUB/SERVICE" with each part
// percent-encoded. The r1 protocol carries no service version in the path.
func (s ServiceID) URLPath() string { return joinEscaped(s.Unversioned().parts()) }

// Unversioned returns s without its version: the key access rights use.
func (s ServiceID) Unversioned() ServiceID { s.Version = ""; return s }

// Validate checks every part; the provider must be a subsystem.
func (s ServiceID) Validate() error {
	if !s.Provider.IsSubsystem() {
		return fmt.Errorf("%w: service %q: provider must be a subsystem", ErrInvalid, s.String())
	}
	return validateParts(TypeService, s.parts())
}

func (s ServiceID) parts() []string {
	p := append(s.Provider.parts(), s.Code)
	if s.Version != "" {
		p = append(p, s.Version)
	}
	return p
}

// ServerID identifies a security server: its owner member and server code.
type ServerID struct {
	Owner MemberID
	Code  string
}

// Type returns TypeServer.
func (s ServerID) Type() ObjectType { return TypeServer }

// String returns "INST/CLASS/CODE/SERVERCODE".
func (s ServerID) String() string { return join(s.parts()) }

// Typed returns "SERVER:INST/CLASS/CODE/SERVERCODE".
func (s ServerID) Typed() string { return typed(TypeServer, s.parts()) }

// URI returns the typed form as an "xroad:" URI.
func (s ServerID) URI() string { return uri(TypeServer, s.parts()) }

// Validate checks every part.
func (s ServerID) Validate() error { return validateParts(TypeServer, s.parts()) }

func (s ServerID) parts() []string { return append(s.Owner.parts(), s.Code) }

// GlobalGroupID identifies a global group, defined centrally per instance.
type GlobalGroupID struct {
	Instance string
	Code     string
}

// SecurityServerOwners is the code of the automatic global group holding
// every member that owns a security server.
const SecurityServerOwners = "security-server-owners"

// Type returns TypeGlobalGroup.
func (g GlobalGroupID) Type() ObjectType { return TypeGlobalGroup }

// String returns "INST/GROUPCODE".
func (g GlobalGroupID) String() string { return join(g.parts()) }

// Typed returns "GLOBALGROUP:INST/GROUPCODE".
func (g GlobalGroupID) Typed() string { return typed(TypeGlobalGroup, g.parts()) }

// URI returns the typed form as an "xroad:" URI.
func (g GlobalGroupID) URI() string { return uri(TypeGlobalGroup, g.parts()) }

// Validate checks every part.
func (g GlobalGroupID) Validate() error { return validateParts(TypeGlobalGroup, g.parts()) }

func (g GlobalGroupID) parts() []string { return []string{g.Instance, g.Code} }

// LocalGroupID identifies a local group. Local groups belong to one security
// server client; the code is unique within that client.
type LocalGroupID struct {
	Code string
}

// Type returns TypeLocalGroup.
func (l LocalGroupID) Type() ObjectType { return TypeLocalGroup }

// String returns the group code.
func (l LocalGroupID) String() string { return l.Code }

// Typed returns "LOCALGROUP:GROUPCODE".
func (l LocalGroupID) Typed() string { return typed(TypeLocalGroup, []string{l.Code}) }

// URI returns the typed form as an "xroad:" URI.
func (l LocalGroupID) URI() string { return uri(TypeLocalGroup, []string{l.Code}) }

// Validate checks the code.
func (l LocalGroupID) Validate() error { return validateParts(TypeLocalGroup, []string{l.Code}) }

// allowedChar reports whether c may appear in an identifier part (PR-REST
// §4.8).
func allowedChar(c byte) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("'()+,-.=?", c) >= 0
}

// ValidatePart checks one identifier part: non-empty, at most MaxPartLength
// bytes, only allowed characters.
func ValidatePart(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty part", ErrInvalid)
	}
	if len(p) > MaxPartLength {
		return fmt.Errorf("%w: part longer than %d bytes", ErrInvalid, MaxPartLength)
	}
	for i := 0; i < len(p); i++ {
		if !allowedChar(p[i]) {
			return fmt.Errorf("%w: part %q: character %q not allowed", ErrInvalid, p, p[i])
		}
	}
	return nil
}

func validateParts(t ObjectType, parts []string) error {
	for i, p := range parts {
		if err := ValidatePart(p); err != nil {
			return fmt.Errorf("%s part %d: %w", t, i+1, err)
		}
	}
	return nil
}

func join(parts []string) string { return strings.Join(parts, "/") }

func typed(t ObjectType, parts []string) string { return string(t) + ":" + join(parts) }

func uri(t ObjectType, parts []string) string {
	return URIScheme + ":" + string(t) + ":" + joinEscaped(parts)
}

// URIScheme is the scheme of the URI form ("xroad:SERVER:PS/GOV/MOI/ss1").
const URIScheme = "xroad"

func joinEscaped(parts []string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(EscapePart(p))
	}
	return b.String()
}

// EscapePart percent-encodes one identifier part for a URL path segment or an
// identifier URI. Of the allowed characters only '?' needs escaping; any other
// byte is escaped too, so the result is safe even for invalid parts.
func EscapePart(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if allowedChar(c) && c != '?' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// UnescapePart decodes one percent-encoded identifier part and validates the
// result. Both upper- and lower-case hex digits are accepted.
func UnescapePart(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, ValidatePart(s)
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("%w: truncated percent-escape in %q", ErrInvalid, s)
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("%w: bad percent-escape in %q", ErrInvalid, s)
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	p := string(out)
	return p, ValidatePart(p)
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
