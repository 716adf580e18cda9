-- +goose Up
-- The seats per class a round drew for (JSON), published with the round.
ALTER TABLE draws ADD COLUMN capacity TEXT;

-- +goose Down
ALTER TABLE draws DROP COLUMN capacity;
