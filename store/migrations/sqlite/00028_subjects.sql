-- An index of the pairwise ids (sub) of the persons a tenant verified, so that GET and DELETE
-- /v1/watches/{sub} find the person by key instead of walking every person of the tenant.
-- Pairwise ids derive from the master secret, which the database never holds, so the platform
-- fills the index itself: a lookup that misses walks only the tenant's verifications since the
-- tenant's high-water mark (subject_marks.indexed_to), indexes them and moves the mark, so each
-- verification is walked about once, and the verification path writes nothing more. The index
-- keeps a keyed hash of the sub (HMAC under a key derived from the master secret), not the sub:
-- a reader of the database who learns subs from two tenants cannot link them through it.
-- Keep this file in step with ../postgres/00028_subjects.sql.

-- +goose Up
CREATE TABLE subjects (
    tenant_id TEXT  NOT NULL REFERENCES tenants (id),
    sub_hash  BLOB  NOT NULL,
    person_id TEXT  NOT NULL,
    PRIMARY KEY (tenant_id, sub_hash)
) STRICT;

CREATE TABLE subject_marks (
    tenant_id TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id),
    indexed_to INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE subject_marks;
DROP TABLE subjects;
