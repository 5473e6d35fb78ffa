package archive

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// TestDatabaseTampering alters the message log in the database — as an
// operator with database access could — after the records were
// time-stamped: one record deleted, one altered, two reordered. The log's
// verification names the record, its time-stamps no longer verify, and no
// archive can be written from it.
func TestDatabaseTampering(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  []string
		id   int64
		want string
	}{
		{"record deleted", []string{`DELETE FROM msglog_records WHERE id = 6`}, 6, "record 6 is missing"},
		{"record altered", []string{`UPDATE msglog_records SET user_id = 'someone-else' WHERE id = 6`}, 6, "record 6 does not match its hash"},
		{"records reordered", []string{
			`UPDATE msglog_records SET id = -1 WHERE id = 6`,
			`UPDATE msglog_records SET id = 6 WHERE id = 7`,
			`UPDATE msglog_records SET id = 7 WHERE id = -1`,
		}, 6, "record 6 does not link to record 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 1, 1)
			db, err := store.OpenSQLite(w.ctx, w.dbPath)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, q := range tc.sql {
				if _, err := db.ExecContext(w.ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			// The log's own verification (`jisr audit verify --log`)
			// names the record.
			var ce *msglog.ChainError
			if _, err := w.log.VerifyChain(w.ctx, 0, 0); !errors.As(err, &ce) || ce.ID != tc.id {
				t.Errorf("VerifyChain = %v, want a chain error at record %d", err, tc.id)
			}
			if _, err := w.log.VerifyTimestamps(w.ctx, w.trust.VerifyTimestamp); !errors.Is(err, msglog.ErrTimestampInvalid) {
				t.Errorf("VerifyTimestamps = %v, want ErrTimestampInvalid", err)
			}
			// No archive can be made of it: the writer checks the chain.
			var buf bytes.Buffer
			_, err = Write(w.ctx, &buf, w.log, WriteOptions{Server: serverID, Signer: w.signer, Clock: w.clk})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write = %v, want a refusal containing %q", err, tc.want)
			}
		})
	}
}
