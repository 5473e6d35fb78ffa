package registry

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// txn implements Tx inside one read-write transaction (see Store.Update).
type txn struct {
	reader
	// dirty is set by every write to registry state; Update then bumps the
	// registry version once.
	dirty bool
}

// nextCounter increments a row of the counters table and returns its new
// value. The row stays locked until the transaction ends, so values are
// handed out in commit order.
func (t *txn) nextCounter(ctx context.Context, name string) (int64, error) {
	var v int64
	if err := t.x.QueryRowContext(ctx, `UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value`, name).Scan(&v); err != nil {
		return 0, queryErr("advance counter "+name, err)
	}
	return v, nil
}

// invalid wraps ErrInvalid (and cause, if any) with a description.
func invalid(cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if cause != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, msg, cause)
	}
	return fmt.Errorf("%w: %s", ErrInvalid, msg)
}

// exec runs a write statement and maps constraint violations: a unique
// violation to ErrConflict, a foreign key violation to onFK (ErrNotFound
// when a referent is missing, ErrConflict when a referenced row was to be
// deleted). It returns the number of rows affected.
func (t *txn) exec(ctx context.Context, what string, onFK error, query string, args ...any) (int64, error) {
	res, err := t.x.ExecContext(ctx, query, args...)
	if err != nil {
		switch store.ConstraintViolation(err) {
		case store.Unique:
			return 0, fmt.Errorf("%w: %s: already exists", ErrConflict, what)
		case store.ForeignKey:
			return 0, fmt.Errorf("%w: %s", onFK, what)
		case store.Check:
			return 0, fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
		}
		return 0, queryErr(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, queryErr(what, err)
	}
	t.dirty = true
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

// checkInstance checks that inst is the registry's instance code.
func (t *txn) checkInstance(ctx context.Context, inst string, what fmt.Stringer) error {
	ok, code, err := t.ours(ctx, inst)
	if err != nil {
		return err
	}
	if code == "" {
		return fmt.Errorf("%w: %s: the instance code is not set yet", ErrConflict, what)
	}
	if !ok {
		return invalid(nil, "%s belongs to instance %q, the registry holds %q", what, inst, code)
	}
	return nil
}

// ensureOurs returns ErrNotFound, described by format and args, unless
// inst is the registry's instance code.
func (t *txn) ensureOurs(ctx context.Context, inst string, format string, args ...any) error {
	ok, _, err := t.ours(ctx, inst)
	if err != nil {
		return err
	}
	if !ok {
		return notFound(format, args...)
	}
	return nil
}

// checkMember validates a member identifier of this instance.
func (t *txn) checkMember(ctx context.Context, id xroad.MemberID) error {
	if err := id.Validate(); err != nil {
		return invalid(err, "member")
	}
	return t.checkInstance(ctx, id.Instance, id)
}

// checkClient validates a client identifier of this instance and checks
// that the member or subsystem exists.
func (t *txn) checkClient(ctx context.Context, c xroad.ClientID) error {
	if err := c.Validate(); err != nil {
		return invalid(err, "client")
	}
	if err := t.checkInstance(ctx, c.Instance, c); err != nil {
		return err
	}
	var q string
	args := []any{c.Class, c.Code}
	if c.IsSubsystem() {
		q = `SELECT COUNT(*) FROM subsystems WHERE member_class = $1 AND member_code = $2 AND code = $3`
		args = append(args, c.Subsystem)
	} else {
		q = `SELECT COUNT(*) FROM members WHERE class = $1 AND code = $2`
	}
	var n int
	if err := t.x.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return queryErr("look up client", err)
	}
	if n == 0 {
		return notFound("client %s", c)
	}
	return nil
}

// checkServer validates a security server identifier of this instance.
func (t *txn) checkServer(ctx context.Context, id xroad.ServerID) error {
	if err := id.Validate(); err != nil {
		return invalid(err, "security server")
	}
	return t.checkInstance(ctx, id.Owner.Instance, id)
}

// checkName checks a free-text name: non-empty, printable, bounded.
func checkName(what, s string) error {
	if strings.TrimSpace(s) == "" {
		return invalid(nil, "%s is empty", what)
	}
	if len(s) > 1024 {
		return invalid(nil, "%s is longer than 1024 bytes", what)
	}
	return nil
}

// SetInstance implements Writer.
func (t *txn) SetInstance(ctx context.Context, code string) error {
	if err := xroad.ValidatePart(code); err != nil {
		return invalid(err, "instance code")
	}
	cur, err := t.instanceCode(ctx)
	if err != nil {
		return err
	}
	switch cur {
	case code:
		return nil
	case "":
		_, err := t.exec(ctx, "set instance", ErrConflict, `INSERT INTO instance (id, code) VALUES (1, $1)`, code)
		return err
	}
	return fmt.Errorf("%w: the instance code is %q and cannot change", ErrConflict, cur)
}

// AddMemberClass implements Writer.
func (t *txn) AddMemberClass(ctx context.Context, c MemberClass) error {
	if err := xroad.ValidatePart(c.Code); err != nil {
		return invalid(err, "member class code")
	}
	_, err := t.exec(ctx, "member class "+c.Code, ErrConflict,
		`INSERT INTO member_classes (code, description) VALUES ($1, $2)`, c.Code, c.Description)
	return err
}

// UpdateMemberClass implements Writer.
func (t *txn) UpdateMemberClass(ctx context.Context, c MemberClass) error {
	n, err := t.exec(ctx, "member class "+c.Code, ErrConflict,
		`UPDATE member_classes SET description = $1 WHERE code = $2`, c.Description, c.Code)
	return mustAffect(n, err, "member class %s", c.Code)
}

// DeleteMemberClass implements Writer.
func (t *txn) DeleteMemberClass(ctx context.Context, code string) error {
	n, err := t.exec(ctx, "member class "+code+" is still used by members", ErrConflict,
		`DELETE FROM member_classes WHERE code = $1`, code)
	return mustAffect(n, err, "member class %s", code)
}

// AddMember implements Writer.
func (t *txn) AddMember(ctx context.Context, id xroad.MemberID, name string) error {
	if err := t.checkMember(ctx, id); err != nil {
		return err
	}
	if err := checkName("member name", name); err != nil {
		return err
	}
	_, err := t.exec(ctx, "member "+id.String()+": member class "+id.Class+" not found", ErrNotFound,
		`INSERT INTO members (class, code, name, created_at) VALUES ($1, $2, $3, $4)`, id.Class, id.Code, name, store.Micros(t.now()))
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%w: member %s already exists", ErrConflict, id)
	}
	return err
}

