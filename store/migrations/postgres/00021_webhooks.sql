-- Webhooks on PostgreSQL: tenants' endpoints, their signing secrets, and one delivery row per event
-- and endpoint. Keep this file in step with ../sqlite/00021_webhooks.sql.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    url         TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    event_types TEXT    NOT NULL DEFAULT '[]', -- JSON array of event types; empty: every type
    created_at  BIGINT  NOT NULL,
    disabled_at BIGINT
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at);

-- Signing secrets, sealed (AES-256-GCM under a key derived from the platform's master secret):
-- the platform must sign with them, so they cannot be hashed. The current secret has no
-- expires_at; a rotated-out one keeps signing until expires_at.
CREATE TABLE webhook_secrets (
    endpoint_id TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    id          TEXT    NOT NULL,
    sealed      BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT,
    PRIMARY KEY (endpoint_id, id)
);

-- One event to one endpoint. event_seq (the outbox seq) orders deliveries; ordering_key (the
-- person) says which must arrive in order. A worker claims a row by moving next_attempt_at to
-- the end of its lease and writing its claim token; it records the outcome only while the token
-- is still its own.
CREATE TABLE webhook_deliveries (
    id              BIGINT  NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_seq       BIGINT  NOT NULL,
    event_id        TEXT    NOT NULL REFERENCES outbox (id),
    endpoint_id     TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    ordering_key    TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    claim           TEXT,
    last_attempt_at BIGINT,
    last_status     BIGINT  NOT NULL DEFAULT 0, -- HTTP status of the last attempt; 0: no answer
    last_error      TEXT    NOT NULL DEFAULT '',
    delivered_at    BIGINT,
    created_at      BIGINT  NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, ordering_key, event_seq)
    WHERE state = 'pending' AND ordering_key IS NOT NULL;
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, state, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_secrets;
DROP TABLE webhook_endpoints;
