-- No personal data at rest in clear (docs/design/evidence.md, "Personal data"): the basic-4
-- facts a tenant received are kept only sealed in the verification's evidence entry, and served
-- by opening that seal. This drops the clear copy (evidence_entries.basic4) and makes the
-- person.basic4_updated events already in the outbox thin: the facts' values are replaced by
-- their names (data.changed), which the tenant reads through GET /v1/watches/{sub}/basic4.
-- secure_delete makes SQLite overwrite the space the old values leave, so they do not linger in
-- free pages. Keep this file in step with ../postgres/00025_personal_data.sql.

-- +goose Up
PRAGMA secure_delete = ON;
DROP VIEW verifications;
ALTER TABLE evidence_entries DROP COLUMN basic4;
CREATE VIEW verifications AS
SELECT id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial, cert,
       method, revocation_ref, revocation_evidence, created_at
FROM evidence_entries WHERE session_id IS NOT NULL;

UPDATE outbox SET payload = CAST(json_set(json_remove(CAST(payload AS TEXT), '$.data.facts'), '$.data.changed',
        json((SELECT COALESCE(json_group_array(key), '[]') FROM
              (SELECT key FROM json_each(CAST(outbox.payload AS TEXT), '$.data.facts') ORDER BY key)))) AS BLOB)
WHERE type = 'person.basic4_updated' AND json_valid(CAST(payload AS TEXT))
  AND json_type(CAST(payload AS TEXT), '$.data.facts') = 'object';

-- A person's certificates, for reading a watched person's latest facts from J-LIS.
CREATE INDEX person_certs_person ON person_certs (person_id);

-- +goose Down
DROP INDEX person_certs_person;
DROP VIEW verifications;
ALTER TABLE evidence_entries ADD COLUMN basic4 TEXT;
CREATE VIEW verifications AS
SELECT id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial, cert, basic4,
       method, revocation_ref, revocation_evidence, created_at
FROM evidence_entries WHERE session_id IS NOT NULL;