// RenameMember implements Writer.
func (t *txn) RenameMember(ctx context.Context, id xroad.MemberID, name string) error {
	if err := checkName("member name", name); err != nil {
		return err
	}
	if err := t.ensureOurs(ctx, id.Instance, "member %s", id); err != nil {
		return err
	}
	n, err := t.exec(ctx, "rename member", ErrConflict, `UPDATE members SET name = $1 WHERE class = $2 AND code = $3`, name, id.Class, id.Code)
	return mustAffect(n, err, "member %s", id)
}

// DeleteMember implements Writer.
func (t *txn) DeleteMember(ctx context.Context, id xroad.MemberID) error {
	if err := t.ensureOurs(ctx, id.Instance, "member %s", id); err != nil {
		return err
	}
	// Subsystems, client registrations, group memberships and service
	// descriptions go by ON DELETE CASCADE; owned servers are RESTRICT.
	n, err := t.exec(ctx, "member "+id.String()+" owns security servers; delete them first", ErrConflict,
		`DELETE FROM members WHERE class = $1 AND code = $2`, id.Class, id.Code)
	return mustAffect(n, err, "member %s", id)
}

// AddSubsystem implements Writer.
func (t *txn) AddSubsystem(ctx context.Context, id xroad.ClientID) error {
	if !id.IsSubsystem() {
		return invalid(nil, "%s is not a subsystem", id)
	}
	if err := id.Validate(); err != nil {
		return invalid(err, "subsystem")
	}
	if err := t.checkInstance(ctx, id.Instance, id); err != nil {
		return err
	}
	_, err := t.exec(ctx, "subsystem "+id.String()+": member not found", ErrNotFound,
		`INSERT INTO subsystems (member_class, member_code, code, created_at) VALUES ($1, $2, $3, $4)`,
		id.Class, id.Code, id.Subsystem, store.Micros(t.now()))
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%w: subsystem %s already exists", ErrConflict, id)
	}
	return err
}

