-- The platform's schema on SQLite. Times are INTEGER unix nanoseconds (UTC); byte strings are
-- BLOB; tables are STRICT so a value of the wrong type is refused instead of silently stored.
-- Keep this file in step with ../postgres/00001_init.sql: same tables, columns and constraints.

-- +goose Up
CREATE TABLE tenants (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    facts      TEXT    NOT NULL DEFAULT '[]', -- JSON array of platform.Fact
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    name        TEXT    NOT NULL,
    secret_hash BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE sessions (
    id              TEXT    NOT NULL PRIMARY KEY,
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    purpose         TEXT    NOT NULL CHECK (purpose IN ('identity', 'login')),
    nonce           BLOB    NOT NULL,
    holder_token    TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'verified', 'failed')),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    verification_id TEXT,
    client_ref      TEXT    NOT NULL DEFAULT '',
    -- NULL when the tenant sent no Idempotency-Key; NULLs never collide in a UNIQUE constraint.
    idempotency_key TEXT,
    UNIQUE (tenant_id, idempotency_key)
) STRICT;

CREATE TABLE persons (
    id         TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE person_certs (
    ca        TEXT    NOT NULL, -- hex subject key identifier of the issuing CA
    serial    TEXT    NOT NULL, -- hex serial, upper case, no leading zeros
    person_id TEXT    NOT NULL REFERENCES persons (id),
    kind      TEXT    NOT NULL CHECK (kind IN ('sign', 'auth')),
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (ca, serial)
) STRICT, WITHOUT ROWID;

CREATE TABLE verifications (
    id                  TEXT    NOT NULL PRIMARY KEY,
    tenant_id           TEXT    NOT NULL REFERENCES tenants (id),
    session_id          TEXT    NOT NULL UNIQUE REFERENCES sessions (id),
    purpose             TEXT    NOT NULL CHECK (purpose IN ('identity', 'login')),
    decision            TEXT    NOT NULL CHECK (decision IN ('accepted', 'rejected')),
    reason              TEXT    NOT NULL DEFAULT '',
    detail              TEXT    NOT NULL DEFAULT '',
    person_id           TEXT    REFERENCES persons (id),
    cert_ca             TEXT    NOT NULL DEFAULT '',
    cert_serial         TEXT    NOT NULL DEFAULT '',
    cert                BLOB,
    basic4              TEXT, -- JSON of jpki.Basic4; identity verifications only
    method              TEXT    NOT NULL CHECK (method IN ('crl', 'ocsp', 'none')),
    revocation_ref      TEXT    NOT NULL DEFAULT '',
    revocation_evidence BLOB,
    created_at          INTEGER NOT NULL,
    CHECK (decision = 'rejected' OR person_id IS NOT NULL)
) STRICT;

CREATE TABLE usage_counters (
    tenant_id TEXT    NOT NULL REFERENCES tenants (id),
    month     TEXT    NOT NULL, -- YYYY-MM in JST
    purpose   TEXT    NOT NULL CHECK (purpose IN ('identity', 'login')),
    method    TEXT    NOT NULL CHECK (method IN ('crl', 'ocsp', 'none')),
    -- Each counter is split over 16 rows so that concurrent verifications of one tenant do not
    -- all queue for one row lock until their commits (PostgreSQL); Usage sums the shards.
    shard     INTEGER NOT NULL CHECK (shard BETWEEN 0 AND 15),
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, month, purpose, method, shard)
) STRICT, WITHOUT ROWID;

-- The transactional outbox: events are written in the transaction that causes them and
-- delivered later (webhooks). seq orders delivery; the delivery columns belong to the sender.
CREATE TABLE outbox (
    seq             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    type            TEXT    NOT NULL,
    payload         BLOB    NOT NULL, -- the exact JSON bytes that get signed and sent
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT    NOT NULL DEFAULT ''
) STRICT;
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
