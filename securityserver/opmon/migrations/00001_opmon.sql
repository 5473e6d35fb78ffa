-- Operational monitoring records of a security server (X-Road's PR-OPMON
-- fields, no payloads). One file for SQLite and PostgreSQL: times are
-- BIGINT Unix microseconds (UTC), NULL when the exchange did not reach that
-- point; identifiers are stored in their header form
-- ("PS/GOV/MOI/civil-registry"), '' when the request was refused before
-- they were known.
--
-- Ids come from the one-row counter opmon_counter, which every inserting
-- transaction updates first: its row lock is held until commit, so ids are
-- assigned in commit order on both databases, also with several nodes
-- writing, and a reader paging by id never skips a record committed later.

-- +goose Up
CREATE TABLE opmon_counter (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO opmon_counter (name, value) VALUES ('record_id', 0);

CREATE TABLE opmon_records (
    id                              BIGINT PRIMARY KEY,
    monitoring_data_ts              BIGINT NOT NULL,
    security_server_internal_ip     TEXT NOT NULL,
    security_server_type            TEXT NOT NULL CHECK (security_server_type IN ('Client', 'Producer')),
    request_in_ts                   BIGINT,
    request_out_ts                  BIGINT,
    response_in_ts                  BIGINT,
    response_out_ts                 BIGINT,
    client                          TEXT NOT NULL,
    service_provider                TEXT NOT NULL,
    service_code                    TEXT NOT NULL,
    service_version                 TEXT NOT NULL,
    rest_method                     TEXT NOT NULL,
    rest_path                       TEXT NOT NULL,
    represented_party               TEXT NOT NULL,
    message_id                      TEXT NOT NULL,
    message_user_id                 TEXT NOT NULL,
    message_issue                   TEXT NOT NULL,
    message_protocol_version        TEXT NOT NULL,
    client_security_server_address  TEXT NOT NULL,
    service_security_server_address TEXT NOT NULL,
    request_size                    BIGINT,
    response_size                   BIGINT,
    succeeded                       BOOLEAN NOT NULL,
    fault_code                      TEXT NOT NULL,
    fault_string                    TEXT NOT NULL,
    status_code                     INTEGER,
    x_request_id                    TEXT NOT NULL
);
-- Queries select a time range (retention deletes by it too) and, for a
-- client that is neither the owner nor the monitoring client, the records
-- where it is the client or the service provider.
CREATE INDEX opmon_records_ts ON opmon_records (monitoring_data_ts);
CREATE INDEX opmon_records_client ON opmon_records (client, id);
CREATE INDEX opmon_records_provider ON opmon_records (service_provider, id);

-- +goose Down
DROP TABLE opmon_records;
DROP TABLE opmon_counter;