// DeleteSubsystem implements Writer.
func (t *txn) DeleteSubsystem(ctx context.Context, id xroad.ClientID) error {
	if !id.IsSubsystem() {
		return invalid(nil, "%s is not a subsystem", id)
	}
	if err := t.ensureOurs(ctx, id.Instance, "subsystem %s", id); err != nil {
		return err
	}
	// Registrations and memberships reference the member (a foreign key
	// cannot be conditional on a non-empty subsystem code), so the
	// subsystem's own are deleted here; service descriptions cascade.
	for _, table := range []string{"server_clients", "global_group_members"} {
		if _, err := t.exec(ctx, "delete subsystem references", ErrConflict,
			`DELETE FROM `+table+` WHERE client_class = $1 AND client_code = $2 AND client_subsystem = $3`,
			id.Class, id.Code, id.Subsystem); err != nil {
			return err
		}
	}
	n, err := t.exec(ctx, "delete subsystem", ErrConflict,
		`DELETE FROM subsystems WHERE member_class = $1 AND member_code = $2 AND code = $3`, id.Class, id.Code, id.Subsystem)
	return mustAffect(n, err, "subsystem %s", id)
}

// checkAddresses validates security server addresses: host or host:port,
// at least one, no duplicates.
func checkAddresses(addrs []string) error {
	if len(addrs) == 0 {
		return invalid(nil, "a security server needs at least one address")
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		host := a
		if h, port, err := net.SplitHostPort(a); err == nil {
			if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
				return invalid(nil, "address %q: bad port", a)
			}
			host = h
		}
		if host == "" || len(a) > 255 || strings.ContainsAny(host, " /?#@[]") {
			return invalid(nil, "address %q is not host or host:port", a)
		}
		if seen[a] {
			return invalid(nil, "address %q given twice", a)
		}
		seen[a] = true
	}
	return nil
}

// insertAddresses stores a server's addresses in order.
func (t *txn) insertAddresses(ctx context.Context, id xroad.ServerID, addrs []string) error {
	for i, a := range addrs {
		if _, err := t.exec(ctx, "server address", ErrNotFound,
			`INSERT INTO server_addresses (owner_class, owner_code, server_code, pos, address) VALUES ($1, $2, $3, $4, $5)`,
			id.Owner.Class, id.Owner.Code, id.Code, int64(i), a); err != nil {
			return err
		}
	}
	return nil
}

// AddSecurityServer implements Writer.
func (t *txn) AddSecurityServer(ctx context.Context, id xroad.ServerID, addresses []string) error {
	if err := t.checkServer(ctx, id); err != nil {
		return err
	}
	if err := checkAddresses(addresses); err != nil {
		return err
	}
	_, err := t.exec(ctx, "security server "+id.String()+": owner member not found", ErrNotFound,
		`INSERT INTO security_servers (owner_class, owner_code, code, maintenance, created_at) VALUES ($1, $2, $3, $4, $5)`,
		id.Owner.Class, id.Owner.Code, id.Code, false, store.Micros(t.now()))
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%w: security server %s already exists", ErrConflict, id)
	}
	if err != nil {
		return err
	}
	return t.insertAddresses(ctx, id, addresses)
}

// serverExists returns ErrNotFound unless the server exists.
func (t *txn) serverExists(ctx context.Context, id xroad.ServerID) error {
	if err := t.ensureOurs(ctx, id.Owner.Instance, "security server %s", id); err != nil {
		return err
	}
	var n int
	if err := t.x.QueryRowContext(ctx, `SELECT COUNT(*) FROM security_servers WHERE owner_class = $1 AND owner_code = $2 AND code = $3`,
		id.Owner.Class, id.Owner.Code, id.Code).Scan(&n); err != nil {
		return queryErr("look up security server", err)
	}
	if n == 0 {
		return notFound("security server %s", id)
	}
	return nil
}

// SetServerAddresses implements Writer.
func (t *txn) SetServerAddresses(ctx context.Context, id xroad.ServerID, addresses []string) error {
	if err := checkAddresses(addresses); err != nil {
		return err
	}
	if err := t.serverExists(ctx, id); err != nil {
		return err
	}
	if _, err := t.exec(ctx, "replace server addresses", ErrConflict,
		`DELETE FROM server_addresses WHERE owner_class = $1 AND owner_code = $2 AND server_code = $3`,
		id.Owner.Class, id.Owner.Code, id.Code); err != nil {
		return err
	}
	return t.insertAddresses(ctx, id, addresses)
}

