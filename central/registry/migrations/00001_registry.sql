-- The central server's registry. One file for SQLite and PostgreSQL: times
-- are BIGINT Unix microseconds (UTC), byte strings BYTEA (a BLOB in SQLite),
-- identifiers are stored in parts without the instance code (the registry
-- holds one instance), a member-level client has subsystem ''. Row ids come
-- from the counters table (not sequences), so ids are assigned in commit
-- order and cursor paging never skips a row committed late.

-- +goose Up
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES
    ('registry_version', 0),
    ('management_request', 0),
    ('api_key', 0),
    ('audit_event', 0);

CREATE TABLE instance (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    code TEXT NOT NULL
);

CREATE TABLE member_classes (
    code        TEXT PRIMARY KEY,
    description TEXT NOT NULL
);

CREATE TABLE members (
    class      TEXT NOT NULL REFERENCES member_classes (code) ON DELETE RESTRICT,
    code       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (class, code)
);

CREATE TABLE subsystems (
    member_class TEXT NOT NULL,
    member_code  TEXT NOT NULL,
    code         TEXT NOT NULL CHECK (code <> ''),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (member_class, member_code, code),
    FOREIGN KEY (member_class, member_code) REFERENCES members (class, code) ON DELETE CASCADE
);

CREATE TABLE security_servers (
    owner_class TEXT NOT NULL,
    owner_code  TEXT NOT NULL,
    code        TEXT NOT NULL,
    maintenance BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (owner_class, owner_code, code),
    -- A member owning a security server cannot be deleted.
    FOREIGN KEY (owner_class, owner_code) REFERENCES members (class, code) ON DELETE RESTRICT
);

CREATE TABLE server_addresses (
    owner_class TEXT NOT NULL,
    owner_code  TEXT NOT NULL,
    server_code TEXT NOT NULL,
    pos         INTEGER NOT NULL,
    address     TEXT NOT NULL,
    PRIMARY KEY (owner_class, owner_code, server_code, address),
    FOREIGN KEY (owner_class, owner_code, server_code)
        REFERENCES security_servers (owner_class, owner_code, code) ON DELETE CASCADE
);

CREATE TABLE auth_certs (
    hash          TEXT PRIMARY KEY, -- lowercase hex SHA-256 of der
    owner_class   TEXT NOT NULL,
    owner_code    TEXT NOT NULL,
    server_code   TEXT NOT NULL,
    der           BYTEA NOT NULL,
    registered_at BIGINT NOT NULL,
    FOREIGN KEY (owner_class, owner_code, server_code)
        REFERENCES security_servers (owner_class, owner_code, code) ON DELETE CASCADE
);
CREATE INDEX auth_certs_server ON auth_certs (owner_class, owner_code, server_code);

CREATE TABLE server_clients (
    owner_class      TEXT NOT NULL,
    owner_code       TEXT NOT NULL,
    server_code      TEXT NOT NULL,
    client_class     TEXT NOT NULL,
    client_code      TEXT NOT NULL,
    client_subsystem TEXT NOT NULL, -- '' for the member itself
    registered_at    BIGINT NOT NULL,
    PRIMARY KEY (owner_class, owner_code, server_code, client_class, client_code, client_subsystem),
    FOREIGN KEY (owner_class, owner_code, server_code)
        REFERENCES security_servers (owner_class, owner_code, code) ON DELETE CASCADE,
    FOREIGN KEY (client_class, client_code) REFERENCES members (class, code) ON DELETE CASCADE
);
CREATE INDEX server_clients_client ON server_clients (client_class, client_code, client_subsystem);

