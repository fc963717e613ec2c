-- Cancelled orders. A created or pending order can be cancelled: it becomes 'cancelled' at
-- once with refund_state 'due', and its money goes back through billing's refund (which also
-- voids an order that was never charged, so a charge still in flight cannot land later).
-- Once billing confirmed, refund_state is 'done', refunded says how much came back, and the
-- OrderCancelled event is in the outbox, all in one transaction. The settler retries a due
-- refund with the same backoff columns as a pending payment.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('pending', 'created', 'rejected', 'cancelled'));
ALTER TABLE orders
    ADD COLUMN refund_state text CHECK (refund_state IN ('due', 'done')),
    ADD COLUMN refunded bigint CHECK (refunded >= 0),
    -- The Idempotency-Key of the cancel request: a repeat with it replays the cancel.
    ADD COLUMN cancel_key text,
    ADD CONSTRAINT orders_cancel_key UNIQUE (user_id, cancel_key),
    ADD CONSTRAINT orders_cancel_refund CHECK ((status = 'cancelled') = (refund_state IS NOT NULL)),
    ADD CONSTRAINT orders_refund_done CHECK ((refund_state = 'done') = (refunded IS NOT NULL));
CREATE INDEX orders_refund_due_idx ON orders (next_settle_at) WHERE refund_state = 'due';