// SetMaintenance implements Writer.
func (t *txn) SetMaintenance(ctx context.Context, id xroad.ServerID, on bool) error {
	if err := t.serverExists(ctx, id); err != nil {
		return err
	}
	_, err := t.exec(ctx, "set maintenance mode", ErrConflict,
		`UPDATE security_servers SET maintenance = $1 WHERE owner_class = $2 AND owner_code = $3 AND code = $4`,
		on, id.Owner.Class, id.Owner.Code, id.Code)
	return err
}

// DeleteSecurityServer implements Writer.
func (t *txn) DeleteSecurityServer(ctx context.Context, id xroad.ServerID) error {
	if err := t.serverExists(ctx, id); err != nil {
		return err
	}
	_, err := t.exec(ctx, "delete security server", ErrConflict,
		`DELETE FROM security_servers WHERE owner_class = $1 AND owner_code = $2 AND code = $3`, id.Owner.Class, id.Owner.Code, id.Code)
	return err
}

// parseCert checks that der is one well-formed X.509 certificate.
func parseCert(what string, der []byte) error {
	if len(der) == 0 {
		return invalid(nil, "%s: empty certificate", what)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return invalid(err, "%s: not a DER certificate", what)
	}
	return nil
}

// AddAuthCert implements Writer.
func (t *txn) AddAuthCert(ctx context.Context, server xroad.ServerID, der []byte) (AuthCert, error) {
	if err := parseCert("authentication certificate", der); err != nil {
		return AuthCert{}, err
	}
	if err := t.serverExists(ctx, server); err != nil {
		return AuthCert{}, err
	}
	sum := sha256.Sum256(der)
	c := AuthCert{Hash: hex.EncodeToString(sum[:]), DER: slices.Clone(der), RegisteredAt: t.now()}
	_, err := t.exec(ctx, "authentication certificate "+c.Hash, ErrNotFound,
		`INSERT INTO auth_certs (hash, owner_class, owner_code, server_code, der, registered_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.Hash, server.Owner.Class, server.Owner.Code, server.Code, c.DER, store.Micros(c.RegisteredAt))
	if err != nil {
		return AuthCert{}, err
	}
	return c, nil
}

// DeleteAuthCert implements Writer.
func (t *txn) DeleteAuthCert(ctx context.Context, server xroad.ServerID, hash string) error {
	h, err := normalizeHash(hash)
	if err != nil {
		return err
	}
	if err := t.serverExists(ctx, server); err != nil {
		return err
	}
	n, err := t.exec(ctx, "delete authentication certificate", ErrConflict,
		`DELETE FROM auth_certs WHERE hash = $1 AND owner_class = $2 AND owner_code = $3 AND server_code = $4`,
		h, server.Owner.Class, server.Owner.Code, server.Code)
	return mustAffect(n, err, "authentication certificate %s of %s", h, server)
}

// AddServerClient implements Writer.
func (t *txn) AddServerClient(ctx context.Context, server xroad.ServerID, client xroad.ClientID) error {
	if err := t.serverExists(ctx, server); err != nil {
		return err
	}
	if err := t.checkClient(ctx, client); err != nil {
		return err
	}
	_, err := t.exec(ctx, "client "+client.String()+" on "+server.String(), ErrNotFound,
		`INSERT INTO server_clients (owner_class, owner_code, server_code, client_class, client_code, client_subsystem, registered_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		server.Owner.Class, server.Owner.Code, server.Code, client.Class, client.Code, client.Subsystem, store.Micros(t.now()))
	return err
}

// RemoveServerClient implements Writer.
func (t *txn) RemoveServerClient(ctx context.Context, server xroad.ServerID, client xroad.ClientID) error {
	if err := t.serverExists(ctx, server); err != nil {
		return err
	}
	n, err := t.exec(ctx, "remove server client", ErrConflict,
		`DELETE FROM server_clients WHERE owner_class = $1 AND owner_code = $2 AND server_code = $3
		AND client_class = $4 AND client_code = $5 AND client_subsystem = $6`,
		server.Owner.Class, server.Owner.Code, server.Code, client.Class, client.Code, client.Subsystem)
	return mustAffect(n, err, "client %s on %s", client, server)
}

// checkGroup validates a global group identifier of this instance that may
// be written (not the automatic group).
func (t *txn) checkGroup(ctx context.Context, id xroad.GlobalGroupID) error {
	if err := id.Validate(); err != nil {
		return invalid(err, "global group")
	}
	if id.Code == xroad.SecurityServerOwners {
		return invalid(nil, "global group %s is automatic and cannot be changed", id.Code)
	}
	return t.checkInstance(ctx, id.Instance, id)
}

// AddGlobalGroup implements Writer.
func (t *txn) AddGlobalGroup(ctx context.Context, g GlobalGroup) error {
	if err := t.checkGroup(ctx, g.ID); err != nil {
		return err
	}
	_, err := t.exec(ctx, "global group "+g.ID.String(), ErrConflict,
		`INSERT INTO global_groups (code, description, created_at) VALUES ($1, $2, $3)`, g.ID.Code, g.Description, store.Micros(t.now()))
	return err
}

// DeleteGlobalGroup implements Writer.
func (t *txn) DeleteGlobalGroup(ctx context.Context, id xroad.GlobalGroupID) error {
	if err := t.checkGroup(ctx, id); err != nil {
		return err
	}
	n, err := t.exec(ctx, "delete global group", ErrConflict, `DELETE FROM global_groups WHERE code = $1`, id.Code)
	return mustAffect(n, err, "global group %s", id)
}

// AddGroupMember implements Writer.
func (t *txn) AddGroupMember(ctx context.Context, group xroad.GlobalGroupID, client xroad.ClientID) error {
	if err := t.checkGroup(ctx, group); err != nil {
		return err
	}
	if err := t.checkClient(ctx, client); err != nil {
		return err
	}
	_, err := t.exec(ctx, "client "+client.String()+" in global group "+group.Code, ErrNotFound,
		`INSERT INTO global_group_members (group_code, client_class, client_code, client_subsystem, added_at) VALUES ($1, $2, $3, $4, $5)`,
		group.Code, client.Class, client.Code, client.Subsystem, store.Micros(t.now()))
	return err
}

// RemoveGroupMember implements Writer.
func (t *txn) RemoveGroupMember(ctx context.Context, group xroad.GlobalGroupID, client xroad.ClientID) error {
	if err := t.checkGroup(ctx, group); err != nil {
		return err
	}
	n, err := t.exec(ctx, "remove global group member", ErrConflict,
		`DELETE FROM global_group_members WHERE group_code = $1 AND client_class = $2 AND client_code = $3 AND client_subsystem = $4`,
		group.Code, client.Class, client.Code, client.Subsystem)
	return mustAffect(n, err, "client %s in global group %s", client, group.Code)
}

// checkURL checks an absolute http(s) URL.
func checkURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return invalid(err, "%s URL", what)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid(nil, "%s URL %q: want an absolute http or https URL", what, s)
	}
	return nil
}

