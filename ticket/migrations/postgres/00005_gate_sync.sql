-- +goose Up
-- The gates an organiser registered for an event (Ed25519 public keys), and every admission record
-- they uploaded at sync, signed by the gate; a record is stored once (its signature is its key), so
-- a retried upload changes nothing.
CREATE TABLE gate_keys (
  event_id TEXT NOT NULL REFERENCES events (id),
  gate_id TEXT NOT NULL,
  public_key BYTEA NOT NULL,
  registered_at BIGINT NOT NULL,
  PRIMARY KEY (event_id, gate_id)
);
CREATE TABLE gate_records (
  event_id TEXT NOT NULL REFERENCES events (id),
  signature BYTEA NOT NULL,
  gate_id TEXT NOT NULL,
  record BYTEA NOT NULL,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (event_id, signature)
);

-- +goose Down
DROP TABLE gate_records;
DROP TABLE gate_keys;
