package conf

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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

// notFound wraps ErrNotFound with what was looked for.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, args...))
}

// queryErr wraps an unexpected database error.
func queryErr(what string, err error) error {
	return fmt.Errorf("ss conf: %s: %w", what, err)
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

// query runs a query and collects its rows with scan.
func query[T any](ctx context.Context, x store.Querier, what string, scan func(*sql.Rows) (T, error), q string, args ...any) ([]T, error) {
	rows, err := x.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, queryErr(what, err)
	}
	return collect(rows, what, scan)
}

// clientRowID returns the row id of a client, or ErrNotFound.
func (r reader) clientRowID(ctx context.Context, id xroad.ClientID) (int64, error) {
	var n int64
	err := r.x.QueryRowContext(ctx,
		`SELECT id FROM ss_clients WHERE instance = $1 AND member_class = $2 AND member_code = $3 AND subsystem = $4`,
		id.Instance, id.Class, id.Code, id.Subsystem).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("client %s", id)
	}
	if err != nil {
		return 0, queryErr("look up client", err)
	}
	return n, nil
}

// Version implements Reader.
func (r reader) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := r.x.QueryRowContext(ctx, `SELECT value FROM ss_counters WHERE name = 'conf_version'`).Scan(&v); err != nil {
		return 0, queryErr("read version", err)
	}
	return v, nil
}

// Client implements Reader.
func (r reader) Client(ctx context.Context, id xroad.ClientID) (Client, error) {
	cs, err := r.clients(ctx, &id)
	if err != nil {
		return Client{}, err
	}
	if len(cs) == 0 {
		return Client{}, notFound("client %s", id)
	}
	return cs[0], nil
}

// Clients implements Reader.
func (r reader) Clients(ctx context.Context) ([]Client, error) { return r.clients(ctx, nil) }

func (r reader) clients(ctx context.Context, only *xroad.ClientID) ([]Client, error) {
	where, args := "", []any{}
	if only != nil {
		where = ` WHERE c.instance = $1 AND c.member_class = $2 AND c.member_code = $3 AND c.subsystem = $4`
		args = []any{only.Instance, only.Class, only.Code, only.Subsystem}
	}
	type row struct {
		id int64
		c  Client
	}
	rows, err := query(ctx, r.x, "list clients", func(rows *sql.Rows) (v row, err error) {
		var at int64
		err = rows.Scan(&v.id, &v.c.ID.Instance, &v.c.ID.Class, &v.c.ID.Code, &v.c.ID.Subsystem,
			&v.c.Connection, &v.c.Status, &v.c.BodyLogging, &at)
		v.c.CreatedAt = store.FromMicros(at)
		v.c.ISCertHashes = []string{}
		return v, err
	}, `SELECT c.id, c.instance, c.member_class, c.member_code, c.subsystem, c.connection_type, c.status, c.body_logging, c.created_at
		FROM ss_clients c`+where+` ORDER BY c.instance, c.member_class, c.member_code, c.subsystem`, args...)
	if err != nil || len(rows) == 0 {
		return []Client{}, err
	}
	idx := make(map[int64]int, len(rows))
	for i, v := range rows {
		idx[v.id] = i
	}
	type cert struct {
		id   int64
		hash string
	}
	certs, err := query(ctx, r.x, "list IS certificates", func(rows *sql.Rows) (v cert, err error) {
		err = rows.Scan(&v.id, &v.hash)
		return v, err
	}, `SELECT h.client_id, h.hash FROM ss_client_is_certs h JOIN ss_clients c ON c.id = h.client_id`+where+` ORDER BY h.client_id, h.hash`, args...)
	if err != nil {
		return nil, err
	}
	for _, h := range certs {
		if i, ok := idx[h.id]; ok {
			rows[i].c.ISCertHashes = append(rows[i].c.ISCertHashes, h.hash)
		}
	}
	out := make([]Client, len(rows))
	for i, v := range rows {
		out[i] = v.c
	}
	return out, nil
}