CREATE TABLE global_groups (
    code        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE global_group_members (
    group_code       TEXT NOT NULL REFERENCES global_groups (code) ON DELETE CASCADE,
    client_class     TEXT NOT NULL,
    client_code      TEXT NOT NULL,
    client_subsystem TEXT NOT NULL, -- '' for the member itself
    added_at         BIGINT NOT NULL,
    PRIMARY KEY (group_code, client_class, client_code, client_subsystem),
    FOREIGN KEY (client_class, client_code) REFERENCES members (class, code) ON DELETE CASCADE
);
CREATE INDEX global_group_members_client ON global_group_members (client_class, client_code, client_subsystem);

CREATE TABLE approved_cas (
    name       TEXT PRIMARY KEY,
    profile    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE ca_certs (
    ca_name TEXT NOT NULL REFERENCES approved_cas (name) ON DELETE CASCADE,
    kind    TEXT NOT NULL CHECK (kind IN ('root', 'intermediate')),
    pos     INTEGER NOT NULL,
    der     BYTEA NOT NULL,
    PRIMARY KEY (ca_name, kind, pos)
);

CREATE TABLE ocsp_responders (
    ca_name TEXT NOT NULL REFERENCES approved_cas (name) ON DELETE CASCADE,
    pos     INTEGER NOT NULL,
    url     TEXT NOT NULL,
    cert    BYTEA, -- optional responder certificate
    PRIMARY KEY (ca_name, pos)
);

CREATE TABLE approved_tsas (
    name       TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    cert       BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE management_requests (
    id           BIGINT PRIMARY KEY,
    type         TEXT NOT NULL,
    server_id    TEXT NOT NULL, -- header form INST/CLASS/CODE/SERVER
    client_id    TEXT NOT NULL, -- header form, '' when the request has no client
    payload      TEXT NOT NULL, -- JSON
    signed       BYTEA NOT NULL, -- the JWS as received
    status       TEXT NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'FAILED')),
    submitted_at BIGINT NOT NULL,
    decided_at   BIGINT,
    decided_by   TEXT NOT NULL DEFAULT '',
    comment      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX management_requests_status ON management_requests (status, id);
CREATE INDEX management_requests_server ON management_requests (server_id, id);

CREATE TABLE service_descriptions (
    provider_class     TEXT NOT NULL,
    provider_code      TEXT NOT NULL,
    provider_subsystem TEXT NOT NULL,
    service_code       TEXT NOT NULL,
    service_version    TEXT NOT NULL, -- '' when unversioned
    type               TEXT NOT NULL CHECK (type IN ('OPENAPI', 'REST')),
    title              TEXT NOT NULL,
    description        TEXT NOT NULL,
    document           BYTEA, -- the OpenAPI document, if any
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (provider_class, provider_code, provider_subsystem, service_code, service_version),
    FOREIGN KEY (provider_class, provider_code, provider_subsystem)
        REFERENCES subsystems (member_class, member_code, code) ON DELETE CASCADE
);

CREATE TABLE api_keys (
    id         BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE, -- lowercase hex SHA-256 of the secret
    created_at BIGINT NOT NULL,
    expires_at BIGINT, -- NULL: never
    revoked_at BIGINT  -- NULL: not revoked
);

CREATE TABLE api_key_roles (
    key_id BIGINT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    role   TEXT NOT NULL,
    PRIMARY KEY (key_id, role)
);

CREATE TABLE audit_events (
    id      BIGINT PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL, -- JSON
    outcome TEXT NOT NULL
);

CREATE TABLE published_configs (
    serial           BIGINT PRIMARY KEY CHECK (serial > 0),
    generated_at     BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    document         BYTEA NOT NULL,
    content_hash     TEXT NOT NULL,
    registry_version BIGINT NOT NULL
);

-- +goose Down
DROP TABLE published_configs;
DROP TABLE audit_events;
DROP TABLE api_key_roles;
DROP TABLE api_keys;
DROP TABLE service_descriptions;
DROP TABLE management_requests;
DROP TABLE settings;
DROP TABLE approved_tsas;
DROP TABLE ocsp_responders;
DROP TABLE ca_certs;
DROP TABLE approved_cas;
DROP TABLE global_group_members;
DROP TABLE global_groups;
DROP TABLE server_clients;
DROP TABLE auth_certs;
DROP TABLE server_addresses;
DROP TABLE security_servers;
DROP TABLE subsystems;
DROP TABLE members;
DROP TABLE member_classes;
DROP TABLE instance;
DROP TABLE counters;
