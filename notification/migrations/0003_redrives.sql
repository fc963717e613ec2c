-- What `notification redrive` republished: one row per dead letter (its place in the
-- dead-letter topic, and its event: a topic made anew reuses offsets), written in the
-- transaction that waits for the broker's acknowledgement, so a dead letter is recorded as
-- redriven once however many operators run the command at once.
CREATE TABLE redrives (
    dlq_topic     text        NOT NULL,
    dlq_partition integer     NOT NULL,
    dlq_offset    bigint      NOT NULL,
    event_id      uuid        NOT NULL,
    reason        text        NOT NULL,
    redriven_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset, event_id)
);
