-- A security server's local configuration: clients, service descriptions,
-- services, endpoints, access rights and local groups. One file for SQLite
-- and PostgreSQL: times are BIGINT Unix microseconds (UTC), byte strings
-- BYTEA (a BLOB in SQLite), booleans BOOLEAN. Row ids come from the
-- ss_counters table (not sequences or rowids), the same on both databases.
-- Identifiers used as subjects or group members are stored in their typed
-- or header text form (internal/xroad formats them canonically).

-- +goose Up
CREATE TABLE ss_counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO ss_counters (name, value) VALUES
    ('conf_version', 0),
    ('client', 0),
    ('service_description', 0);

CREATE TABLE ss_clients (
    id              BIGINT PRIMARY KEY,
    instance        TEXT NOT NULL,
    member_class    TEXT NOT NULL,
    member_code     TEXT NOT NULL,
    subsystem       TEXT NOT NULL, -- '' for a member
    connection_type TEXT NOT NULL CHECK (connection_type IN ('HTTP', 'HTTPS', 'HTTPS_CERT')),
    status          TEXT NOT NULL CHECK (status IN ('SAVED', 'REGISTRATION_IN_PROGRESS', 'REGISTERED', 'DELETION_IN_PROGRESS')),
    body_logging    TEXT NOT NULL CHECK (body_logging IN ('FULL', 'METADATA_ONLY')),
    created_at      BIGINT NOT NULL,
    UNIQUE (instance, member_class, member_code, subsystem)
);

CREATE TABLE ss_client_is_certs (
    client_id BIGINT NOT NULL REFERENCES ss_clients (id) ON DELETE CASCADE,
    hash      TEXT NOT NULL CHECK (length(hash) = 64), -- lower-case hex SHA-256 of the DER
    PRIMARY KEY (client_id, hash)
);

CREATE TABLE ss_service_descriptions (
    id           BIGINT PRIMARY KEY,
    client_id    BIGINT NOT NULL REFERENCES ss_clients (id) ON DELETE CASCADE,
    type         TEXT NOT NULL CHECK (type IN ('OPENAPI', 'REST')),
    url          TEXT NOT NULL,
    document     BYTEA,
    refreshed_at BIGINT NOT NULL,
    -- Target of ss_services' composite key, which ties a service to a
    -- description of the same client.
    UNIQUE (id, client_id)
);
CREATE INDEX ss_service_descriptions_client ON ss_service_descriptions (client_id);

CREATE TABLE ss_services (
    client_id       BIGINT NOT NULL,
    code            TEXT NOT NULL,
    description_id  BIGINT NOT NULL,
    version         TEXT NOT NULL, -- '' when unversioned
    url             TEXT NOT NULL,
    timeout_ms      BIGINT NOT NULL CHECK (timeout_ms > 0),
    verify_tls      BOOLEAN NOT NULL,
    disabled        BOOLEAN NOT NULL,
    disabled_notice TEXT NOT NULL,
    PRIMARY KEY (client_id, code),
    FOREIGN KEY (description_id, client_id)
        REFERENCES ss_service_descriptions (id, client_id) ON DELETE CASCADE
);
CREATE INDEX ss_services_description ON ss_services (description_id);

-- Every service has its base endpoint ('*', '**', kind BASE), which access
-- rights on the whole service reference, as in X-Road.
CREATE TABLE ss_endpoints (
    client_id    BIGINT NOT NULL,
    service_code TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('BASE', 'GENERATED', 'MANUAL')),
    PRIMARY KEY (client_id, service_code, method, path),
    FOREIGN KEY (client_id, service_code)
        REFERENCES ss_services (client_id, code) ON DELETE CASCADE
);

CREATE TABLE ss_local_groups (
    client_id   BIGINT NOT NULL REFERENCES ss_clients (id) ON DELETE CASCADE,
    code        TEXT NOT NULL,
    description TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (client_id, code)
);

CREATE TABLE ss_local_group_members (
    client_id  BIGINT NOT NULL,
    group_code TEXT NOT NULL,
    member     TEXT NOT NULL, -- header form INST/CLASS/CODE[/SUB]
    PRIMARY KEY (client_id, group_code, member),
    FOREIGN KEY (client_id, group_code)
        REFERENCES ss_local_groups (client_id, code) ON DELETE CASCADE
);

CREATE TABLE ss_access_rights (
    client_id    BIGINT NOT NULL,
    service_code TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    subject      TEXT NOT NULL, -- typed form, e.g. SUBSYSTEM:PS/GOV/MOI/civil-registry
    -- The group code when subject is a local group, NULL otherwise, so that
    -- deleting the group deletes the rights granted to it (a foreign key
    -- with a NULL column is not checked).
    local_group  TEXT,
    granted_at   BIGINT NOT NULL,
    PRIMARY KEY (client_id, service_code, method, path, subject),
    FOREIGN KEY (client_id, service_code, method, path)
        REFERENCES ss_endpoints (client_id, service_code, method, path) ON DELETE CASCADE,
    FOREIGN KEY (client_id, local_group)
        REFERENCES ss_local_groups (client_id, code) ON DELETE CASCADE
);
CREATE INDEX ss_access_rights_local_group ON ss_access_rights (client_id, local_group);

-- +goose Down
DROP TABLE ss_access_rights;
DROP TABLE ss_local_group_members;
DROP TABLE ss_local_groups;
DROP TABLE ss_endpoints;
DROP TABLE ss_services;
DROP TABLE ss_service_descriptions;
DROP TABLE ss_client_is_certs;
DROP TABLE ss_clients;
DROP TABLE ss_counters;
