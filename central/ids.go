package central

import (
	"fmt"
	"strings"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// The admin API writes identifiers as X-Road's admin API does: the parts
// joined by ':' — "PS:GOV:MOI" (member), "PS:GOV:MOI:civil-registry"
// (subsystem or client), "PS:GOV:MOI:ss1" (security server),
// "PS:GOV:MOI:civil-registry:persons[:v1]" (service). ':' is not allowed in
// an identifier part, so the form is unambiguous and fits in one URL path
// segment.

// idSep separates the parts of an identifier in the admin API.
const idSep = ":"

func splitID(kind, s string, minParts, maxParts int) ([]string, error) {
	p := strings.Split(s, idSep)
	if len(p) < minParts || len(p) > maxParts {
		return nil, fmt.Errorf("%w: %s %q: want %d to %d parts separated by %q", xroad.ErrInvalid, kind, s, minParts, maxParts, idSep)
	}
	for _, part := range p {
		if err := xroad.ValidatePart(part); err != nil {
			return nil, fmt.Errorf("%s %q: %w", kind, s, err)
		}
	}
	return p, nil
}

// ParseMemberID parses "INSTANCE:CLASS:CODE".
func ParseMemberID(s string) (xroad.MemberID, error) {
	p, err := splitID("member id", s, 3, 3)
	if err != nil {
		return xroad.MemberID{}, err
	}
	return xroad.MemberID{Instance: p[0], Class: p[1], Code: p[2]}, nil
}

// ParseClientID parses "INSTANCE:CLASS:CODE" or "INSTANCE:CLASS:CODE:SUBSYSTEM".
func ParseClientID(s string) (xroad.ClientID, error) {
	p, err := splitID("client id", s, 3, 4)
	if err != nil {
		return xroad.ClientID{}, err
	}
	c := xroad.ClientID{Instance: p[0], Class: p[1], Code: p[2]}
	if len(p) == 4 {
		c.Subsystem = p[3]
	}
	return c, nil
}

// ParseServerID parses "INSTANCE:CLASS:CODE:SERVER".
func ParseServerID(s string) (xroad.ServerID, error) {
	p, err := splitID("security server id", s, 4, 4)
	if err != nil {
		return xroad.ServerID{}, err
	}
	return xroad.ServerID{Owner: xroad.MemberID{Instance: p[0], Class: p[1], Code: p[2]}, Code: p[3]}, nil
}

// ParseServiceID parses "INSTANCE:CLASS:CODE:SUBSYSTEM:SERVICE[:VERSION]".
func ParseServiceID(s string) (xroad.ServiceID, error) {
	p, err := splitID("service id", s, 5, 6)
	if err != nil {
		return xroad.ServiceID{}, err
	}
	id := xroad.ServiceID{Provider: xroad.ClientID{Instance: p[0], Class: p[1], Code: p[2], Subsystem: p[3]}, Code: p[4]}
	if len(p) == 6 {
		id.Version = p[5]
	}
	return id, nil
}

// FormatMemberID returns m in the admin API form "INSTANCE:CLASS:CODE".
func FormatMemberID(m xroad.MemberID) string {
	return strings.Join([]string{m.Instance, m.Class, m.Code}, idSep)
}

// FormatClientID returns c in the admin API form.
func FormatClientID(c xroad.ClientID) string {
	if c.Subsystem == "" {
		return FormatMemberID(c.Member())
	}
	return FormatMemberID(c.Member()) + idSep + c.Subsystem
}

// FormatServerID returns s in the admin API form.
func FormatServerID(s xroad.ServerID) string { return FormatMemberID(s.Owner) + idSep + s.Code }

// FormatServiceID returns s in the admin API form.
func FormatServiceID(s xroad.ServiceID) string {
	out := FormatClientID(s.Provider) + idSep + s.Code
	if s.Version != "" {
		out += idSep + s.Version
	}
	return out
}
