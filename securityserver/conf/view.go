package conf

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// GroupMembership answers whether a client is a member of a global group,
// as the current global configuration says. *globalconf.Document implements
// it. Membership is exact, as in X-Road: a group listing a member does not
// thereby list the member's subsystems.
type GroupMembership interface {
	IsMember(group xroad.GlobalGroupID, client xroad.ClientID) bool
}

// Outcome is the result of an access decision.
type Outcome int

// The outcomes, in the order X-Road's server proxy checks them
// (ServerRestMessageProcessor.verifyAccess): the service must exist, the
// client must hold a right, and the service must be enabled.
const (
	// AccessDenied: the service exists but no access right covers the
	// client, method and path (X-Road's AccessDenied). It is the default.
	AccessDenied Outcome = iota
	// AccessGranted: a right covers the request and the service is
	// enabled.
	AccessGranted
	// ServiceDisabled: a right covers the request but the service is
	// disabled; Decision.DisabledNotice says why (X-Road's
	// ServiceDisabled). Only clients with a right learn the notice.
	ServiceDisabled
	// UnknownService: the provider is not a client of this security server,
	// or has no service with this code (and version, when the request names
	// one) (X-Road's UnknownService).
	UnknownService
)

// String names the outcome as X-Road's error codes do ("AccessGranted" for
// success).
func (o Outcome) String() string {
	switch o {
	case AccessDenied:
		return "AccessDenied"
	case AccessGranted:
		return "AccessGranted"
	case ServiceDisabled:
		return "ServiceDisabled"
	case UnknownService:
		return "UnknownService"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Decision is the answer of View.Allowed.
type Decision struct {
	Outcome Outcome
	// Service is the service's configuration (backend URL, timeout, TLS
	// verification, endpoints) for every outcome but UnknownService. Its
	// Endpoints slice is shared with the View and must not be modified.
	Service Service
	// Type is the service's description type.
	Type DescriptionType
	// DisabledNotice is the administrator's notice for ServiceDisabled
	// (a default text when none was given).
	DisabledNotice string
	// Subject and Endpoint name the access right that let the request
	// through (AccessGranted and ServiceDisabled): its subject (a client,
	// global group or local group) and its endpoint (zero: the whole
	// service). They are for logs and audits.
	Subject  xroad.ID
	Endpoint EndpointSpec
}

// View is an immutable snapshot of the configuration, indexed for the
// proxy's decisions: Allowed takes a map lookup for the service, one for the
// client's own and local-group rights, one IsMember call per global group
// holding rights on the service, and a pattern match per candidate right;
// it does not allocate unless the path needs normalizing. A View is safe
// for concurrent use. The security server loads a new View when
// Store.Version moves and swaps it in atomically (an atomic.Pointer[View]);
// requests in flight finish on the View they started with.
type View struct {
	version  int64
	clients  map[xroad.ClientID]*Client
	services map[serviceKey]*serviceEntry
	// byProvider lists each provider's services by code.
	byProvider map[xroad.ClientID][]*serviceEntry
}

// serviceKey identifies a service for access decisions: rights apply to the
// code whatever the version.
type serviceKey struct {
	provider xroad.ClientID
	code     string
}

// serviceEntry is one service with its rights, indexed by subject.
type serviceEntry struct {
	provider xroad.ClientID
	typ      DescriptionType
	svc      Service
	document []byte
	// byClient holds the rights of each client: granted to it by
	// identifier, or to a local group it belongs to.
	byClient map[xroad.ClientID][]grant
	// global holds the rights granted to global groups, per group.
	global []groupGrants
}

// grant is one access right, compiled.
type grant struct {
	endpoint EndpointSpec // zero: the whole service
	pattern  pathPattern
	subject  xroad.ID
}

// groupGrants are the rights granted to one global group.
type groupGrants struct {
	group  xroad.GlobalGroupID
	grants []grant
}

// snapshotter is the optional ability of a Reader to read from one
// consistent snapshot (ReadOnly has it).
type snapshotter interface {
	Snapshot(ctx context.Context, fn func(Reader) error) error
}

// LoadView reads the whole configuration from r and indexes it. When r can
// take a snapshot (a ReadOnly or Store), everything, the version included,
// is read from one snapshot; otherwise r should be a Tx or the Reader given
// to Snapshot, so that the View is consistent.
func LoadView(ctx context.Context, r Reader) (*View, error) {
	if s, ok := r.(snapshotter); ok {
		var v *View
		err := s.Snapshot(ctx, func(r Reader) error {
			var err error
			v, err = loadView(ctx, r)
			return err
		})
		if err != nil {
			return nil, err
		}
		return v, nil
	}
	return loadView(ctx, r)
}

func loadView(ctx context.Context, r Reader) (*View, error) {
	version, err := r.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("load view: %w", err)
	}
	clients, err := r.Clients(ctx)
	if err != nil {
		return nil, fmt.Errorf("load view: %w", err)
	}
	v := &View{
		version:    version,
		clients:    make(map[xroad.ClientID]*Client, len(clients)),
		services:   make(map[serviceKey]*serviceEntry),
		byProvider: make(map[xroad.ClientID][]*serviceEntry),
	}
	for i := range clients {
		c := &clients[i]
		v.clients[c.ID] = c
		if !c.ID.IsSubsystem() {
			continue
		}
		if err := v.loadProvider(ctx, r, c.ID); err != nil {
			return nil, fmt.Errorf("load view: %s: %w", c.ID, err)
		}
	}
	return v, nil
}

// loadProvider indexes one provider's services and rights.
func (v *View) loadProvider(ctx context.Context, r Reader, provider xroad.ClientID) error {
	descs, err := r.ServiceDescriptions(ctx, provider)
	if err != nil {
		return err
	}
	var entries []*serviceEntry
	for _, d := range descs {
		for _, s := range d.Services {
			e := &serviceEntry{
				provider: provider,
				typ:      d.Type,
				svc:      s,
				byClient: make(map[xroad.ClientID][]grant),
			}
			if d.Type == DescriptionOpenAPI {
				e.document = d.Document
			}
			v.services[serviceKey{provider, s.Code}] = e
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b *serviceEntry) int { return strings.Compare(a.svc.Code, b.svc.Code) })
	v.byProvider[provider] = entries
	if len(entries) == 0 {
		return nil
	}

	groups, err := r.LocalGroups(ctx, provider)
	if err != nil {
		return err
	}
	members := make(map[string][]xroad.ClientID, len(groups))
	for _, g := range groups {
		members[g.Code] = g.Members
	}
	rights, err := r.AccessRights(ctx, provider)
	if err != nil {
		return err
	}
	for _, a := range rights {
		e := v.services[serviceKey{provider, a.ServiceCode}]
		if e == nil {
			continue // cannot happen: rights cascade with their service
		}
		g := grant{endpoint: a.Endpoint, subject: a.Subject}
		if !a.Endpoint.IsService() {
			g.pattern = compilePattern(a.Endpoint.Path)
		}
		switch s := a.Subject.(type) {
		case xroad.ClientID:
			e.byClient[s] = append(e.byClient[s], g)
		case xroad.LocalGroupID:
			for _, m := range members[s.Code] {
				e.byClient[m] = append(e.byClient[m], g)
			}
		case xroad.GlobalGroupID:
			i := slices.IndexFunc(e.global, func(gg groupGrants) bool { return gg.group == s })
			if i < 0 {
				e.global = append(e.global, groupGrants{group: s})
				i = len(e.global) - 1
			}
			e.global[i].grants = append(e.global[i].grants, g)
		}
	}
	return nil
}

// Version is the configuration version the View was loaded at.
func (v *View) Version() int64 { return v.version }

// Client returns a client of this security server. The returned value's
// slices are shared with the View and must not be modified.
func (v *View) Client(id xroad.ClientID) (Client, bool) {
	c, ok := v.clients[id]
	if !ok {
		return Client{}, false
	}
	return *c, true
}

// Service returns a provider's service by code, with its description type.
// The returned value's slices are shared with the View and must not be
// modified.
func (v *View) Service(provider xroad.ClientID, code string) (Service, DescriptionType, bool) {
	e, ok := v.services[serviceKey{provider, code}]
	if !ok {
		return Service{}, "", false
	}
	return e.svc, e.typ, true
}

// Allowed decides whether client may call service svc of provider with the
// given HTTP method and path (the r1 path after the service code, without
// the query, as received). groups answers global group membership (nil:
// the client is in no global group).
//
// The semantics are X-Road's (ServerConfImpl.checkAccessRights and
// getAclEndpoints, ServerRestMessageProcessor.verifyAccess):
//
//   - Default deny: access needs an access right on the service (rights
//     apply to the service code, whatever its version).
//   - A right on the whole service covers every method and path; a right on
//     an endpoint covers the requests MatchEndpoint says it matches.
//   - A right's subject is matched exactly: a right granted to a member
//     does not cover the member's subsystems, nor one granted to a
//     subsystem its member or sibling subsystems. A global group covers the
//     clients groups.IsMember reports; a local group (always the provider's
//     own) covers its listed members, again exactly.
//   - Unknown service first, then access, then the disabled state: a
//     client without a right gets AccessDenied even for a disabled service,
//     and only a client with a right learns the disabled notice.
//
// The error is non-nil (wrapping ErrInvalid) only for a malformed request:
// svc.Provider not equal to provider, or a method that is not an HTTP
// token. Identifiers are not validated again: they come from parsed r1
// paths and headers.
func (v *View) Allowed(provider xroad.ClientID, svc xroad.ServiceID, method, path string, client xroad.ClientID, groups GroupMembership) (Decision, error) {
	if svc.Provider != provider {
		return Decision{}, fmt.Errorf("%w: service %s is not a service of %s", ErrInvalid, svc, provider)
	}
	if !isToken(method) {
		return Decision{}, fmt.Errorf("%w: HTTP method %q", ErrInvalid, method)
	}
	e := v.services[serviceKey{provider, svc.Code}]
	if e == nil || (svc.Version != "" && svc.Version != e.svc.Version) {
		return Decision{Outcome: UnknownService}, nil
	}
	d := Decision{Outcome: AccessDenied, Service: e.svc, Type: e.typ}
	m := matcher{method: method, path: path}
	g, ok := m.first(e.byClient[client])
	if !ok && groups != nil {
		for i := range e.global {
			if !groups.IsMember(e.global[i].group, client) {
				continue
			}
			if g, ok = m.first(e.global[i].grants); ok {
				break
			}
		}
	}
	if !ok {
		return d, nil
	}
	d.Subject, d.Endpoint = g.subject, g.endpoint
	if e.svc.Disabled {
		d.Outcome = ServiceDisabled
		d.DisabledNotice = e.svc.DisabledNotice
		if d.DisabledNotice == "" {
			d.DisabledNotice = "Service " + svc.Unversioned().String() + " is disabled"
		}
		return d, nil
	}
	d.Outcome = AccessGranted
	return d, nil
}

// matcher matches one request against rights, normalizing the path at most
// once.
type matcher struct {
	method, path string
	normalized   bool
	norm         string
	normOK       bool
}

// first returns the first grant that covers the request.
func (m *matcher) first(gs []grant) (grant, bool) {
	for i := range gs {
		g := &gs[i]
		if g.endpoint.IsService() {
			return *g, true
		}
		if !matchMethod(g.endpoint.Method, m.method) {
			continue
		}
		if g.pattern.any {
			return *g, true
		}
		if !m.normalized {
			m.norm, m.normOK = NormalizePath(m.path)
			m.normalized = true
		}
		if m.normOK && g.pattern.match(m.norm) {
			return *g, true
		}
	}
	return grant{}, false
}

// isToken reports whether s is a non-empty HTTP token (RFC 9110 §5.6.2).
func isToken(s string) bool {
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
