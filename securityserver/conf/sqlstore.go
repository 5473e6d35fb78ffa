package conf

import (
	"context"
	"database/sql"
	"fmt"

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
			Table: "ss_counters", Counter: "conf_version",
			ErrPrefix: "ss conf",
		},
		closeFn: closeFn,
	}
}

// Close implements Store.
func (s *sqlStore) Close() error {
	if err := s.closeFn(); err != nil {
		return fmt.Errorf("ss conf: close: %w", err)
	}
	return nil
}

// Snapshot implements ReadOnly: a read-only transaction on one snapshot
// (REPEATABLE READ on PostgreSQL).
func (s *sqlStore) Snapshot(ctx context.Context, fn func(Reader) error) error {
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

func (s *sqlStore) AddClient(ctx context.Context, c Client) error {
	return s.update(ctx, func(t *txn) error { return t.AddClient(ctx, c) })
}

func (s *sqlStore) UpdateClient(ctx context.Context, c Client) error {
	return s.update(ctx, func(t *txn) error { return t.UpdateClient(ctx, c) })
}

func (s *sqlStore) DeleteClient(ctx context.Context, id xroad.ClientID) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteClient(ctx, id) })
}

func (s *sqlStore) AddServiceDescription(ctx context.Context, d ServiceDescription) (ServiceDescription, error) {
	return updateValue(ctx, s, func(t *txn) (ServiceDescription, error) { return t.AddServiceDescription(ctx, d) })
}

func (s *sqlStore) RefreshServiceDescription(ctx context.Context, id int64, url string, document []byte) (ServiceDescription, error) {
	return updateValue(ctx, s, func(t *txn) (ServiceDescription, error) {
		return t.RefreshServiceDescription(ctx, id, url, document)
	})
}

func (s *sqlStore) DeleteServiceDescription(ctx context.Context, id int64) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteServiceDescription(ctx, id) })
}

func (s *sqlStore) AddService(ctx context.Context, descriptionID int64, svc Service) error {
	return s.update(ctx, func(t *txn) error { return t.AddService(ctx, descriptionID, svc) })
}

func (s *sqlStore) UpdateService(ctx context.Context, provider xroad.ClientID, svc Service) error {
	return s.update(ctx, func(t *txn) error { return t.UpdateService(ctx, provider, svc) })
}

func (s *sqlStore) DeleteService(ctx context.Context, provider xroad.ClientID, serviceCode string) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteService(ctx, provider, serviceCode) })
}

func (s *sqlStore) AddEndpoint(ctx context.Context, provider xroad.ClientID, serviceCode string, e EndpointSpec) error {
	return s.update(ctx, func(t *txn) error { return t.AddEndpoint(ctx, provider, serviceCode, e) })
}

func (s *sqlStore) DeleteEndpoint(ctx context.Context, provider xroad.ClientID, serviceCode string, e EndpointSpec) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteEndpoint(ctx, provider, serviceCode, e) })
}

func (s *sqlStore) AddAccessRight(ctx context.Context, r AccessRight) error {
	return s.update(ctx, func(t *txn) error { return t.AddAccessRight(ctx, r) })
}

func (s *sqlStore) RemoveAccessRight(ctx context.Context, r AccessRight) error {
	return s.update(ctx, func(t *txn) error { return t.RemoveAccessRight(ctx, r) })
}

func (s *sqlStore) AddLocalGroup(ctx context.Context, g LocalGroup) error {
	return s.update(ctx, func(t *txn) error { return t.AddLocalGroup(ctx, g) })
}

func (s *sqlStore) UpdateLocalGroup(ctx context.Context, client xroad.ClientID, code, description string) error {
	return s.update(ctx, func(t *txn) error { return t.UpdateLocalGroup(ctx, client, code, description) })
}

func (s *sqlStore) DeleteLocalGroup(ctx context.Context, client xroad.ClientID, code string) error {
	return s.update(ctx, func(t *txn) error { return t.DeleteLocalGroup(ctx, client, code) })
}

func (s *sqlStore) AddLocalGroupMember(ctx context.Context, client xroad.ClientID, code string, member xroad.ClientID) error {
	return s.update(ctx, func(t *txn) error { return t.AddLocalGroupMember(ctx, client, code, member) })
}

func (s *sqlStore) RemoveLocalGroupMember(ctx context.Context, client xroad.ClientID, code string, member xroad.ClientID) error {
	return s.update(ctx, func(t *txn) error { return t.RemoveLocalGroupMember(ctx, client, code, member) })
}
