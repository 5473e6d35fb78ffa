package conf

import (
	"context"
	"fmt"
	"time"
)

// ReplayStore keeps the message ids the provider side accepted, for every
// node of the security server at once. It is an optional ability of a
// Store (the SQLite and PostgreSQL stores have it): find it with a type
// assertion, s.(conf.ReplayStore).
type ReplayStore interface {
	// ClaimMessageID records (client, id) until expires and reports true,
	// or reports false when an unexpired record of it exists (a replay).
	// An expired record is taken over.
	ClaimMessageID(ctx context.Context, client, id string, expires time.Time) (bool, error)
	// PurgeMessageIDs deletes the records expired at now and returns how
	// many.
	PurgeMessageIDs(ctx context.Context, now time.Time) (int64, error)
}

var _ ReplayStore = (*sqlStore)(nil)

// ClaimMessageID implements ReplayStore: one statement, so that of two
// nodes claiming the same id at once exactly one succeeds.
func (s *sqlStore) ClaimMessageID(ctx context.Context, client, id string, expires time.Time) (bool, error) {
	now := s.now().UnixMicro()
	res, err := s.x.ExecContext(ctx,
		`INSERT INTO ss_replay (client, message_id, expires_at) VALUES ($1, $2, $3)
		 ON CONFLICT (client, message_id) DO UPDATE SET expires_at = excluded.expires_at
		 WHERE ss_replay.expires_at <= $4`, client, id, expires.UnixMicro(), now)
	if err != nil {
		return false, fmt.Errorf("conf: claim message id: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("conf: claim message id: %w", err)
	}
	return n == 1, nil
}

// PurgeMessageIDs implements ReplayStore.
func (s *sqlStore) PurgeMessageIDs(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.x.ExecContext(ctx, `DELETE FROM ss_replay WHERE expires_at <= $1`, now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("conf: purge message ids: %w", err)
	}
	return res.RowsAffected()
}
