package xroad

import (
	"fmt"
	"strings"
)

// splitHeader splits a header-form identifier into exactly min..max parts and
// validates each. Header form carries no escaping: every byte must be an
// allowed character or the separator.
func splitHeader(kind string, s string, minParts, maxParts int) ([]string, error) {
	if len(s) > maxParts*(MaxPartLength+1) {
		return nil, fmt.Errorf("%w: %s too long", ErrInvalid, kind)
	}
	parts := strings.Split(s, "/")
	if len(parts) < minParts || len(parts) > maxParts {
		return nil, fmt.Errorf("%w: %s %q: want %d to %d parts separated by '/', got %d",
			ErrInvalid, kind, s, minParts, maxParts, len(parts))
	}
	for i, p := range parts {
		if err := ValidatePart(p); err != nil {
			return nil, fmt.Errorf("%s %q part %d: %w", kind, s, i+1, err)
		}
	}
	return parts, nil
}

// splitEscaped splits an r1 URL path or URI body into parts and decodes each.
func splitEscaped(kind string, s string, minParts, maxParts int) ([]string, error) {
	if len(s) > maxParts*(3*MaxPartLength+1) {
		return nil, fmt.Errorf("%w: %s too long", ErrInvalid, kind)
	}
	raw := strings.Split(s, "/")
	if len(raw) < minParts || len(raw) > maxParts {
		return nil, fmt.Errorf("%w: %s %q: want %d to %d parts separated by '/', got %d",
			ErrInvalid, kind, s, minParts, maxParts, len(raw))
	}
	parts := make([]string, len(raw))
	for i, r := range raw {
		p, err := UnescapePart(r)
		if err != nil {
			return nil, fmt.Errorf("%s %q part %d: %w", kind, s, i+1, err)
		}
		parts[i] = p
	}
	return parts, nil
}

// ParseMember parses the header form "INST/CLASS/CODE".
func ParseMember(s string) (MemberID, error) {
	p, err := splitHeader("member", s, 3, 3)
	if err != nil {
		return MemberID{}, err
	}
	return MemberID{Instance: p[0], Class: p[1], Code: p[2]}, nil
}

// ParseClient parses the header form of a client, "INST/CLASS/CODE" (member)
// or "INST/CLASS/CODE/SUB" (subsystem), as the X-Road-Client header carries it.
func ParseClient(s string) (ClientID, error) {
	p, err := splitHeader("client", s, 3, 4)
	if err != nil {
		return ClientID{}, err
	}
	return clientFromParts(p), nil
}

// ParseSubsystem is ParseClient restricted to subsystems.
func ParseSubsystem(s string) (ClientID, error) {
	p, err := splitHeader("subsystem", s, 4, 4)
	if err != nil {
		return ClientID{}, err
	}
	return clientFromParts(p), nil
}

// ParseServer parses the header form "INST/CLASS/CODE/SERVERCODE", as the
// X-Road-Security-Server header carries it.
func ParseServer(s string) (ServerID, error) {
	p, err := splitHeader("security server", s, 4, 4)
	if err != nil {
		return ServerID{}, err
	}
	return serverFromParts(p), nil
}

// ParseService parses the header form "INST/CLASS/CODE/SUB/SERVICE[/VERSION]"
// as the X-Road-Service response header carries it.
func ParseService(s string) (ServiceID, error) {
	p, err := splitHeader("service", s, 5, 6)
	if err != nil {
		return ServiceID{}, err
	}
	return serviceFromParts(p), nil
}

// ParseGlobalGroup parses the header form "INST/GROUPCODE".
func ParseGlobalGroup(s string) (GlobalGroupID, error) {
	p, err := splitHeader("global group", s, 2, 2)
	if err != nil {
		return GlobalGroupID{}, err
	}
	return GlobalGroupID{Instance: p[0], Code: p[1]}, nil
}

