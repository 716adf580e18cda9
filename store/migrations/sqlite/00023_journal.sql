-- The verification journal on SQLite: a verification is ONE row, its evidence entry. Keep this
-- file in step with ../postgres/00023_journal.sql.
--
-- Until 00022 a verification wrote six rows into about fourteen B-trees (the session's status,
-- the verification, the evidence entry and its sealed data, the outbox event, the usage counter)
-- and the integrator rewrote the entry once more to give it its index. Now:
--
--   * evidence_entries holds, beside the evidence log's columns, the verification the entry
--     records (NULL on entries that record none) and the verification's event. The sealed
--     personal data moves into the entry row (evidence_sealed is gone; shredding sets it NULL).
--   * verifications is a view of the entries that record a verification, with the columns the
--     table had, so that every query of it reads as before.
--   * A session's status is no longer written: a session with a verification is verified or
--     failed by that verification's decision; the UNIQUE session_id of the entry is what keeps a
--     challenge single-use.
--   * On SQLite an entry gets its index in the tree (idx) when it is added: one writer adds rows
--     one transaction after the other, so MAX(idx) + 1 inside the writing transaction is dense and
--     in commit order. The integrator then only builds tiles (docs/design/evidence.md).
--   * The verification's event stays in the entry: the webhook dispatcher reads the entries in
--     tree order from event_cursor and copies an event into the outbox only for a tenant with an
--     endpoint that wants it.
--
-- Verifications stored before the evidence log existed keep a row without a leaf (outside the
-- tree), with the certificate and OCSP response in clear as they were stored.

-- +goose Up
CREATE TABLE evidence_entries_23 (
    seq                 INTEGER NOT NULL PRIMARY KEY, -- the order rows were added in; rows are never deleted
    id                  TEXT    NOT NULL UNIQUE,
    tenant_id           TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    -- The evidence log's entry (NULL leaf: a verification recorded before the log).
    leaf                BLOB,
    leaf_hash           BLOB CHECK (length(leaf_hash) = 32),
    idx                 INTEGER UNIQUE, -- the leaf's index; integrated once idx < evidence_tree.size
    sealed              BLOB,           -- AES-256-GCM of the personal data; NULL once shredded
    wrapped_key         BLOB,           -- its data key wrapped by the log master key; likewise
    shred_after         INTEGER,
    -- The verification the entry records (NULL session_id: it records none).
    session_id          TEXT UNIQUE,
    purpose             TEXT CHECK (purpose IN ('identity', 'login')),
    decision            TEXT CHECK (decision IN ('accepted', 'rejected')),
    reason              TEXT    NOT NULL DEFAULT '',
    detail              TEXT    NOT NULL DEFAULT '',
    person_id           TEXT REFERENCES persons (id),
    cert_ca             TEXT    NOT NULL DEFAULT '',
    cert_serial         TEXT    NOT NULL DEFAULT '',
    basic4              TEXT, -- JSON of jpki.Basic4; identity verifications only
    method              TEXT CHECK (method IN ('crl', 'ocsp', 'none')),
    revocation_ref      TEXT    NOT NULL DEFAULT '',
    cert                BLOB, -- only on rows without a leaf (otherwise sealed in the entry)
    revocation_evidence BLOB, -- likewise
    -- The verification's event, dispatched from here (event_cursor).
    event_id            TEXT UNIQUE,
    event_type          TEXT,
    event_payload       BLOB, -- the exact JSON bytes that get signed and sent
    CHECK ((leaf IS NULL) = (leaf_hash IS NULL)),
    CHECK (leaf IS NOT NULL OR session_id IS NOT NULL),
    CHECK ((sealed IS NULL) = (wrapped_key IS NULL)),
    CHECK (sealed IS NULL OR shred_after IS NOT NULL),
    CHECK ((session_id IS NULL) = (decision IS NULL) AND (session_id IS NULL) = (purpose IS NULL)
        AND (session_id IS NULL) = (method IS NULL)),
    CHECK (decision IS NOT 'accepted' OR person_id IS NOT NULL),
    CHECK ((event_id IS NULL) = (event_payload IS NULL) AND (event_id IS NULL) = (event_type IS NULL))
) STRICT;

-- Entries, with their sealed data and the verification each records.
INSERT INTO evidence_entries_23 (seq, id, tenant_id, created_at, leaf, leaf_hash, idx, sealed, wrapped_key, shred_after,
        session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial, basic4, method, revocation_ref,
        cert, revocation_evidence)
SELECT e.seq, e.id, e.tenant_id, e.created_at, e.leaf, e.leaf_hash, e.idx, s.sealed, s.wrapped_key, s.shred_after,
       v.session_id, v.purpose, v.decision, COALESCE(v.reason, ''), COALESCE(v.detail, ''), v.person_id,
       COALESCE(v.cert_ca, ''), COALESCE(v.cert_serial, ''), v.basic4, v.method, COALESCE(v.revocation_ref, ''),
       v.cert, v.revocation_evidence
FROM evidence_entries e
LEFT JOIN evidence_sealed s ON s.seq = e.seq
LEFT JOIN verifications v ON v.id = e.id
ORDER BY e.seq;

-- Verifications without an entry.
INSERT INTO evidence_entries_23 (id, tenant_id, created_at, session_id, purpose, decision, reason, detail, person_id,
        cert_ca, cert_serial, basic4, method, revocation_ref, cert, revocation_evidence)
SELECT v.id, v.tenant_id, v.created_at, v.session_id, v.purpose, v.decision, v.reason, v.detail, v.person_id,
       v.cert_ca, v.cert_serial, v.basic4, v.method, v.revocation_ref, v.cert, v.revocation_evidence
