-- The catalogue: what the shop sells, at what price, and how many units can be ordered now.
-- Products are never deleted (orders name them); one that is no longer sold is made inactive.
CREATE TABLE products (
    id          uuid PRIMARY KEY,
    title       text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    price       bigint NOT NULL CHECK (price BETWEEN 1 AND 1000000000),
    -- Units that can be ordered now. A pending or created order holds its own units; a
    -- rejected or cancelled one gave them back.
    available   integer NOT NULL CONSTRAINT products_available_range
                    CHECK (available BETWEEN 0 AND 1000000000),
    -- Every unit ever added (the initial stock and every restock). available plus the units
    -- that pending and created orders hold always equals it.
    stocked     bigint NOT NULL CHECK (stocked >= available),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- The public listing (active products, newest first) and an admin's (all of them).
CREATE INDEX products_active_idx ON products (created_at DESC, id DESC) WHERE active;
CREATE INDEX products_listing_idx ON products (created_at DESC, id DESC);

-- The lines of an order: each product once, with its title and price when the order was
-- placed (a later price change never touches them). Orders placed before the catalogue have
-- none: their title and price were the client's.
-- No foreign keys here, on purpose: a line is written only by the statement that writes its
-- order (the order ids it inserted), naming products it has just read, and no code deletes an
-- order or a product (a product is taken off sale instead). The two checks would cost every
-- order about 16 us of Postgres CPU on the hottest path (measured: 20 000 orders of 2 lines in
-- groups of 5 took 680 ms with both keys and the product index, 315 ms with neither).
-- The stock invariant's check joins these lines to their orders and products.
CREATE TABLE order_items (
    order_id   uuid NOT NULL,
    product_id uuid NOT NULL,
    -- The line's place in the request, to list the lines as they were asked for.
    position   smallint NOT NULL CHECK (position BETWEEN 0 AND 19),
    title      text NOT NULL,
    unit_price bigint NOT NULL CHECK (unit_price BETWEEN 1 AND 1000000000),
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    PRIMARY KEY (order_id, product_id)
);

-- An order's lines as the service reads them with the order: JSON, in the order they were
-- asked for (none for an order placed before the catalogue).
CREATE FUNCTION order_lines(order_id uuid) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT COALESCE(json_agg(json_build_object('productId', i.product_id, 'title', i.title,
                                               'unitPrice', i.unit_price, 'quantity', i.quantity)
                             ORDER BY i.position), '[]')
    FROM order_items i WHERE i.order_id = order_lines.order_id
$$;

-- Restocks made with an Idempotency-Key: a repeat with the same key and request adds nothing
-- again and answers the product as it stands; the same key with another request is 409.
CREATE TABLE restocks (
    user_id         uuid NOT NULL,
    idempotency_key text NOT NULL,
    fingerprint     bytea NOT NULL,
    product_id      uuid NOT NULL REFERENCES products (id),
    quantity        integer NOT NULL CHECK (quantity > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, idempotency_key)
);
