-- Revocation that the holder cannot bypass and trust that survives a restart (issue 14):
--   * tenants.revocation_policy: the tenant's choice of crl, ocsp or both (platform.RevocationPolicy);
--   * trust_anchors: the J-LIS CA certificates the platform trusts, by J-LIS name, recorded at
--     the first start (or from serve --trust) so that a CA certificate that changes between two
--     starts is refused;
--   * crl_high_water: per CA, the highest cRLNumber accepted, so that an older signed CRL is
--     refused after a restart. The number is decimal, zero-padded to 50 digits (a cRLNumber has
--     at most 20 octets, 49 digits), so that text order is number order.
-- Keep this file in step with ../postgres/00024_revocation_trust.sql.

-- +goose Up
ALTER TABLE tenants ADD COLUMN revocation_policy TEXT NOT NULL DEFAULT 'crl'
    CHECK (revocation_policy IN ('crl', 'ocsp', 'both'));

CREATE TABLE trust_anchors (
    name        TEXT    NOT NULL PRIMARY KEY,
    cert        BLOB    NOT NULL,
    recorded_at INTEGER NOT NULL
) STRICT;

CREATE TABLE crl_high_water (
    ca          TEXT    NOT NULL PRIMARY KEY,
    number      TEXT    NOT NULL CHECK (length(number) = 50),
    tbs_digest  BLOB    NOT NULL,
    this_update INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE crl_high_water;
DROP TABLE trust_anchors;
ALTER TABLE tenants DROP COLUMN revocation_policy;
