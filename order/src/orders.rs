//! Orders and their outbox. A status change and the event reporting it are one transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::money::Amount;
use common::pagination::{Cursor, Listed, PageRequest};
use common::telemetry;
use events::{Envelope, EventType, OrderEvent};
use serde::Serialize;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use crate::batch::Batcher;
use crate::clients::billing::Payment;

/// The Postgres channel the relay listens on for new outbox rows (the outbox's insert trigger
/// notifies it, see migrations/0002).
pub const OUTBOX_CHANNEL: &str = "order_outbox";

/// Where an order stands: `pending` until the payment's outcome is known, then `created`
/// (paid) or `rejected` (not enough money); `cancelled` by its owner (from pending or created),
/// its money then given back.
// Stored as the text of `orders.status` (its CHECK lists the same four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Created,
    Rejected,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Created => "created",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Created,
            Self::Rejected,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

impl sqlx::Type<Postgres> for OrderStatus {
    fn type_info() -> PgTypeInfo {
        <&str as sqlx::Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl sqlx::Encode<'_, Postgres> for OrderStatus {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as sqlx::Encode<Postgres>>::encode_by_ref(&self.as_str(), buf)
    }
}

impl sqlx::Decode<'_, Postgres> for OrderStatus {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        let text = <&str as sqlx::Decode<Postgres>>::decode(value)?;
        Self::parse(text).ok_or_else(|| format!("unknown order status {text:?}").into())
    }
}

/// An order as stored. Queries read it with `query_as!`, which needs the same columns in each
/// (`status` read as `"status: OrderStatus"`).
#[derive(Debug, Clone)]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    /// Minor units (cents).
    pub price: i64,
    pub status: OrderStatus,
    /// The request that placed it; its events carry it.
    pub request_id: String,
    /// That request's trace context (W3C `traceparent`), for the work that continues it
    /// later (the settler). A cancelled order's reads name the cancel request's, as for
    /// `request_id`.
    pub traceparent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// A cancelled order's refund: `due` until billing confirmed it, then `done`.
    pub refund_state: Option<String>,
    /// What the refund gave back, once done.
    pub refunded: Option<i64>,
}

impl Order {
    /// Cancelled, and billing has not confirmed the refund yet.
    pub fn refund_due(&self) -> bool {
        self.refund_state.as_deref() == Some("due")
    }
}

/// A validated new order.
#[derive(Clone)]
pub struct NewOrder {
    pub user_id: Uuid,
    pub title: String,
    pub price: Amount,
    pub request_id: String,
    pub traceparent: Option<String>,
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

/// Writes new orders and payment outcomes, each kind grouped with the concurrent ones into one
/// statement (see `batch`): under load, two commits per order become two per group.
#[derive(Clone)]
pub struct Writer {
    pool: PgPool,
    pending: Batcher<NewOrder, Option<Order>>,
    outcomes: Batcher<(Order, Payment, Option<String>), Option<Order>>,
}

/// Groups of each kind written at once, and the most items in one group.
const WRITERS: usize = 1;
const GROUP: usize = 64;

impl Writer {
    /// `settle_delay` is how long the settler leaves a new order to the request that placed
    /// it; `topic` is where its events go.
    pub fn new(pool: PgPool, settle_delay: Duration, topic: String) -> Self {
        let topic: Arc<str> = topic.into();
        Self {
            pending: Batcher::new(WRITERS, GROUP, {
                let pool = pool.clone();
                move |news| insert_pending(pool.clone(), news, settle_delay)
            }),
            outcomes: Batcher::new(WRITERS, GROUP, {
                let pool = pool.clone();
                move |outcomes| record_outcomes(pool.clone(), outcomes, topic.clone())
            }),
            pool,
        }
    }

