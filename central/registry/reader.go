package registry

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// reader implements Reader over a database handle or a transaction.
type reader struct {
	x   store.Querier
	clk clock.Clock
}

var _ Reader = reader{}

// now returns the clock's time as stored: UTC, microsecond precision.
func (r reader) now() time.Time { return r.clk.Now().UTC().Truncate(time.Microsecond) }

// nullMicros and fromNullMicros store an optional time (the zero time as
// NULL) in the form of store.Micros.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return store.FromMicros(v.Int64)
}

// notFound wraps ErrNotFound with what was looked for.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, args...))
}

// queryErr wraps an unexpected database error.
func queryErr(what string, err error) error {
	return fmt.Errorf("registry: %s: %w", what, err)
}

// instanceCode returns the instance code, or "" when it is not set.
func (r reader) instanceCode(ctx context.Context) (string, error) {
	var code string
	err := r.x.QueryRowContext(ctx, `SELECT code FROM instance WHERE id = 1`).Scan(&code)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", queryErr("read instance", err)
	}
	return code, nil
}

// ours reports whether inst is the registry's instance (never, when unset).
func (r reader) ours(ctx context.Context, inst string) (bool, string, error) {
	code, err := r.instanceCode(ctx)
	if err != nil {
		return false, "", err
	}
	return code != "" && code == inst, code, nil
}

