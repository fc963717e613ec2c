//! Orders and their outbox. A status change and the event reporting it are one transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::events::{Envelope, EventType, OrderEvent};
use common::money::Amount;
use common::pagination::{Cursor, PageRequest};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::clients::billing::Payment;

/// The Postgres channel the relay listens on for new outbox rows (the outbox's insert trigger
/// notifies it, see migrations/0002).
pub const OUTBOX_CHANNEL: &str = "order_outbox";

const COLUMNS: &str = "id, user_id, title, price, status, request_id, created_at";

/// An order as stored and as the API shows it.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
#[schema(example = json!({"id": "c1a5e3d2-9b7f-4a6e-8d2c-5f1b3e7a9c04", "title": "Blue mug", "price": 1250, "status": "created", "createdAt": "2026-11-25T12:00:00Z"}))]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: Uuid,
    #[serde(skip)]
    #[schema(ignore)]
    pub user_id: Uuid,
    pub title: String,
    /// Minor units (cents).
    pub price: i64,
    /// pending, created or rejected.
    #[schema(pattern = "^(pending|created|rejected)$")]
    pub status: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub request_id: String,
    pub created_at: DateTime<Utc>,
}

/// A validated new order.
pub struct NewOrder {
    pub user_id: Uuid,
    pub title: String,
    pub price: Amount,
    pub request_id: String,
    /// The client's idempotency key and the fingerprint of its request.
    pub idempotency: Option<(String, Vec<u8>)>,
}

/// The result of placing an order.
pub enum Placed {
    New(Order),
    /// The idempotency key was used before: for this same request, or for another one.
    Repeat {
        order: Order,
        same_request: bool,
    },
}

/// Stores a new `pending` order, or finds the one placed earlier with the same key.
/// `settle_delay` is how long the settler leaves it to the request that placed it.
pub async fn place(pool: &PgPool, new: NewOrder, settle_delay: Duration) -> sqlx::Result<Placed> {
    let (key, fingerprint) = new.idempotency.clone().unzip();
    let inserted: Option<Order> = sqlx::query_as(&format!(
        "INSERT INTO orders (id, user_id, title, price, status, idempotency_key, fingerprint, \
         request_id, next_settle_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, now() + make_interval(secs => $8)) \
         ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(new.user_id)
    .bind(&new.title)
    .bind(new.price.minor_units())
    .bind(&key)
    .bind(&fingerprint)
    .bind(&new.request_id)
    .bind(settle_delay.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    if let Some(order) = inserted {
        return Ok(Placed::New(order));
    }
    let (order, earlier_fingerprint): (Order, Option<Vec<u8>>) = {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            order: Order,
            fingerprint: Option<Vec<u8>>,
        }
        let row: Row = sqlx::query_as(&format!(
            "SELECT {COLUMNS}, fingerprint FROM orders WHERE user_id = $1 AND idempotency_key = $2"
        ))
        .bind(new.user_id)
        .bind(&key)
        .fetch_one(pool)
        .await?;
        (row.order, row.fingerprint)
    };
    Ok(Placed::Repeat {
        order,
        same_request: earlier_fingerprint == fingerprint,
    })
}

/// Records billing's answer for a pending order and writes its event to the outbox, in one
/// statement (so one transaction; the outbox's trigger wakes the relay at commit). `None` when
/// the order was no longer pending (someone settled it first).
pub async fn settle(
    pool: &PgPool,
    order: &Order,
    payment: Payment,
    topic: &str,
) -> sqlx::Result<Option<Order>> {
    let (status, event_type, reason) = match payment {
        Payment::Charged => ("created", EventType::OrderCreated, None),
        Payment::InsufficientFunds => (
            "rejected",
            EventType::OrderNotCreated,
            Some("insufficient_funds".to_owned()),
        ),
    };
    let envelope = Envelope::new(
        event_type,
        OrderEvent {
            order_id: order.id,
            user_id: order.user_id,
            title: order.title.clone(),
            price: order.price,
            reason,
        },
    );
    let payload = serde_json::to_string(&envelope).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query_as(&format!(
        "WITH settled AS ( \
             UPDATE orders SET status = $2, updated_at = now() \
             WHERE id = $1 AND status = 'pending' RETURNING {COLUMNS}), \
         event AS ( \
             INSERT INTO outbox (event_id, topic, key, payload, request_id) \
             SELECT $3, $4, user_id::text, $5, request_id FROM settled) \
         SELECT {COLUMNS} FROM settled"
    ))
    .bind(order.id)
    .bind(status)
    .bind(envelope.event_id)
    .bind(topic)
    .bind(payload)
    .fetch_optional(pool)
    .await
}

pub async fn find(pool: &PgPool, order_id: Uuid) -> sqlx::Result<Option<Order>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM orders WHERE id = $1"))
        .bind(order_id)
        .fetch_optional(pool)
        .await
}

/// One page of a user's orders, newest first (fetches one extra row to detect a next page).
pub async fn list(pool: &PgPool, user_id: Uuid, page: PageRequest) -> sqlx::Result<Vec<Order>> {
    let (before_time, before_id) = page.after.map(|c| (c.created_at, c.id)).unzip();
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders WHERE user_id = $1 \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(user_id)
    .bind(before_time)
    .bind(before_id)
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await
}

pub fn cursor_of(order: &Order) -> Cursor {
    Cursor {
        created_at: order.created_at,
        id: order.id,
    }
}

/// Takes up to `limit` pending orders that are due, pushing each one's next attempt back
/// (exponential, at most a minute) so that concurrent settlers do not pick the same ones.
pub async fn claim_due(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<Order>> {
    sqlx::query_as(&format!(
        "UPDATE orders SET settle_attempts = settle_attempts + 1, \
         next_settle_at = now() + make_interval(secs => least(power(2, settle_attempts), 60)) \
         WHERE id IN (SELECT id FROM orders WHERE status = 'pending' AND next_settle_at <= now() \
                      ORDER BY next_settle_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING {COLUMNS}"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Number of pending orders, and of unsent outbox rows with the age of the oldest in seconds.
pub async fn backlog(pool: &PgPool) -> sqlx::Result<(i64, i64, f64)> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders WHERE status = 'pending'), \
                (SELECT count(*) FROM outbox WHERE sent_at IS NULL), \
                COALESCE((SELECT extract(epoch FROM now() - min(created_at))::float8 \
                          FROM outbox WHERE sent_at IS NULL), 0)",
    )
    .fetch_one(pool)
    .await
}
