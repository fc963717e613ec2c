-- The retention sweep deletes keyed restocks by age (common::idempotency::RETENTION).
CREATE INDEX restocks_created_idx ON restocks (created_at);