// AddApprovedCA implements Writer.
func (t *txn) AddApprovedCA(ctx context.Context, ca ApprovedCA) error {
	if err := checkName("CA name", ca.Name); err != nil {
		return err
	}
	if err := checkName("certificate profile", ca.Profile); err != nil {
		return err
	}
	if len(ca.Roots) == 0 {
		return invalid(nil, "CA %s: at least one CA certificate is needed", ca.Name)
	}
	for _, der := range slices.Concat(ca.Roots, ca.Intermediates) {
		if err := parseCert("CA "+ca.Name, der); err != nil {
			return err
		}
	}
	for _, o := range ca.OCSPResponders {
		if err := checkURL("OCSP responder", o.URL); err != nil {
			return err
		}
		if o.Cert != nil {
			if err := parseCert("OCSP responder "+o.URL, o.Cert); err != nil {
				return err
			}
		}
	}
	if _, err := t.exec(ctx, "approved CA "+ca.Name, ErrConflict,
		`INSERT INTO approved_cas (name, profile, created_at) VALUES ($1, $2, $3)`, ca.Name, ca.Profile, store.Micros(t.now())); err != nil {
		return err
	}
	for kind, ders := range map[string][][]byte{"root": ca.Roots, "intermediate": ca.Intermediates} {
		for i, der := range ders {
			if _, err := t.exec(ctx, "CA certificate", ErrNotFound,
				`INSERT INTO ca_certs (ca_name, kind, pos, der) VALUES ($1, $2, $3, $4)`, ca.Name, kind, int64(i), der); err != nil {
				return err
			}
		}
	}
	for i, o := range ca.OCSPResponders {
		if _, err := t.exec(ctx, "OCSP responder", ErrNotFound,
			`INSERT INTO ocsp_responders (ca_name, pos, url, cert) VALUES ($1, $2, $3, $4)`, ca.Name, int64(i), o.URL, o.Cert); err != nil {
			return err
		}
	}
	return nil
}