    /// Stores a new `pending` order, or finds the one placed earlier with the same key.
    pub async fn place(&self, new: NewOrder) -> sqlx::Result<Placed> {
        let (user_id, idempotency) = (new.user_id, new.idempotency.clone());
        if let Some(order) = self.pending.submit(new).await? {
            return Ok(Placed::New(order));
        }
        let (key, fingerprint) = idempotency.unzip();
        let row = sqlx::query!(
            r#"SELECT id, user_id, title, price, status AS "status: OrderStatus", request_id,
                      traceparent, created_at, refund_state, refunded, fingerprint
               FROM orders WHERE user_id = $1 AND idempotency_key = $2"#,
            user_id,
            key,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Placed::Repeat {
            same_request: row.fingerprint == fingerprint,
            order: Order {
                id: row.id,
                user_id: row.user_id,
                title: row.title,
                price: row.price,
                status: row.status,
                request_id: row.request_id,
                traceparent: row.traceparent,
                created_at: row.created_at,
                refund_state: row.refund_state,
                refunded: row.refunded,
            },
        })
    }

    /// Records billing's answer for a pending order with its event in the outbox, in one
    /// transaction (the outbox's trigger wakes the relay at commit). `None` when the order was
    /// no longer pending (someone settled it first).
    pub async fn settle(&self, order: &Order, payment: Payment) -> sqlx::Result<Option<Order>> {
        // The event's trace context is the caller's (the request, or the settler's span).
        let traceparent = telemetry::current_traceparent();
        self.outcomes
            .submit((order.clone(), payment, traceparent))
            .await
    }
}

/// Inserts new `pending` orders in one statement. For each, the order stored now, or `None`
/// when its idempotency key was used before (earlier, or by another order of the group).
async fn insert_pending(
    pool: PgPool,
    news: Arc<[NewOrder]>,
    settle_delay: Duration,
) -> sqlx::Result<Vec<Option<Order>>> {
    let ids: Vec<Uuid> = news.iter().map(|_| Uuid::new_v4()).collect();
    let (keys, fingerprints): (Vec<_>, Vec<_>) =
        news.iter().map(|n| n.idempotency.clone().unzip()).unzip();
    let user_ids: Vec<Uuid> = news.iter().map(|n| n.user_id).collect();
    let titles: Vec<&str> = news.iter().map(|n| n.title.as_str()).collect();
    let prices: Vec<i64> = news.iter().map(|n| n.price.minor_units()).collect();
    let request_ids: Vec<&str> = news.iter().map(|n| n.request_id.as_str()).collect();
    let traceparents: Vec<Option<String>> = news.iter().map(|n| n.traceparent.clone()).collect();
    let inserted = sqlx::query_as!(
        Order,
        r#"INSERT INTO orders (id, user_id, title, price, status, idempotency_key, fingerprint,
                               request_id, traceparent, next_settle_at)
           SELECT id, user_id, title, price, 'pending', key, fingerprint, request_id, traceparent,
                  now() + make_interval(secs => $8)
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int8[], $5::text[], $6::bytea[],
                       $7::text[], $9::text[])
                AS n(id, user_id, title, price, key, fingerprint, request_id, traceparent)
           ON CONFLICT (user_id, idempotency_key) DO NOTHING
           RETURNING id, user_id, title, price, status AS "status: OrderStatus", request_id,
                     traceparent, created_at, refund_state, refunded"#,
        &ids,
        &user_ids,
        &titles as &[&str],
        &prices,
        &keys as &[Option<String>],
        &fingerprints as &[Option<Vec<u8>>],
        &request_ids as &[&str],
        settle_delay.as_secs_f64(),
        &traceparents as &[Option<String>],
    )
    .fetch_all(&pool)
    .await?;
    let mut inserted: HashMap<Uuid, Order> = inserted.into_iter().map(|o| (o.id, o)).collect();
    Ok(ids.iter().map(|id| inserted.remove(id)).collect())
}

