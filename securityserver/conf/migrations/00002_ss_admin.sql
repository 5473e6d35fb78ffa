-- The admin API's state, kept with the local configuration so that nodes
-- sharing one database share it too: API keys (only the SHA-256 of each
-- secret, with roles, expiry and revocation), the admin audit trail, and
-- the DER of the information systems' TLS certificates whose hashes
-- ss_client_is_certs holds. Same conventions as 00001 (BIGINT Unix
-- microseconds, ids from ss_counters). None of these tables is part of the
-- configuration's version: writing them does not make nodes reload.

-- +goose Up
INSERT INTO ss_counters (name, value) VALUES
    ('api_key', 0),
    ('audit_event', 0);

CREATE TABLE ss_api_keys (
    id         BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE CHECK (length(hash) = 64), -- lower-case hex SHA-256 of the secret
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at BIGINT, -- NULL: never
    revoked_at BIGINT  -- NULL: not revoked
);

CREATE TABLE ss_api_key_roles (
    key_id BIGINT NOT NULL REFERENCES ss_api_keys (id) ON DELETE CASCADE,
    role   TEXT NOT NULL,
    PRIMARY KEY (key_id, role)
);

-- One row per audited admin action. A write is recorded as 'pending'
-- before it is carried out and completed ('success' or 'failure') after;
-- a refused request is recorded completed at once. A row still 'pending'
-- names an action whose outcome was never recorded (a crash mid-way).
CREATE TABLE ss_audit_events (
    id           BIGINT PRIMARY KEY,
    at           BIGINT NOT NULL,
    completed_at BIGINT,
    actor        TEXT NOT NULL,
    key_id       BIGINT, -- the API key used; NULL when none was usable
    remote       TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    detail       TEXT NOT NULL, -- JSON
    outcome      TEXT NOT NULL CHECK (outcome IN ('pending', 'success', 'failure'))
);
CREATE INDEX ss_audit_events_actor ON ss_audit_events (actor, id);
CREATE INDEX ss_audit_events_action ON ss_audit_events (action, id);

-- The certificates themselves of ss_client_is_certs' hashes, for display.
-- Not tied to ss_client_is_certs by a foreign key: UpdateClient replaces
-- the hash rows, and a certificate whose hash is no longer listed is
-- simply not shown (and removed with its client).
CREATE TABLE ss_client_is_cert_ders (
    client_id BIGINT NOT NULL REFERENCES ss_clients (id) ON DELETE CASCADE,
    hash      TEXT NOT NULL CHECK (length(hash) = 64),
    der       BYTEA NOT NULL,
    added_at  BIGINT NOT NULL,
    PRIMARY KEY (client_id, hash)
);

-- +goose Down
DROP TABLE ss_client_is_cert_ders;
DROP TABLE ss_audit_events;
DROP TABLE ss_api_key_roles;
DROP TABLE ss_api_keys;
DELETE FROM ss_counters WHERE name IN ('api_key', 'audit_event');
