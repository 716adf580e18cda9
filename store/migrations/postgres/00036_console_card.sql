-- Console users who sign in with their own My Number Card through the platform's OpenID
-- provider: the pairwise subject (of the platform's portal tenant) their card gives. One card
-- signs in one account at most. Keep this file in step with ../sqlite/00036_console_card.sql.

-- +goose Up
ALTER TABLE console_users ADD COLUMN card_sub TEXT;
CREATE UNIQUE INDEX console_users_card_sub ON console_users (card_sub) WHERE card_sub IS NOT NULL;

-- +goose Down
DROP INDEX console_users_card_sub;
ALTER TABLE console_users DROP COLUMN card_sub;