// ServiceDescription implements Reader.
func (r reader) ServiceDescription(ctx context.Context, id int64) (ServiceDescription, error) {
	var c xroad.ClientID
	var rowID int64
	err := r.x.QueryRowContext(ctx, `SELECT c.id, c.instance, c.member_class, c.member_code, c.subsystem
		FROM ss_service_descriptions d JOIN ss_clients c ON c.id = d.client_id WHERE d.id = $1`, id).
		Scan(&rowID, &c.Instance, &c.Class, &c.Code, &c.Subsystem)
	if errors.Is(err, sql.ErrNoRows) {
		return ServiceDescription{}, notFound("service description %d", id)
	}
	if err != nil {
		return ServiceDescription{}, queryErr("look up service description", err)
	}
	ds, err := r.descriptions(ctx, c, rowID, id)
	if err != nil {
		return ServiceDescription{}, err
	}
	if len(ds) == 0 {
		return ServiceDescription{}, notFound("service description %d", id)
	}
	return ds[0], nil
}

// ServiceDescriptions implements Reader.
func (r reader) ServiceDescriptions(ctx context.Context, client xroad.ClientID) ([]ServiceDescription, error) {
	rowID, err := r.clientRowID(ctx, client)
	if err != nil {
		return nil, err
	}
	return r.descriptions(ctx, client, rowID, 0)
}

// descriptions lists a client's descriptions, or only the one with id
// onlyID (when non-zero), with services and endpoints.
func (r reader) descriptions(ctx context.Context, client xroad.ClientID, clientRowID, onlyID int64) ([]ServiceDescription, error) {
	ds, err := query(ctx, r.x, "list service descriptions", func(rows *sql.Rows) (d ServiceDescription, err error) {
		var at int64
		err = rows.Scan(&d.ID, &d.Type, &d.URL, &d.Document, &at)
		d.Client = client
		d.RefreshedAt = store.FromMicros(at)
		d.Services = []Service{}
		return d, err
	}, `SELECT id, type, url, document, refreshed_at FROM ss_service_descriptions
		WHERE client_id = $1 AND (id = $2 OR $2 = 0) ORDER BY id`, clientRowID, onlyID)
	if err != nil || len(ds) == 0 {
		return ds, err
	}
	byID := make(map[int64]*ServiceDescription, len(ds))
	for i := range ds {
		byID[ds[i].ID] = &ds[i]
	}
	type svc struct {
		descID int64
		s      Service
	}
	svcs, err := query(ctx, r.x, "list services", func(rows *sql.Rows) (v svc, err error) {
		var ms int64
		err = rows.Scan(&v.descID, &v.s.Code, &v.s.Version, &v.s.URL, &ms, &v.s.VerifyTLS, &v.s.Disabled, &v.s.DisabledNotice)
		v.s.Timeout = time.Duration(ms) * time.Millisecond
		v.s.Endpoints = []Endpoint{}
		return v, err
	}, `SELECT description_id, code, version, url, timeout_ms, verify_tls, disabled, disabled_notice FROM ss_services
		WHERE client_id = $1 AND (description_id = $2 OR $2 = 0) ORDER BY code`, clientRowID, onlyID)
	if err != nil {
		return nil, err
	}
	type ep struct {
		code string
		e    Endpoint
	}
	eps, err := query(ctx, r.x, "list endpoints", func(rows *sql.Rows) (v ep, err error) {
		var kind string
		err = rows.Scan(&v.code, &v.e.Method, &v.e.Path, &kind)
		v.e.Generated = kind == kindGenerated
		return v, err
	}, `SELECT e.service_code, e.method, e.path, e.kind FROM ss_endpoints e
		JOIN ss_services s ON s.client_id = e.client_id AND s.code = e.service_code
		WHERE e.client_id = $1 AND e.kind <> 'BASE' AND (s.description_id = $2 OR $2 = 0)
		ORDER BY e.service_code, e.path, e.method`, clientRowID, onlyID)
	if err != nil {
		return nil, err
	}
	byCode := make(map[string][]Endpoint)
	for _, v := range eps {
		byCode[v.code] = append(byCode[v.code], v.e)
	}
	for _, v := range svcs {
		if es := byCode[v.s.Code]; es != nil {
			v.s.Endpoints = es
		}
		if d := byID[v.descID]; d != nil {
			d.Services = append(d.Services, v.s)
		}
	}
	return ds, nil
}

// Endpoint kinds as stored.
const (
	kindBase      = "BASE"
	kindGenerated = "GENERATED"
	kindManual    = "MANUAL"
)

