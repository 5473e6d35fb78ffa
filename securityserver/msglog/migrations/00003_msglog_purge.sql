-- Retention: records that have been archived and are older than the
-- retention period are deleted from the log (docs/protocol.md, "Message
-- log", "Retention"). This one row remembers where the deleted prefix
-- ended, so that the chain and the time-stamps still verify from there:
-- last_id is the last deleted record, last_hash its hash (the previous
-- hash of record last_id+1), last_stamp_id the last deleted time-stamp
-- (whose range ended at last_id). Zero and NULL while nothing was deleted.

-- +goose Up
CREATE TABLE msglog_purged (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_id       BIGINT NOT NULL,
    last_hash     BYTEA,
    last_stamp_id BIGINT NOT NULL
);
INSERT INTO msglog_purged (id, last_id, last_hash, last_stamp_id) VALUES (1, 0, NULL, 0);

-- +goose Down
DROP TABLE msglog_purged;
