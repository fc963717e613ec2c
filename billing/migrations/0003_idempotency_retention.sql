-- The retention sweep deletes stored deposit answers by age (common::idempotency::RETENTION).
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
