-- +goose Up
CREATE TABLE children (
    parent TEXT NOT NULL REFERENCES parents (name) ON DELETE RESTRICT,
    name TEXT NOT NULL,
    PRIMARY KEY (parent, name)
);

-- +goose Down
DROP TABLE children;