// Version implements Reader.
func (r reader) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := r.x.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'registry_version'`).Scan(&v); err != nil {
		return 0, queryErr("read version", err)
	}
	return v, nil
}

// Instance implements Reader.
func (r reader) Instance(ctx context.Context) (string, error) {
	code, err := r.instanceCode(ctx)
	if err != nil {
		return "", err
	}
	if code == "" {
		return "", notFound("instance code not set")
	}
	return code, nil
}

// MemberClasses implements Reader.
func (r reader) MemberClasses(ctx context.Context) ([]MemberClass, error) {
	rows, err := r.x.QueryContext(ctx, `SELECT code, description FROM member_classes ORDER BY code`)
	if err != nil {
		return nil, queryErr("list member classes", err)
	}
	return collect(rows, "list member classes", func(rows *sql.Rows) (c MemberClass, err error) {
		err = rows.Scan(&c.Code, &c.Description)
		return c, err
	})
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, what string, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, queryErr(what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, queryErr(what, err)
	}
	return out, nil
}

// Member implements Reader.
func (r reader) Member(ctx context.Context, id xroad.MemberID) (Member, error) {
	ok, _, err := r.ours(ctx, id.Instance)
	if err != nil {
		return Member{}, err
	}
	if !ok {
		return Member{}, notFound("member %s", id)
	}
	ms, err := r.members(ctx, id.Instance, &id)
	if err != nil {
		return Member{}, err
	}
	if len(ms) == 0 {
		return Member{}, notFound("member %s", id)
	}
	return ms[0], nil
}

// Members implements Reader.
func (r reader) Members(ctx context.Context) ([]Member, error) {
	inst, err := r.instanceCode(ctx)
	if err != nil {
		return nil, err
	}
	return r.members(ctx, inst, nil)
}

// members lists all members, or only one.
func (r reader) members(ctx context.Context, inst string, only *xroad.MemberID) ([]Member, error) {
	where, args := "", []any{}
	if only != nil {
		where, args = ` WHERE class = $1 AND code = $2`, []any{only.Class, only.Code}
	}
	rows, err := r.x.QueryContext(ctx, `SELECT class, code, name, created_at FROM members`+where+` ORDER BY class, code`, args...)
	if err != nil {
		return nil, queryErr("list members", err)
	}
	ms, err := collect(rows, "list members", func(rows *sql.Rows) (m Member, err error) {
		var at int64
		m.ID.Instance = inst
		err = rows.Scan(&m.ID.Class, &m.ID.Code, &m.Name, &at)
		m.CreatedAt = store.FromMicros(at)
		m.Subsystems = []string{}
		return m, err
	})
	if err != nil || len(ms) == 0 {
		return ms, err
	}
	where = ""
	if only != nil {
		where = ` WHERE member_class = $1 AND member_code = $2`
	}
	rows, err = r.x.QueryContext(ctx, `SELECT member_class, member_code, code FROM subsystems`+where+` ORDER BY member_class, member_code, code`, args...)
	if err != nil {
		return nil, queryErr("list subsystems", err)
	}
	subs, err := collect(rows, "list subsystems", func(rows *sql.Rows) (c xroad.ClientID, err error) {
		err = rows.Scan(&c.Class, &c.Code, &c.Subsystem)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	idx := make(map[[2]string]int, len(ms))
	for i, m := range ms {
		idx[[2]string{m.ID.Class, m.ID.Code}] = i
	}
	for _, s := range subs {
		if i, ok := idx[[2]string{s.Class, s.Code}]; ok {
			ms[i].Subsystems = append(ms[i].Subsystems, s.Subsystem)
		}
	}
	return ms, nil
}

// SecurityServer implements Reader.
func (r reader) SecurityServer(ctx context.Context, id xroad.ServerID) (SecurityServer, error) {
	ok, _, err := r.ours(ctx, id.Owner.Instance)
	if err != nil {
		return SecurityServer{}, err
	}
	if !ok {
		return SecurityServer{}, notFound("security server %s", id)
	}
	ss, err := r.servers(ctx, id.Owner.Instance, &id)
	if err != nil {
		return SecurityServer{}, err
	}
	if len(ss) == 0 {
		return SecurityServer{}, notFound("security server %s", id)
	}
	return ss[0], nil
}

// SecurityServers implements Reader.
func (r reader) SecurityServers(ctx context.Context) ([]SecurityServer, error) {
	inst, err := r.instanceCode(ctx)
	if err != nil {
		return nil, err
	}
	return r.servers(ctx, inst, nil)
}

// serverKey is a security server's primary key.
type serverKey [3]string

func keyOf(id xroad.ServerID) serverKey { return serverKey{id.Owner.Class, id.Owner.Code, id.Code} }

// servers lists all security servers, or only one, with their addresses,
// certificates and clients.
func (r reader) servers(ctx context.Context, inst string, only *xroad.ServerID) ([]SecurityServer, error) {
	where, childWhere, args := "", "", []any{}
	if only != nil {
		where = ` WHERE owner_class = $1 AND owner_code = $2 AND code = $3`
		childWhere = ` WHERE owner_class = $1 AND owner_code = $2 AND server_code = $3`
		args = []any{only.Owner.Class, only.Owner.Code, only.Code}
	}
	rows, err := r.x.QueryContext(ctx, `SELECT owner_class, owner_code, code, maintenance, created_at FROM security_servers`+where+
		` ORDER BY owner_class, owner_code, code`, args...)
	if err != nil {
		return nil, queryErr("list security servers", err)
	}
	ss, err := collect(rows, "list security servers", func(rows *sql.Rows) (s SecurityServer, err error) {
		var at int64
		s.ID.Owner.Instance = inst
		err = rows.Scan(&s.ID.Owner.Class, &s.ID.Owner.Code, &s.ID.Code, &s.Maintenance, &at)
		s.CreatedAt = store.FromMicros(at)
		s.Addresses, s.AuthCerts, s.Clients = []string{}, []AuthCert{}, []xroad.ClientID{}
		return s, err
	})
	if err != nil || len(ss) == 0 {
		return ss, err
	}
	idx := make(map[serverKey]*SecurityServer, len(ss))
	for i := range ss {
		idx[keyOf(ss[i].ID)] = &ss[i]
	}

	rows, err = r.x.QueryContext(ctx, `SELECT owner_class, owner_code, server_code, address FROM server_addresses`+childWhere+
		` ORDER BY owner_class, owner_code, server_code, pos`, args...)
	if err != nil {
		return nil, queryErr("list server addresses", err)
	}
	if err := each(rows, "list server addresses", func(rows *sql.Rows) error {
		var k serverKey
		var a string
		if err := rows.Scan(&k[0], &k[1], &k[2], &a); err != nil {
			return err
		}
		if s := idx[k]; s != nil {
			s.Addresses = append(s.Addresses, a)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	rows, err = r.x.QueryContext(ctx, `SELECT owner_class, owner_code, server_code, hash, der, registered_at FROM auth_certs`+childWhere+
		` ORDER BY registered_at, hash`, args...)
	if err != nil {
		return nil, queryErr("list auth certificates", err)
	}
	if err := each(rows, "list auth certificates", func(rows *sql.Rows) error {
		var k serverKey
		var c AuthCert
		var at int64
		if err := rows.Scan(&k[0], &k[1], &k[2], &c.Hash, &c.DER, &at); err != nil {
			return err
		}
		c.RegisteredAt = store.FromMicros(at)
		if s := idx[k]; s != nil {
			s.AuthCerts = append(s.AuthCerts, c)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	rows, err = r.x.QueryContext(ctx, `SELECT owner_class, owner_code, server_code, client_class, client_code, client_subsystem FROM server_clients`+
		childWhere+` ORDER BY client_class, client_code, client_subsystem`, args...)
	if err != nil {
		return nil, queryErr("list server clients", err)
	}
	if err := each(rows, "list server clients", func(rows *sql.Rows) error {
		var k serverKey
		c := xroad.ClientID{Instance: inst}
		if err := rows.Scan(&k[0], &k[1], &k[2], &c.Class, &c.Code, &c.Subsystem); err != nil {
			return err
		}
		if s := idx[k]; s != nil {
			s.Clients = append(s.Clients, c)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return ss, nil
}

// each calls fn for every row and closes rows.
func each(rows *sql.Rows, what string, fn func(*sql.Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return queryErr(what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return queryErr(what, err)
	}
	return nil
}

// normalizeHash lowercases a hex SHA-256 and checks its form.
func normalizeHash(h string) (string, error) {
	h = strings.ToLower(h)
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
		return "", fmt.Errorf("%w: %q is not a hex SHA-256", ErrInvalid, h)
	}
	return h, nil
}

// ServerByAuthCert implements Reader.
func (r reader) ServerByAuthCert(ctx context.Context, hash string) (SecurityServer, error) {
	h, err := normalizeHash(hash)
	if err != nil {
		return SecurityServer{}, notFound("authentication certificate %q", hash)
	}
	inst, err := r.instanceCode(ctx)
	if err != nil {
		return SecurityServer{}, err
	}
	id := xroad.ServerID{Owner: xroad.MemberID{Instance: inst}}
	err = r.x.QueryRowContext(ctx, `SELECT owner_class, owner_code, server_code FROM auth_certs WHERE hash = $1`, h).
		Scan(&id.Owner.Class, &id.Owner.Code, &id.Code)
	if errors.Is(err, sql.ErrNoRows) {
		return SecurityServer{}, notFound("authentication certificate %s", h)
	}
	if err != nil {
		return SecurityServer{}, queryErr("look up authentication certificate", err)
	}
	return r.SecurityServer(ctx, id)
}

// ServersHosting implements Reader.
func (r reader) ServersHosting(ctx context.Context, client xroad.ClientID) ([]xroad.ServerID, error) {
	ok, inst, err := r.ours(ctx, client.Instance)
	if err != nil || !ok {
		return []xroad.ServerID{}, err
	}
	rows, err := r.x.QueryContext(ctx, `SELECT owner_class, owner_code, server_code FROM server_clients
		WHERE client_class = $1 AND client_code = $2 AND client_subsystem = $3
		ORDER BY owner_class, owner_code, server_code`, client.Class, client.Code, client.Subsystem)
	if err != nil {
		return nil, queryErr("list servers hosting a client", err)
	}
	return collect(rows, "list servers hosting a client", func(rows *sql.Rows) (id xroad.ServerID, err error) {
		id.Owner.Instance = inst
		err = rows.Scan(&id.Owner.Class, &id.Owner.Code, &id.Code)
		return id, err
	})
}

// ownersGroupDescription describes the automatic global group.
const ownersGroupDescription = "Security server owners (automatic)"

// GlobalGroup implements Reader.
func (r reader) GlobalGroup(ctx context.Context, id xroad.GlobalGroupID) (GlobalGroup, error) {
	ok, _, err := r.ours(ctx, id.Instance)
	if err != nil {
		return GlobalGroup{}, err
	}
	if !ok {
		return GlobalGroup{}, notFound("global group %s", id)
	}
	gs, err := r.groups(ctx, id.Instance, id.Code)
	if err != nil {
		return GlobalGroup{}, err
	}
	if len(gs) == 0 {
		return GlobalGroup{}, notFound("global group %s", id)
	}
	return gs[0], nil
}

// GlobalGroups implements Reader.
func (r reader) GlobalGroups(ctx context.Context) ([]GlobalGroup, error) {
	inst, err := r.instanceCode(ctx)
	if err != nil {
		return nil, err
	}
	if inst == "" {
		return []GlobalGroup{}, nil
	}
	return r.groups(ctx, inst, "")
}

// groups lists the global groups (the automatic one included), or only the
// one with the given code.
func (r reader) groups(ctx context.Context, inst, only string) ([]GlobalGroup, error) {
	var out []GlobalGroup
	if only == "" || only == xroad.SecurityServerOwners {
		rows, err := r.x.QueryContext(ctx, `SELECT DISTINCT owner_class, owner_code FROM security_servers ORDER BY owner_class, owner_code`)
		if err != nil {
			return nil, queryErr("list security server owners", err)
		}
		owners, err := collect(rows, "list security server owners", func(rows *sql.Rows) (c xroad.ClientID, err error) {
			c.Instance = inst
			err = rows.Scan(&c.Class, &c.Code)
			return c, err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, GlobalGroup{
			ID:          xroad.GlobalGroupID{Instance: inst, Code: xroad.SecurityServerOwners},
			Description: ownersGroupDescription,
			Members:     owners,
		})
		if only != "" {
			return out, nil
		}
	}
	where, args := "", []any{}
	if only != "" {
		where, args = ` WHERE code = $1`, []any{only}
	}
	rows, err := r.x.QueryContext(ctx, `SELECT code, description FROM global_groups`+where+` ORDER BY code`, args...)
	if err != nil {
		return nil, queryErr("list global groups", err)
	}
	gs, err := collect(rows, "list global groups", func(rows *sql.Rows) (g GlobalGroup, err error) {
		g.ID.Instance = inst
		err = rows.Scan(&g.ID.Code, &g.Description)
		g.Members = []xroad.ClientID{}
		return g, err
	})
	if err != nil {
		return nil, err
	}
	if len(gs) > 0 {
		where = ""
		if only != "" {
			where = ` WHERE group_code = $1`
		}
		idx := make(map[string]*GlobalGroup, len(gs))
		for i := range gs {
			idx[gs[i].ID.Code] = &gs[i]
		}
		rows, err = r.x.QueryContext(ctx, `SELECT group_code, client_class, client_code, client_subsystem FROM global_group_members`+where+
			` ORDER BY group_code, client_class, client_code, client_subsystem`, args...)
		if err != nil {
			return nil, queryErr("list global group members", err)
		}
		if err := each(rows, "list global group members", func(rows *sql.Rows) error {
			var code string
			c := xroad.ClientID{Instance: inst}
			if err := rows.Scan(&code, &c.Class, &c.Code, &c.Subsystem); err != nil {
				return err
			}
			if g := idx[code]; g != nil {
				g.Members = append(g.Members, c)
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	out = append(out, gs...)
	slices.SortFunc(out, func(a, b GlobalGroup) int { return strings.Compare(a.ID.Code, b.ID.Code) })
	if out == nil {
		out = []GlobalGroup{}
	}
	return out, nil
}

// ApprovedCAs implements Reader.
func (r reader) ApprovedCAs(ctx context.Context) ([]ApprovedCA, error) {
	rows, err := r.x.QueryContext(ctx, `SELECT name, profile FROM approved_cas ORDER BY name`)
	if err != nil {
		return nil, queryErr("list approved CAs", err)
	}
	cas, err := collect(rows, "list approved CAs", func(rows *sql.Rows) (ca ApprovedCA, err error) {
		err = rows.Scan(&ca.Name, &ca.Profile)
		ca.Roots, ca.Intermediates, ca.OCSPResponders = [][]byte{}, [][]byte{}, []OCSPResponder{}
		return ca, err
	})
	if err != nil || len(cas) == 0 {
		return cas, err
	}
	idx := make(map[string]*ApprovedCA, len(cas))
	for i := range cas {
		idx[cas[i].Name] = &cas[i]
	}
	rows, err = r.x.QueryContext(ctx, `SELECT ca_name, kind, der FROM ca_certs ORDER BY ca_name, kind, pos`)
	if err != nil {
		return nil, queryErr("list CA certificates", err)
	}
	if err := each(rows, "list CA certificates", func(rows *sql.Rows) error {
		var name, kind string
		var der []byte
		if err := rows.Scan(&name, &kind, &der); err != nil {
			return err
		}
		if ca := idx[name]; ca != nil {
			if kind == "root" {
				ca.Roots = append(ca.Roots, der)
			} else {
				ca.Intermediates = append(ca.Intermediates, der)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	rows, err = r.x.QueryContext(ctx, `SELECT ca_name, url, cert FROM ocsp_responders ORDER BY ca_name, pos`)
	if err != nil {
		return nil, queryErr("list OCSP responders", err)
	}
	if err := each(rows, "list OCSP responders", func(rows *sql.Rows) error {
		var name string
		var o OCSPResponder
		if err := rows.Scan(&name, &o.URL, &o.Cert); err != nil {
			return err
		}
		if ca := idx[name]; ca != nil {
			ca.OCSPResponders = append(ca.OCSPResponders, o)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return cas, nil
}

// ApprovedTSAs implements Reader.
func (r reader) ApprovedTSAs(ctx context.Context) ([]ApprovedTSA, error) {
	rows, err := r.x.QueryContext(ctx, `SELECT name, url, cert FROM approved_tsas ORDER BY name`)
	if err != nil {
		return nil, queryErr("list approved TSAs", err)
	}
	return collect(rows, "list approved TSAs", func(rows *sql.Rows) (t ApprovedTSA, err error) {
		err = rows.Scan(&t.Name, &t.URL, &t.Cert)
		return t, err
	})
}

// Settings implements Reader.
func (r reader) Settings(ctx context.Context) (Settings, error) {
	s := DefaultSettings()
	rows, err := r.x.QueryContext(ctx, `SELECT name, value FROM settings`)
	if err != nil {
		return Settings{}, queryErr("read settings", err)
	}
	err = each(rows, "read settings", func(rows *sql.Rows) error {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return err
		}
		f := s.field(Setting(name))
		if f == nil {
			return nil // written by a newer version; not ours to interpret
		}
		secs, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("setting %s: stored value %q: %w", name, value, err)
		}
		*f = time.Duration(secs) * time.Second
		return nil
	})
	if err != nil {
		return Settings{}, err
	}
	return s, nil
}

const requestColumns = `id, type, server_id, client_id, payload, signed, status, submitted_at, decided_at, decided_by, comment`

func scanRequest(row interface{ Scan(...any) error }) (ManagementRequest, error) {
	var m ManagementRequest
	var typ, server, client, payload, status string
	var submitted int64
	var decided sql.NullInt64
	if err := row.Scan(&m.ID, &typ, &server, &client, &payload, &m.Signed, &status, &submitted, &decided, &m.DecidedBy, &m.Comment); err != nil {
		return ManagementRequest{}, err
	}
	m.Type, m.Status, m.Payload = RequestType(typ), RequestStatus(status), []byte(payload)
	m.SubmittedAt, m.DecidedAt = store.FromMicros(submitted), fromNullMicros(decided)
	var err error
	if m.Server, err = xroad.ParseServer(server); err != nil {
		return ManagementRequest{}, fmt.Errorf("request %d: stored server id: %w", m.ID, err)
	}
	if client != "" {
		if m.Client, err = xroad.ParseClient(client); err != nil {
			return ManagementRequest{}, fmt.Errorf("request %d: stored client id: %w", m.ID, err)
		}
	}
	return m, nil
}

// ManagementRequest implements Reader.
func (r reader) ManagementRequest(ctx context.Context, id int64) (ManagementRequest, error) {
	m, err := scanRequest(r.x.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM management_requests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ManagementRequest{}, notFound("management request %d", id)
	}
	if err != nil {
		return ManagementRequest{}, queryErr("read management request", err)
	}
	return m, nil
}

// pageLimit applies DefaultPageSize and MaxPageSize.
func pageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultPageSize
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
}

// conditions builds a WHERE clause with numbered placeholders.
type conditions struct {
	terms []string
	args  []any
}

// add appends a term in which "?" stands for the next argument.
func (c *conditions) add(term string, arg any) {
	c.args = append(c.args, arg)
	c.terms = append(c.terms, strings.ReplaceAll(term, "?", "$"+strconv.Itoa(len(c.args))))
}

// where returns the clause ("" when there are no terms).
func (c *conditions) where() string {
	if len(c.terms) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.terms, " AND ")
}

// limit returns a LIMIT clause with the next placeholder.
func (c *conditions) limit(n int) string {
	c.args = append(c.args, int64(n))
	return " LIMIT $" + strconv.Itoa(len(c.args))
}

// ManagementRequests implements Reader.
func (r reader) ManagementRequests(ctx context.Context, f RequestFilter) ([]ManagementRequest, error) {
	var c conditions
	if f.Status != "" {
		c.add("status = ?", string(f.Status))
	}
	if f.Server != (xroad.ServerID{}) {
		c.add("server_id = ?", f.Server.String())
	}
	if f.AfterID > 0 {
		c.add("id > ?", f.AfterID)
	}
	q := `SELECT ` + requestColumns + ` FROM management_requests` + c.where() + ` ORDER BY id` + c.limit(pageLimit(f.Limit))
	rows, err := r.x.QueryContext(ctx, q, c.args...)
	if err != nil {
		return nil, queryErr("list management requests", err)
	}
	return collect(rows, "list management requests", func(rows *sql.Rows) (ManagementRequest, error) { return scanRequest(rows) })
}

// ServiceDescription implements Reader.
func (r reader) ServiceDescription(ctx context.Context, id xroad.ServiceID) (ServiceDescription, error) {
	ok, _, err := r.ours(ctx, id.Provider.Instance)
	if err != nil {
		return ServiceDescription{}, err
	}
	if !ok {
		return ServiceDescription{}, notFound("service %s", id)
	}
	d := ServiceDescription{Service: id}
	var typ string
	var at int64
	err = r.x.QueryRowContext(ctx, `SELECT type, title, description, document, updated_at FROM service_descriptions
		WHERE provider_class = $1 AND provider_code = $2 AND provider_subsystem = $3 AND service_code = $4 AND service_version = $5`,
		id.Provider.Class, id.Provider.Code, id.Provider.Subsystem, id.Code, id.Version).
		Scan(&typ, &d.Title, &d.Description, &d.Document, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return ServiceDescription{}, notFound("service %s", id)
	}
	if err != nil {
		return ServiceDescription{}, queryErr("read service description", err)
	}
	d.Type, d.UpdatedAt = ServiceType(typ), store.FromMicros(at)
	return d, nil
}

// SearchServices implements Reader.
func (r reader) SearchServices(ctx context.Context, q CatalogueQuery) ([]ServiceDescription, error) {
	ok, inst, err := r.ours(ctx, q.Provider.Instance)
	if err != nil {
		return nil, err
	}
	var c conditions
	if q.Provider != (xroad.ClientID{}) {
		if !ok {
			return []ServiceDescription{}, nil
		}
		c.add("provider_class = ?", q.Provider.Class)
		c.add("provider_code = ?", q.Provider.Code)
		if q.Provider.Subsystem != "" {
			c.add("provider_subsystem = ?", q.Provider.Subsystem)
		}
	}
	if q.Text != "" {
		// LOWER on both sides: portable case-insensitive matching (LIKE is
		// case-sensitive on PostgreSQL, ASCII-only case-blind on SQLite).
		// The pattern escapes LIKE's wildcards and its escape character.
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
		pat := "%" + esc.Replace(strings.ToLower(q.Text)) + "%"
		c.add(`(LOWER(service_code) LIKE ? ESCAPE '\' OR LOWER(title) LIKE ? ESCAPE '\' OR LOWER(description) LIKE ? ESCAPE '\')`, pat)
	}
	sqlq := `SELECT provider_class, provider_code, provider_subsystem, service_code, service_version, type, title, description, updated_at
		FROM service_descriptions` + c.where() +
		` ORDER BY provider_class, provider_code, provider_subsystem, service_code, service_version` + c.limit(pageLimit(q.Limit))
	rows, err := r.x.QueryContext(ctx, sqlq, c.args...)
	if err != nil {
		return nil, queryErr("search services", err)
	}
	return collect(rows, "search services", func(rows *sql.Rows) (d ServiceDescription, err error) {
		var typ string
		var at int64
		p := &d.Service.Provider
		p.Instance = inst
		err = rows.Scan(&p.Class, &p.Code, &p.Subsystem, &d.Service.Code, &d.Service.Version, &typ, &d.Title, &d.Description, &at)
		d.Type, d.UpdatedAt = ServiceType(typ), store.FromMicros(at)
		return d, err
	})
}

