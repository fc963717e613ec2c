-- The cancel request of a cancelled order: its id goes to billing's refund and on the
-- OrderCancelled event (the settler's retries carry it too), and its time dates the refund's
-- wait (order_refund_due_oldest_age_seconds).
ALTER TABLE orders
    ADD COLUMN cancel_request_id text,
    ADD COLUMN cancelled_at timestamptz;
