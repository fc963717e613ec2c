-- One notification per event: the unique event id makes redelivery harmless.
CREATE TABLE notifications (
    id         uuid PRIMARY KEY,
    event_id   uuid NOT NULL UNIQUE,
    user_id    uuid NOT NULL,
    order_id   uuid NOT NULL,
    type       text NOT NULL CHECK (type IN ('order_created', 'order_not_created')),
    text       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC);
