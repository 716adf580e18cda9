-- The platform's schema on PostgreSQL. Times are BIGINT unix nanoseconds (UTC), as on SQLite, so
-- both dialects round-trip time.Time exactly and share every query; byte strings are BYTEA.
-- Keep this file in step with ../sqlite/00001_init.sql: same tables, columns and constraints.

-- +goose Up
CREATE TABLE tenants (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    facts      TEXT   NOT NULL DEFAULT '[]', -- JSON array of platform.Fact
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT   NOT NULL PRIMARY KEY,
    tenant_id   TEXT   NOT NULL REFERENCES tenants (id),
    name        TEXT   NOT NULL,
    secret_hash BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE sessions (
    id              TEXT   NOT NULL PRIMARY KEY,
    tenant_id       TEXT   NOT NULL REFERENCES tenants (id),
    purpose         TEXT   NOT NULL CHECK (purpose IN ('identity', 'login')),
    nonce           BYTEA  NOT NULL,
    holder_token    TEXT   NOT NULL,
    status          TEXT   NOT NULL CHECK (status IN ('pending', 'verified', 'failed')),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    verification_id TEXT,
    client_ref      TEXT   NOT NULL DEFAULT '',
    -- NULL when the tenant sent no Idempotency-Key; NULLs never collide in a UNIQUE constraint.
    idempotency_key TEXT,
    UNIQUE (tenant_id, idempotency_key)
);

CREATE TABLE persons (
    id         TEXT   NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE person_certs (
    ca        TEXT   NOT NULL, -- hex subject key identifier of the issuing CA
    serial    TEXT   NOT NULL, -- hex serial, upper case, no leading zeros
    person_id TEXT   NOT NULL REFERENCES persons (id),
    kind      TEXT   NOT NULL CHECK (kind IN ('sign', 'auth')),
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (ca, serial)
);

CREATE TABLE verifications (
    id                  TEXT   NOT NULL PRIMARY KEY,
    tenant_id           TEXT   NOT NULL REFERENCES tenants (id),
    session_id          TEXT   NOT NULL UNIQUE REFERENCES sessions (id),
    purpose             TEXT   NOT NULL CHECK (purpose IN ('identity', 'login')),
    decision            TEXT   NOT NULL CHECK (decision IN ('accepted', 'rejected')),
    reason              TEXT   NOT NULL DEFAULT '',
    detail              TEXT   NOT NULL DEFAULT '',
    person_id           TEXT   REFERENCES persons (id),
    cert_ca             TEXT   NOT NULL DEFAULT '',
    cert_serial         TEXT   NOT NULL DEFAULT '',
    cert                BYTEA,
    basic4              TEXT, -- JSON of jpki.Basic4; identity verifications only
    method              TEXT   NOT NULL CHECK (method IN ('crl', 'ocsp', 'none')),
    revocation_ref      TEXT   NOT NULL DEFAULT '',
    revocation_evidence BYTEA,
    created_at          BIGINT NOT NULL,
    CHECK (decision = 'rejected' OR person_id IS NOT NULL)
);

CREATE TABLE usage_counters (
    tenant_id TEXT   NOT NULL REFERENCES tenants (id),
    month     TEXT   NOT NULL, -- YYYY-MM in JST
    purpose   TEXT   NOT NULL CHECK (purpose IN ('identity', 'login')),
    method    TEXT   NOT NULL CHECK (method IN ('crl', 'ocsp', 'none')),
    -- Each counter is split over 16 rows so that concurrent verifications of one tenant do not
    -- all queue for one row lock until their commits; Usage sums the shards.
    shard     INTEGER NOT NULL CHECK (shard BETWEEN 0 AND 15),
    count     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month, purpose, method, shard)
);

-- The transactional outbox: events are written in the transaction that causes them and
-- delivered later (webhooks). seq orders delivery; the delivery columns belong to the sender.
CREATE TABLE outbox (
    seq             BIGINT NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT   NOT NULL UNIQUE,
    tenant_id       TEXT   NOT NULL REFERENCES tenants (id),
    type            TEXT   NOT NULL,
    payload         BYTEA  NOT NULL, -- the exact JSON bytes that get signed and sent
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    last_error      TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE usage_counters;
DROP TABLE verifications;
DROP TABLE person_certs;
DROP TABLE persons;
DROP TABLE sessions;
DROP TABLE api_keys;
DROP TABLE tenants;
