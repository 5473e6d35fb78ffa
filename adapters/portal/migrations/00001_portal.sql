-- The Hukumati portal (adapters/portal). Times are BIGINT Unix
-- microseconds (UTC).

-- +goose Up
CREATE TABLE portal_accounts (
    national_id   TEXT PRIMARY KEY,
    name_ar       TEXT NOT NULL DEFAULT '',
    name_en       TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    activated_at  BIGINT
);

-- Activation codes: only a SHA-256 of the code is kept; a code is used
-- once (used_at) and expires.
CREATE TABLE portal_activation_codes (
    code_hash   TEXT PRIMARY KEY,
    national_id TEXT NOT NULL,
    issued_by   TEXT NOT NULL,
    issue       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX portal_activation_codes_nid ON portal_activation_codes (national_id);

-- Sessions: the cookie holds a random id; only its SHA-256 is stored.
CREATE TABLE portal_sessions (
    id_hash    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('citizen', 'officer')),
    subject    TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);

-- Failed sign-ins per account (citizen national ID or officer name).
CREATE TABLE portal_login_failures (
    account      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    first_at     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);

-- Applications: one per citizen request; token is the form's submission
-- token, so a repeated submit finds the same application.
CREATE TABLE portal_applications (
    number      TEXT PRIMARY KEY,
    national_id TEXT NOT NULL,
    service     TEXT NOT NULL,
    token       TEXT NOT NULL,
    status      TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (national_id, token)
);
CREATE INDEX portal_applications_nid ON portal_applications (national_id, created_at);

CREATE TABLE portal_application_events (
    number TEXT NOT NULL REFERENCES portal_applications (number),
    seq    INTEGER NOT NULL,
    status TEXT NOT NULL,
    note   TEXT NOT NULL,
    at     BIGINT NOT NULL,
    PRIMARY KEY (number, seq)
);

-- +goose Down
DROP TABLE portal_application_events;
DROP TABLE portal_applications;
DROP TABLE portal_login_failures;
DROP TABLE portal_sessions;
DROP TABLE portal_activation_codes;
DROP TABLE portal_accounts;
