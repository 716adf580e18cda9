-- tenants.facts_widened_at: when the tenant's fact allowance last grew (UpdateTenant), in Unix
-- nanoseconds; NULL if it never did. The certificate carries every fact, so it is served only for
-- verifications made at or after this time (platform.Tenant.AllowsCertificateAt).
-- Keep this file in step with ../postgres/00033_facts_widened.sql.

-- +goose Up
ALTER TABLE tenants ADD COLUMN facts_widened_at INTEGER;

-- +goose Down
ALTER TABLE tenants DROP COLUMN facts_widened_at;
