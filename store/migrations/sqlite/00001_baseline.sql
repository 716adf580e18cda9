-- The platform's schema on SQLite, in one file: the baseline every database starts from. Keep it
-- in step with ../postgres/00001_baseline.sql: same tables, columns, keys and constraints.
--
-- Times are unix nanoseconds (UTC) in INTEGER columns; byte strings are BLOB; tables are STRICT,
-- so a value of the wrong type is refused instead of stored. Every *_id column that names a row
-- of another table declares it as a foreign key (foreign keys are on for every connection).
-- Ids written per verification (s_, v_, evt_) begin
-- with 12 hex digits of unix milliseconds, so their indexes grow at the right edge.

-- +goose Up

-- Tenants and their API keys --------------------------------------------------------------------

CREATE TABLE tenants (
    id                TEXT    NOT NULL PRIMARY KEY,
    name              TEXT    NOT NULL, -- shown to the holder and in the console
    facts             TEXT    NOT NULL DEFAULT '[]', -- JSON array of platform.Fact: what the tenant may receive
    created_at        INTEGER NOT NULL,
    -- How the tenant's verifications check revocation (platform.RevocationPolicy).
    revocation_policy TEXT    NOT NULL DEFAULT 'crl' CHECK (revocation_policy IN ('crl', 'ocsp', 'both')),
    -- When the tenant's fact allowance last grew (NULL: never). The certificate carries every
    -- fact, so it is served only for verifications made at or after this time.
    facts_widened_at  INTEGER
) STRICT;

CREATE TABLE api_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    name        TEXT    NOT NULL, -- the tenant's label for the key
    secret_hash BLOB    NOT NULL, -- SHA-256 of the secret; the secret itself is shown once
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER           -- NULL while the key works
) STRICT;
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

-- Sessions, persons and verifications -----------------------------------------------------------

-- A session is a challenge for one holder. It has no status column: a session with a
-- verification is verified or failed by that verification's decision, else pending.
CREATE TABLE sessions (
    id              TEXT    NOT NULL PRIMARY KEY,
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    purpose         TEXT    NOT NULL CHECK (purpose IN ('identity', 'login', 'chip_reading')),
    nonce           BLOB    NOT NULL, -- the challenge's random part
    holder_token    TEXT    NOT NULL, -- the holder app's bearer token for this session
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    client_ref      TEXT    NOT NULL DEFAULT '', -- the tenant's own reference, returned as given
    -- The tenant's Idempotency-Key of POST /v1/sessions; NULL without one (NULLs never collide).
    idempotency_key TEXT,
    sign_sha256     BLOB, -- SHA-256 of the document to sign (OpenID sign scope); NULL: no signature
    sign_rp         TEXT, -- the relying party named in the signed challenge; NULL likewise
    UNIQUE (tenant_id, idempotency_key)
) STRICT;

-- A person is a card holder known by the certificates linked to them; nothing else about them
-- is kept in clear.
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
CREATE INDEX person_certs_person ON person_certs (person_id);

-- The evidence log's entries (package evidence, docs/design/evidence.md): what the log keeps of
-- each verification. An entry gets its index in the tree (idx) when it is added: one writer adds
-- rows one transaction after the other, so MAX(idx) + 1 inside the adding transaction is dense
-- and in commit order. An entry counts as integrated once idx < evidence_tree.size. Rows are never deleted;
-- shredding sets sealed and wrapped_key NULL.
CREATE TABLE evidence_entries (
    seq         INTEGER NOT NULL PRIMARY KEY, -- the order entries were added in
    id          TEXT    NOT NULL UNIQUE, -- the verification's id
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    created_at  INTEGER NOT NULL,
    leaf        BLOB    NOT NULL, -- the canonical leaf; kept forever
    leaf_hash   BLOB    NOT NULL CHECK (length(leaf_hash) = 32), -- RFC 6962 hash of leaf
    idx         INTEGER UNIQUE, -- the leaf's index in the tree
    sealed      BLOB,    -- AES-256-GCM of the personal data under the entry's data key; NULL once shredded
    wrapped_key BLOB,    -- that data key wrapped by the log master key; NULL once shredded
    shred_after INTEGER, -- when sealed and wrapped_key are erased
    CHECK ((sealed IS NULL) = (wrapped_key IS NULL)),
    CHECK (sealed IS NULL OR shred_after IS NOT NULL)
) STRICT;
CREATE INDEX evidence_by_tenant ON evidence_entries (tenant_id, idx) WHERE idx IS NOT NULL;
CREATE INDEX evidence_due ON evidence_entries (shred_after) WHERE sealed IS NOT NULL;