// apiKeys lists all API keys, or the one with the given hash.
func (r reader) apiKeys(ctx context.Context, hash string) ([]APIKey, error) {
	where, args := "", []any{}
	if hash != "" {
		where, args = ` WHERE hash = $1`, []any{hash}
	}
	rows, err := r.x.QueryContext(ctx, `SELECT id, name, hash, created_at, expires_at, revoked_at FROM api_keys`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, queryErr("list API keys", err)
	}
	keys, err := collect(rows, "list API keys", func(rows *sql.Rows) (k APIKey, err error) {
		var h string
		var created int64
		var expires, revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Name, &h, &created, &expires, &revoked); err != nil {
			return k, err
		}
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != len(k.Hash) {
			return k, fmt.Errorf("API key %d: stored hash %q is malformed", k.ID, h)
		}
		copy(k.Hash[:], b)
		k.CreatedAt, k.ExpiresAt, k.RevokedAt = store.FromMicros(created), fromNullMicros(expires), fromNullMicros(revoked)
		k.Roles = []string{}
		return k, nil
	})
	if err != nil || len(keys) == 0 {
		return keys, err
	}
	idx := make(map[int64]*APIKey, len(keys))
	for i := range keys {
		idx[keys[i].ID] = &keys[i]
	}
	q := `SELECT key_id, role FROM api_key_roles ORDER BY key_id, role`
	args = nil
	if hash != "" {
		q, args = `SELECT key_id, role FROM api_key_roles WHERE key_id = $1 ORDER BY role`, []any{keys[0].ID}
	}
	rows, err = r.x.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, queryErr("list API key roles", err)
	}
	if err := each(rows, "list API key roles", func(rows *sql.Rows) error {
		var id int64
		var role string
		if err := rows.Scan(&id, &role); err != nil {
			return err
		}
		if k := idx[id]; k != nil {
			k.Roles = append(k.Roles, role)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return keys, nil
}

// APIKeyByHash implements Reader.
func (r reader) APIKeyByHash(ctx context.Context, hash [32]byte) (APIKey, error) {
	keys, err := r.apiKeys(ctx, hex.EncodeToString(hash[:]))
	if err != nil {
		return APIKey{}, err
	}
	if len(keys) == 0 {
		// The hash is not echoed: it is as good as the secret for
		// correlating log lines with a key.
		return APIKey{}, notFound("API key")
	}
	return keys[0], nil
}

// APIKeys implements Reader.
func (r reader) APIKeys(ctx context.Context) ([]APIKey, error) { return r.apiKeys(ctx, "") }

// AuditEvents implements Reader.
func (r reader) AuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	var c conditions
	if q.AfterID > 0 {
		c.add("id > ?", q.AfterID)
	}
	if q.BeforeID > 0 {
		c.add("id < ?", q.BeforeID)
	}
	order := " ORDER BY id"
	if q.NewestFirst {
		order = " ORDER BY id DESC"
	}
	rows, err := r.x.QueryContext(ctx, `SELECT id, at, actor, action, target, detail, outcome FROM audit_events`+
		c.where()+order+c.limit(pageLimit(q.Limit)), c.args...)
	if err != nil {
		return nil, queryErr("list audit events", err)
	}
	return collect(rows, "list audit events", func(rows *sql.Rows) (e AuditEvent, err error) {
		var at int64
		var detail, outcome string
		err = rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &detail, &outcome)
		e.At, e.Detail, e.Outcome = store.FromMicros(at), []byte(detail), AuditOutcome(outcome)
		return e, err
	})
}