// DeleteApprovedCA implements Writer.
func (t *txn) DeleteApprovedCA(ctx context.Context, name string) error {
	n, err := t.exec(ctx, "delete approved CA", ErrConflict, `DELETE FROM approved_cas WHERE name = $1`, name)
	return mustAffect(n, err, "approved CA %s", name)
}

// AddApprovedTSA implements Writer.
func (t *txn) AddApprovedTSA(ctx context.Context, tsa ApprovedTSA) error {
	if err := checkName("TSA name", tsa.Name); err != nil {
		return err
	}
	if err := checkURL("TSA", tsa.URL); err != nil {
		return err
	}
	if err := parseCert("TSA "+tsa.Name, tsa.Cert); err != nil {
		return err
	}
	_, err := t.exec(ctx, "approved TSA "+tsa.Name, ErrConflict,
		`INSERT INTO approved_tsas (name, url, cert, created_at) VALUES ($1, $2, $3, $4)`, tsa.Name, tsa.URL, tsa.Cert, store.Micros(t.now()))
	return err
}

// DeleteApprovedTSA implements Writer.
func (t *txn) DeleteApprovedTSA(ctx context.Context, name string) error {
	n, err := t.exec(ctx, "delete approved TSA", ErrConflict, `DELETE FROM approved_tsas WHERE name = $1`, name)
	return mustAffect(n, err, "approved TSA %s", name)
}