-- A verification: the outcome of one session, written with its evidence entry (same id) in one
-- transaction. Its UNIQUE session_id is what makes a challenge single-use. The certificate and
-- any OCSP response are kept only sealed in the entry.
CREATE TABLE verifications (
    id             TEXT    NOT NULL PRIMARY KEY REFERENCES evidence_entries (id),
    tenant_id      TEXT    NOT NULL REFERENCES tenants (id),
    session_id     TEXT    NOT NULL UNIQUE REFERENCES sessions (id),
    purpose        TEXT    NOT NULL CHECK (purpose IN ('identity', 'login', 'chip_reading')),
    decision       TEXT    NOT NULL CHECK (decision IN ('accepted', 'rejected')),
    reason         TEXT    NOT NULL DEFAULT '', -- why rejected (a verify.Reason); '' when accepted
    detail         TEXT    NOT NULL DEFAULT '', -- the rejection's details, for the tenant's logs
    person_id      TEXT    REFERENCES persons (id), -- the holder; NULL when rejected
    cert_ca        TEXT    NOT NULL DEFAULT '', -- the certificate's CA, as in person_certs.ca
    cert_serial    TEXT    NOT NULL DEFAULT '', -- its serial, as in person_certs.serial
    method         TEXT    NOT NULL CHECK (method IN ('crl', 'ocsp', 'none')), -- how revocation was checked
    revocation_ref TEXT    NOT NULL DEFAULT '', -- the CRL ("<ca>#<number>") or OCSP response checked
    created_at     INTEGER NOT NULL,
    CHECK (decision = 'rejected' OR person_id IS NOT NULL)
) STRICT;
-- Who watches a person: the tenants with an accepted verification of them (see watch_stops).
CREATE INDEX verifications_person ON verifications (person_id, tenant_id, created_at) WHERE decision = 'accepted';
CREATE INDEX verifications_tenant_person ON verifications (tenant_id, person_id) WHERE decision = 'accepted';
-- A tenant's latest verifications (the console), and those since a time (subjects).
CREATE INDEX verifications_tenant_recent ON verifications (tenant_id, created_at);

-- A usage counter: verifications of a tenant per month, purpose and revocation method.
CREATE TABLE usage_counters (
    tenant_id TEXT    NOT NULL REFERENCES tenants (id),
    month     TEXT    NOT NULL, -- YYYY-MM in JST
    purpose   TEXT    NOT NULL CHECK (purpose IN ('identity', 'login', 'chip_reading')),
    method    TEXT    NOT NULL CHECK (method IN ('crl', 'ocsp', 'none')),
    -- Each counter is split over 16 rows so that concurrent verifications of one tenant do not
    -- all queue for one row lock until their commits (PostgreSQL); Usage sums the shards.
    shard     INTEGER NOT NULL CHECK (shard BETWEEN 0 AND 15),
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, month, purpose, method, shard)
) STRICT, WITHOUT ROWID;

-- The evidence log's tree ---------------------------------------------------------------------

-- One row: the integrated tree, and the size of the latest checkpoint (-1: none yet), which
-- AddCheckpoint raises with a guarded UPDATE.
CREATE TABLE evidence_tree (
    one             INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    size            INTEGER NOT NULL, -- entries integrated
    root            BLOB    NOT NULL, -- the tree's root hash at that size
    checkpoint_size INTEGER NOT NULL
) STRICT;
INSERT INTO evidence_tree (one, size, root, checkpoint_size) VALUES (1, 0, x'', -1);

-- C2SP tlog-tiles: tile (level, idx) holds up to 256 hashes of tree level 8·level.
CREATE TABLE evidence_tiles (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hashes BLOB    NOT NULL, -- 32 bytes per hash; a partial tile grows until it has 256
    PRIMARY KEY (level, idx)
) STRICT;

