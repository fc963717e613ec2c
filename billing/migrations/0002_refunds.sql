-- Refunds and voids (an order cancelled). A refund gives back exactly what the order's
-- withdrawal charged, once; refunding an order that was never charged voids it, so a withdrawal
-- arriving later (a retry from before the cancel) charges nothing.

-- A void is recorded where withdrawals are, under the same primary key: a withdrawal and a void
-- of one order race for that row, and whichever commits first decides (the other replays it).
ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_amount_check;
ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_outcome_check;
ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_outcome_check
    CHECK ((outcome IN ('charged', 'insufficient_funds') AND amount > 0)
        OR (outcome = 'voided' AND amount = 0));

-- Each order's refund, replayed on every repeat: refunded is what was given back (0 for a void
-- or an order that was never charged), balance_after the balance right after it.
CREATE TABLE refunds (
    order_id      uuid PRIMARY KEY,
    user_id       uuid NOT NULL,
    account_id    uuid NOT NULL REFERENCES accounts (id),
    refunded      bigint NOT NULL CHECK (refunded >= 0),
    balance_after bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A refund is a positive ledger row tied to its order: one withdrawal and at most one refund
-- per order.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_order_id_key;
CREATE UNIQUE INDEX ledger_entries_order_kind ON ledger_entries (order_id, kind) WHERE order_id IS NOT NULL;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK ((kind = 'deposit' AND amount > 0 AND order_id IS NULL)
        OR (kind = 'withdrawal' AND amount < 0 AND order_id IS NOT NULL)
        OR (kind = 'refund' AND amount > 0 AND order_id IS NOT NULL));
