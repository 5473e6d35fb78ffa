package msglog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// FindMetadata returns the records q selects, like Find, but without their
// bodies: it neither reads nor decrypts a logged body (BodyLogged and
// BodyKeyID still say whether one was logged). It is what a search of the
// log for auditors uses, where a page of records must not cost a page of
// bodies.
func (l *Log) FindMetadata(ctx context.Context, q Query) ([]Record, error) {
	cond, args, err := findCondition(q)
	if err != nil {
		return nil, err
	}
	return l.load(ctx, false, cond, args...)
}

// findCondition is the WHERE … ORDER BY … LIMIT clause of q, as Find
// builds it.
func findCondition(q Query) (string, []any, error) {
	if q.Limit < 0 || q.After < 0 {
		return "", nil, errors.New("msglog: find: negative limit or cursor")
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	add("id > ?", q.After)
	if q.MessageID != "" {
		add("message_id = ?", q.MessageID)
	}
	if q.Client != (xroad.ClientID{}) {
		add("client = ?", q.Client.String())
	}
	if q.Service != (xroad.ServiceID{}) {
		add("service = ?", q.Service.Unversioned().String())
		if q.Service.Version != "" {
			add("service_version = ?", q.Service.Version)
		}
	}
	if q.UserID != "" {
		add("user_id = ?", q.UserID)
	}
	if q.Issue != "" {
		add("issue = ?", q.Issue)
	}
	if !q.From.IsZero() {
		add("logged_at >= ?", q.From.UnixMicro())
	}
	if !q.To.IsZero() {
		add("logged_at < ?", q.To.UnixMicro())
	}
	args = append(args, limit)
	return "WHERE " + strings.Join(where, " AND ") + " ORDER BY id LIMIT $" + strconv.Itoa(len(args)), args, nil
}

// TimestampsCovering returns the stored time-stamps whose ranges overlap
// records from..to, in order, without their tokens (Token is nil): what a
// search shows to say which records are time-stamped and by which token.
func (l *Log) TimestampsCovering(ctx context.Context, from, to int64) ([]Timestamp, error) {
	if from > to {
		return nil, nil
	}
	rows, err := l.db.QueryContext(ctx,
		`SELECT id, from_id, to_id, head_hash, tsa, stamped_at FROM msglog_timestamps
		 WHERE to_id >= $1 AND from_id <= $2 ORDER BY id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("msglog: read time-stamps: %w", err)
	}
	defer rows.Close()
	var out []Timestamp
	for rows.Next() {
		var ts Timestamp
		var at int64
		if err := rows.Scan(&ts.ID, &ts.From, &ts.To, &ts.HeadHash, &ts.TSA, &at); err != nil {
			return nil, fmt.Errorf("msglog: read time-stamps: %w", err)
		}
		ts.StampedAt = time.UnixMicro(at).UTC()
		out = append(out, ts)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("msglog: read time-stamps: %w", err)
	}
	return out, nil
}