/// Records billing's answers for pending orders and their events, in one statement. For each,
/// the order as settled now, or `None` when it was no longer pending.
async fn record_outcomes(
    pool: PgPool,
    outcomes: Arc<[(Order, Payment, Option<String>)]>,
    topic: Arc<str>,
) -> sqlx::Result<Vec<Option<Order>>> {
    let (mut ids, mut statuses, mut event_ids, mut payloads) = (vec![], vec![], vec![], vec![]);
    let mut traceparents = vec![];
    for (order, payment, traceparent) in outcomes.iter() {
        let (status, event_type, reason) = match payment {
            Payment::Charged => (OrderStatus::Created, EventType::OrderCreated, None),
            Payment::InsufficientFunds => (
                OrderStatus::Rejected,
                EventType::OrderNotCreated,
                Some("insufficient_funds".to_owned()),
            ),
            // The order was cancelled (its refund voided it) before billing saw the charge:
            // nothing to record (its answer is None, as for an order no longer pending).
            Payment::Voided => continue,
        };
        let envelope = Envelope::new(
            event_type,
            OrderEvent {
                order_id: order.id,
                user_id: order.user_id,
                title: order.title.clone(),
                price: order.price,
                reason,
                refunded: None,
            },
        );
        ids.push(order.id);
        traceparents.push(traceparent.clone());
        statuses.push(status.as_str());
        event_ids.push(envelope.event_id);
        payloads
            .push(serde_json::to_string(&envelope).map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
    }
    let settled = sqlx::query_as!(
        Order,
        r#"WITH outcome AS (
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $6::text[])
               WITH ORDINALITY AS o(id, status, event_id, payload, event_traceparent, n)),
           settled AS (
               UPDATE orders SET status = outcome.status, updated_at = now() FROM outcome
               WHERE orders.id = outcome.id AND orders.status = 'pending'
               RETURNING orders.id, orders.user_id, orders.title, orders.price, orders.status,
                         orders.request_id, orders.traceparent, orders.created_at,
                         orders.refund_state, orders.refunded, outcome.event_id,
                         outcome.payload, outcome.event_traceparent, outcome.n),
           event AS (
               INSERT INTO outbox (event_id, topic, key, payload, request_id, traceparent)
               SELECT event_id, $5, user_id::text, payload, request_id, event_traceparent
               FROM settled ORDER BY n)
           SELECT id AS "id!", user_id AS "user_id!", title AS "title!", price AS "price!",
                  status AS "status!: OrderStatus", request_id AS "request_id!", traceparent,
                  created_at AS "created_at!", refund_state, refunded
           FROM settled"#,
        &ids,
        &statuses as &[&str],
        &event_ids,
        &payloads,
        &*topic,
        &traceparents as &[Option<String>],
    )
    .fetch_all(&pool)
    .await?;
    let mut settled: HashMap<Uuid, Order> = settled.into_iter().map(|o| (o.id, o)).collect();
    Ok(outcomes
        .iter()
        .map(|(order, _, _)| settled.remove(&order.id))
        .collect())
}

pub async fn find(pool: &PgPool, order_id: Uuid) -> sqlx::Result<Option<Order>> {
    sqlx::query_as!(
        Order,
        r#"SELECT id, user_id, title, price, status AS "status: OrderStatus", request_id,
                  traceparent, created_at, refund_state, refunded
           FROM orders WHERE id = $1"#,
        order_id,
    )
    .fetch_optional(pool)
    .await
}

/// One page of a user's orders, newest first (fetches one extra row to detect a next page).
pub async fn list(pool: &PgPool, user_id: Uuid, page: PageRequest) -> sqlx::Result<Vec<Order>> {
    let (before_time, before_id) = page.before();
    sqlx::query_as!(
        Order,
        r#"SELECT id, user_id, title, price, status AS "status: OrderStatus", request_id,
                  traceparent, created_at, refund_state, refunded
           FROM orders WHERE user_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
           ORDER BY created_at DESC, id DESC LIMIT $4"#,
        user_id,
        before_time,
        before_id,
        page.fetch_limit(),
    )
    .fetch_all(pool)
    .await
}

