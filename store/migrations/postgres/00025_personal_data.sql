-- No personal data at rest in clear: see ../sqlite/00025_personal_data.sql, which this file
-- keeps in step with. The dropped column's old values disappear from the heap at VACUUM.

-- +goose Up
DROP VIEW verifications;
ALTER TABLE evidence_entries DROP COLUMN basic4;
CREATE VIEW verifications AS
SELECT id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial, cert,
       method, revocation_ref, revocation_evidence, created_at
FROM evidence_entries WHERE session_id IS NOT NULL;

UPDATE outbox SET payload = convert_to(jsonb_set(
        convert_from(payload, 'UTF8')::jsonb #- '{data,facts}', '{data,changed}',
        (SELECT COALESCE(jsonb_agg(k ORDER BY k), '[]'::jsonb)
         FROM jsonb_object_keys(convert_from(outbox.payload, 'UTF8')::jsonb -> 'data' -> 'facts') AS k))::text, 'UTF8')
WHERE type = 'person.basic4_updated'
  AND jsonb_typeof(convert_from(payload, 'UTF8')::jsonb -> 'data' -> 'facts') = 'object';

CREATE INDEX person_certs_person ON person_certs (person_id);

-- +goose Down
DROP INDEX person_certs_person;
DROP VIEW verifications;
ALTER TABLE evidence_entries ADD COLUMN basic4 TEXT;
CREATE VIEW verifications AS
SELECT id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial, cert, basic4,
       method, revocation_ref, revocation_evidence, created_at
FROM evidence_entries WHERE session_id IS NOT NULL;
