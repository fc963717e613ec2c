-- An event the broker refuses for good (too large for it, say) is parked instead of blocking
-- every event after it: the relay skips it, an alert fires, and an operator re-queues it
-- (`UPDATE outbox SET parked_at = NULL, park_reason = NULL WHERE id = ...`) once the cause is
-- fixed, or leaves it.
ALTER TABLE outbox ADD COLUMN parked_at timestamptz, ADD COLUMN park_reason text;

DROP INDEX outbox_unsent_idx;
CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL AND parked_at IS NULL;
