package conf

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// txn implements Tx inside one read-write transaction (see Store.Update).
type txn struct {
	reader
	// dirty is set by every write; Update then bumps the version once.
	dirty bool
}

// maxTextLength bounds free-text fields (disabled notice, group
// description, URLs).
const maxTextLength = 1024

// invalid wraps ErrInvalid (and cause, if any) with a description.
func invalid(cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if cause != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, msg, cause)
	}
	return fmt.Errorf("%w: %s", ErrInvalid, msg)
}

// nextCounter increments a row of ss_counters and returns its new value.
// The row stays locked until the transaction ends.
func (t *txn) nextCounter(ctx context.Context, name string) (int64, error) {
	var v int64
	if err := t.x.QueryRowContext(ctx, `UPDATE ss_counters SET value = value + 1 WHERE name = $1 RETURNING value`, name).Scan(&v); err != nil {
		return 0, queryErr("advance counter "+name, err)
	}
	return v, nil
}

// exec runs a write statement and maps constraint violations: a unique
// violation to ErrConflict, a foreign key violation to ErrNotFound, a check
// violation to ErrInvalid, each described by what. It returns the number of
// rows affected.
func (t *txn) exec(ctx context.Context, what string, q string, args ...any) (int64, error) {
	res, err := t.x.ExecContext(ctx, q, args...)
	if err != nil {
		switch store.ConstraintViolation(err) {
		case store.Unique:
			return 0, fmt.Errorf("%w: %s already exists", ErrConflict, what)
		case store.ForeignKey:
			return 0, fmt.Errorf("%w: %s: a referenced item is missing", ErrNotFound, what)
		case store.Check:
			return 0, fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
		}
		return 0, queryErr(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, queryErr(what, err)
	}
	if n > 0 {
		t.dirty = true
	}
	return n, nil
}

// mustAffect turns "no row affected" into ErrNotFound.
func mustAffect(n int64, err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(format, args...)
	}
	return nil
}

// exists runs a COUNT query and reports whether it counted anything.
func (t *txn) exists(ctx context.Context, what, q string, args ...any) (bool, error) {
	var n int
	if err := t.x.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return false, queryErr(what, err)
	}
	return n > 0, nil
}

// checkClientID validates a client identifier.
func checkClientID(id xroad.ClientID) error {
	if err := id.Validate(); err != nil {
		return invalid(err, "client")
	}
	return nil
}

// checkText bounds a free-text field.
func checkText(what, s string) error {
	if len(s) > maxTextLength {
		return invalid(nil, "%s longer than %d bytes", what, maxTextLength)
	}
	return nil
}

// checkURL validates an http or https URL with a host.
func checkURL(what, s string) error {
	if err := checkText(what, s); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalid(err, "%s", what)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return invalid(nil, "%s %q: want an http or https URL with a host and no user information or fragment", what, s)
	}
	return nil
}

// normalizeHashes validates hex SHA-256 digests and returns them lower-case
// and sorted.
func normalizeHashes(hs []string) ([]string, error) {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, invalid(err, "IS certificate hash %q: want the hex SHA-256 of the certificate", h)
		}
		out = append(out, hex.EncodeToString(b))
	}
	slices.Sort(out)
	if len(slices.Compact(slices.Clone(out))) != len(out) {
		return nil, invalid(nil, "an IS certificate hash is given twice")
	}
	return out, nil
}

// checkClient validates a client given on write and returns its hashes
// normalized.
func checkClient(c Client) ([]string, error) {
	if err := checkClientID(c.ID); err != nil {
		return nil, err
	}
	if !c.Connection.Valid() {
		return nil, invalid(nil, "connection type %q", c.Connection)
	}
	if !c.Status.Valid() {
		return nil, invalid(nil, "client status %q", c.Status)
	}
	if !c.BodyLogging.Valid() {
		return nil, invalid(nil, "body logging %q", c.BodyLogging)
	}
	return normalizeHashes(c.ISCertHashes)
}

