-- +goose Up
-- Platform webhook messages already processed (by webhook-id), so a replay does nothing twice.
CREATE TABLE webhooks_seen (
  id TEXT PRIMARY KEY,
  received_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE webhooks_seen;