// ParseClientPath parses the r1 URL form of a client, each part
// percent-encoded: "INST/CLASS/CODE[/SUB]".
func ParseClientPath(s string) (ClientID, error) {
	p, err := splitEscaped("client path", s, 3, 4)
	if err != nil {
		return ClientID{}, err
	}
	return clientFromParts(p), nil
}

// ParseServicePath parses an r1 request path (without the leading "/r1/"):
// "INST/CLASS/CODE/SUB/SERVICE" followed optionally by "/" and the path the
// provider's service receives. The service part is decoded segment by
// segment; rest is returned as it came (still percent-encoded, starting with
// "/" when present) so that the provider sees exactly what the client sent.
func ParseServicePath(s string) (id ServiceID, rest string, err error) {
	head := s
	for i, n := 0, 0; i < len(s); i++ {
		if s[i] == '/' {
			n++
			if n == 5 {
				head, rest = s[:i], s[i:]
				break
			}
		}
	}
	p, err := splitEscaped("service path", head, 5, 5)
	if err != nil {
		return ServiceID{}, "", err
	}
	return serviceFromParts(p), rest, nil
}

// ParseTyped parses the typed form "TYPE:PARTS", e.g. "SERVER:PS/GOV/MOI/ss1".
// Parts are not escaped in this form.
func ParseTyped(s string) (ID, error) {
	t, body, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("%w: %q has no object type prefix", ErrInvalid, s)
	}
	return parseTypedBody(ObjectType(t), body, splitHeader)
}

// ParseURI parses the URI form "xroad:TYPE:PARTS" with percent-encoded parts,
// as certificates carry it.
func ParseURI(s string) (ID, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme != URIScheme {
		return nil, fmt.Errorf("%w: %q is not an %s: URI", ErrInvalid, s, URIScheme)
	}
	t, body, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, fmt.Errorf("%w: %q has no object type", ErrInvalid, s)
	}
	return parseTypedBody(ObjectType(t), body, splitEscaped)
}

type splitter func(kind string, s string, minParts, maxParts int) ([]string, error)

func parseTypedBody(t ObjectType, body string, split splitter) (ID, error) {
	switch t {
	case TypeMember:
		p, err := split("member", body, 3, 3)
		if err != nil {
			return nil, err
		}
		return MemberID{Instance: p[0], Class: p[1], Code: p[2]}, nil
	case TypeSubsystem:
		p, err := split("subsystem", body, 4, 4)
		if err != nil {
			return nil, err
		}
		return clientFromParts(p), nil
	case TypeService:
		p, err := split("service", body, 5, 6)
		if err != nil {
			return nil, err
		}
		return serviceFromParts(p), nil
	case TypeServer:
		p, err := split("security server", body, 4, 4)
		if err != nil {
			return nil, err
		}
		return serverFromParts(p), nil
	case TypeGlobalGroup:
		p, err := split("global group", body, 2, 2)
		if err != nil {
			return nil, err
		}
		return GlobalGroupID{Instance: p[0], Code: p[1]}, nil
	case TypeLocalGroup:
		p, err := split("local group", body, 1, 1)
		if err != nil {
			return nil, err
		}
		return LocalGroupID{Code: p[0]}, nil
	}
	return nil, fmt.Errorf("%w: unknown object type %q", ErrInvalid, string(t))
}

func clientFromParts(p []string) ClientID {
	c := ClientID{Instance: p[0], Class: p[1], Code: p[2]}
	if len(p) == 4 {
		c.Subsystem = p[3]
	}
	return c
}

func serverFromParts(p []string) ServerID {
	return ServerID{Owner: MemberID{Instance: p[0], Class: p[1], Code: p[2]}, Code: p[3]}
}

func serviceFromParts(p []string) ServiceID {
	s := ServiceID{Provider: clientFromParts(p[:4]), Code: p[4]}
	if len(p) == 6 {
		s.Version = p[5]
	}
	return s
}
