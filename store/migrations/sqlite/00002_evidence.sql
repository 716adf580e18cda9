-- The evidence log (package evidence, docs/design/evidence.md). Keep this file in step with
-- ../postgres/00002_evidence.sql.
--
-- An entry is written unsequenced (idx NULL), in the transaction of its verification or by
-- AddEntries; the integrator later gives it its index, writes the tiles and moves the tree state,
-- in one transaction guarded on the tree size. Personal data sits in evidence_sealed, so that
-- integrating rewrites only the small entry row and shredding is a DELETE. Entries reference no
-- other table: the log also records entries that are not verifications.

-- +goose Up
CREATE TABLE evidence_entries (
    seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, -- the order entries were added in
    id         TEXT    NOT NULL UNIQUE,
    tenant_id  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    leaf       BLOB    NOT NULL, -- the canonical leaf; kept forever
    leaf_hash  BLOB    NOT NULL CHECK (length(leaf_hash) = 32),
    idx        INTEGER UNIQUE    -- NULL until integrated
) STRICT;
CREATE INDEX evidence_pending ON evidence_entries (seq) WHERE idx IS NULL;
CREATE INDEX evidence_by_tenant ON evidence_entries (tenant_id, idx) WHERE idx IS NOT NULL;

CREATE TABLE evidence_sealed (
    seq         INTEGER NOT NULL PRIMARY KEY REFERENCES evidence_entries (seq),
    sealed      BLOB    NOT NULL, -- AES-256-GCM of the personal data under the entry's data key
    wrapped_key BLOB    NOT NULL, -- the data key wrapped by the log master key
    shred_after INTEGER NOT NULL
) STRICT;
CREATE INDEX evidence_due ON evidence_sealed (shred_after);

-- One row: the integrated tree, and the size of the latest checkpoint (-1: none yet), which
-- AddCheckpoint raises with a guarded UPDATE.
CREATE TABLE evidence_tree (
    one             INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    size            INTEGER NOT NULL,
    root            BLOB    NOT NULL,
    checkpoint_size INTEGER NOT NULL
) STRICT;
INSERT INTO evidence_tree (one, size, root, checkpoint_size) VALUES (1, 0, x'', -1);

-- C2SP tlog-tiles: tile (level, idx) holds up to 256 hashes of tree level 8·level.
CREATE TABLE evidence_tiles (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hashes BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT;

CREATE TABLE evidence_checkpoints (
    size      INTEGER NOT NULL PRIMARY KEY,
    root      BLOB    NOT NULL,
    note      BLOB    NOT NULL, -- the signed note as published
    signed_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE evidence_checkpoints;
DROP TABLE evidence_tiles;
DROP TABLE evidence_tree;
DROP TABLE evidence_sealed;
DROP TABLE evidence_entries;