// SetSetting implements Writer.
func (t *txn) SetSetting(ctx context.Context, key Setting, value time.Duration) error {
	var s Settings
	if s.field(key) == nil {
		return invalid(nil, "unknown setting %q", key)
	}
	if value <= 0 || value%time.Second != 0 {
		return invalid(nil, "setting %s: %v is not a positive whole number of seconds", key, value)
	}
	_, err := t.exec(ctx, "setting "+string(key), ErrConflict,
		`INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		string(key), strconv.FormatInt(int64(value/time.Second), 10), store.Micros(t.now()))
	return err
}

// SubmitRequest implements Writer.
func (t *txn) SubmitRequest(ctx context.Context, r ManagementRequest) (ManagementRequest, error) {
	if !r.Type.Valid() {
		return ManagementRequest{}, invalid(nil, "unknown management request type %q", r.Type)
	}
	if err := r.Server.Validate(); err != nil {
		return ManagementRequest{}, invalid(err, "management request server")
	}
	client := ""
	switch {
	case r.Type.needsClient():
		if err := r.Client.Validate(); err != nil {
			return ManagementRequest{}, invalid(err, "%s request client", r.Type)
		}
		client = r.Client.String()
	case r.Client != (xroad.ClientID{}):
		return ManagementRequest{}, invalid(nil, "%s requests name no client", r.Type)
	}
	payload := []byte(r.Payload)
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		return ManagementRequest{}, invalid(nil, "management request payload is not JSON")
	}
	if len(r.Signed) == 0 {
		return ManagementRequest{}, invalid(nil, "management request without its signed form")
	}
	id, err := t.nextCounter(ctx, "management_request")
	if err != nil {
		return ManagementRequest{}, err
	}
	out := ManagementRequest{
		ID: id, Type: r.Type, Server: r.Server, Client: r.Client,
		Payload: slices.Clone(payload), Signed: slices.Clone(r.Signed),
		Status: StatusPending, SubmittedAt: t.now(),
	}
	if _, err := t.exec(ctx, "management request", ErrConflict,
		`INSERT INTO management_requests (id, type, server_id, client_id, payload, signed, status, submitted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, string(r.Type), r.Server.String(), client, string(payload), out.Signed, string(StatusPending), store.Micros(out.SubmittedAt)); err != nil {
		return ManagementRequest{}, err
	}
	return out, nil
}

// DecideRequest implements Writer.
func (t *txn) DecideRequest(ctx context.Context, id int64, d Decision) (ManagementRequest, error) {
	switch d.Status {
	case StatusApproved, StatusRejected, StatusFailed:
	default:
		return ManagementRequest{}, invalid(nil, "a request cannot be decided as %q", d.Status)
	}
	if err := checkName("decided by", d.By); err != nil {
		return ManagementRequest{}, err
	}
	n, err := t.exec(ctx, "decide management request", ErrConflict,
		`UPDATE management_requests SET status = $1, decided_at = $2, decided_by = $3, comment = $4 WHERE id = $5 AND status = $6`,
		string(d.Status), store.Micros(t.now()), d.By, d.Comment, id, string(StatusPending))
	if err != nil {
		return ManagementRequest{}, err
	}
	m, err := t.ManagementRequest(ctx, id)
	if err != nil {
		return ManagementRequest{}, err
	}
	if n == 0 {
		return ManagementRequest{}, fmt.Errorf("%w: management request %d is already %s", ErrConflict, id, m.Status)
	}
	return m, nil
}

// PutServiceDescription implements Writer.
func (t *txn) PutServiceDescription(ctx context.Context, d ServiceDescription) (ServiceDescription, error) {
	if err := d.Service.Validate(); err != nil {
		return ServiceDescription{}, invalid(err, "service")
	}
	if err := t.checkInstance(ctx, d.Service.Provider.Instance, d.Service); err != nil {
		return ServiceDescription{}, err
	}
	if d.Type != ServiceOpenAPI && d.Type != ServiceREST {
		return ServiceDescription{}, invalid(nil, "service type %q: want %s or %s", d.Type, ServiceOpenAPI, ServiceREST)
	}
	out := d
	out.Document, out.UpdatedAt = slices.Clone(d.Document), t.now()
	p := d.Service.Provider
	_, err := t.exec(ctx, "service "+d.Service.String()+": provider subsystem not found", ErrNotFound,
		`INSERT INTO service_descriptions (provider_class, provider_code, provider_subsystem, service_code, service_version,
			type, title, description, document, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (provider_class, provider_code, provider_subsystem, service_code, service_version) DO UPDATE SET
			type = excluded.type, title = excluded.title, description = excluded.description,
			document = excluded.document, updated_at = excluded.updated_at`,
		p.Class, p.Code, p.Subsystem, d.Service.Code, d.Service.Version,
		string(d.Type), d.Title, d.Description, out.Document, store.Micros(out.UpdatedAt))
	if err != nil {
		return ServiceDescription{}, err
	}
	return out, nil
}

// DeleteServiceDescription implements Writer.
func (t *txn) DeleteServiceDescription(ctx context.Context, id xroad.ServiceID) error {
	if err := t.ensureOurs(ctx, id.Provider.Instance, "service %s", id); err != nil {
		return err
	}
	p := id.Provider
	n, err := t.exec(ctx, "delete service description", ErrConflict,
		`DELETE FROM service_descriptions WHERE provider_class = $1 AND provider_code = $2 AND provider_subsystem = $3
		AND service_code = $4 AND service_version = $5`, p.Class, p.Code, p.Subsystem, id.Code, id.Version)
	return mustAffect(n, err, "service %s", id)
}

// CreateAPIKey implements Writer.
func (t *txn) CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	if err := checkName("API key name", k.Name); err != nil {
		return APIKey{}, err
	}
	if k.Hash == ([sha256.Size]byte{}) {
		return APIKey{}, invalid(nil, "API key without a hash")
	}
	roles := slices.Clone(k.Roles)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	if len(roles) == 0 {
		return APIKey{}, invalid(nil, "API key %s grants no role", k.Name)
	}
	for _, r := range roles {
		if err := checkName("API key role", r); err != nil {
			return APIKey{}, err
		}
	}
	now := t.now()
	out := APIKey{Name: k.Name, Hash: k.Hash, Roles: roles, CreatedAt: now}
	if !k.ExpiresAt.IsZero() {
		out.ExpiresAt = k.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !out.ExpiresAt.After(now) {
			return APIKey{}, invalid(nil, "API key %s would be expired at creation", k.Name)
		}
	}
	id, err := t.nextCounter(ctx, "api_key")
	if err != nil {
		return APIKey{}, err
	}
	out.ID = id
	if _, err := t.exec(ctx, "API key "+k.Name+": an API key with this secret", ErrConflict,
		`INSERT INTO api_keys (id, name, hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		id, k.Name, hex.EncodeToString(k.Hash[:]), store.Micros(now), nullMicros(out.ExpiresAt)); err != nil {
		return APIKey{}, err
	}
	for _, r := range roles {
		if _, err := t.exec(ctx, "API key role", ErrNotFound, `INSERT INTO api_key_roles (key_id, role) VALUES ($1, $2)`, id, r); err != nil {
			return APIKey{}, err
		}
	}
	return out, nil
}

// RevokeAPIKey implements Writer.
func (t *txn) RevokeAPIKey(ctx context.Context, id int64) error {
	var revoked sql.NullInt64
	err := t.x.QueryRowContext(ctx, `SELECT revoked_at FROM api_keys WHERE id = $1`, id).Scan(&revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("API key %d", id)
	}
	if err != nil {
		return queryErr("look up API key", err)
	}
	if revoked.Valid {
		return nil
	}
	_, err = t.exec(ctx, "revoke API key", ErrConflict, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2`, store.Micros(t.now()), id)
	return err
}