impl Listed for Order {
    fn position(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

/// Takes up to `limit` pending orders that are due, pushing each one's next attempt back
/// (exponential, at most a minute) so that concurrent settlers do not pick the same ones.
pub async fn claim_due(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<Order>> {
    sqlx::query_as!(
        Order,
        r#"UPDATE orders SET settle_attempts = settle_attempts + 1,
               next_settle_at = now() + make_interval(secs => least(power(2, settle_attempts), 60))
           WHERE id IN (SELECT id FROM orders WHERE status = 'pending' AND next_settle_at <= now()
                        ORDER BY next_settle_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, user_id, title, price, status AS "status: OrderStatus", request_id,
                     traceparent, created_at, refund_state, refunded"#,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// The result of a cancel request.
pub enum Cancel {
    /// Cancelled now: its refund is due.
    Cancelled(Order),
    /// Cancelled earlier by a request with the same Idempotency-Key: replay its answer.
    Replayed(Order),
    /// Not the caller's order.
    Forbidden,
    NotFound,
    /// Rejected, or already cancelled (without this key): nothing to cancel.
    Conflict(Order),
    /// The Idempotency-Key was used to cancel another order.
    KeyReused,
}

/// Cancels a created or pending order of `user_id`: `cancelled` with its refund due, to be
/// asked of billing by the caller now and by the settler after `settle_delay` until confirmed.
/// The order returned carries the cancel's `request_id` (for billing and the event).
/// The row's lock orders it with a concurrent cancel, and with the settler recording a payment
/// (which only changes a still pending order).
pub async fn cancel(
    pool: &PgPool,
    user_id: Uuid,
    order_id: Uuid,
    key: Option<&str>,
    request_id: &str,
    traceparent: Option<&str>,
    settle_delay: Duration,
) -> sqlx::Result<Cancel> {
    let cancelled = sqlx::query_as!(
        Order,
        r#"UPDATE orders SET status = 'cancelled', refund_state = 'due', cancel_key = $3,
               cancel_request_id = $5, cancel_traceparent = $6, cancelled_at = now(),
               settle_attempts = 0, next_settle_at = now() + make_interval(secs => $4),
               updated_at = now()
           WHERE id = $1 AND user_id = $2 AND status IN ('pending', 'created')
           RETURNING id, user_id, title, price, status AS "status: OrderStatus",
                     cancel_request_id AS "request_id!", cancel_traceparent AS traceparent,
                     created_at, refund_state, refunded"#,
        order_id,
        user_id,
        key,
        settle_delay.as_secs_f64(),
        request_id,
        traceparent,
    )
    .fetch_optional(pool)
    .await;
    match cancelled {
        Ok(Some(order)) => return Ok(Cancel::Cancelled(order)),
        Ok(None) => {}
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            return Ok(Cancel::KeyReused)
        }
        Err(e) => return Err(e),
    }
    let Some(order) = find(pool, order_id).await? else {
        return Ok(Cancel::NotFound);
    };
    if order.user_id != user_id {
        return Ok(Cancel::Forbidden);
    }
    // Set once, by the cancel, and never changed after.
    let cancel_key = sqlx::query_scalar!("SELECT cancel_key FROM orders WHERE id = $1", order_id)
        .fetch_one(pool)
        .await?;
    let same_key = key.is_some() && cancel_key.as_deref() == key;
    Ok(if same_key {
        Cancel::Replayed(order)
    } else {
        Cancel::Conflict(order)
    })
}

/// Records billing's confirmed refund of a cancelled order with its OrderCancelled event, in one
/// statement. `None` when it was recorded already (by the settler or the request).
pub async fn record_refund(
    pool: &PgPool,
    order: &Order,
    refunded: i64,
    topic: &str,
) -> sqlx::Result<Option<Order>> {
    let envelope = Envelope::new(
        EventType::OrderCancelled,
        OrderEvent {
            order_id: order.id,
            user_id: order.user_id,
            title: order.title.clone(),
            price: order.price,
            reason: None,
            refunded: Some(refunded),
        },
    );
    let payload = serde_json::to_string(&envelope).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    // The event's trace context is the caller's (the cancel request, or the settler's span).
    let event_traceparent = telemetry::current_traceparent();
    sqlx::query_as!(
        Order,
        r#"WITH done AS (
               UPDATE orders SET refund_state = 'done', refunded = $2, updated_at = now()
               WHERE id = $1 AND refund_state = 'due'
               RETURNING id, user_id, title, price, status,
                         COALESCE(cancel_request_id, request_id) AS request_id,
                         CASE WHEN cancel_request_id IS NULL THEN traceparent
                              ELSE cancel_traceparent END AS traceparent, created_at,
                         refund_state, refunded),
           event AS (
               INSERT INTO outbox (event_id, topic, key, payload, request_id, traceparent)
               SELECT $3, $4, user_id::text, $5, request_id, $6 FROM done)
           SELECT id AS "id!", user_id AS "user_id!", title AS "title!", price AS "price!",
                  status AS "status!: OrderStatus", request_id AS "request_id!", traceparent,
                  created_at AS "created_at!", refund_state, refunded
           FROM done"#,
        order.id,
        refunded,
        envelope.event_id,
        topic,
        payload,
        event_traceparent,
    )
    .fetch_optional(pool)
    .await
}

/// Takes up to `limit` cancelled orders whose refund is due, pushing each one's next attempt
/// back as [`claim_due`] does. Their `request_id` is the cancel request's.
pub async fn claim_due_refunds(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<Order>> {
    sqlx::query_as!(
        Order,
        r#"UPDATE orders SET settle_attempts = settle_attempts + 1,
               next_settle_at = now() + make_interval(secs => least(power(2, settle_attempts), 60))
           WHERE id IN (SELECT id FROM orders WHERE refund_state = 'due' AND next_settle_at <= now()
                        ORDER BY next_settle_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, user_id, title, price, status AS "status: OrderStatus",
                     COALESCE(cancel_request_id, request_id) AS "request_id!",
                     CASE WHEN cancel_request_id IS NULL THEN traceparent
                              ELSE cancel_traceparent END AS traceparent, created_at,
                     refund_state, refunded"#,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// What waits: pending orders and unsent outbox events (with the age of the oldest of each),
/// and parked events.
pub struct Backlog {
    pub pending: i64,
    pub oldest_pending: f64,
    /// Cancelled orders whose refund billing has not confirmed yet, and the oldest one's age.
    pub refunds_due: i64,
    pub oldest_refund_due: f64,
    pub unsent: i64,
    pub oldest_unsent: f64,
    pub parked: i64,
}

pub async fn backlog(pool: &PgPool) -> sqlx::Result<Backlog> {
    sqlx::query_as!(
        Backlog,
        r#"SELECT (SELECT count(*) FROM orders WHERE status = 'pending') AS "pending!",
                  COALESCE((SELECT extract(epoch FROM now() - min(created_at))::float8
                            FROM orders WHERE status = 'pending'), 0) AS "oldest_pending!",
                  (SELECT count(*) FROM orders WHERE refund_state = 'due') AS "refunds_due!",
                  COALESCE((SELECT extract(epoch FROM now() - min(cancelled_at))::float8
                            FROM orders WHERE refund_state = 'due'), 0) AS "oldest_refund_due!",
                  (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL)
                      AS "unsent!",
                  COALESCE((SELECT extract(epoch FROM now() - min(created_at))::float8
                            FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL), 0)
                      AS "oldest_unsent!",
                  (SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL) AS "parked!""#
    )
    .fetch_one(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::OrderStatus;

    #[test]
    fn statuses_read_back_as_written_and_unknown_text_is_refused() {
        for status in [
            OrderStatus::Pending,
            OrderStatus::Created,
            OrderStatus::Rejected,
            OrderStatus::Cancelled,
        ] {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).expect("json"), status.as_str());
        }
        assert_eq!(OrderStatus::parse("Created"), None);
    }
}
