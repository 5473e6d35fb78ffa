package registry

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// sqlStore is the Store over database/sql, for SQLite and PostgreSQL alike.
// Its reads (the embedded reader) run outside transactions; its writes run
// through Update.
type sqlStore struct {
	reader
	tx      store.Versioned
	closeFn func() error
}

// Compile-time guards.
var (
	_ Store = (*sqlStore)(nil)
	_ Tx    = (*txn)(nil)
)

func newStore(db *sql.DB, dialect store.Dialect, o options, closeFn func() error) *sqlStore {
	return &sqlStore{
		reader: reader{x: db, clk: o.clk},
		tx: store.Versioned{
			DB: db, Dialect: dialect,
			Table: "counters", Counter: "registry_version",
			ErrPrefix: "registry",
		},
		closeFn: closeFn,
	}
}

// Close implements Store.
func (s *sqlStore) Close() error {
	if err := s.closeFn(); err != nil {
		return fmt.Errorf("registry: close: %w", err)
	}
	return nil
}

// View implements ReadOnly: a read-only transaction on one snapshot
// (REPEATABLE READ on PostgreSQL).
func (s *sqlStore) View(ctx context.Context, fn func(Reader) error) error {
	return s.tx.View(ctx, func(tx *sql.Tx) error {
		return fn(reader{x: tx, clk: s.clk})
	})
}

// Update implements Store. Writers take turns (store.Versioned.Update), so
// checks made inside fn stay true until commit; the version is bumped once
// if fn wrote anything.
func (s *sqlStore) Update(ctx context.Context, fn func(Tx) error) error {
	return s.tx.Update(ctx, func(tx *sql.Tx) (bool, error) {
		t := &txn{reader: reader{x: tx, clk: s.clk}}
		err := fn(t)
		return t.dirty, err
	})
}

// update runs one write method in its own transaction.
func (s *sqlStore) update(ctx context.Context, fn func(*txn) error) error {
	return s.Update(ctx, func(tx Tx) error { return fn(tx.(*txn)) })
}

// updateValue runs one write method that returns a value in its own
// transaction; the value is returned only if the transaction committed.
func updateValue[T any](ctx context.Context, s *sqlStore, fn func(*txn) (T, error)) (T, error) {
	return store.UpdateValue(func(f func(*txn) error) error { return s.update(ctx, f) }, fn)
}

// The Writer methods of Store, each one transaction.

func (s *sqlStore) SetInstance(ctx context.Context, code string) error {
	return s.update(ctx, func(t *txn) error { return t.SetInstance(ctx, code) })
}

func (s *sqlStore) AddMemberClass(ctx context.Context, c MemberClass) error {
	return s.update(ctx, func(t *txn) error { return t.AddMemberClass(ctx, c) })
}

func (s *sqlStore) UpdateMemberClass(ctx context.Context, c MemberClass) error {
	return s.update(ctx, func(t *txn) error { return t.UpdateMemberClass(ctx, c) })
}

func (s *sqlStore) DeleteMemberClass(ctx context.Context, code string) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteMemberClass(ctx, code) })
}

func (s *sqlStore) AddMember(ctx context.Context, id xroad.MemberID, name string) error {
	return s.update(ctx, func(t *txn) error { return t.AddMember(ctx, id, name) })
}

func (s *sqlStore) RenameMember(ctx context.Context, id xroad.MemberID, name string) error {
	return s.update(ctx, func(t *txn) error { return t.RenameMember(ctx, id, name) })
}

func (s *sqlStore) DeleteMember(ctx context.Context, id xroad.MemberID) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteMember(ctx, id) })
}

func (s *sqlStore) AddSubsystem(ctx context.Context, id xroad.ClientID) error {
	return s.update(ctx, func(t *txn) error { return t.AddSubsystem(ctx, id) })
}

func (s *sqlStore) DeleteSubsystem(ctx context.Context, id xroad.ClientID) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteSubsystem(ctx, id) })
}

func (s *sqlStore) AddSecurityServer(ctx context.Context, id xroad.ServerID, addresses []string) error {
	return s.update(ctx, func(t *txn) error { return t.AddSecurityServer(ctx, id, addresses) })
}

func (s *sqlStore) SetServerAddresses(ctx context.Context, id xroad.ServerID, addresses []string) error {
	return s.update(ctx, func(t *txn) error { return t.SetServerAddresses(ctx, id, addresses) })
}

func (s *sqlStore) SetMaintenance(ctx context.Context, id xroad.ServerID, on bool) error {
	return s.update(ctx, func(t *txn) error { return t.SetMaintenance(ctx, id, on) })
}

