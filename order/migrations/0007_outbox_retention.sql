-- Sent events are deleted once older than OUTBOX_RETENTION_SECONDS (the relay prunes them, a
-- batch at a time, oldest first): the outbox is a queue, not an archive; the topic keeps the
-- events. This finds them by age. (Not CONCURRENTLY: that deadlocks with a second replica
-- waiting on the migration lock; the outbox is small, it holds only what waits and the last
-- retention's worth.)
CREATE INDEX outbox_sent_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- The metrics count parked events on every scrape: without this, a scan of the whole outbox.
CREATE INDEX outbox_parked_idx ON outbox (id) WHERE parked_at IS NOT NULL;

-- Vacuum the outbox by its number of dead rows, not by a fraction of its size. Every event is
-- inserted, updated once (sent) and deleted later; with the default (20% of the table) the
-- bigger the outbox, the longer between vacuums, and meanwhile the dead versions pile up in the
-- table and its indexes, which the relay and every order's insert work past.
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 10000,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 10000
);
