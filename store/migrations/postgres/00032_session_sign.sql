-- A session may ask for a document signature (the OpenID provider's sign scope): the
-- document's SHA-256 and the relying party's name go into the holder's challenge
-- (docs/design/challenge.md). Both NULL for every other session. The CMS itself is not stored:
-- it is assembled again from the sealed evidence entry (platform/sign.go).
-- Keep this file in step with ../sqlite/00032_session_sign.sql.

-- +goose Up
ALTER TABLE sessions ADD COLUMN sign_sha256 BYTEA;
ALTER TABLE sessions ADD COLUMN sign_rp TEXT;

-- +goose Down
ALTER TABLE sessions DROP COLUMN sign_rp;
ALTER TABLE sessions DROP COLUMN sign_sha256;
