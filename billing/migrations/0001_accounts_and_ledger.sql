-- One account per user. The balance is a cached sum of the ledger, changed only in the same
-- transaction as the ledger row, and the CHECK makes "never negative" the database's promise.
CREATE TABLE accounts (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL UNIQUE,
    balance    bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every money movement. Deposits are positive, withdrawals negative and tied to one order.
CREATE TABLE ledger_entries (
    id         uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id),
    kind       text NOT NULL CHECK (kind IN ('deposit', 'withdrawal')),
    amount     bigint NOT NULL,
    order_id   uuid UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'deposit' AND amount > 0 AND order_id IS NULL)
        OR (kind = 'withdrawal' AND amount < 0 AND order_id IS NOT NULL))
);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, created_at);

-- The first outcome of each order's withdrawal, replayed on every repeat.
CREATE TABLE withdrawals (
    order_id      uuid PRIMARY KEY,
    user_id       uuid NOT NULL,
    account_id    uuid NOT NULL REFERENCES accounts (id),
    amount        bigint NOT NULL CHECK (amount > 0),
    outcome       text NOT NULL CHECK (outcome IN ('charged', 'insufficient_funds')),
    balance_after bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The first response to each (user, Idempotency-Key) of a deposit.
CREATE TABLE idempotency_keys (
    user_id     uuid NOT NULL,
    key         text NOT NULL,
    fingerprint bytea NOT NULL,
    status      smallint NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
