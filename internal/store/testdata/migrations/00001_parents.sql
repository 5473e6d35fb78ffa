-- +goose Up
CREATE TABLE parents (
    name TEXT PRIMARY KEY,
    size BIGINT NOT NULL CHECK (size >= 0),
    data BYTEA,
    flag BOOLEAN NOT NULL DEFAULT FALSE
);

-- +goose Down
DROP TABLE parents;
