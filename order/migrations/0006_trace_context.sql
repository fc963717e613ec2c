-- W3C trace context (`traceparent`) kept where work continues later: the request that placed
-- an order (the settler's payment continues its trace), the request that cancelled it (the
-- refund's), and each outbox event (the relay's publish becomes a child of what wrote it).
ALTER TABLE orders ADD COLUMN traceparent text, ADD COLUMN cancel_traceparent text;
ALTER TABLE outbox ADD COLUMN traceparent text;
