-- Cancelled orders notify too (OrderCancelled events).
ALTER TABLE notifications DROP CONSTRAINT notifications_type_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_check
    CHECK (type IN ('order_created', 'order_not_created', 'order_cancelled'));