// AccessRights implements Reader.
func (r reader) AccessRights(ctx context.Context, provider xroad.ClientID) ([]AccessRight, error) {
	rowID, err := r.clientRowID(ctx, provider)
	if err != nil {
		return nil, err
	}
	rights, err := query(ctx, r.x, "list access rights", func(rows *sql.Rows) (a AccessRight, err error) {
		var subject string
		var at int64
		if err = rows.Scan(&a.ServiceCode, &a.Endpoint.Method, &a.Endpoint.Path, &subject, &at); err != nil {
			return a, err
		}
		a.Provider = provider
		a.GrantedAt = store.FromMicros(at)
		if a.Endpoint == (EndpointSpec{Method: AnyMethod, Path: AnyPath}) {
			a.Endpoint = EndpointSpec{}
		}
		a.Subject, err = parseSubject(subject)
		return a, err
	}, `SELECT service_code, method, path, subject, granted_at FROM ss_access_rights WHERE client_id = $1`, rowID)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rights, func(a, b AccessRight) int {
		if c := strings.Compare(a.ServiceCode, b.ServiceCode); c != 0 {
			return c
		}
		if a.Endpoint.IsService() != b.Endpoint.IsService() {
			if a.Endpoint.IsService() {
				return -1
			}
			return 1
		}
		if c := compareEndpoints(a.Endpoint, b.Endpoint); c != 0 {
			return c
		}
		return strings.Compare(a.Subject.Typed(), b.Subject.Typed())
	})
	return rights, nil
}

// parseSubject parses a stored access right subject (typed form).
func parseSubject(s string) (xroad.ID, error) {
	id, err := xroad.ParseTyped(s)
	if err != nil {
		return nil, fmt.Errorf("stored subject %q: %w", s, err)
	}
	switch v := id.(type) {
	case xroad.MemberID:
		return v.Client(), nil
	case xroad.ClientID, xroad.GlobalGroupID, xroad.LocalGroupID:
		return v, nil
	}
	return nil, fmt.Errorf("stored subject %q: unexpected type %s", s, id.Type())
}

// LocalGroup implements Reader.
func (r reader) LocalGroup(ctx context.Context, client xroad.ClientID, code string) (LocalGroup, error) {
	rowID, err := r.clientRowID(ctx, client)
	if err != nil {
		return LocalGroup{}, err
	}
	gs, err := r.localGroups(ctx, client, rowID, code)
	if err != nil {
		return LocalGroup{}, err
	}
	if len(gs) == 0 {
		return LocalGroup{}, notFound("local group %s of %s", code, client)
	}
	return gs[0], nil
}

// LocalGroups implements Reader.
func (r reader) LocalGroups(ctx context.Context, client xroad.ClientID) ([]LocalGroup, error) {
	rowID, err := r.clientRowID(ctx, client)
	if err != nil {
		return nil, err
	}
	return r.localGroups(ctx, client, rowID, "")
}

// localGroups lists a client's groups, or only the one with code only
// (when non-empty), with members.
func (r reader) localGroups(ctx context.Context, client xroad.ClientID, rowID int64, only string) ([]LocalGroup, error) {
	gs, err := query(ctx, r.x, "list local groups", func(rows *sql.Rows) (g LocalGroup, err error) {
		var at int64
		err = rows.Scan(&g.Code, &g.Description, &at)
		g.Client = client
		g.UpdatedAt = store.FromMicros(at)
		g.Members = []xroad.ClientID{}
		return g, err
	}, `SELECT code, description, updated_at FROM ss_local_groups WHERE client_id = $1 AND (code = $2 OR $2 = '') ORDER BY code`, rowID, only)
	if err != nil || len(gs) == 0 {
		return gs, err
	}
	type member struct {
		code string
		m    xroad.ClientID
	}
	ms, err := query(ctx, r.x, "list local group members", func(rows *sql.Rows) (v member, err error) {
		var s string
		if err = rows.Scan(&v.code, &s); err != nil {
			return v, err
		}
		v.m, err = xroad.ParseClient(s)
		return v, err
	}, `SELECT group_code, member FROM ss_local_group_members WHERE client_id = $1 AND (group_code = $2 OR $2 = '')
		ORDER BY group_code, member`, rowID, only)
	if err != nil {
		return nil, err
	}
	idx := make(map[string]int, len(gs))
	for i, g := range gs {
		idx[g.Code] = i
	}
	for _, v := range ms {
		if i, ok := idx[v.code]; ok {
			gs[i].Members = append(gs[i].Members, v.m)
		}
	}
	return gs, nil
}
