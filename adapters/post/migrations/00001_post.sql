-- Palestine Post's delivery adapter (adapters/post).

-- +goose Up
CREATE TABLE post_offices (
    code                TEXT PRIMARY KEY,
    kind                TEXT NOT NULL,
    name_ar             TEXT NOT NULL,
    name_en             TEXT NOT NULL,
    gov_ar              TEXT NOT NULL,
    gov_en              TEXT NOT NULL,
    loc_ar              TEXT NOT NULL,
    loc_en              TEXT NOT NULL,
    street_ar           TEXT NOT NULL,
    street_en           TEXT NOT NULL,
    registration_centre BOOLEAN NOT NULL,
    counters            INTEGER NOT NULL CHECK (counters >= 0)
);

CREATE TABLE post_deliveries (
    tracking         TEXT PRIMARY KEY,
    client           TEXT NOT NULL,
    sender_reference TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    item_ar          TEXT NOT NULL,
    item_en          TEXT NOT NULL,
    recipient_nid    TEXT NOT NULL,
    recipient_name   TEXT NOT NULL,
    recipient_phone  TEXT NOT NULL,
    method           TEXT NOT NULL CHECK (method IN ('address', 'pickup')),
    addr_governorate TEXT NOT NULL DEFAULT '',
    addr_locality    TEXT NOT NULL DEFAULT '',
    addr_street      TEXT NOT NULL DEFAULT '',
    addr_building    TEXT NOT NULL DEFAULT '',
    addr_notes       TEXT NOT NULL DEFAULT '',
    office_code      TEXT REFERENCES post_offices (code),
    state            TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    -- One delivery per item a sender hands over: a repeated order is the
    -- same delivery.
    UNIQUE (client, sender_reference),
    CHECK ((method = 'pickup') = (office_code IS NOT NULL))
);
CREATE INDEX post_deliveries_recipient ON post_deliveries (recipient_nid);

CREATE TABLE post_events (
    tracking TEXT NOT NULL REFERENCES post_deliveries (tracking),
    seq      INTEGER NOT NULL,
    state    TEXT NOT NULL,
    at       BIGINT NOT NULL,
    location TEXT NOT NULL,
    note     TEXT NOT NULL,
    PRIMARY KEY (tracking, seq)
);

CREATE TABLE post_appointments (
    id          TEXT PRIMARY KEY,
    office_code TEXT NOT NULL REFERENCES post_offices (code),
    starts_at   BIGINT NOT NULL,
    local_day   TEXT NOT NULL,
    counter     INTEGER NOT NULL,
    national_id TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('booked', 'cancelled')),
    created_at  BIGINT NOT NULL
);
-- A counter takes one appointment per slot; a citizen one per day.
CREATE UNIQUE INDEX post_appointments_slot ON post_appointments (office_code, starts_at, counter) WHERE status = 'booked';
CREATE UNIQUE INDEX post_appointments_person ON post_appointments (national_id, local_day) WHERE status = 'booked';

-- +goose Down
DROP TABLE post_appointments;
DROP TABLE post_events;
DROP TABLE post_deliveries;
DROP TABLE post_offices;
