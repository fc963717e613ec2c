-- Wakes the outbox relay when rows are added, at commit (NOTIFY is delivered then), whoever
-- inserts them: one statement per order instead of a separate pg_notify round trip.
CREATE FUNCTION outbox_wake_relay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('order_outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_wake_relay AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_wake_relay();
