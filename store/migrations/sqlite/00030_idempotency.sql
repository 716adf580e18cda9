-- Idempotency-Key for the API's state-changing requests other than POST /v1/sessions (which
-- keeps its key on the session row): one row per (tenant, key), holding a digest of the first
-- request and, once it finished, its response sealed under a key derived from the master secret
-- (a response may carry a webhook secret shown once). status is NULL while the first request
-- runs. Rows are replaced after 24 hours (platform/idempotency.go).
-- Keep this file in step with ../postgres/00030_idempotency.sql.

-- +goose Up
CREATE TABLE idempotency_keys (
    tenant_id      TEXT    NOT NULL REFERENCES tenants (id),
    idem_key       TEXT    NOT NULL,
    request_digest BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    status         INTEGER,
    response       BLOB,
    PRIMARY KEY (tenant_id, idem_key)
) STRICT;

-- +goose Down
DROP TABLE idempotency_keys;