FROM verifications v
WHERE NOT EXISTS (SELECT 1 FROM evidence_entries e WHERE e.id = v.id)
ORDER BY v.created_at, v.id;

-- Entries the integrator had not reached yet get the next indexes, in the order they were added.
UPDATE evidence_entries_23 SET idx = p.i
FROM (SELECT seq, (SELECT size FROM evidence_tree WHERE one = 1) + row_number() OVER (ORDER BY seq) - 1 AS i
      FROM evidence_entries_23 WHERE leaf IS NOT NULL AND idx IS NULL) AS p
WHERE evidence_entries_23.seq = p.seq;

DROP TABLE evidence_sealed;
DROP TABLE evidence_entries;
DROP TABLE verifications;
ALTER TABLE evidence_entries_23 RENAME TO evidence_entries;

CREATE INDEX evidence_by_tenant ON evidence_entries (tenant_id, idx) WHERE idx IS NOT NULL;
CREATE INDEX evidence_due ON evidence_entries (shred_after) WHERE sealed IS NOT NULL;
-- Who watches a person: the tenants with an accepted verification of them (see watch_stops).
CREATE INDEX verifications_person ON evidence_entries (person_id, tenant_id, created_at) WHERE decision = 'accepted';
CREATE INDEX verifications_tenant_person ON evidence_entries (tenant_id, person_id) WHERE decision = 'accepted';

CREATE VIEW verifications AS
SELECT id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial, cert, basic4,
       method, revocation_ref, revocation_evidence, created_at
FROM evidence_entries WHERE session_id IS NOT NULL;

-- The dispatcher's place in the tree: entries below next_idx have had their events dispatched.
-- The events of the verifications above were written to the outbox by their transactions.
CREATE TABLE event_cursor (
    one      INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    next_idx INTEGER NOT NULL
) STRICT;
INSERT INTO event_cursor (one, next_idx) SELECT 1, COALESCE(MAX(idx) + 1, 0) FROM evidence_entries;

ALTER TABLE sessions DROP COLUMN status;
ALTER TABLE sessions DROP COLUMN verification_id;

-- +goose Down
ALTER TABLE sessions ADD COLUMN status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'failed'));
ALTER TABLE sessions ADD COLUMN verification_id TEXT;
UPDATE sessions SET
    status = COALESCE((SELECT CASE e.decision WHEN 'accepted' THEN 'verified' ELSE 'failed' END
                       FROM evidence_entries e WHERE e.session_id = sessions.id), 'pending'),
    verification_id = (SELECT e.id FROM evidence_entries e WHERE e.session_id = sessions.id);

DROP TABLE event_cursor;
DROP VIEW verifications;

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
    basic4              TEXT,
    method              TEXT    NOT NULL CHECK (method IN ('crl', 'ocsp', 'none')),
    revocation_ref      TEXT    NOT NULL DEFAULT '',
    revocation_evidence BLOB,
    created_at          INTEGER NOT NULL,
    CHECK (decision = 'rejected' OR person_id IS NOT NULL)
) STRICT;
INSERT INTO verifications (id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial,
        cert, basic4, method, revocation_ref, revocation_evidence, created_at)
SELECT id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial,
       cert, basic4, method, revocation_ref, revocation_evidence, created_at
FROM evidence_entries WHERE session_id IS NOT NULL ORDER BY seq;

-- The events of verifications not dispatched yet go back to the outbox.
INSERT INTO outbox (id, tenant_id, type, payload, created_at, next_attempt_at)
SELECT e.event_id, e.tenant_id, e.event_type, e.event_payload, e.created_at, e.created_at
FROM evidence_entries e
WHERE e.event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = e.event_id)
ORDER BY e.seq;

CREATE TABLE evidence_entries_02 (
    seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    tenant_id  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    leaf       BLOB    NOT NULL,
    leaf_hash  BLOB    NOT NULL CHECK (length(leaf_hash) = 32),
    idx        INTEGER UNIQUE
) STRICT;
-- Entries not integrated yet are unsequenced again.
INSERT INTO evidence_entries_02 (seq, id, tenant_id, created_at, leaf, leaf_hash, idx)
SELECT seq, id, tenant_id, created_at, leaf, leaf_hash,
       CASE WHEN idx < (SELECT size FROM evidence_tree WHERE one = 1) THEN idx END
FROM evidence_entries WHERE leaf IS NOT NULL ORDER BY seq;
CREATE TABLE evidence_sealed (
    seq         INTEGER NOT NULL PRIMARY KEY REFERENCES evidence_entries_02 (seq),
    sealed      BLOB    NOT NULL,
    wrapped_key BLOB    NOT NULL,
    shred_after INTEGER NOT NULL
) STRICT;
INSERT INTO evidence_sealed (seq, sealed, wrapped_key, shred_after)
SELECT seq, sealed, wrapped_key, shred_after FROM evidence_entries WHERE leaf IS NOT NULL AND sealed IS NOT NULL ORDER BY seq;
DROP TABLE evidence_entries;
ALTER TABLE evidence_entries_02 RENAME TO evidence_entries;
CREATE INDEX evidence_pending ON evidence_entries (seq) WHERE idx IS NULL;
CREATE INDEX evidence_by_tenant ON evidence_entries (tenant_id, idx) WHERE idx IS NOT NULL;
CREATE INDEX evidence_due ON evidence_sealed (shred_after);
CREATE INDEX verifications_person ON verifications (person_id, tenant_id, created_at) WHERE decision = 'accepted';
CREATE INDEX verifications_tenant_person ON verifications (tenant_id, person_id) WHERE decision = 'accepted';
