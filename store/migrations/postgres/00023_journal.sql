-- The verification journal on PostgreSQL: a verification is ONE row, its evidence entry. Keep
-- this file in step with ../sqlite/00023_journal.sql, which says why.
--
-- Unlike SQLite, PostgreSQL keeps giving entries their index in the integrator (idx stays NULL
-- until then, found through evidence_pending): its writers commit in parallel, so an index taken
-- in the verification's transaction would either serialize them on one row lock or come out of
-- commit order with gaps.

-- +goose Up
ALTER TABLE evidence_entries
    ALTER COLUMN leaf DROP NOT NULL,
    ALTER COLUMN leaf_hash DROP NOT NULL,
    ADD COLUMN sealed              BYTEA,
    ADD COLUMN wrapped_key         BYTEA,
    ADD COLUMN shred_after         BIGINT,
    ADD COLUMN session_id          TEXT,
    ADD COLUMN purpose             TEXT CHECK (purpose IN ('identity', 'login')),
    ADD COLUMN decision            TEXT CHECK (decision IN ('accepted', 'rejected')),
    ADD COLUMN reason              TEXT NOT NULL DEFAULT '',
    ADD COLUMN detail              TEXT NOT NULL DEFAULT '',
    ADD COLUMN person_id           TEXT REFERENCES persons (id),
    ADD COLUMN cert_ca             TEXT NOT NULL DEFAULT '',
    ADD COLUMN cert_serial         TEXT NOT NULL DEFAULT '',
    ADD COLUMN basic4              TEXT,
    ADD COLUMN method              TEXT CHECK (method IN ('crl', 'ocsp', 'none')),
    ADD COLUMN revocation_ref      TEXT NOT NULL DEFAULT '',
    ADD COLUMN cert                BYTEA,
    ADD COLUMN revocation_evidence BYTEA,
    ADD COLUMN event_id            TEXT,
    ADD COLUMN event_type          TEXT,
    ADD COLUMN event_payload       BYTEA;

UPDATE evidence_entries e SET sealed = s.sealed, wrapped_key = s.wrapped_key, shred_after = s.shred_after
FROM evidence_sealed s WHERE s.seq = e.seq;

UPDATE evidence_entries e SET session_id = v.session_id, purpose = v.purpose, decision = v.decision, reason = v.reason,
    detail = v.detail, person_id = v.person_id, cert_ca = v.cert_ca, cert_serial = v.cert_serial, basic4 = v.basic4,
    method = v.method, revocation_ref = v.revocation_ref, cert = v.cert, revocation_evidence = v.revocation_evidence
FROM verifications v WHERE v.id = e.id;

INSERT INTO evidence_entries (id, tenant_id, created_at, session_id, purpose, decision, reason, detail, person_id,
        cert_ca, cert_serial, basic4, method, revocation_ref, cert, revocation_evidence)
SELECT v.id, v.tenant_id, v.created_at, v.session_id, v.purpose, v.decision, v.reason, v.detail, v.person_id,
       v.cert_ca, v.cert_serial, v.basic4, v.method, v.revocation_ref, v.cert, v.revocation_evidence
FROM verifications v
WHERE NOT EXISTS (SELECT 1 FROM evidence_entries e WHERE e.id = v.id)
ORDER BY v.created_at, v.id;

DROP TABLE evidence_sealed;
DROP TABLE verifications;

ALTER TABLE evidence_entries
    ADD CONSTRAINT evidence_entries_session_id_key UNIQUE (session_id),
    ADD CONSTRAINT evidence_entries_event_id_key UNIQUE (event_id),
    ADD CHECK ((leaf IS NULL) = (leaf_hash IS NULL)),
    ADD CHECK (leaf IS NOT NULL OR session_id IS NOT NULL),
    ADD CHECK ((sealed IS NULL) = (wrapped_key IS NULL)),
    ADD CHECK (sealed IS NULL OR shred_after IS NOT NULL),
    ADD CHECK ((session_id IS NULL) = (decision IS NULL) AND (session_id IS NULL) = (purpose IS NULL)
        AND (session_id IS NULL) = (method IS NULL)),
    ADD CHECK (decision IS DISTINCT FROM 'accepted' OR person_id IS NOT NULL),
    ADD CHECK ((event_id IS NULL) = (event_payload IS NULL) AND (event_id IS NULL) = (event_type IS NULL));

