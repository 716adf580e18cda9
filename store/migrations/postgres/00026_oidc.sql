-- The OpenID provider on PostgreSQL: clients registered per tenant, login requests (authorization
-- code and device authorization), tokens and signing keys. Keep this file in step with
-- ../sqlite/00026_oidc.sql. Secrets are never stored in clear: client secrets, codes, device
-- codes and refresh tokens as SHA-256 hashes, signing keys sealed under a key derived from the
-- platform's master secret. Personal facts are not copied here: a login keeps the id of its
-- verification, and the claims are read from it when they are asked for.

-- +goose Up
CREATE TABLE oidc_clients (
    id               TEXT    NOT NULL PRIMARY KEY,
    tenant_id        TEXT    NOT NULL REFERENCES tenants (id),
    name             TEXT    NOT NULL,
    secret_hash      BYTEA,                          -- NULL: a public client (PKCE S256 required)
    redirect_uris    TEXT    NOT NULL,              -- JSON array, matched exactly
    logout_uris      TEXT    NOT NULL DEFAULT '[]', -- JSON array, matched exactly
    created_at       BIGINT  NOT NULL,
    deleted_at       BIGINT 
);
CREATE INDEX oidc_clients_tenant ON oidc_clients (tenant_id, created_at);

-- One login: an authorization request (kind code) or a device authorization (kind device).
-- The login step's platform session, then its outcome, are written once each (guarded).
CREATE TABLE oidc_requests (
    id              TEXT    NOT NULL PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('code', 'device')),
    client_id       TEXT    NOT NULL REFERENCES oidc_clients (id),
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    params          TEXT    NOT NULL, -- JSON: redirect_uri, scopes, state, nonce, PKCE, prompt, max_age
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    session_id      TEXT,
    subject         TEXT,
    verification_id TEXT,
    acr             TEXT,
    amr             TEXT,
    auth_time       BIGINT ,
    done_at         BIGINT ,
    denied_at       BIGINT ,
    code_hash       TEXT UNIQUE,
    code_expires_at BIGINT ,
    code_used_at    BIGINT ,
    device_hash     TEXT UNIQUE,
    user_code       TEXT UNIQUE,
    last_poll_at    BIGINT 
);

-- Access and refresh tokens. A refresh token (refresh_hash set) belongs to a family: the
-- tokens issued from one login by rotation. A rotated token keeps its row with used_at set, so
-- that presenting it again is recognised as reuse and revokes the family.
CREATE TABLE oidc_tokens (
    id              TEXT    NOT NULL PRIMARY KEY,
    refresh_hash    TEXT UNIQUE,
    family          TEXT    NOT NULL,
    client_id       TEXT    NOT NULL REFERENCES oidc_clients (id),
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    request_id      TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    verification_id TEXT    NOT NULL,
    scopes          TEXT    NOT NULL, -- JSON array
    acr             TEXT    NOT NULL,
    amr             TEXT    NOT NULL, -- JSON array
    auth_time       BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    used_at         BIGINT ,
    revoked_at      BIGINT 
);
CREATE INDEX oidc_tokens_family ON oidc_tokens (family);
CREATE INDEX oidc_tokens_request ON oidc_tokens (request_id);
CREATE INDEX oidc_tokens_subject ON oidc_tokens (client_id, subject);

-- Signing keys, sealed (AES-256-GCM under a key derived from the master secret, the key id as
-- data). A key signs until rotate_at and is published until publish_until, when the last token
-- it signed has expired.
CREATE TABLE oidc_keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    alg           TEXT    NOT NULL,
    sealed        BYTEA    NOT NULL,
    created_at    BIGINT  NOT NULL,
    rotate_at     BIGINT  NOT NULL,
    publish_until BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE oidc_keys;
DROP TABLE oidc_tokens;
DROP TABLE oidc_requests;
DROP TABLE oidc_clients;
