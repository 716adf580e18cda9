-- The "IC chip reading" verification kind (platform.PurposeChipReading, docs/design/chip-reading.md):
-- sessions, verifications (evidence_entries) and usage counters accept the purpose
-- 'chip_reading'. Keep this file in step with ../sqlite/00035_chip_reading.sql.

-- +goose Up
ALTER TABLE sessions DROP CONSTRAINT sessions_purpose_check,
    ADD CONSTRAINT sessions_purpose_check CHECK (purpose IN ('identity', 'login', 'chip_reading'));
ALTER TABLE evidence_entries DROP CONSTRAINT evidence_entries_purpose_check,
    ADD CONSTRAINT evidence_entries_purpose_check CHECK (purpose IN ('identity', 'login', 'chip_reading'));
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_purpose_check,
    ADD CONSTRAINT usage_counters_purpose_check CHECK (purpose IN ('identity', 'login', 'chip_reading'));

-- +goose Down
DELETE FROM usage_counters WHERE purpose = 'chip_reading';
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_purpose_check,
    ADD CONSTRAINT usage_counters_purpose_check CHECK (purpose IN ('identity', 'login'));
ALTER TABLE evidence_entries DROP CONSTRAINT evidence_entries_purpose_check,
    ADD CONSTRAINT evidence_entries_purpose_check CHECK (purpose IN ('identity', 'login'));
ALTER TABLE sessions DROP CONSTRAINT sessions_purpose_check,
    ADD CONSTRAINT sessions_purpose_check CHECK (purpose IN ('identity', 'login'));
