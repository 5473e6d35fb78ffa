-- RFC 3161 time-stamps over the message log's hash chain (docs/protocol.md,
-- "Time-stamps", specifies the message imprint). Replaces the table
-- 00001 reserved, which nothing wrote.
--
-- Row n says: the records from_id..to_id, the last of which has hash
-- head_hash, existed at the token's genTime. Ranges follow one another
-- without gap or overlap (from_id is one past the previous row's to_id).
-- Rows are only ever inserted.

-- +goose Up
DROP TABLE msglog_timestamps;
-- id is the token's position (1, 2, 3, …). A node computes a new row's id
-- and from_id from the last row it read, so when two nodes sharing one
-- database stamp at once, both compute the same id and from_id and the
-- primary key and the unique constraint let only the first insert
-- succeed (the other's INSERT … ON CONFLICT DO NOTHING inserts nothing).
CREATE TABLE msglog_timestamps (
    id         BIGINT PRIMARY KEY CHECK (id >= 1),
    from_id    BIGINT NOT NULL UNIQUE CHECK (from_id >= 1),
    to_id      BIGINT NOT NULL CHECK (to_id >= from_id),
    head_hash  BYTEA NOT NULL,
    -- The DER TimeStampToken (CMS ContentInfo) exactly as the TSA sent it.
    token      BYTEA NOT NULL,
    -- Which TSA issued the token (its name or URL; '' when unknown).
    tsa        TEXT NOT NULL,
    -- When this server stored the token, by its clock (Unix µs); the
    -- token's genTime is the time that counts.
    stamped_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE msglog_timestamps;
CREATE TABLE msglog_timestamps (
    id          BIGINT PRIMARY KEY,
    last_id     BIGINT NOT NULL REFERENCES msglog_records (id),
    head_hash   BYTEA NOT NULL,
    token       BYTEA NOT NULL,
    stamped_at  BIGINT NOT NULL
);
