-- The security server's message log. One file for SQLite and PostgreSQL:
-- times are BIGINT Unix microseconds (UTC), byte strings BYTEA (a BLOB in
-- SQLite), identifiers are stored in their header form
-- ("PS/GOV/MOI/civil-registry"). docs/protocol.md ("Message log")
-- specifies the chain hash over these columns.
--
-- Rows are only ever inserted, never updated (except the one-row head),
-- and ids are assigned by the writer in commit order, without gaps.

-- +goose Up
-- The chain head: the id and hash of the last committed record. Every
-- writing transaction locks this row first (a no-op UPDATE), so writers,
-- even in different processes, append one after another. last_hash is NULL
-- while the log is empty (the genesis previous hash is 32 zero bytes).
CREATE TABLE msglog_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_id   BIGINT NOT NULL,
    last_hash BYTEA
);
INSERT INTO msglog_head (id, last_id, last_hash) VALUES (1, 0, NULL);

-- Certificates (x5c of every logged JWS) and stapled OCSP responses, once
-- each, keyed by the SHA-256 of their DER.
CREATE TABLE msglog_certs (
    hash BYTEA PRIMARY KEY,
    der  BYTEA NOT NULL
);
CREATE TABLE msglog_ocsp (
    hash BYTEA PRIMARY KEY,
    der  BYTEA NOT NULL
);

CREATE TABLE msglog_records (
    id                BIGINT PRIMARY KEY,
    logged_at         BIGINT NOT NULL,
    direction         TEXT NOT NULL CHECK (direction IN ('REQUEST', 'RESPONSE')),
    side              TEXT NOT NULL CHECK (side IN ('CONSUMER', 'PROVIDER')),
    message_id        TEXT NOT NULL,
    request_digest    BYTEA NOT NULL,
    client            TEXT NOT NULL,
    -- The service without its version, and the version ('' when none), so
    -- that a query may name a service with or without version.
    service           TEXT NOT NULL,
    service_version   TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    issue             TEXT NOT NULL,
    represented_party TEXT NOT NULL,
    message_time      BIGINT NOT NULL,
    method            TEXT NOT NULL,
    path              TEXT NOT NULL,
    query             TEXT NOT NULL,
    status            INTEGER NOT NULL,
    signer            TEXT NOT NULL,
    -- The compact JWS, stored without its redundant parts: the payload is
    -- signed_header; the protected header is rebuilt from jws_alg, jws_typ,
    -- the certificates cert_hashes names (x5c, concatenated 32-byte hashes)
    -- and the OCSP response ocsp_hash names, unless it is kept verbatim in
    -- jws_protected because it could not be rebuilt byte for byte.
    signed_header     BYTEA NOT NULL,
    jws_alg           TEXT NOT NULL,
    jws_typ           TEXT NOT NULL,
    jws_protected     BYTEA,
    jws_signature     BYTEA NOT NULL,
    cert_hashes       BYTEA NOT NULL,
    ocsp_hash         BYTEA NOT NULL REFERENCES msglog_ocsp (hash),
    body_sha256       BYTEA NOT NULL,
    body_size         BIGINT NOT NULL CHECK (body_size >= 0),
    -- The body, AES-256-GCM encrypted under the key body_key_id names, with
    -- body_nonce and the record's hash as additional data; all three NULL
    -- when the body was not logged (metadata-only mode).
    body_key_id       TEXT,
    body_nonce        BYTEA,
    body_ciphertext   BYTEA,
    prev_hash         BYTEA NOT NULL,
    hash              BYTEA NOT NULL
);
CREATE INDEX msglog_records_message_id ON msglog_records (message_id, id);
CREATE INDEX msglog_records_client ON msglog_records (client, id);
CREATE INDEX msglog_records_service ON msglog_records (service, id);
CREATE INDEX msglog_records_user_id ON msglog_records (user_id, id);
CREATE INDEX msglog_records_logged_at ON msglog_records (logged_at, id);

-- Extension point for the next step: RFC 3161 time-stamp tokens over the
-- chain head. Each row says that the chain up to and including record
-- last_id, whose hash is head_hash, existed at the token's genTime. Nothing
-- writes it yet.
CREATE TABLE msglog_timestamps (
    id          BIGINT PRIMARY KEY,
    last_id     BIGINT NOT NULL REFERENCES msglog_records (id),
    head_hash   BYTEA NOT NULL,
    token       BYTEA NOT NULL,
    stamped_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE msglog_timestamps;
DROP TABLE msglog_records;
DROP TABLE msglog_ocsp;
DROP TABLE msglog_certs;
DROP TABLE msglog_head;