// insertHashes stores a client's IS certificate hashes.
func (t *txn) insertHashes(ctx context.Context, rowID int64, hashes []string) error {
	for _, h := range hashes {
		if _, err := t.exec(ctx, "IS certificate hash "+h,
			`INSERT INTO ss_client_is_certs (client_id, hash) VALUES ($1, $2)`, rowID, h); err != nil {
			return err
		}
	}
	return nil
}

// AddClient implements Writer.
func (t *txn) AddClient(ctx context.Context, c Client) error {
	hashes, err := checkClient(c)
	if err != nil {
		return err
	}
	if _, err := t.clientRowID(ctx, c.ID); err == nil {
		return fmt.Errorf("%w: client %s already exists", ErrConflict, c.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	rowID, err := t.nextCounter(ctx, "client")
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, "client "+c.ID.String(),
		`INSERT INTO ss_clients (id, instance, member_class, member_code, subsystem, connection_type, status, body_logging, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		rowID, c.ID.Instance, c.ID.Class, c.ID.Code, c.ID.Subsystem, string(c.Connection), string(c.Status), string(c.BodyLogging),
		store.Micros(t.now())); err != nil {
		return err
	}
	return t.insertHashes(ctx, rowID, hashes)
}

// UpdateClient implements Writer.
func (t *txn) UpdateClient(ctx context.Context, c Client) error {
	hashes, err := checkClient(c)
	if err != nil {
		return err
	}
	rowID, err := t.clientRowID(ctx, c.ID)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, "update client "+c.ID.String(),
		`UPDATE ss_clients SET connection_type = $1, status = $2, body_logging = $3 WHERE id = $4`,
		string(c.Connection), string(c.Status), string(c.BodyLogging), rowID); err != nil {
		return err
	}
	if _, err := t.exec(ctx, "replace IS certificate hashes", `DELETE FROM ss_client_is_certs WHERE client_id = $1`, rowID); err != nil {
		return err
	}
	return t.insertHashes(ctx, rowID, hashes)
}

// DeleteClient implements Writer.
func (t *txn) DeleteClient(ctx context.Context, id xroad.ClientID) error {
	// Hashes, descriptions (and through them services, endpoints and
	// rights) and local groups go by ON DELETE CASCADE.
	n, err := t.exec(ctx, "delete client "+id.String(),
		`DELETE FROM ss_clients WHERE instance = $1 AND member_class = $2 AND member_code = $3 AND subsystem = $4`,
		id.Instance, id.Class, id.Code, id.Subsystem)
	return mustAffect(n, err, "client %s", id)
}

// checkService validates a service given on write and returns its
// hand-made endpoints normalized.
func checkService(s Service) ([]EndpointSpec, error) {
	if err := xroad.ValidatePart(s.Code); err != nil {
		return nil, invalid(err, "service code")
	}
	if s.Version != "" {
		if err := xroad.ValidatePart(s.Version); err != nil {
			return nil, invalid(err, "service %s version", s.Code)
		}
	}
	if err := checkURL("service "+s.Code+" URL", s.URL); err != nil {
		return nil, err
	}
	if s.Timeout <= 0 || s.Timeout > MaxTimeout || s.Timeout%time.Millisecond != 0 {
		return nil, invalid(nil, "service %s timeout %s: want whole milliseconds, positive, at most %s", s.Code, s.Timeout, MaxTimeout)
	}
	if err := checkText("disabled notice", s.DisabledNotice); err != nil {
		return nil, err
	}
	var manual []EndpointSpec
	for _, e := range s.Endpoints {
		if e.Generated {
			continue
		}
		n, err := normalizeEndpoint(e.Spec())
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", s.Code, err)
		}
		manual = append(manual, n)
	}
	return manual, nil
}

// insertEndpoint stores one endpoint of a service.
func (t *txn) insertEndpoint(ctx context.Context, clientRowID int64, code string, e EndpointSpec, kind string) error {
	_, err := t.exec(ctx, fmt.Sprintf("endpoint %s %s of service %s", e.Method, e.Path, code),
		`INSERT INTO ss_endpoints (client_id, service_code, method, path, kind) VALUES ($1, $2, $3, $4, $5)`,
		clientRowID, code, e.Method, e.Path, kind)
	return err
}

// insertService stores a service with its base, generated and hand-made
// endpoints.
func (t *txn) insertService(ctx context.Context, clientRowID, descID int64, s Service, generated []EndpointSpec) error {
	manual, err := checkService(s)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, "service code "+s.Code,
		`INSERT INTO ss_services (client_id, code, description_id, version, url, timeout_ms, verify_tls, disabled, disabled_notice)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		clientRowID, s.Code, descID, s.Version, s.URL, s.Timeout.Milliseconds(), s.VerifyTLS, s.Disabled, s.DisabledNotice); err != nil {
		return err
	}
	if err := t.insertEndpoint(ctx, clientRowID, s.Code, EndpointSpec{Method: AnyMethod, Path: AnyPath}, kindBase); err != nil {
		return err
	}
	for _, e := range generated {
		if err := t.insertEndpoint(ctx, clientRowID, s.Code, e, kindGenerated); err != nil {
			return err
		}
	}
	for _, e := range manual {
		if slices.Contains(generated, e) {
			return fmt.Errorf("%w: endpoint %s %s of service %s is already derived from the OpenAPI document", ErrConflict, e.Method, e.Path, s.Code)
		}
		if err := t.insertEndpoint(ctx, clientRowID, s.Code, e, kindManual); err != nil {
			return err
		}
	}
	return nil
}

// checkDescription validates a description's source and returns the
// endpoints its document yields.
func checkDescription(ctx context.Context, typ DescriptionType, srcURL string, doc []byte) ([]EndpointSpec, error) {
	if srcURL != "" {
		if err := checkURL("service description URL", srcURL); err != nil {
			return nil, err
		}
	}
	switch typ {
	case DescriptionOpenAPI:
		return ImportOpenAPI(ctx, doc)
	case DescriptionREST:
		if len(doc) != 0 {
			return nil, invalid(nil, "a REST service description has no document")
		}
		return nil, nil
	}
	return nil, invalid(nil, "service description type %q", typ)
}

// AddServiceDescription implements Writer.
func (t *txn) AddServiceDescription(ctx context.Context, d ServiceDescription) (ServiceDescription, error) {
	if err := checkClientID(d.Client); err != nil {
		return ServiceDescription{}, err
	}
	if !d.Client.IsSubsystem() {
		return ServiceDescription{}, invalid(nil, "%s is not a subsystem: only subsystems provide services", d.Client)
	}
	generated, err := checkDescription(ctx, d.Type, d.URL, d.Document)
	if err != nil {
		return ServiceDescription{}, err
	}
	if len(d.Services) == 0 {
		return ServiceDescription{}, invalid(nil, "a service description needs at least one service")
	}
	clientRowID, err := t.clientRowID(ctx, d.Client)
	if err != nil {
		return ServiceDescription{}, err
	}
	id, err := t.nextCounter(ctx, "service_description")
	if err != nil {
		return ServiceDescription{}, err
	}
	var doc []byte
	if d.Type == DescriptionOpenAPI {
		doc = d.Document
	}
	if _, err := t.exec(ctx, "service description",
		`INSERT INTO ss_service_descriptions (id, client_id, type, url, document, refreshed_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, clientRowID, string(d.Type), d.URL, doc, store.Micros(t.now())); err != nil {
		return ServiceDescription{}, err
	}
	for _, s := range d.Services {
		if err := t.insertService(ctx, clientRowID, id, s, generated); err != nil {
			return ServiceDescription{}, err
		}
	}
	return t.ServiceDescription(ctx, id)
}

// descriptionRow returns a description's client row id, type and document.
func (t *txn) descriptionRow(ctx context.Context, id int64) (int64, DescriptionType, []byte, error) {
	var clientRowID int64
	var typ DescriptionType
	var doc []byte
	err := t.x.QueryRowContext(ctx, `SELECT client_id, type, document FROM ss_service_descriptions WHERE id = $1`, id).
		Scan(&clientRowID, &typ, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil, notFound("service description %d", id)
	}
	if err != nil {
		return 0, "", nil, queryErr("look up service description", err)
	}
	return clientRowID, typ, doc, nil
}

// RefreshServiceDescription implements Writer.
func (t *txn) RefreshServiceDescription(ctx context.Context, id int64, srcURL string, document []byte) (ServiceDescription, error) {
	clientRowID, typ, _, err := t.descriptionRow(ctx, id)
	if err != nil {
		return ServiceDescription{}, err
	}
	if typ != DescriptionOpenAPI {
		return ServiceDescription{}, invalid(nil, "service description %d is %s: only OpenAPI descriptions are refreshed", id, typ)
	}
	generated, err := checkDescription(ctx, typ, srcURL, document)
	if err != nil {
		return ServiceDescription{}, err
	}
	if _, err := t.exec(ctx, "refresh service description",
		`UPDATE ss_service_descriptions SET url = $1, document = $2, refreshed_at = $3 WHERE id = $4`,
		srcURL, document, store.Micros(t.now()), id); err != nil {
		return ServiceDescription{}, err
	}
	codes, err := query(ctx, t.x, "list services", func(rows *sql.Rows) (c string, err error) {
		err = rows.Scan(&c)
		return c, err
	}, `SELECT code FROM ss_services WHERE description_id = $1 ORDER BY code`, id)
	if err != nil {
		return ServiceDescription{}, err
	}
	for _, code := range codes {
		type ep struct {
			e    EndpointSpec
			kind string
		}
		have, err := query(ctx, t.x, "list endpoints", func(rows *sql.Rows) (v ep, err error) {
			err = rows.Scan(&v.e.Method, &v.e.Path, &v.kind)
			return v, err
		}, `SELECT method, path, kind FROM ss_endpoints WHERE client_id = $1 AND service_code = $2`, clientRowID, code)
		if err != nil {
			return ServiceDescription{}, err
		}
		present := make(map[EndpointSpec]bool, len(have))
		for _, v := range have {
			present[v.e] = true
			if v.kind == kindGenerated && !slices.Contains(generated, v.e) {
				// Its access rights go by ON DELETE CASCADE.
				if _, err := t.exec(ctx, "remove endpoint",
					`DELETE FROM ss_endpoints WHERE client_id = $1 AND service_code = $2 AND method = $3 AND path = $4`,
					clientRowID, code, v.e.Method, v.e.Path); err != nil {
					return ServiceDescription{}, err
				}
			}
		}
		for _, e := range generated {
			// A hand-made endpoint the document now describes stays
			// hand-made, with its rights.
			if !present[e] {
				if err := t.insertEndpoint(ctx, clientRowID, code, e, kindGenerated); err != nil {
					return ServiceDescription{}, err
				}
			}
		}
	}
	return t.ServiceDescription(ctx, id)
}

// DeleteServiceDescription implements Writer.
func (t *txn) DeleteServiceDescription(ctx context.Context, id int64) error {
	n, err := t.exec(ctx, "delete service description", `DELETE FROM ss_service_descriptions WHERE id = $1`, id)
	return mustAffect(n, err, "service description %d", id)
}

// AddService implements Writer.
func (t *txn) AddService(ctx context.Context, descriptionID int64, s Service) error {
	clientRowID, typ, doc, err := t.descriptionRow(ctx, descriptionID)
	if err != nil {
		return err
	}
	var generated []EndpointSpec
	if typ == DescriptionOpenAPI {
		if generated, err = ImportOpenAPI(ctx, doc); err != nil {
			return fmt.Errorf("stored document of service description %d: %w", descriptionID, err)
		}
	}
	return t.insertService(ctx, clientRowID, descriptionID, s, generated)
}

// UpdateService implements Writer.
func (t *txn) UpdateService(ctx context.Context, provider xroad.ClientID, s Service) error {
	s.Endpoints = nil
	if _, err := checkService(s); err != nil {
		return err
	}
	clientRowID, err := t.clientRowID(ctx, provider)
	if err != nil {
		return err
	}
	n, err := t.exec(ctx, "update service "+s.Code,
		`UPDATE ss_services SET version = $1, url = $2, timeout_ms = $3, verify_tls = $4, disabled = $5, disabled_notice = $6
		WHERE client_id = $7 AND code = $8`,
		s.Version, s.URL, s.Timeout.Milliseconds(), s.VerifyTLS, s.Disabled, s.DisabledNotice, clientRowID, s.Code)
	return mustAffect(n, err, "service %s of %s", s.Code, provider)
}

// DeleteService implements Writer.
func (t *txn) DeleteService(ctx context.Context, provider xroad.ClientID, serviceCode string) error {
	clientRowID, err := t.clientRowID(ctx, provider)
	if err != nil {
		return err
	}
	// Endpoints and, through them, access rights go by ON DELETE CASCADE.
	n, err := t.exec(ctx, "delete service "+serviceCode,
		`DELETE FROM ss_services WHERE client_id = $1 AND code = $2`, clientRowID, serviceCode)
	return mustAffect(n, err, "service %s of %s", serviceCode, provider)
}

// serviceExists returns ErrNotFound unless the client has the service.
func (t *txn) serviceExists(ctx context.Context, clientRowID int64, provider xroad.ClientID, code string) error {
	ok, err := t.exists(ctx, "look up service",
		`SELECT COUNT(*) FROM ss_services WHERE client_id = $1 AND code = $2`, clientRowID, code)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("service %s of %s", code, provider)
	}
	return nil
}

// AddEndpoint implements Writer.
func (t *txn) AddEndpoint(ctx context.Context, provider xroad.ClientID, serviceCode string, e EndpointSpec) error {
	e, err := normalizeEndpoint(e)
	if err != nil {
		return err
	}
	clientRowID, err := t.clientRowID(ctx, provider)
	if err != nil {
		return err
	}
	if err := t.serviceExists(ctx, clientRowID, provider, serviceCode); err != nil {
		return err
	}
	return t.insertEndpoint(ctx, clientRowID, serviceCode, e, kindManual)
}

// DeleteEndpoint implements Writer.
func (t *txn) DeleteEndpoint(ctx context.Context, provider xroad.ClientID, serviceCode string, e EndpointSpec) error {
	e, err := normalizeEndpoint(e)
	if err != nil {
		return err
	}
	clientRowID, err := t.clientRowID(ctx, provider)
	if err != nil {
		return err
	}
	var kind string
	err = t.x.QueryRowContext(ctx, `SELECT kind FROM ss_endpoints WHERE client_id = $1 AND service_code = $2 AND method = $3 AND path = $4`,
		clientRowID, serviceCode, e.Method, e.Path).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("endpoint %s %s of service %s of %s", e.Method, e.Path, serviceCode, provider)
	}
	if err != nil {
		return queryErr("look up endpoint", err)
	}
	if kind != kindManual {
		return fmt.Errorf("%w: endpoint %s %s of service %s is derived from the OpenAPI document; refresh the document to change it",
			ErrConflict, e.Method, e.Path, serviceCode)
	}
	_, err = t.exec(ctx, "delete endpoint",
		`DELETE FROM ss_endpoints WHERE client_id = $1 AND service_code = $2 AND method = $3 AND path = $4`,
		clientRowID, serviceCode, e.Method, e.Path)
	return err
}

// rightKey is an access right as stored: its endpoint (the base endpoint for
// the whole service), subject in typed form and local group code (or nil).
type rightKey struct {
	endpoint   EndpointSpec
	subject    string
	localGroup sql.NullString
}

// checkRight validates an access right given on write.
func checkRight(r AccessRight) (rightKey, error) {
	var k rightKey
	if err := checkClientID(r.Provider); err != nil {
		return k, err
	}
	if err := xroad.ValidatePart(r.ServiceCode); err != nil {
		return k, invalid(err, "service code")
	}
	if r.Endpoint.IsService() {
		k.endpoint = EndpointSpec{Method: AnyMethod, Path: AnyPath}
	} else {
		e, err := normalizeEndpoint(r.Endpoint)
		if err != nil {
			return k, err
		}
		k.endpoint = e
	}
	subject := r.Subject
	if m, ok := subject.(xroad.MemberID); ok {
		subject = m.Client()
	}
	switch s := subject.(type) {
	case xroad.ClientID, xroad.GlobalGroupID:
	case xroad.LocalGroupID:
		k.localGroup = sql.NullString{String: s.Code, Valid: true}
	case nil:
		return k, invalid(nil, "access right without a subject")
	default:
		return k, invalid(nil, "access right subject %s: want a member, subsystem, global group or local group", s.Typed())
	}
	if err := subject.Validate(); err != nil {
		return k, invalid(err, "access right subject")
	}
	k.subject = subject.Typed()
	return k, nil
}

// AddAccessRight implements Writer.
func (t *txn) AddAccessRight(ctx context.Context, r AccessRight) error {
	k, err := checkRight(r)
	if err != nil {
		return err
	}
	clientRowID, err := t.clientRowID(ctx, r.Provider)
	if err != nil {
		return err
	}
	if err := t.serviceExists(ctx, clientRowID, r.Provider, r.ServiceCode); err != nil {
		return err
	}
	ok, err := t.exists(ctx, "look up endpoint",
		`SELECT COUNT(*) FROM ss_endpoints WHERE client_id = $1 AND service_code = $2 AND method = $3 AND path = $4`,
		clientRowID, r.ServiceCode, k.endpoint.Method, k.endpoint.Path)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("endpoint %s %s of service %s of %s", k.endpoint.Method, k.endpoint.Path, r.ServiceCode, r.Provider)
	}
	if k.localGroup.Valid {
		ok, err := t.exists(ctx, "look up local group",
			`SELECT COUNT(*) FROM ss_local_groups WHERE client_id = $1 AND code = $2`, clientRowID, k.localGroup.String)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("local group %s of %s", k.localGroup.String, r.Provider)
		}
	}
	_, err = t.exec(ctx, "access right of "+k.subject+" to "+r.ServiceCode,
		`INSERT INTO ss_access_rights (client_id, service_code, method, path, subject, local_group, granted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		clientRowID, r.ServiceCode, k.endpoint.Method, k.endpoint.Path, k.subject, k.localGroup, store.Micros(t.now()))
	return err
}

// RemoveAccessRight implements Writer.
func (t *txn) RemoveAccessRight(ctx context.Context, r AccessRight) error {
	k, err := checkRight(r)
	if err != nil {
		return err
	}
	clientRowID, err := t.clientRowID(ctx, r.Provider)
	if err != nil {
		return err
	}
	n, err := t.exec(ctx, "remove access right",
		`DELETE FROM ss_access_rights WHERE client_id = $1 AND service_code = $2 AND method = $3 AND path = $4 AND subject = $5`,
		clientRowID, r.ServiceCode, k.endpoint.Method, k.endpoint.Path, k.subject)
	return mustAffect(n, err, "access right of %s to %s %s %s of %s", k.subject, r.ServiceCode, k.endpoint.Method, k.endpoint.Path, r.Provider)
}

// checkGroupCode validates a local group code.
func checkGroupCode(code string) error {
	if err := (xroad.LocalGroupID{Code: code}).Validate(); err != nil {
		return invalid(err, "local group code")
	}
	return nil
}

// AddLocalGroup implements Writer.
func (t *txn) AddLocalGroup(ctx context.Context, g LocalGroup) error {
	if err := checkClientID(g.Client); err != nil {
		return err
	}
	if err := checkGroupCode(g.Code); err != nil {
		return err
	}
	if err := checkText("local group description", g.Description); err != nil {
		return err
	}
	clientRowID, err := t.clientRowID(ctx, g.Client)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "local group "+g.Code+" of "+g.Client.String(),
		`INSERT INTO ss_local_groups (client_id, code, description, updated_at) VALUES ($1, $2, $3, $4)`,
		clientRowID, g.Code, g.Description, store.Micros(t.now()))
	return err
}

// UpdateLocalGroup implements Writer.
func (t *txn) UpdateLocalGroup(ctx context.Context, client xroad.ClientID, code, description string) error {
	if err := checkText("local group description", description); err != nil {
		return err
	}
	clientRowID, err := t.clientRowID(ctx, client)
	if err != nil {
		return err
	}
	n, err := t.exec(ctx, "update local group",
		`UPDATE ss_local_groups SET description = $1, updated_at = $2 WHERE client_id = $3 AND code = $4`,
		description, store.Micros(t.now()), clientRowID, code)
	return mustAffect(n, err, "local group %s of %s", code, client)
}

// DeleteLocalGroup implements Writer.
func (t *txn) DeleteLocalGroup(ctx context.Context, client xroad.ClientID, code string) error {
	clientRowID, err := t.clientRowID(ctx, client)
	if err != nil {
		return err
	}
	// Members and the rights granted to the group go by ON DELETE CASCADE.
	n, err := t.exec(ctx, "delete local group",
		`DELETE FROM ss_local_groups WHERE client_id = $1 AND code = $2`, clientRowID, code)
	return mustAffect(n, err, "local group %s of %s", code, client)
}

// touchGroup stamps a group's update time, or reports it missing.
func (t *txn) touchGroup(ctx context.Context, clientRowID int64, client xroad.ClientID, code string) error {
	n, err := t.exec(ctx, "update local group",
		`UPDATE ss_local_groups SET updated_at = $1 WHERE client_id = $2 AND code = $3`, store.Micros(t.now()), clientRowID, code)
	return mustAffect(n, err, "local group %s of %s", code, client)
}

// AddLocalGroupMember implements Writer.
func (t *txn) AddLocalGroupMember(ctx context.Context, client xroad.ClientID, code string, member xroad.ClientID) error {
	if err := member.Validate(); err != nil {
		return invalid(err, "local group member")
	}
	clientRowID, err := t.clientRowID(ctx, client)
	if err != nil {
		return err
	}
	if err := t.touchGroup(ctx, clientRowID, client, code); err != nil {
		return err
	}
	_, err = t.exec(ctx, "member "+member.String()+" of local group "+code,
		`INSERT INTO ss_local_group_members (client_id, group_code, member) VALUES ($1, $2, $3)`,
		clientRowID, code, member.String())
	return err
}

// RemoveLocalGroupMember implements Writer.
func (t *txn) RemoveLocalGroupMember(ctx context.Context, client xroad.ClientID, code string, member xroad.ClientID) error {
	clientRowID, err := t.clientRowID(ctx, client)
	if err != nil {
		return err
	}
	n, err := t.exec(ctx, "remove local group member",
		`DELETE FROM ss_local_group_members WHERE client_id = $1 AND group_code = $2 AND member = $3`,
		clientRowID, code, member.String())
	if err := mustAffect(n, err, "member %s of local group %s of %s", member, code, client); err != nil {
		return err
	}
	return t.touchGroup(ctx, clientRowID, client, code)
}
