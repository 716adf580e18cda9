-- +goose Up
-- The gate's card tap (docs/design/gate.md, "Who is the holder"): a person's card id — the
-- platform's id of their card's authentication certificate for this service, from a login
-- verification ("register your card for the gate") — and whether an event admits at the gate
-- only with the holder's card.
ALTER TABLE persons ADD COLUMN card_id TEXT;
ALTER TABLE events ADD COLUMN require_card INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE events DROP COLUMN require_card;
ALTER TABLE persons DROP COLUMN card_id;