func (s *sqlStore) DeleteSecurityServer(ctx context.Context, id xroad.ServerID) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteSecurityServer(ctx, id) })
}

func (s *sqlStore) AddAuthCert(ctx context.Context, server xroad.ServerID, der []byte) (AuthCert, error) {
	return updateValue(ctx, s, func(t *txn) (AuthCert, error) { return t.AddAuthCert(ctx, server, der) })
}

func (s *sqlStore) DeleteAuthCert(ctx context.Context, server xroad.ServerID, hash string) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteAuthCert(ctx, server, hash) })
}

func (s *sqlStore) AddServerClient(ctx context.Context, server xroad.ServerID, client xroad.ClientID) error {
	return s.update(ctx, func(t *txn) error { return t.AddServerClient(ctx, server, client) })
}

func (s *sqlStore) RemoveServerClient(ctx context.Context, server xroad.ServerID, client xroad.ClientID) error {
	return s.update(ctx, func(t *txn) error { return t.RemoveServerClient(ctx, server, client) })
}

func (s *sqlStore) AddGlobalGroup(ctx context.Context, g GlobalGroup) error {
	return s.update(ctx, func(t *txn) error { return t.AddGlobalGroup(ctx, g) })
}

func (s *sqlStore) DeleteGlobalGroup(ctx context.Context, id xroad.GlobalGroupID) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteGlobalGroup(ctx, id) })
}

func (s *sqlStore) AddGroupMember(ctx context.Context, group xroad.GlobalGroupID, client xroad.ClientID) error {
	return s.update(ctx, func(t *txn) error { return t.AddGroupMember(ctx, group, client) })
}

func (s *sqlStore) RemoveGroupMember(ctx context.Context, group xroad.GlobalGroupID, client xroad.ClientID) error {
	return s.update(ctx, func(t *txn) error { return t.RemoveGroupMember(ctx, group, client) })
}

func (s *sqlStore) AddApprovedCA(ctx context.Context, ca ApprovedCA) error {
	return s.update(ctx, func(t *txn) error { return t.AddApprovedCA(ctx, ca) })
}

func (s *sqlStore) DeleteApprovedCA(ctx context.Context, name string) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteApprovedCA(ctx, name) })
}

func (s *sqlStore) AddApprovedTSA(ctx context.Context, tsa ApprovedTSA) error {
	return s.update(ctx, func(t *txn) error { return t.AddApprovedTSA(ctx, tsa) })
}

func (s *sqlStore) DeleteApprovedTSA(ctx context.Context, name string) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteApprovedTSA(ctx, name) })
}

func (s *sqlStore) SetSetting(ctx context.Context, key Setting, value time.Duration) error {
	return s.update(ctx, func(t *txn) error { return t.SetSetting(ctx, key, value) })
}

func (s *sqlStore) SubmitRequest(ctx context.Context, r ManagementRequest) (ManagementRequest, error) {
	return updateValue(ctx, s, func(t *txn) (ManagementRequest, error) { return t.SubmitRequest(ctx, r) })
}

func (s *sqlStore) DecideRequest(ctx context.Context, id int64, d Decision) (ManagementRequest, error) {
	return updateValue(ctx, s, func(t *txn) (ManagementRequest, error) { return t.DecideRequest(ctx, id, d) })
}

func (s *sqlStore) PutServiceDescription(ctx context.Context, d ServiceDescription) (ServiceDescription, error) {
	return updateValue(ctx, s, func(t *txn) (ServiceDescription, error) { return t.PutServiceDescription(ctx, d) })
}

func (s *sqlStore) DeleteServiceDescription(ctx context.Context, id xroad.ServiceID) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteServiceDescription(ctx, id) })
}

func (s *sqlStore) CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	return updateValue(ctx, s, func(t *txn) (APIKey, error) { return t.CreateAPIKey(ctx, k) })
}

func (s *sqlStore) RevokeAPIKey(ctx context.Context, id int64) error {
	return s.update(ctx, func(t *txn) error { return t.RevokeAPIKey(ctx, id) })
}

func (s *sqlStore) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	return updateValue(ctx, s, func(t *txn) (AuditEvent, error) { return t.AppendAudit(ctx, e) })
}

func (s *sqlStore) PublishNext(ctx context.Context, expectedPrevSerial int64, c PublishedConfig) (PublishedConfig, error) {
	return updateValue(ctx, s, func(t *txn) (PublishedConfig, error) { return t.PublishNext(ctx, expectedPrevSerial, c) })
}