CREATE TABLE evidence_checkpoints (
    size      INTEGER NOT NULL PRIMARY KEY,
    root      BLOB    NOT NULL,
    note      BLOB    NOT NULL, -- the signed note as published
    signed_at INTEGER NOT NULL
) STRICT;

-- Events out: the outbox and webhooks ----------------------------------------------------------

-- The transactional outbox, the one way events leave: each is written in the transaction that
-- causes it (a verification's only when an endpoint of its tenant may want it) and delivered
-- later (webhooks). seq orders delivery.
CREATE TABLE outbox (
    seq             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE, -- the event's id, as sent
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    type            TEXT    NOT NULL, -- the event type, as sent
    payload         BLOB    NOT NULL, -- the exact JSON bytes that get signed and sent
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER, -- when the event was dispatched into webhook_deliveries; NULL: not yet
    last_error      TEXT    NOT NULL DEFAULT '',
    ordering_key    TEXT -- the person whose events must reach the tenant in order (NULL: none); never sent
) STRICT;
-- Undispatched events in delivery order, and the per-person order check of the claim.
CREATE INDEX outbox_undispatched ON outbox (seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_undispatched_order ON outbox (tenant_id, ordering_key, seq)
    WHERE delivered_at IS NULL AND ordering_key IS NOT NULL;

CREATE TABLE webhook_endpoints (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    url         TEXT    NOT NULL, -- https; checked against the egress policy when sending
    description TEXT    NOT NULL DEFAULT '',
    event_types TEXT    NOT NULL DEFAULT '[]', -- JSON array of event types; empty: every type
    created_at  INTEGER NOT NULL,
    disabled_at INTEGER -- NULL while the endpoint receives events
) STRICT;
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at);

-- Signing secrets, sealed (AES-256-GCM under a key derived from the platform's master secret):
-- the platform must sign with them, so they cannot be hashed. The current secret has no
-- expires_at; a rotated-out one keeps signing until expires_at.
CREATE TABLE webhook_secrets (
    endpoint_id TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    id          TEXT    NOT NULL,
    sealed      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    PRIMARY KEY (endpoint_id, id)
) STRICT;

-- One event to one endpoint. A worker claims a row by moving next_attempt_at to the end of its
-- lease and writing its claim token; it records the outcome only while the token is still its own.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq       INTEGER NOT NULL, -- the event's outbox seq: orders deliveries
    event_id        TEXT    NOT NULL REFERENCES outbox (id),
    endpoint_id     TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    ordering_key    TEXT, -- the person: deliveries with one key arrive in event_seq order
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL, -- when it is due, or when the claim's lease ends
    claim           TEXT, -- the token of the worker holding it
    last_attempt_at INTEGER,
    last_status     INTEGER NOT NULL DEFAULT 0, -- HTTP status of the last attempt; 0: no answer
    last_error      TEXT    NOT NULL DEFAULT '',
    delivered_at    INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (event_id, endpoint_id)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, ordering_key, event_seq)
    WHERE state = 'pending' AND ordering_key IS NOT NULL;
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, state, id);

-- Revocation notification (証明書失効通知管理) --------------------------------------------------

-- A tenant that stopped watching a person. A later accepted verification of the person by the
-- tenant (created_at > stopped_at) watches them again.
CREATE TABLE watch_stops (
    tenant_id  TEXT    NOT NULL REFERENCES tenants (id),
    person_id  TEXT    NOT NULL REFERENCES persons (id),
    stopped_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, person_id)
) STRICT;

-- A holder's consent, given with an accepted identity verification and written in that
-- verification's transaction (CompleteSession), so it exists exactly when its verification does.
CREATE TABLE consents (
    id              TEXT    NOT NULL PRIMARY KEY,
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    verification_id TEXT    NOT NULL REFERENCES verifications (id), -- the verification it was given with
    scope           TEXT    NOT NULL CHECK (scope IN ('basic4_updates')),
    granted_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    UNIQUE (verification_id, scope)
) STRICT;
CREATE INDEX consents_verification ON consents (verification_id) WHERE revoked_at IS NULL;

