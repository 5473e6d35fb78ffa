-- The Ministry of Finance's revenue adapter (adapters/finance).

-- +goose Up
CREATE TABLE mof_fees (
    service      TEXT PRIMARY KEY,
    ministry     TEXT NOT NULL,
    name_ar      TEXT NOT NULL,
    name_en      TEXT NOT NULL,
    amount_minor BIGINT,
    currency     TEXT,
    variable     BOOLEAN NOT NULL,
    CHECK (variable = (amount_minor IS NULL))
);

-- One entry per paid payment order, ever: the primary key is what makes
-- crediting idempotent and reconciliation list each order once.
CREATE TABLE mof_ledger (
    payment_order_id TEXT PRIMARY KEY,
    receipt_number   TEXT NOT NULL,
    service          TEXT NOT NULL REFERENCES mof_fees (service),
    ministry         TEXT NOT NULL,
    payer_nid        TEXT NOT NULL,
    reference        TEXT NOT NULL,
    amount_minor     BIGINT NOT NULL CHECK (amount_minor > 0),
    currency         TEXT NOT NULL,
    paid_at          BIGINT NOT NULL,
    credited_at      BIGINT NOT NULL
);
CREATE INDEX mof_ledger_paid ON mof_ledger (paid_at, payment_order_id);

-- +goose Down
DROP TABLE mof_ledger;
DROP TABLE mof_fees;
