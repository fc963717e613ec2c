CREATE TABLE orders (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    title           text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    price           bigint NOT NULL CHECK (price BETWEEN 1 AND 1000000000),
    status          text NOT NULL CHECK (status IN ('pending', 'created', 'rejected')),
    -- The client's Idempotency-Key and a hash of its request, to replay or refuse a repeat.
    idempotency_key text,
    fingerprint     bytea,
    -- The request that placed the order; its events carry it to the consumers' logs.
    request_id      text NOT NULL,
    -- Settling a pending order: attempts so far and when to try next (with backoff).
    settle_attempts integer NOT NULL DEFAULT 0,
    next_settle_at  timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_idempotency_key UNIQUE (user_id, idempotency_key)
);
CREATE INDEX orders_user_idx ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_pending_idx ON orders (next_settle_at) WHERE status = 'pending';

-- Events written in the same transaction as the order status they report, relayed to Kafka
-- in id order and marked sent only after the broker acknowledged them.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    event_id   uuid NOT NULL UNIQUE,
    topic      text NOT NULL,
    key        text NOT NULL,
    payload    text NOT NULL,
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;