-- A revoked certificate linked to a person, noticed on a CRL: at most one row per certificate,
-- so re-reading the same CRL (a restart, two nodes) notices nothing twice. The follow-up (link
-- the successor certificates, fetch the latest basic 4 facts after a move) is a job on the row.
CREATE TABLE revocation_notices (
    ca                TEXT    NOT NULL, -- as person_certs.ca
    serial            TEXT    NOT NULL, -- as person_certs.serial
    person_id         TEXT    NOT NULL REFERENCES persons (id),
    reason            INTEGER NOT NULL, -- RFC 5280 CRLReason; -1 when the CRL entry has none
    revoked_at        INTEGER NOT NULL,
    crl               TEXT    NOT NULL, -- "<ca name>#<cRLNumber>" of the CRL it was seen on
    noticed_at        INTEGER NOT NULL,
    followup          TEXT    NOT NULL CHECK (followup IN ('pending', 'done', 'failed')),
    followup_attempts INTEGER NOT NULL DEFAULT 0,
    followup_at       INTEGER NOT NULL, -- when the follow-up is due (or its lease ends)
    followup_error    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (ca, serial)
) STRICT;
CREATE INDEX revocation_notices_due ON revocation_notices (followup_at) WHERE followup = 'pending';

-- Trust that survives a restart ------------------------------------------------------------------

-- The J-LIS CA certificates the platform trusts, by J-LIS name, recorded at the first start (or
-- from serve --trust), so that a CA certificate that changes between two starts is refused.
CREATE TABLE trust_anchors (
    name        TEXT    NOT NULL PRIMARY KEY,
    cert        BLOB    NOT NULL, -- DER
    recorded_at INTEGER NOT NULL
) STRICT;

-- Per CA, the highest cRLNumber accepted, so that an older signed CRL is refused after a restart.
CREATE TABLE crl_high_water (
    ca          TEXT    NOT NULL PRIMARY KEY,
    -- Decimal, zero-padded to 50 digits (a cRLNumber has at most 20 octets, 49 digits), so that
    -- text order is number order.
    number      TEXT    NOT NULL CHECK (length(number) = 50),
    tbs_digest  BLOB    NOT NULL, -- SHA-256 of the CRL's tbsCertList: the same number must be the same CRL
    this_update INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
) STRICT;

-- The OpenID provider --------------------------------------------------------------------------
-- Secrets are never stored in clear: client secrets, codes, device codes and refresh tokens as
-- SHA-256 hashes, signing keys sealed under a key derived from the platform's master secret.
-- Personal facts are not copied here: a login keeps the id of its verification, and the claims
-- are read from it when they are asked for.

CREATE TABLE oidc_clients (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id),
    name          TEXT    NOT NULL,
    secret_hash   BLOB,                          -- NULL: a public client (PKCE S256 required)
    redirect_uris TEXT    NOT NULL,              -- JSON array, matched exactly
    logout_uris   TEXT    NOT NULL DEFAULT '[]', -- JSON array, matched exactly
    created_at    INTEGER NOT NULL,
    deleted_at    INTEGER
) STRICT;
CREATE INDEX oidc_clients_tenant ON oidc_clients (tenant_id, created_at);

-- One login: an authorization request (kind code) or a device authorization (kind device).
-- The login step's platform session, then its outcome, are written once each (guarded).
CREATE TABLE oidc_requests (
    id              TEXT    NOT NULL PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('code', 'device')),
    client_id       TEXT    NOT NULL REFERENCES oidc_clients (id),
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    params          TEXT    NOT NULL, -- JSON: redirect_uri, scopes, state, nonce, PKCE, prompt, max_age
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    session_id      TEXT    REFERENCES sessions (id), -- the login step's session, once started
    subject         TEXT,    -- the pairwise subject, once verified
    verification_id TEXT    REFERENCES verifications (id), -- the verification that logged in
    acr             TEXT,
    amr             TEXT,    -- JSON array
    auth_time       INTEGER,
    done_at         INTEGER, -- when the holder finished (verified or not)
    denied_at       INTEGER, -- when the login was refused
    code_hash       TEXT UNIQUE, -- SHA-256 of the authorization code
    code_expires_at INTEGER,
    code_used_at    INTEGER,
    device_hash     TEXT UNIQUE, -- SHA-256 of the device code
    user_code       TEXT UNIQUE, -- the code the user types
    last_poll_at    INTEGER      -- the device's last token poll (slow_down)
) STRICT;

