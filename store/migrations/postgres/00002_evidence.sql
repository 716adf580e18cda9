-- The evidence log (package evidence, docs/design/evidence.md). Keep this file in step with
-- ../sqlite/00002_evidence.sql.
--
-- An entry is written unsequenced (idx NULL), in the transaction of its verification or by
-- AddEntries; the integrator later gives it its index, writes the tiles and moves the tree state,
-- in one transaction guarded on the tree size. seq only orders pending entries fairly: sequence
-- values are not committed in order, which is why indexes are assigned by the integrator and not
-- taken from seq. Personal data sits in evidence_sealed, so that integrating rewrites only the
-- small entry row and shredding is a DELETE. Entries reference no other table: the log also
-- records entries that are not verifications.

-- +goose Up
CREATE TABLE evidence_entries (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT   NOT NULL UNIQUE,
    tenant_id  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    leaf       BYTEA  NOT NULL,
    leaf_hash  BYTEA  NOT NULL CHECK (length(leaf_hash) = 32),
    idx        BIGINT UNIQUE
);
CREATE INDEX evidence_pending ON evidence_entries (seq) WHERE idx IS NULL;
CREATE INDEX evidence_by_tenant ON evidence_entries (tenant_id, idx) WHERE idx IS NOT NULL;

CREATE TABLE evidence_sealed (
    seq         BIGINT NOT NULL PRIMARY KEY REFERENCES evidence_entries (seq),
    sealed      BYTEA  NOT NULL,
    wrapped_key BYTEA  NOT NULL,
    shred_after BIGINT NOT NULL
);
CREATE INDEX evidence_due ON evidence_sealed (shred_after);

CREATE TABLE evidence_tree (
    one             INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    size            BIGINT  NOT NULL,
    root            BYTEA   NOT NULL,
    checkpoint_size BIGINT  NOT NULL
);
INSERT INTO evidence_tree (one, size, root, checkpoint_size) VALUES (1, 0, '\x', -1);

CREATE TABLE evidence_tiles (
    level  BIGINT NOT NULL,
    idx    BIGINT NOT NULL,
    hashes BYTEA  NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE evidence_checkpoints (
    size      BIGINT NOT NULL PRIMARY KEY,
    root      BYTEA  NOT NULL,
    note      BYTEA  NOT NULL,
    signed_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE evidence_checkpoints;
DROP TABLE evidence_tiles;
DROP TABLE evidence_tree;
DROP TABLE evidence_sealed;
DROP TABLE evidence_entries;
