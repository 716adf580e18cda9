-- Revocation notification (証明書失効通知管理) on PostgreSQL: which revoked certificates have been
-- noticed, which tenants stopped watching whom, and the holders' consents to basic-4 updates.
-- Keep this file in step with ../sqlite/00020_revocation_notify.sql.

-- +goose Up
-- The person whose events must reach a tenant in order (NULL: no order). Internal; never sent.
ALTER TABLE outbox ADD COLUMN ordering_key TEXT;
-- Undispatched events in delivery order, and the per-person order check of the claim.
CREATE INDEX outbox_undispatched ON outbox (seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_undispatched_order ON outbox (tenant_id, ordering_key, seq)
    WHERE delivered_at IS NULL AND ordering_key IS NOT NULL;

-- Who watches a person: the tenants with an accepted verification of them (see watch_stops).
CREATE INDEX verifications_person ON verifications (person_id, tenant_id, created_at) WHERE decision = 'accepted';
CREATE INDEX verifications_tenant_person ON verifications (tenant_id, person_id) WHERE decision = 'accepted';

-- A tenant that stopped watching a person. A later accepted verification of the person by the
-- tenant (created_at > stopped_at) watches them again.
CREATE TABLE watch_stops (
    tenant_id  TEXT    NOT NULL REFERENCES tenants (id),
    person_id  TEXT    NOT NULL REFERENCES persons (id),
    stopped_at BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, person_id)
);

-- A holder's consent, given with a verification. It is written just before the verification it
-- names and has no foreign key to it on purpose: it takes effect only once that verification
-- exists and was accepted (every reader joins on it), so a consent whose verification never
-- committed is inert.
CREATE TABLE consents (
    id              TEXT    NOT NULL PRIMARY KEY,
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
    verification_id TEXT    NOT NULL,
    scope           TEXT    NOT NULL CHECK (scope IN ('basic4_updates')),
    granted_at      BIGINT  NOT NULL,
    revoked_at      BIGINT,
    UNIQUE (verification_id, scope)
);
CREATE INDEX consents_verification ON consents (verification_id) WHERE revoked_at IS NULL;

-- A revoked certificate linked to a person, noticed on a CRL: at most one row per certificate,
-- so re-reading the same CRL (a restart, two nodes) notices nothing twice. The follow-up (link
-- the successor certificates, fetch the latest basic 4 facts after a move) is a job on the row.
CREATE TABLE revocation_notices (
    ca                TEXT    NOT NULL,
    serial            TEXT    NOT NULL,
    person_id         TEXT    NOT NULL REFERENCES persons (id),
    reason            BIGINT  NOT NULL, -- RFC 5280 CRLReason; -1 when the CRL entry has none
    revoked_at        BIGINT  NOT NULL,
    crl               TEXT    NOT NULL, -- "<ca name>#<cRLNumber>" of the CRL it was seen on
    noticed_at        BIGINT  NOT NULL,
    followup          TEXT    NOT NULL CHECK (followup IN ('pending', 'done', 'failed')),
    followup_attempts BIGINT  NOT NULL DEFAULT 0,
    followup_at       BIGINT  NOT NULL, -- when the follow-up is due (or its lease ends)
    followup_error    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (ca, serial)
);
CREATE INDEX revocation_notices_due ON revocation_notices (followup_at) WHERE followup = 'pending';

-- +goose Down
DROP TABLE revocation_notices;
DROP TABLE consents;
DROP TABLE watch_stops;
DROP INDEX verifications_tenant_person;
DROP INDEX verifications_person;
DROP INDEX outbox_undispatched_order;
DROP INDEX outbox_undispatched;
ALTER TABLE outbox DROP COLUMN ordering_key;
