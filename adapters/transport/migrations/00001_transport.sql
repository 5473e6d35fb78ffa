-- The Ministry of Transport's licensing adapter (adapters/transport).

-- +goose Up
CREATE TABLE mot_licences (
    number      TEXT PRIMARY KEY,
    holder_nid  TEXT NOT NULL UNIQUE,
    classes     TEXT NOT NULL,
    issued_on   BIGINT NOT NULL,
    expires_on  BIGINT NOT NULL,
    suspended   BOOLEAN NOT NULL
);

CREATE TABLE mot_vehicles (
    plate              TEXT PRIMARY KEY,
    owner_nid          TEXT NOT NULL,
    make               TEXT NOT NULL,
    model              TEXT NOT NULL,
    model_year         INTEGER NOT NULL,
    kind_ar            TEXT NOT NULL,
    kind_en            TEXT NOT NULL,
    colour_ar          TEXT NOT NULL,
    colour_en          TEXT NOT NULL,
    licence_expires_on BIGINT NOT NULL
);
CREATE INDEX mot_vehicles_owner ON mot_vehicles (owner_nid);

CREATE TABLE mot_fines (
    number        TEXT PRIMARY KEY,
    driver_nid    TEXT NOT NULL,
    plate         TEXT NOT NULL,
    offence_code  TEXT NOT NULL,
    offence_ar    TEXT NOT NULL,
    offence_en    TEXT NOT NULL,
    amount_minor  BIGINT NOT NULL CHECK (amount_minor > 0),
    currency      TEXT NOT NULL,
    issued_at     BIGINT NOT NULL,
    location_ar   TEXT NOT NULL,
    location_en   TEXT NOT NULL,
    paid_at       BIGINT,
    -- A payment order pays one fine (fines paid before going online have none).
    payment_order TEXT UNIQUE
);
CREATE INDEX mot_fines_driver ON mot_fines (driver_nid, issued_at);
CREATE INDEX mot_fines_plate ON mot_fines (plate, issued_at);

CREATE TABLE mot_renewals (
    id              TEXT PRIMARY KEY,
    licence_number  TEXT NOT NULL REFERENCES mot_licences (number),
    holder_nid      TEXT NOT NULL,
    -- A payment order renews one licence, once.
    payment_order   TEXT NOT NULL UNIQUE,
    previous_expiry BIGINT NOT NULL,
    new_expiry      BIGINT NOT NULL,
    renewed_at      BIGINT NOT NULL
);

-- +goose Down
DROP TABLE mot_renewals;
DROP TABLE mot_fines;
DROP TABLE mot_vehicles;
DROP TABLE mot_licences;
