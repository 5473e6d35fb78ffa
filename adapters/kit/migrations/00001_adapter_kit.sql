-- Tables every ministry adapter shares (adapters/kit). Names inside them
-- are prefixed with the adapter's name, so adapters may share one database.

-- +goose Up
CREATE TABLE adapter_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE adapter_sequences (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL CHECK (value > 0)
);

-- +goose Down
DROP TABLE adapter_sequences;
DROP TABLE adapter_meta;
