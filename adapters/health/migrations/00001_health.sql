-- The Ministry of Health's insurance adapter (adapters/health).

-- +goose Up
CREATE TABLE moh_policies (
    number     TEXT PRIMARY KEY,
    holder_nid TEXT NOT NULL,
    category   TEXT NOT NULL CHECK (category IN ('family', 'individual', 'senior')),
    starts_on  BIGINT NOT NULL,
    ends_on    BIGINT NOT NULL
);
CREATE INDEX moh_policies_holder ON moh_policies (holder_nid);

CREATE TABLE moh_dependants (
    policy_number TEXT NOT NULL REFERENCES moh_policies (number),
    national_id   TEXT NOT NULL,
    PRIMARY KEY (policy_number, national_id)
);
CREATE INDEX moh_dependants_person ON moh_dependants (national_id);

CREATE TABLE moh_renewals (
    id            TEXT PRIMARY KEY,
    policy_number TEXT NOT NULL REFERENCES moh_policies (number),
    -- A payment order renews one policy, once.
    payment_order TEXT NOT NULL UNIQUE,
    previous_end  BIGINT NOT NULL,
    new_end       BIGINT NOT NULL,
    renewed_at    BIGINT NOT NULL
);

-- +goose Down
DROP TABLE moh_renewals;
DROP TABLE moh_dependants;
DROP TABLE moh_policies;