// AppendAudit implements Writer.
func (t *txn) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if err := checkName("audit actor", e.Actor); err != nil {
		return AuditEvent{}, err
	}
	if err := checkName("audit action", e.Action); err != nil {
		return AuditEvent{}, err
	}
	if e.Outcome != OutcomeSuccess && e.Outcome != OutcomeFailure {
		return AuditEvent{}, invalid(nil, "audit outcome %q", e.Outcome)
	}
	detail := []byte(e.Detail)
	if len(detail) == 0 {
		detail = []byte("{}")
	}
	if !json.Valid(detail) {
		return AuditEvent{}, invalid(nil, "audit detail is not JSON")
	}
	id, err := t.nextCounter(ctx, "audit_event")
	if err != nil {
		return AuditEvent{}, err
	}
	out := AuditEvent{ID: id, At: t.now(), Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: slices.Clone(detail), Outcome: e.Outcome}
	// Not through t.exec: the audit trail is not registry state, so it
	// does not mark the transaction dirty.
	if _, err := t.x.ExecContext(ctx,
		`INSERT INTO audit_events (id, at, actor, action, target, detail, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		id, store.Micros(out.At), out.Actor, out.Action, out.Target, string(detail), string(out.Outcome)); err != nil {
		return AuditEvent{}, queryErr("append audit event", err)
	}
	return out, nil
}

// PublishNext implements Writer.
func (t *txn) PublishNext(ctx context.Context, expectedPrevSerial int64, c PublishedConfig) (PublishedConfig, error) {
	if expectedPrevSerial < 0 {
		return PublishedConfig{}, invalid(nil, "negative serial %d", expectedPrevSerial)
	}
	if len(c.Document) == 0 {
		return PublishedConfig{}, invalid(nil, "empty configuration document")
	}
	if c.GeneratedAt.IsZero() || !c.ExpiresAt.After(c.GeneratedAt) {
		return PublishedConfig{}, invalid(nil, "configuration must expire after it is generated")
	}
	var latest int64
	if err := t.x.QueryRowContext(ctx, `SELECT COALESCE(MAX(serial), 0) FROM published_configs`).Scan(&latest); err != nil {
		return PublishedConfig{}, queryErr("read latest serial", err)
	}
	race := func() error {
		return fmt.Errorf("%w (%w): expected serial %d to be the latest", ErrPublishRace, ErrConflict, expectedPrevSerial)
	}
	if latest != expectedPrevSerial {
		return PublishedConfig{}, race()
	}
	out := PublishedConfig{
		Serial:          expectedPrevSerial + 1,
		GeneratedAt:     c.GeneratedAt.UTC().Truncate(time.Microsecond),
		ExpiresAt:       c.ExpiresAt.UTC().Truncate(time.Microsecond),
		Document:        slices.Clone(c.Document),
		ContentHash:     c.ContentHash,
		RegistryVersion: c.RegistryVersion,
	}
	if out.ContentHash == "" {
		sum := sha256.Sum256(c.Document)
		out.ContentHash = hex.EncodeToString(sum[:])
	}
	// Not through t.exec: publishing does not change registry state. The
	// primary key on serial is the backstop should two writers ever get
	// past the check above together.
	_, err := t.x.ExecContext(ctx,
		`INSERT INTO published_configs (serial, generated_at, expires_at, document, content_hash, registry_version) VALUES ($1, $2, $3, $4, $5, $6)`,
		out.Serial, store.Micros(out.GeneratedAt), store.Micros(out.ExpiresAt), out.Document, out.ContentHash, out.RegistryVersion)
	if store.ConstraintViolation(err) == store.Unique {
		return PublishedConfig{}, race()
	}
	if err != nil {
		return PublishedConfig{}, queryErr("publish configuration", err)
	}
	return out, nil
}
