package admin

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Identifiers in paths and in answers use the admin API form of X-Road
// (and of the central server's API): the parts joined by ':' —
// "PS:GOV:MOI" (member), "PS:GOV:MOI:civil-registry" (client),
// "PS:GOV:MOI:civil-registry:persons[:v1]" (service). ':' is not allowed in
// a part, so the form is unambiguous and fits one path segment. Request
// bodies and query parameters also accept the header form
// ("PS/GOV/MOI/civil-registry"); access-right subjects also the typed form
// ("SUBSYSTEM:PS/GOV/CAB/portal", "GLOBALGROUP:PS/ministries",
// "LOCALGROUP:auditors").

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

// ParseMemberID reads a member in the admin form "INST:CLASS:CODE" or the
// header form "INST/CLASS/CODE".
func ParseMemberID(s string) (xroad.MemberID, error) {
	if strings.Contains(s, "/") {
		return xroad.ParseMember(s)
	}
	p, err := splitID("member id", s, 3, 3)
	if err != nil {
		return xroad.MemberID{}, err
	}
	return xroad.MemberID{Instance: p[0], Class: p[1], Code: p[2]}, nil
}

// ParseClientID reads a member or subsystem in the admin form or the header
// form.
func ParseClientID(s string) (xroad.ClientID, error) {
	if strings.Contains(s, "/") {
		return xroad.ParseClient(s)
	}
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

// ParseServiceID reads "INST:CLASS:CODE:SUB:SERVICE[:VERSION]" or the
// header form.
func ParseServiceID(s string) (xroad.ServiceID, error) {
	if strings.Contains(s, "/") {
		return xroad.ParseService(s)
	}
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

// ParseSubject reads an access-right subject: a typed identifier
// (SUBSYSTEM:…, MEMBER:…, GLOBALGROUP:…, LOCALGROUP:…), or a client in the
// header or admin form.
func ParseSubject(s string) (xroad.ID, error) {
	if id, err := xroad.ParseTyped(s); err == nil {
		if m, ok := id.(xroad.MemberID); ok {
			return m.Client(), nil
		}
		return id, nil
	}
	return ParseClientID(s)
}

// FormatMemberID returns m in the admin form.
func FormatMemberID(m xroad.MemberID) string {
	return strings.Join([]string{m.Instance, m.Class, m.Code}, idSep)
}

// FormatClientID returns c in the admin form.
func FormatClientID(c xroad.ClientID) string {
	if c.Subsystem == "" {
		return FormatMemberID(c.Member())
	}
	return FormatMemberID(c.Member()) + idSep + c.Subsystem
}

// FormatServiceID returns s in the admin form.
func FormatServiceID(s xroad.ServiceID) string {
	out := FormatClientID(s.Provider) + idSep + s.Code
	if s.Version != "" {
		out += idSep + s.Version
	}
	return out
}

// pathParam is a path parameter, percent-decoded.
func pathParam(raw string) (string, error) {
	s, err := url.PathUnescape(raw)
	if err != nil {
		return "", fmt.Errorf("%w: path parameter %q: %w", ErrInvalid, raw, err)
	}
	return s, nil
}