DROP INDEX evidence_pending;
CREATE INDEX evidence_pending ON evidence_entries (seq) WHERE idx IS NULL AND leaf IS NOT NULL;
CREATE INDEX evidence_due ON evidence_entries (shred_after) WHERE sealed IS NOT NULL;
CREATE INDEX verifications_person ON evidence_entries (person_id, tenant_id, created_at) WHERE decision = 'accepted';
CREATE INDEX verifications_tenant_person ON evidence_entries (tenant_id, person_id) WHERE decision = 'accepted';

CREATE VIEW verifications AS
SELECT id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial, cert, basic4,
       method, revocation_ref, revocation_evidence, created_at
FROM evidence_entries WHERE session_id IS NOT NULL;

CREATE TABLE event_cursor (
    one      INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    next_idx BIGINT  NOT NULL
);
INSERT INTO event_cursor (one, next_idx) SELECT 1, COALESCE(MAX(idx) + 1, 0) FROM evidence_entries;

ALTER TABLE sessions DROP COLUMN status, DROP COLUMN verification_id;

-- +goose Down
ALTER TABLE sessions ADD COLUMN status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'failed')),
    ADD COLUMN verification_id TEXT;
UPDATE sessions s SET status = CASE e.decision WHEN 'accepted' THEN 'verified' ELSE 'failed' END, verification_id = e.id
FROM evidence_entries e WHERE e.session_id = s.id;

DROP TABLE event_cursor;
DROP VIEW verifications;

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
    basic4              TEXT,
    method              TEXT   NOT NULL CHECK (method IN ('crl', 'ocsp', 'none')),
    revocation_ref      TEXT   NOT NULL DEFAULT '',
    revocation_evidence BYTEA,
    created_at          BIGINT NOT NULL,
    CHECK (decision = 'rejected' OR person_id IS NOT NULL)
);
INSERT INTO verifications (id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial,
        cert, basic4, method, revocation_ref, revocation_evidence, created_at)
SELECT id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial,
       cert, basic4, method, revocation_ref, revocation_evidence, created_at
FROM evidence_entries WHERE session_id IS NOT NULL ORDER BY seq;

INSERT INTO outbox (id, tenant_id, type, payload, created_at, next_attempt_at)
SELECT e.event_id, e.tenant_id, e.event_type, e.event_payload, e.created_at, e.created_at
FROM evidence_entries e
WHERE e.event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = e.event_id)
ORDER BY e.seq;

CREATE TABLE evidence_sealed (
    seq         BIGINT NOT NULL PRIMARY KEY REFERENCES evidence_entries (seq),
    sealed      BYTEA  NOT NULL,
    wrapped_key BYTEA  NOT NULL,
    shred_after BIGINT NOT NULL
);
INSERT INTO evidence_sealed (seq, sealed, wrapped_key, shred_after)
SELECT seq, sealed, wrapped_key, shred_after FROM evidence_entries WHERE leaf IS NOT NULL AND sealed IS NOT NULL;

DROP INDEX verifications_person;
DROP INDEX verifications_tenant_person;
DROP INDEX evidence_due;
DROP INDEX evidence_pending;
DELETE FROM evidence_entries WHERE leaf IS NULL;
ALTER TABLE evidence_entries DROP CONSTRAINT evidence_entries_session_id_key, DROP CONSTRAINT evidence_entries_event_id_key,
    DROP COLUMN sealed, DROP COLUMN wrapped_key, DROP COLUMN shred_after, DROP COLUMN session_id, DROP COLUMN purpose,
    DROP COLUMN decision, DROP COLUMN reason, DROP COLUMN detail, DROP COLUMN person_id, DROP COLUMN cert_ca,
    DROP COLUMN cert_serial, DROP COLUMN basic4, DROP COLUMN method, DROP COLUMN revocation_ref, DROP COLUMN cert,
    DROP COLUMN revocation_evidence, DROP COLUMN event_id, DROP COLUMN event_type, DROP COLUMN event_payload,
    ALTER COLUMN leaf SET NOT NULL, ALTER COLUMN leaf_hash SET NOT NULL;
CREATE INDEX evidence_pending ON evidence_entries (seq) WHERE idx IS NULL;
CREATE INDEX evidence_due ON evidence_sealed (shred_after);
CREATE INDEX verifications_person ON verifications (person_id, tenant_id, created_at) WHERE decision = 'accepted';
CREATE INDEX verifications_tenant_person ON verifications (tenant_id, person_id) WHERE decision = 'accepted';