-- Access and refresh tokens. A refresh token (refresh_hash set) belongs to a family: the
-- tokens issued from one login by rotation. A rotated token keeps its row with used_at set, so
-- that presenting it again is recognised as reuse and revokes the family.
CREATE TABLE oidc_tokens (
    id              TEXT    NOT NULL PRIMARY KEY,
    refresh_hash    TEXT UNIQUE, -- SHA-256 of the refresh token; NULL on an access token
    family          TEXT    NOT NULL,
    client_id       TEXT    NOT NULL REFERENCES oidc_clients (id),
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    request_id      TEXT    NOT NULL REFERENCES oidc_requests (id), -- the login it comes from
    subject         TEXT    NOT NULL,
    verification_id TEXT    NOT NULL REFERENCES verifications (id), -- whose facts the claims are
    scopes          TEXT    NOT NULL, -- JSON array
    acr             TEXT    NOT NULL,
    amr             TEXT    NOT NULL, -- JSON array
    auth_time       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER,
    revoked_at      INTEGER
) STRICT;
CREATE INDEX oidc_tokens_family ON oidc_tokens (family);
CREATE INDEX oidc_tokens_request ON oidc_tokens (request_id);
CREATE INDEX oidc_tokens_subject ON oidc_tokens (client_id, subject);

-- Signing keys, sealed (AES-256-GCM under a key derived from the master secret, the key id as
-- data). A key signs until rotate_at and is published until publish_until, when the last token
-- it signed has expired.
CREATE TABLE oidc_keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    alg           TEXT    NOT NULL,
    sealed        BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    rotate_at     INTEGER NOT NULL,
    publish_until INTEGER NOT NULL
) STRICT;

-- The console ---------------------------------------------------------------------------------

-- Console users: a tenant's staff, or the platform's operators.
CREATE TABLE console_users (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant_id     TEXT    REFERENCES tenants (id), -- NULL: an operator of the platform
    email         TEXT    NOT NULL UNIQUE,         -- lower case
    password_hash TEXT    NOT NULL,                -- PHC string, argon2id
    role          TEXT    NOT NULL CHECK (role IN ('staff', 'operator')),
    created_at    INTEGER NOT NULL,
    -- The pairwise subject (of the platform's portal tenant) of the user's own My Number Card,
    -- to sign in with it through the OpenID provider; one card signs in one account at most.
    card_sub      TEXT,
    CHECK ((role = 'operator') = (tenant_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX console_users_card_sub ON console_users (card_sub) WHERE card_sub IS NOT NULL;

-- Pairwise subjects ----------------------------------------------------------------------------

-- An index of the pairwise ids (sub) of the persons a tenant verified, so that GET and DELETE
-- /v1/watches/{sub} find the person by key. Pairwise ids derive from the master secret, which
-- the database never holds, so the platform fills the index itself: a lookup that misses walks
-- only the tenant's verifications since subject_marks.indexed_to, indexes them and moves the
-- mark. The index keeps a keyed hash of the sub, not the sub: a reader of the database who learns
-- subs from two tenants cannot link them through it.
CREATE TABLE subjects (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    sub_hash  BLOB NOT NULL, -- HMAC of the sub under a key derived from the master secret
    person_id TEXT NOT NULL REFERENCES persons (id),
    PRIMARY KEY (tenant_id, sub_hash)
) STRICT;

CREATE TABLE subject_marks (
    tenant_id  TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id),
    indexed_to INTEGER NOT NULL -- the created_at up to which the tenant's verifications are indexed
) STRICT;

-- Idempotency-Key ------------------------------------------------------------------------------

-- Idempotency-Key for the API's state-changing requests other than POST /v1/sessions (which
-- keeps its key on the session row): one row per (tenant, key). Rows are replaced after 24 hours
-- (platform/idempotency.go).
CREATE TABLE idempotency_keys (
    tenant_id      TEXT    NOT NULL REFERENCES tenants (id),
    idem_key       TEXT    NOT NULL,
    request_digest BLOB    NOT NULL, -- SHA-256 of the first request: another request with the key is refused
    created_at     INTEGER NOT NULL,
    status         INTEGER, -- the first response's HTTP status; NULL while the first request runs
    response       BLOB,    -- its body, sealed under a key derived from the master secret
    PRIMARY KEY (tenant_id, idem_key)
) STRICT;
