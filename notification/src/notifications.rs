//! Notifications: built from order events, stored once per event, listed newest first.

use chrono::{DateTime, Utc};
use common::error::code;
use common::pagination::{Cursor, Listed, PageRequest};
use events::{Envelope, EventType};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "7d2b9f5e-1c4a-4e8e-b3f0-9a6c2d1e8f47", "orderId": "c1a5e3d2-9b7f-4a6e-8d2c-5f1b3e7a9c04", "type": "order_created", "text": "Your order \"Blue mug\" for 12.50 has been placed.", "createdAt": "2026-11-25T12:00:00Z"}))]
pub struct Notification {
    pub id: Uuid,
    pub order_id: Uuid,
    #[serde(rename = "type")]
    #[schema(pattern = "^(order_created|order_not_created|order_cancelled)$")]
    pub kind: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// Minor units as a decimal amount: 1250 -> "12.50".
fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// What the order was: its lines (`of Blue mug ×2 and Green tea`), or, for an order placed
/// before the catalogue existed (no lines), its title in quotes.
fn what(order: &events::OrderEvent) -> String {
    let lines: Vec<String> = order
        .items
        .iter()
        .map(|item| match item.quantity {
            1 => item.title.clone(),
            n => format!("{} ×{n}", item.title),
        })
        .collect();
    match lines.as_slice() {
        [] => format!("\"{}\"", order.title),
        [one] => format!("of {one}"),
        [init @ .., last] => format!("of {} and {last}", init.join(", ")),
    }
}

/// The notification type and sentence for an event: the order's lines and its total.
pub fn describe(envelope: &Envelope) -> (&'static str, String) {
    let order = &envelope.data;
    let (what, total) = (what(order), money(order.price));
    match envelope.event_type {
        EventType::OrderCreated => (
            "order_created",
            format!("Your order {what} for {total} has been placed."),
        ),
        EventType::OrderNotCreated => {
            let why = match order.reason.as_deref() {
                Some(code::INSUFFICIENT_FUNDS) | None => "not enough money",
                Some(other) => other,
            };
            (
                "order_not_created",
                format!("Your order {what} for {total} was not placed: {why}."),
            )
        }
        EventType::OrderCancelled => (
            "order_cancelled",
            match order.refunded.unwrap_or(0) {
                // A pending order cancelled before billing charged it.
                0 => format!(
                    "Your order {what} for {total} was cancelled; nothing had been charged."
                ),
                refunded => format!(
                    "Your order {what} for {total} was cancelled; {} was returned to your account.",
                    money(refunded)
                ),
            },
        ),
    }
}

/// Stores the notifications of several events in one statement; returns the ids of the events
/// stored now (the others were stored before: redeliveries).
pub async fn store_all(pool: &PgPool, envelopes: &[&Envelope]) -> sqlx::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(envelopes.len());
    let mut event_ids = Vec::with_capacity(envelopes.len());
    let mut user_ids = Vec::with_capacity(envelopes.len());
    let mut order_ids = Vec::with_capacity(envelopes.len());
    let mut kinds = Vec::with_capacity(envelopes.len());
    let mut texts = Vec::with_capacity(envelopes.len());
    let mut times = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let (kind, text) = describe(envelope);
        ids.push(Uuid::new_v4());
        event_ids.push(envelope.event_id);
        user_ids.push(envelope.data.user_id);
        order_ids.push(envelope.data.order_id);
        kinds.push(kind);
        texts.push(text);
        times.push(envelope.occurred_at);
    }
    sqlx::query_scalar!(
        "INSERT INTO notifications (id, event_id, user_id, order_id, type, text, created_at) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], \
                              $6::text[], $7::timestamptz[]) \
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        &ids[..],
        &event_ids[..],
        &user_ids[..],
        &order_ids[..],
        &kinds[..] as &[&str],
        &texts[..],
        &times[..],
    )
    .fetch_all(pool)
    .await
}

/// One page of a user's notifications, newest first (one extra row signals a next page).
pub async fn list(
    pool: &PgPool,
    user_id: Uuid,
    page: PageRequest,
) -> sqlx::Result<Vec<Notification>> {
    let (before_time, before_id) = page.before();
    sqlx::query_as!(
        Notification,
        "SELECT id, order_id, type AS kind, text, created_at FROM notifications WHERE user_id = $1 \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4",
        user_id,
        before_time,
        before_id,
        page.fetch_limit(),
    )
    .fetch_all(pool)
    .await
}

impl Listed for Notification {
    fn position(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use events::OrderEvent;

    use super::*;

    fn item(title: &str, unit_price: i64, quantity: i32) -> events::OrderItem {
        events::OrderItem {
            product_id: Uuid::new_v4(),
            title: title.to_owned(),
            unit_price,
            quantity,
        }
    }

    #[test]
    fn sentences_name_the_lines_and_the_total() {
        let mut envelope = Envelope::new(
            EventType::OrderCreated,
            OrderEvent {
                order_id: Uuid::new_v4(),
                user_id: Uuid::new_v4(),
                title: "Blue mug ×2, Green tea, Notebook".to_owned(),
                price: 5740,
                items: vec![
                    item("Blue mug", 1250, 2),
                    item("Green tea", 750, 1),
                    item("Notebook", 2490, 1),
                ],
                reason: None,
                refunded: None,
            },
        );
        assert_eq!(
            describe(&envelope).1,
            "Your order of Blue mug ×2, Green tea and Notebook for 57.40 has been placed."
        );
        envelope.data.items.truncate(1);
        envelope.data.price = 2500;
        envelope.event_type = EventType::OrderCancelled;
        envelope.data.refunded = Some(2500);
        assert_eq!(
            describe(&envelope).1,
            "Your order of Blue mug ×2 for 25.00 was cancelled; 25.00 was returned to your account."
        );
    }

    #[test]
    fn an_order_from_before_the_catalogue_is_named_by_its_title() {
        let mut envelope = Envelope::new(
            EventType::OrderCreated,
            OrderEvent {
                order_id: Uuid::new_v4(),
                user_id: Uuid::new_v4(),
                title: "Blue mug".to_owned(),
                price: 1205,
                items: vec![],
                reason: None,
                refunded: None,
            },
        );
        assert_eq!(
            describe(&envelope),
            (
                "order_created",
                "Your order \"Blue mug\" for 12.05 has been placed.".to_owned()
            )
        );
        envelope.event_type = EventType::OrderNotCreated;
        envelope.data.reason = Some(code::INSUFFICIENT_FUNDS.to_owned());
        assert_eq!(
            describe(&envelope).1,
            "Your order \"Blue mug\" for 12.05 was not placed: not enough money."
        );
        envelope.event_type = EventType::OrderCancelled;
        envelope.data.reason = None;
        envelope.data.refunded = Some(1205);
        assert_eq!(
            describe(&envelope),
            (
                "order_cancelled",
                "Your order \"Blue mug\" for 12.05 was cancelled; 12.05 was returned to your account."
                    .to_owned()
            )
        );
        envelope.data.refunded = Some(0);
        assert_eq!(
            describe(&envelope).1,
            "Your order \"Blue mug\" for 12.05 was cancelled; nothing had been charged."
        );
    }
}
