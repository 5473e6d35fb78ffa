-- The Ministry of Interior's civil-registry adapter (adapters/interior).
-- Dates and times are BIGINT Unix microseconds (UTC; dates at midnight).

-- +goose Up
CREATE TABLE moi_persons (
    national_id       TEXT PRIMARY KEY,
    sex               TEXT NOT NULL CHECK (sex IN ('male', 'female')),
    first_ar          TEXT NOT NULL,
    first_en          TEXT NOT NULL,
    father_ar         TEXT NOT NULL,
    father_en         TEXT NOT NULL,
    grandfather_ar    TEXT NOT NULL,
    grandfather_en    TEXT NOT NULL,
    family_ar         TEXT NOT NULL,
    family_en         TEXT NOT NULL,
    birth_date        BIGINT NOT NULL,
    birth_gov_ar      TEXT NOT NULL,
    birth_gov_en      TEXT NOT NULL,
    birth_loc_ar      TEXT NOT NULL,
    birth_loc_en      TEXT NOT NULL,
    mother_nid        TEXT NOT NULL DEFAULT '',
    father_nid        TEXT NOT NULL DEFAULT '',
    spouse_nid        TEXT NOT NULL DEFAULT '',
    marital_status    TEXT NOT NULL,
    addr_gov_ar       TEXT NOT NULL,
    addr_gov_en       TEXT NOT NULL,
    addr_loc_ar       TEXT NOT NULL,
    addr_loc_en       TEXT NOT NULL,
    addr_street_ar    TEXT NOT NULL,
    addr_street_en    TEXT NOT NULL,
    addr_building     INTEGER NOT NULL,
    phone             TEXT NOT NULL DEFAULT ''
);
CREATE INDEX moi_persons_mother ON moi_persons (mother_nid);
CREATE INDEX moi_persons_father ON moi_persons (father_nid);

CREATE TABLE moi_births (
    registration_number TEXT PRIMARY KEY,
    child_nid           TEXT NOT NULL UNIQUE REFERENCES moi_persons (national_id),
    born_at             BIGINT NOT NULL,
    facility_ar         TEXT NOT NULL,
    facility_en         TEXT NOT NULL,
    gov_ar              TEXT NOT NULL,
    gov_en              TEXT NOT NULL,
    loc_ar              TEXT NOT NULL,
    loc_en              TEXT NOT NULL,
    mother_nid          TEXT NOT NULL DEFAULT '',
    father_nid          TEXT NOT NULL DEFAULT '',
    mother_name_ar      TEXT NOT NULL,
    mother_name_en      TEXT NOT NULL,
    father_name_ar      TEXT NOT NULL,
    father_name_en      TEXT NOT NULL,
    registered_on       BIGINT NOT NULL,
    paper_certificates  INTEGER NOT NULL CHECK (paper_certificates >= 0)
);

-- Every certified document issued, with the exact code: the status a
-- verifier reads compares the code's SHA-256.
CREATE TABLE moi_documents (
    number            TEXT PRIMARY KEY,
    type              TEXT NOT NULL CHECK (type IN ('birth-certificate', 'civil-registry-extract')),
    kind              TEXT NOT NULL,
    national_id       TEXT NOT NULL REFERENCES moi_persons (national_id),
    requested_by      TEXT NOT NULL,
    issued_at         BIGINT NOT NULL,
    content           TEXT NOT NULL,
    code              TEXT NOT NULL,
    code_sha256       TEXT NOT NULL,
    revoked_at        BIGINT,
    revocation_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX moi_documents_person ON moi_documents (national_id, type);
-- A "new" birth certificate is issued once per person, ever: concurrent
-- requests cannot both succeed.
CREATE UNIQUE INDEX moi_documents_one_new ON moi_documents (national_id)
    WHERE type = 'birth-certificate' AND kind = 'new';

-- +goose Down
DROP TABLE moi_documents;
DROP TABLE moi_births;
DROP TABLE moi_persons;
