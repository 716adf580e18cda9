-- The web pages on SQLite: console users (a tenant's staff, or the platform's operators) and an
-- index for a tenant's latest verifications. Keep this file in step with
-- ../postgres/00027_console.sql.

-- +goose Up
CREATE TABLE console_users (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant_id     TEXT    REFERENCES tenants (id), -- NULL: an operator of the platform
    email         TEXT    NOT NULL UNIQUE,         -- lower case
    password_hash TEXT    NOT NULL,                -- PHC string, argon2id
    role          TEXT    NOT NULL CHECK (role IN ('staff', 'operator')),
    created_at    INTEGER NOT NULL,
    CHECK ((role = 'operator') = (tenant_id IS NULL))
) STRICT;

CREATE INDEX verifications_tenant_recent ON evidence_entries (tenant_id, created_at) WHERE session_id IS NOT NULL;

-- +goose Down
DROP INDEX verifications_tenant_recent;
DROP TABLE console_users;
