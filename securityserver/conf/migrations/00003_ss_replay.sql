-- Message ids the provider side accepted, shared by every node of a
-- security server (docs/securityserver.md, "Several nodes"): a request
-- replayed to another node is refused as it would be by the first. A row
-- lives until expires_at (Unix µs: the message time plus the replay
-- window), after which the id is free again (the message would be refused
-- for its time anyway).

-- +goose Up
CREATE TABLE ss_replay (
    client     TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client, message_id)
);
CREATE INDEX ss_replay_expires ON ss_replay (expires_at);

-- +goose Down
DROP TABLE ss_replay;
