package msglog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jisr-bus/jisr/internal/store"
)

// Purged says where the deleted prefix of the log ends: records 1..LastID
// and time-stamps 1..LastStampID were archived and then deleted. LastHash
// is the hash of record LastID (GenesisHash when nothing was deleted).
type Purged struct {
	LastID      int64
	LastHash    []byte
	LastStampID int64
}

// Purged returns the deleted prefix of the log.
func (l *Log) Purged(ctx context.Context) (Purged, error) {
	return readPurged(ctx, l.db)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readPurged(ctx context.Context, q queryRower) (Purged, error) {
	p := Purged{LastHash: GenesisHash()}
	var hash []byte
	err := q.QueryRowContext(ctx, `SELECT last_id, last_hash, last_stamp_id FROM msglog_purged WHERE id = 1`).
		Scan(&p.LastID, &hash, &p.LastStampID)
	if err != nil {
		return p, fmt.Errorf("msglog: read purge mark: %w", err)
	}
	if p.LastID > 0 {
		p.LastHash = hash
	}
	return p, nil
}

// PurgeResult says what Purge deleted.
type PurgeResult struct {
	// Records and Timestamps count the rows deleted now.
	Records, Timestamps int64
	// Purged is the deleted prefix after the call.
	Purged Purged
}

// Purge deletes the records that are archived and old: the longest run of
// whole time-stamped ranges from the start of the log whose last record is
// at most archivedTo (the last record in an archive) and was logged before
// before. The newest time-stamp's range is always kept, so the log goes on
// stamping where it left off. What is deleted is remembered (Purged) so
// that VerifyChain and VerifyTimestamps still verify the rest.
//
// Certificates and OCSP responses are kept: they are stored once each,
// are small, and may be shared with records that remain.
func (l *Log) Purge(ctx context.Context, archivedTo int64, before time.Time) (PurgeResult, error) {
	var res PurgeResult
	err := store.InTx(ctx, l.db, nil, func(tx *sql.Tx) error {
		p, err := readPurged(ctx, tx)
		if err != nil {
			return err
		}
		res.Purged = p
		var stampID, toID int64
		var headHash []byte
		err = tx.QueryRowContext(ctx,
			`SELECT t.id, t.to_id, t.head_hash FROM msglog_timestamps t
			 JOIN msglog_records r ON r.id = t.to_id
			 WHERE t.to_id <= $1 AND r.logged_at < $2
			   AND t.id < (SELECT MAX(id) FROM msglog_timestamps)
			 ORDER BY t.id DESC LIMIT 1`, archivedTo, before.UnixMicro()).Scan(&stampID, &toID, &headHash)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find purge point: %w", err)
		}
		if stampID <= p.LastStampID {
			return nil
		}
		r, err := tx.ExecContext(ctx, `DELETE FROM msglog_records WHERE id <= $1`, toID)
		if err != nil {
			return fmt.Errorf("delete records: %w", err)
		}
		res.Records, _ = r.RowsAffected()
		r, err = tx.ExecContext(ctx, `DELETE FROM msglog_timestamps WHERE id <= $1`, stampID)
		if err != nil {
			return fmt.Errorf("delete time-stamps: %w", err)
		}
		res.Timestamps, _ = r.RowsAffected()
		if _, err := tx.ExecContext(ctx,
			`UPDATE msglog_purged SET last_id = $1, last_hash = $2, last_stamp_id = $3 WHERE id = 1`,
			toID, headHash, stampID); err != nil {
			return fmt.Errorf("record purge mark: %w", err)
		}
		res.Purged = Purged{LastID: toID, LastHash: headHash, LastStampID: stampID}
		return nil
	})
	if err != nil {
		return PurgeResult{}, fmt.Errorf("msglog: purge: %w", err)
	}
	return res, nil
}

// Head returns the id of the last committed record (0 while the log is
// empty).
func (l *Log) Head(ctx context.Context) (int64, error) {
	var id int64
	if err := l.db.QueryRowContext(ctx, `SELECT last_id FROM msglog_head WHERE id = 1`).Scan(&id); err != nil {
		return 0, fmt.Errorf("msglog: read chain head: %w", err)
	}
	return id, nil
}
