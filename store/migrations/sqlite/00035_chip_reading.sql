-- The "IC chip reading" verification kind (platform.PurposeChipReading, docs/design/chip-reading.md):
-- sessions, verifications (evidence_entries) and usage counters accept the purpose
-- 'chip_reading'. SQLite cannot alter a CHECK constraint; widening one leaves every stored row
-- valid, so the table definitions are edited in place as SQLite documents for removing a
-- CHECK (https://www.sqlite.org/lang_altertable.html#otheralter), instead of copying the
-- evidence log into a new table. writable_schema = RESET turns writing off and reloads this
-- connection's schema (with OFF it would keep the old text, and a later ALTER TABLE on the same
-- connection, as the down migrations run, would corrupt the definition); the CREATE/DROP after
-- it bumps the schema cookie, so other connections reload it too. Down leaves rows of purpose
-- 'chip_reading' in sessions and evidence_entries (evidence is never deleted): run it only on a
-- database that has none. Keep this file in step with ../postgres/00035_chip_reading.sql.

-- +goose Up
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'purpose IN (''identity'', ''login'')', 'purpose IN (''identity'', ''login'', ''chip_reading'')')
WHERE type = 'table' AND name IN ('sessions', 'evidence_entries', 'usage_counters')
  AND instr(sql, 'purpose IN (''identity'', ''login'')') > 0;
PRAGMA writable_schema = RESET;
CREATE TABLE schema_cookie_00035 (x INTEGER);
DROP TABLE schema_cookie_00035;

-- +goose Down
DELETE FROM usage_counters WHERE purpose = 'chip_reading';
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'purpose IN (''identity'', ''login'', ''chip_reading'')', 'purpose IN (''identity'', ''login'')')
WHERE type = 'table' AND name IN ('sessions', 'evidence_entries', 'usage_counters');
PRAGMA writable_schema = RESET;
CREATE TABLE schema_cookie_00035 (x INTEGER);
DROP TABLE schema_cookie_00035;