const publishedColumns = `serial, generated_at, expires_at, document, content_hash, registry_version`

func scanPublished(row *sql.Row) (PublishedConfig, error) {
	var p PublishedConfig
	var gen, exp int64
	err := row.Scan(&p.Serial, &gen, &exp, &p.Document, &p.ContentHash, &p.RegistryVersion)
	p.GeneratedAt, p.ExpiresAt = store.FromMicros(gen), store.FromMicros(exp)
	return p, err
}

// LatestPublished implements Reader.
func (r reader) LatestPublished(ctx context.Context) (PublishedConfig, error) {
	p, err := scanPublished(r.x.QueryRowContext(ctx, `SELECT `+publishedColumns+` FROM published_configs ORDER BY serial DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return PublishedConfig{}, notFound("no configuration published yet")
	}
	if err != nil {
		return PublishedConfig{}, queryErr("read latest published configuration", err)
	}
	return p, nil
}

// Published implements Reader.
func (r reader) Published(ctx context.Context, serial int64) (PublishedConfig, error) {
	p, err := scanPublished(r.x.QueryRowContext(ctx, `SELECT `+publishedColumns+` FROM published_configs WHERE serial = $1`, serial))
	if errors.Is(err, sql.ErrNoRows) {
		return PublishedConfig{}, notFound("published configuration %d", serial)
	}
	if err != nil {
		return PublishedConfig{}, queryErr("read published configuration", err)
	}
	return p, nil
}
