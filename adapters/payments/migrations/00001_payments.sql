-- The Monetary Authority's payments adapter (adapters/payments).
-- Amounts are BIGINT minor units; times BIGINT Unix microseconds (UTC).

-- +goose Up
CREATE TABLE pma_orders (
    id                 TEXT PRIMARY KEY,
    client             TEXT NOT NULL,
    idempotency_key    TEXT NOT NULL,
    fingerprint        TEXT NOT NULL,
    payer_nid          TEXT NOT NULL,
    service            TEXT NOT NULL,
    reference          TEXT NOT NULL,
    amount_minor       BIGINT NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL CHECK (currency IN ('ILS', 'JOD', 'USD')),
    method             TEXT NOT NULL CHECK (method IN ('card', 'bank-account', 'deposit-voucher')),
    method_description TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'declined')),
    decline_reason     TEXT NOT NULL DEFAULT '',
    created_at         BIGINT NOT NULL,
    paid_at            BIGINT,
    receipt_number     TEXT UNIQUE,
    UNIQUE (client, idempotency_key),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL AND receipt_number IS NOT NULL))
);
CREATE INDEX pma_orders_paid ON pma_orders (paid_at, id);

-- The simulated acquirer's and banks' own record: one charge per order,
-- ever (the primary key is what makes a retried order charge once).
CREATE TABLE pma_charges (
    order_id           TEXT PRIMARY KEY REFERENCES pma_orders (id),
    method             TEXT NOT NULL,
    instrument         TEXT NOT NULL,
    amount_minor       BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    approved           BOOLEAN NOT NULL,
    reason             TEXT NOT NULL,
    charged_at         BIGINT NOT NULL
);

CREATE TABLE pma_vouchers (
    number       TEXT PRIMARY KEY,
    bank_ar      TEXT NOT NULL,
    bank_en      TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency     TEXT NOT NULL,
    issued_on    BIGINT NOT NULL,
    redeemed_by  TEXT UNIQUE REFERENCES pma_orders (id),
    redeemed_at  BIGINT
);

-- +goose Down
DROP TABLE pma_vouchers;
DROP TABLE pma_charges;
DROP TABLE pma_orders;
