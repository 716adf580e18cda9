-- outbox_pending indexed the outbox by next_attempt_at for a delivery loop that 00021 replaced
-- (deliveries are scheduled in webhook_deliveries; the outbox is read by seq through
-- outbox_undispatched). No query uses it, yet every event insert — one per verification —
-- maintained it. Keep this file in step with ../sqlite/00022_drop_outbox_pending.sql.

-- +goose Up
DROP INDEX outbox_pending;

-- +goose Down
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
