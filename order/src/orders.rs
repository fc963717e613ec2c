//! Orders and their outbox. A status change and the event reporting it are one transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::error::code::INSUFFICIENT_FUNDS;
use common::money::MAX_AMOUNT;
use common::pagination::{Cursor, Listed, PageRequest};
use common::{telemetry, ApiError};
use events::{Envelope, EventType, OrderEvent};
use serde::{Deserialize, Serialize};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres};
use uuid::Uuid;

use crate::batch::{Batcher, WriteError};
use crate::catalogue::Title;
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

/// Where a cancelled order's refund stands: `due` until billing confirmed it, then `done`.
// Stored as the text of `orders.refund_state` (NULL until cancelled; its CHECK lists both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RefundState {
    Due,
    Done,
}

// Read back from the database as the JSON `order_lines(id)` builds (migration 0008).
/// A line of an order: a catalogue product, its title and unit price when the order was
/// placed, and how many units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"productId": "5b1f4f4e-8a0c-4c55-9d0c-6a1d2f3e4b5c", "title": "Blue mug", "unitPrice": 1250, "quantity": 2}))]
pub struct OrderLine {
    pub product_id: Uuid,
    #[schema(value_type = String)]
    pub title: Title,
    /// Minor units (cents) per unit.
    pub unit_price: i64,
    pub quantity: i32,
}

/// The lines of an order as the queries read them: `order_lines(id)` (migration 0008), JSON in
/// the order the client asked for them.
pub type Items = Json<Vec<OrderLine>>;

/// An order as stored. Queries read it with `query_as!`, which needs the same columns in each
/// (`status` read as `"status: OrderStatus"`, `items` as `"items!: Items"`).
#[derive(Debug, Clone)]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    /// A short summary of the lines (`Blue mug ×2, Green tea`).
    pub title: String,
    /// Minor units (cents): the sum of unit price × quantity over the lines.
    pub price: i64,
    pub status: OrderStatus,
    /// The request that placed it; its events carry it.
    pub request_id: String,
    /// That request's trace context (W3C `traceparent`), for the work that continues it
    /// later (the settler). A cancelled order's reads name the cancel request's, as for
    /// `request_id`.
    pub traceparent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// A cancelled order's refund; `None` until the order is cancelled.
    pub refund_state: Option<RefundState>,
    /// What the refund gave back, once done.
    pub refunded: Option<i64>,
    /// Empty for an order placed before the catalogue existed (its title and price were the
    /// client's).
    pub items: Items,
}

impl Order {
    /// Cancelled, and billing has not confirmed the refund yet.
    pub fn refund_due(&self) -> bool {
        self.refund_state == Some(RefundState::Due)
    }

    /// The event that reports this order.
    fn event(
        &self,
        event_type: EventType,
        reason: Option<&str>,
        refunded: Option<i64>,
    ) -> Envelope {
        Envelope::new(
            event_type,
            OrderEvent {
                order_id: self.id,
                user_id: self.user_id,
                title: self.title.clone(),
                price: self.price,
                items: self
                    .items
                    .iter()
                    .map(|line| events::OrderItem {
                        product_id: line.product_id,
                        title: line.title.as_str().to_owned(),
                        unit_price: line.unit_price,
                        quantity: line.quantity,
                    })
                    .collect(),
                reason: reason.map(str::to_owned),
                refunded,
            },
        )
    }
}

/// What a client asks for: catalogue products and how many of each. Only valid lists exist:
/// 1 to [`MAX_LINES`] lines, each product once, 1 to [`MAX_QUANTITY`] units each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basket(Vec<(Uuid, i32)>);

pub const MAX_LINES: usize = 20;
pub const MAX_QUANTITY: i32 = 100;

impl Basket {
    /// Checks the lines a client sent (product id, quantity), naming the first bad one.
    pub fn parse(lines: &[(Uuid, i64)]) -> Result<Self, ApiError> {
        if !(1..=MAX_LINES).contains(&lines.len()) {
            return Err(ApiError::invalid_field(
                "items",
                format!("must list 1 to {MAX_LINES} lines"),
            ));
        }
        let mut seen = HashSet::with_capacity(lines.len());
        let mut basket = Vec::with_capacity(lines.len());
        for (n, &(product_id, quantity)) in lines.iter().enumerate() {
            let quantity = i32::try_from(quantity)
                .ok()
                .filter(|q| (1..=MAX_QUANTITY).contains(q))
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        &format!("items[{n}].quantity"),
                        format!("must be a whole number from 1 to {MAX_QUANTITY}"),
                    )
                })?;
            if !seen.insert(product_id) {
                return Err(ApiError::invalid_field(
                    &format!("items[{n}].productId"),
                    "names a product already in the order: give each product once, with its quantity",
                ));
            }
            basket.push((product_id, quantity));
        }
        Ok(Self(basket))
    }

    pub fn lines(&self) -> &[(Uuid, i32)] {
        &self.0
    }
}

/// A validated new order.
#[derive(Clone)]
pub struct NewOrder {
    pub user_id: Uuid,
    pub basket: Basket,
    pub request_id: String,
    pub traceparent: Option<String>,
    /// The client's idempotency key and the fingerprint of its request.
    pub idempotency: Option<(String, Vec<u8>)>,
}

/// Why an order could not be placed: nothing was stored, reserved or charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Line `line` (from 0) names a product that does not exist or is not for sale.
    NotForSale { line: usize },
    /// The lines cost more than one payment may move.
    OverLimit { total: i64 },
    /// Some lines ask for more units than are available: each such product, and how many
    /// are available.
    OutOfStock(Vec<(Uuid, i32)>),
}

impl Refusal {
    /// Why, in a word (the `reason` label of `order_refused_orders_total`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotForSale { .. } => "not_for_sale",
            Self::OverLimit { .. } => "over_limit",
            Self::OutOfStock(_) => common::error::code::OUT_OF_STOCK,
        }
    }
}

/// The result of placing an order.
pub enum Placed {
    New(Order),
    /// The idempotency key was used before: for this same request, or for another one.
    Repeat {
        order: Order,
        same_request: bool,
    },
    Refused(Refusal),
}

/// What the group commit did with one new order.
#[derive(Debug, Clone)]
enum Reserved {
    /// Stored `pending` with its units taken from the catalogue.
    Placed(Order),
    /// Its idempotency key was used before (earlier, or by another order of the group).
    KeyTaken,
    Refused(Refusal),
}

/// Writes new orders and payment outcomes, each kind grouped with the concurrent ones into one
/// transaction (see `batch`): under load, two commits per order become two per group.
#[derive(Clone)]
pub struct Writer {
    pool: PgPool,
    pending: Batcher<NewOrder, Reserved>,
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

    /// Prices a new order from the catalogue and stores it `pending` with its units reserved,
    /// or finds the one placed earlier with the same key, or says why it cannot be placed.
    pub async fn place(&self, new: NewOrder) -> Result<Placed, WriteError> {
        let (user_id, idempotency) = (new.user_id, new.idempotency.clone());
        match self.pending.submit(new).await? {
            Reserved::Placed(order) => return Ok(Placed::New(order)),
            Reserved::Refused(refusal) => return Ok(Placed::Refused(refusal)),
            Reserved::KeyTaken => {}
        }
        let (key, fingerprint) = idempotency.unzip();
        let row = sqlx::query!(
            r#"SELECT id, user_id, title, price, status AS "status: OrderStatus", request_id,
                      traceparent, created_at, refund_state AS "refund_state: RefundState",
                      refunded, fingerprint, order_lines(orders.id) AS "items!: Items"
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
                items: row.items,
            },
        })
    }

    /// Records billing's answer for a pending order with its event in the outbox, in one
    /// transaction (the outbox's trigger wakes the relay at commit); a rejected order gives
    /// its units back in it. `None` when the order was no longer pending (someone settled it
    /// first).
    pub async fn settle(
        &self,
        order: &Order,
        payment: Payment,
    ) -> Result<Option<Order>, WriteError> {
        // The event's trace context is the caller's (the request, or the settler's span).
        let traceparent = telemetry::current_traceparent();
        self.outcomes
            .submit((order.clone(), payment, traceparent))
            .await
    }
}

/// A product as an order of the group sees it: locked, and with the units the group's earlier
/// orders took already taken.
struct Stock {
    title: Title,
    price: i64,
    available: i32,
    active: bool,
}

/// What the group decided for one new order, before writing it.
enum Decision {
    Accept(Accepted),
    /// Its key is used already: a repeat, nothing to write.
    Repeat,
    Refuse(Refusal),
}

/// An order the group accepted: its id, priced lines and total.
struct Accepted {
    id: Uuid,
    lines: Vec<OrderLine>,
    title: String,
    total: i64,
}

/// Decides, in arrival order, what becomes of each new order of a group against the stock
/// of its products (`stock`, reduced by each order accepted). `taken` are the orders whose key
/// a concurrent request was found to hold: they are repeats. Pure: the transaction around it
/// locks the rows and writes the decisions.
fn decide(
    news: &[NewOrder],
    stock: &mut HashMap<Uuid, Stock>,
    taken: &HashSet<usize>,
) -> Vec<Decision> {
    let mut keys = HashSet::new();
    news.iter()
        .enumerate()
        .map(|(n, new)| {
            let key = new.idempotency.as_ref().map(|(key, _)| (new.user_id, key));
            if taken.contains(&n) || key.is_some_and(|key| !keys.insert(key)) {
                return Decision::Repeat;
            }
            match price(&new.basket, stock) {
                Ok(accepted) => {
                    for line in &accepted.lines {
                        if let Some(product) = stock.get_mut(&line.product_id) {
                            product.available -= line.quantity;
                        }
                    }
                    Decision::Accept(accepted)
                }
                Err(refusal) => Decision::Refuse(refusal),
            }
        })
        .collect()
}

/// The basket priced from `stock`, or why it cannot be placed.
fn price(basket: &Basket, stock: &HashMap<Uuid, Stock>) -> Result<Accepted, Refusal> {
    let mut lines = Vec::with_capacity(basket.lines().len());
    let mut short = Vec::new();
    for (line, &(product_id, quantity)) in basket.lines().iter().enumerate() {
        let product = stock
            .get(&product_id)
            .filter(|p| p.active)
            .ok_or(Refusal::NotForSale { line })?;
        if product.available < quantity {
            short.push((product_id, product.available));
        }
        lines.push(OrderLine {
            product_id,
            title: product.title.clone(),
            unit_price: product.price,
            quantity,
        });
    }
    let total: i64 = lines
        .iter()
        .map(|l| l.unit_price * i64::from(l.quantity))
        .sum();
    if total > MAX_AMOUNT {
        return Err(Refusal::OverLimit { total });
    }
    if !short.is_empty() {
        return Err(Refusal::OutOfStock(short));
    }
    Ok(Accepted {
        id: Uuid::new_v4(),
        title: summarize(&lines),
        lines,
        total,
    })
}

/// The title of an order: its lines in short (`Blue mug ×2, Green tea`), at most 200
/// characters; lines that do not fit are counted (`…, and 3 more`).
pub fn summarize(lines: &[OrderLine]) -> String {
    const MAX: usize = 200;
    let names: Vec<String> = lines
        .iter()
        .map(|l| match l.quantity {
            1 => l.title.as_str().to_owned(),
            n => format!("{} ×{n}", l.title.as_str()),
        })
        .collect();
    let len = |s: &str| s.chars().count();
    let all = names.join(", ");
    if len(&all) <= MAX {
        return all;
    }
    let more = |kept: usize| match names.len() - kept {
        0 => String::new(),
        n => format!(", and {n} more"),
    };
    for kept in (1..names.len()).rev() {
        let head = names[..kept].join(", ");
        if len(&head) + len(&more(kept)) <= MAX {
            return head + &more(kept);
        }
    }
    // Not even the first line fits beside the count of the others: cut it short.
    let room = MAX - len(&more(1)) - 1;
    names[0].chars().take(room).collect::<String>() + "…" + &more(1)
}

/// Prices and stores new `pending` orders, their lines and the units they take. For each order,
/// in order: stored, or a repeat of a used key, or refused (nothing stored).
///
/// Most groups take two statements and no BEGIN or COMMIT: the products are read, the group is
/// decided, and one statement (its own transaction) locks the products, stores the orders and
/// their lines, and takes the units. If the units ran short since they were read (another
/// replica sold them; an admin changed what the decision read), the `CHECK` on `available`
/// refuses that statement whole, and the group is decided again with its products locked
/// first ([`insert_pending_locked`]). So no unit is sold twice.
async fn insert_pending(
    pool: PgPool,
    news: Arc<[NewOrder]>,
    settle_delay: Duration,
) -> sqlx::Result<Vec<Reserved>> {
    let product_ids = products_of(&news);
    let (decided, stored) = {
        let mut conn = pool.acquire().await?;
        let mut stock = read_stock(&mut conn, &product_ids, false).await?;
        let mut decided = decide(&news, &mut stock, &HashSet::new());
        replays_of_refused(&mut conn, &news, &mut decided).await?;
        match write_pending(&mut conn, &news, &decided, &product_ids, settle_delay).await {
            Ok(stored) => (decided, stored),
            Err(sqlx::Error::Database(e)) if e.constraint() == Some(AVAILABLE_RANGE) => {
                drop(conn);
                tracing::debug!(
                    orders = news.len(),
                    "units ran short since read, deciding again locked"
                );
                return insert_pending_locked(&pool, &news, &product_ids, settle_delay).await;
            }
            Err(e) => return Err(e),
        }
    };
    // An accepted order whose key a concurrent request held was skipped (ON CONFLICT), and its
    // units with it: it is a repeat. The orders refused for want of units were decided as if it
    // took them: they are decided again, locked.
    let lost = decided
        .iter()
        .any(|d| matches!(d, Decision::Accept(a) if !stored.contains_key(&a.id)));
    let again: Vec<usize> = decided
        .iter()
        .enumerate()
        .filter(|(_, d)| lost && matches!(d, Decision::Refuse(Refusal::OutOfStock(_))))
        .map(|(n, _)| n)
        .collect();
    let mut reserved = reserved(&news, decided, &stored);
    if !again.is_empty() {
        let retry: Vec<NewOrder> = again.iter().map(|&n| news[n].clone()).collect();
        let ids = products_of(&retry);
        let decided = insert_pending_locked(&pool, &retry, &ids, settle_delay).await?;
        for (n, result) in again.into_iter().zip(decided) {
            reserved[n] = result;
        }
    }
    Ok(reserved)
}

/// The `CHECK` on `products.available` (0 to 1 000 000 000).
const AVAILABLE_RANGE: &str = "products_available_range";

/// Every product the group's orders name, in id order (the order their rows are locked in).
fn products_of(news: &[NewOrder]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = news
        .iter()
        .flat_map(|n| n.basket.lines().iter().map(|(id, _)| *id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The products `ids` as they stand; locked (`FOR NO KEY UPDATE`, in id order) when `lock`.
async fn read_stock(
    conn: &mut PgConnection,
    ids: &[Uuid],
    lock: bool,
) -> sqlx::Result<HashMap<Uuid, Stock>> {
    macro_rules! stock {
        ($rows:expr) => {
            $rows
                .into_iter()
                .map(|p| {
                    let stock = Stock {
                        title: p.title,
                        price: p.price,
                        available: p.available,
                        active: p.active,
                    };
                    (p.id, stock)
                })
                .collect()
        };
    }
    Ok(if lock {
        stock!(
            sqlx::query!(
                r#"SELECT id, title AS "title: Title", price, available, active FROM products
                   WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE"#,
                ids,
            )
            .fetch_all(&mut *conn)
            .await?
        )
    } else {
        stock!(
            sqlx::query!(
                r#"SELECT id, title AS "title: Title", price, available, active FROM products
                   WHERE id = ANY($1)"#,
                ids,
            )
            .fetch_all(&mut *conn)
            .await?
        )
    })
}

/// The group decided with its products locked first (in id order, as every change of stock
/// takes them), so what it decides stays true until it commits. An order whose key a
/// concurrent request turns out to hold is decided again as a repeat.
async fn insert_pending_locked(
    pool: &PgPool,
    news: &[NewOrder],
    product_ids: &[Uuid],
    settle_delay: Duration,
) -> sqlx::Result<Vec<Reserved>> {
    let mut taken = HashSet::new();
    loop {
        let mut tx = pool.begin().await?;
        let mut stock = read_stock(&mut tx, product_ids, true).await?;
        let mut decided = decide(news, &mut stock, &taken);
        replays_of_refused(&mut tx, news, &mut decided).await?;
        let stored = write_pending(&mut tx, news, &decided, product_ids, settle_delay).await?;
        let lost: Vec<usize> = decided
            .iter()
            .enumerate()
            .filter(|(_, d)| matches!(d, Decision::Accept(a) if !stored.contains_key(&a.id)))
            .map(|(n, _)| n)
            .collect();
        if !lost.is_empty() {
            // A concurrent request holds the key of these (ON CONFLICT skipped them): their
            // units must not count against the others. Decide again without them.
            tx.rollback().await?;
            taken.extend(lost);
            continue;
        }
        tx.commit().await?;
        return Ok(reserved(news, decided, &stored));
    }
}

/// What became of each order of a group: stored (those in `stored`), a repeat (decided so, or
/// accepted but skipped for its key), or refused.
fn reserved(
    news: &[NewOrder],
    decided: Vec<Decision>,
    stored: &HashMap<Uuid, DateTime<Utc>>,
) -> Vec<Reserved> {
    news.iter()
        .zip(decided)
        .map(|(new, decided)| match decided {
            Decision::Repeat => Reserved::KeyTaken,
            Decision::Refuse(refusal) => Reserved::Refused(refusal),
            Decision::Accept(accepted) => match stored.get(&accepted.id) {
                None => Reserved::KeyTaken,
                Some(&created_at) => Reserved::Placed(Order {
                    id: accepted.id,
                    user_id: new.user_id,
                    title: accepted.title,
                    price: accepted.total,
                    status: OrderStatus::Pending,
                    request_id: new.request_id.clone(),
                    traceparent: new.traceparent.clone(),
                    created_at,
                    refund_state: None,
                    refunded: None,
                    items: Json(accepted.lines),
                }),
            },
        })
        .collect()
}

/// A refused order whose key placed an order before is a repeat of that one (placed before the
/// stock ran out, the price rose or the product was taken off sale): it is answered with the
/// order placed, not refused. Refusals take no units, so nothing else changes.
async fn replays_of_refused(
    tx: &mut PgConnection,
    news: &[NewOrder],
    decided: &mut [Decision],
) -> sqlx::Result<()> {
    let (mut users, mut keys) = (vec![], vec![]);
    for (new, decided) in news.iter().zip(decided.iter()) {
        if let (Decision::Refuse(_), Some((key, _))) = (decided, &new.idempotency) {
            users.push(new.user_id);
            keys.push(key.as_str());
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    let used: HashSet<(Uuid, String)> = sqlx::query!(
        r#"SELECT user_id, idempotency_key AS "key!" FROM orders
           WHERE (user_id, idempotency_key) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))"#,
        &users,
        &keys as &[&str],
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.user_id, r.key))
    .collect();
    for (new, decided) in news.iter().zip(decided.iter_mut()) {
        if let (Decision::Refuse(_), Some((key, _))) = (&*decided, &new.idempotency) {
            if used.contains(&(new.user_id, key.clone())) {
                *decided = Decision::Repeat;
            }
        }
    }
    Ok(())
}

/// Locks the group's products (in id order), inserts the accepted orders (unless their key is
/// taken), their lines, and takes their units from the products, in one statement; the `CHECK`
/// on `available` fails it whole if the units are no longer there. Returns the creation time of each order inserted.
async fn write_pending(
    tx: &mut PgConnection,
    news: &[NewOrder],
    decided: &[Decision],
    product_ids: &[Uuid],
    settle_delay: Duration,
) -> sqlx::Result<HashMap<Uuid, DateTime<Utc>>> {
    let mut orders = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    let mut lines = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (new, accepted) in news.iter().zip(decided) {
        let Decision::Accept(accepted) = accepted else {
            continue;
        };
        let (key, fingerprint) = new.idempotency.clone().unzip();
        orders.0.push(accepted.id);
        orders.1.push(new.user_id);
        orders.2.push(accepted.title.as_str());
        orders.3.push(accepted.total);
        orders.4.push(key);
        orders.5.push(fingerprint);
        orders.6.push(new.request_id.as_str());
        orders.7.push(new.traceparent.clone());
        for (position, line) in (0i16..).zip(&accepted.lines) {
            lines.0.push(accepted.id);
            lines.1.push(line.product_id);
            lines.2.push(position);
            lines.3.push(line.title.as_str());
            lines.4.push(line.unit_price);
            lines.5.push(line.quantity);
        }
    }
    if orders.0.is_empty() {
        return Ok(HashMap::new());
    }
    let inserted = sqlx::query!(
        r#"WITH locked AS (
               -- The group's products, locked in id order before any order row is touched
               -- (the count below makes the insert wait for it): the order every change of
               -- stock takes its locks in.
               SELECT id FROM products WHERE id = ANY($16) ORDER BY id FOR NO KEY UPDATE),
           new AS (
               INSERT INTO orders (id, user_id, title, price, status, idempotency_key,
                                   fingerprint, request_id, traceparent, next_settle_at)
               SELECT id, user_id, title, price, 'pending', key, fingerprint, request_id,
                      traceparent, now() + make_interval(secs => $9)
               FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int8[], $5::text[],
                           $6::bytea[], $7::text[], $8::text[])
                    AS n(id, user_id, title, price, key, fingerprint, request_id, traceparent)
               WHERE (SELECT count(*) FROM locked) >= 0
               ON CONFLICT (user_id, idempotency_key) DO NOTHING
               RETURNING id, created_at),
           line AS (
               SELECT * FROM unnest($10::uuid[], $11::uuid[], $12::int2[], $13::text[],
                                    $14::int8[], $15::int4[])
                    AS l(order_id, product_id, position, title, unit_price, quantity)
               WHERE order_id IN (SELECT id FROM new)),
           item AS (
               INSERT INTO order_items (order_id, product_id, position, title, unit_price,
                                        quantity)
               SELECT * FROM line),
           taken AS (
               UPDATE products p SET available = p.available - t.units
               FROM (SELECT product_id, sum(quantity)::int AS units FROM line
                     GROUP BY product_id) t
               -- The group's products by their key, not a scan of the whole catalogue.
               WHERE p.id = t.product_id AND p.id = ANY($16))
           SELECT id AS "id!", created_at AS "created_at!" FROM new"#,
        &orders.0,
        &orders.1,
        &orders.2 as &[&str],
        &orders.3,
        &orders.4 as &[Option<String>],
        &orders.5 as &[Option<Vec<u8>>],
        &orders.6 as &[&str],
        &orders.7 as &[Option<String>],
        settle_delay.as_secs_f64(),
        &lines.0,
        &lines.1,
        &lines.2,
        &lines.3 as &[&str],
        &lines.4,
        &lines.5,
        product_ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(inserted.into_iter().map(|r| (r.id, r.created_at)).collect())
}

/// Locks the products of the lines of `orders`, in id order, as placing orders locks them.
/// Every transaction that changes stock locks its products first and only then touches
/// orders (placing an order waits on an existing order's row when it repeats its key), so no
/// two transactions wait on each other in a cycle.
async fn lock_products_of(tx: &mut PgConnection, orders: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query!(
        "SELECT id FROM products \
         WHERE id IN (SELECT product_id FROM order_items WHERE order_id = ANY($1)) \
         ORDER BY id FOR NO KEY UPDATE",
        orders,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(())
}

/// Gives the units that `orders` hold back to the catalogue; their products must be locked
/// already ([`lock_products_of`]).
async fn give_back_units(tx: &mut PgConnection, orders: &[Uuid]) -> sqlx::Result<()> {
    if orders.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE products p SET available = p.available + t.units \
         FROM (SELECT product_id, sum(quantity)::int AS units FROM order_items \
               WHERE order_id = ANY($1) GROUP BY product_id) t \
         WHERE p.id = t.product_id",
        orders,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Payment outcomes of a group, as the columns of one statement.
struct Outcomes<'a> {
    ids: &'a [Uuid],
    statuses: &'a [OrderStatus],
    event_ids: &'a [Uuid],
    payloads: &'a [String],
    traceparents: &'a [Option<String>],
    topic: &'a str,
}

impl Outcomes<'_> {
    /// Moves the still pending orders to their outcome and writes their events, in one
    /// statement; returns each order it moved with its new status.
    async fn write(&self, conn: &mut PgConnection) -> sqlx::Result<Vec<(Uuid, OrderStatus)>> {
        let statuses: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
        let settled = sqlx::query!(
            r#"WITH outcome AS (
                   SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[],
                                        $6::text[])
                   WITH ORDINALITY AS o(id, status, event_id, payload, event_traceparent, n)),
               settled AS (
                   UPDATE orders SET status = outcome.status, updated_at = now() FROM outcome
                   WHERE orders.id = outcome.id AND orders.status = 'pending'
                   RETURNING orders.id, orders.status, orders.user_id, orders.request_id,
                             outcome.event_id, outcome.payload, outcome.event_traceparent,
                             outcome.n),
               event AS (
                   INSERT INTO outbox (event_id, topic, key, payload, request_id, traceparent)
                   SELECT event_id, $5, user_id::text, payload, request_id, event_traceparent
                   FROM settled ORDER BY n)
               SELECT id AS "id!", status AS "status!: OrderStatus" FROM settled"#,
            self.ids,
            &statuses as &[&str],
            self.event_ids,
            self.payloads,
            self.topic,
            self.traceparents as &[Option<String>],
        )
        .fetch_all(&mut *conn)
        .await?;
        Ok(settled.into_iter().map(|s| (s.id, s.status)).collect())
    }
}

/// Records billing's answers for pending orders and their events, in one statement, and gives
/// the units of the rejected ones back, in the same transaction. For each, the order as
/// settled now, or `None` when it was no longer pending.
async fn record_outcomes(
    pool: PgPool,
    outcomes: Arc<[(Order, Payment, Option<String>)]>,
    topic: Arc<str>,
) -> sqlx::Result<Vec<Option<Order>>> {
    let (mut ids, mut statuses, mut event_ids, mut payloads) = (vec![], vec![], vec![], vec![]);
    let mut traceparents = vec![];
    for (order, payment, traceparent) in outcomes.iter() {
        let (status, event) = match payment {
            Payment::Charged => (
                OrderStatus::Created,
                order.event(EventType::OrderCreated, None, None),
            ),
            Payment::InsufficientFunds => (
                OrderStatus::Rejected,
                order.event(EventType::OrderNotCreated, Some(INSUFFICIENT_FUNDS), None),
            ),
            // The order was cancelled (its refund voided it) before billing saw the charge:
            // nothing to record (its answer is None, as for an order no longer pending).
            Payment::Voided => continue,
        };
        ids.push(order.id);
        traceparents.push(traceparent.clone());
        statuses.push(status);
        event_ids.push(event.event_id);
        payloads.push(serde_json::to_string(&event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
    }
    let outcome = Outcomes {
        ids: &ids,
        statuses: &statuses,
        event_ids: &event_ids,
        payloads: &payloads,
        traceparents: &traceparents,
        topic: &topic,
    };
    // A rejected order gives its units back in the transaction that rejects it; without one,
    // the statement is its own transaction (no BEGIN and COMMIT round trips).
    let rejecting: Vec<Uuid> = ids
        .iter()
        .zip(&statuses)
        .filter(|(_, status)| **status == OrderStatus::Rejected)
        .map(|(id, _)| *id)
        .collect();
    let settled = if !rejecting.is_empty() {
        let mut tx = pool.begin().await?;
        lock_products_of(&mut tx, &rejecting).await?;
        let settled = outcome.write(&mut tx).await?;
        let rejected: Vec<Uuid> = settled
            .iter()
            .filter(|(_, status)| *status == OrderStatus::Rejected)
            .map(|(id, _)| *id)
            .collect();
        give_back_units(&mut tx, &rejected).await?;
        tx.commit().await?;
        settled
    } else {
        outcome.write(&mut *pool.acquire().await?).await?
    };
    let settled: HashMap<Uuid, OrderStatus> = settled.into_iter().collect();
    Ok(outcomes
        .iter()
        .map(|(order, _, _)| {
            settled.get(&order.id).map(|&status| Order {
                status,
                ..order.clone()
            })
        })
        .collect())
}

pub async fn find(pool: &PgPool, order_id: Uuid) -> sqlx::Result<Option<Order>> {
    sqlx::query_as!(
        Order,
        r#"SELECT id, user_id, title, price, status AS "status: OrderStatus", request_id,
                  traceparent, created_at, refund_state AS "refund_state: RefundState",
                  refunded, order_lines(orders.id) AS "items!: Items"
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
                  traceparent, created_at, refund_state AS "refund_state: RefundState",
                  refunded, order_lines(orders.id) AS "items!: Items"
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
                     traceparent, created_at, refund_state AS "refund_state: RefundState",
                     refunded, order_lines(orders.id) AS "items!: Items""#,
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

/// A cancel request: whose, which order, its Idempotency-Key, and the request's id and trace
/// context (billing's refund and the OrderCancelled event carry them).
pub struct CancelRequest<'a> {
    pub user_id: Uuid,
    pub order_id: Uuid,
    pub key: Option<&'a str>,
    pub request_id: &'a str,
    pub traceparent: Option<&'a str>,
}

/// Cancels a created or pending order of the caller: `cancelled` with its refund due, to be
/// asked of billing by the caller now and by the settler after `settle_delay` until confirmed,
/// and its units back in the catalogue, in one transaction. The order returned carries the
/// cancel's `request_id` (for billing and the event). The row's lock orders it with a
/// concurrent cancel, and with the settler recording a payment (which only changes a still
/// pending order).
pub async fn cancel(
    pool: &PgPool,
    request: &CancelRequest<'_>,
    settle_delay: Duration,
) -> sqlx::Result<Cancel> {
    let CancelRequest {
        user_id,
        order_id,
        key,
        ..
    } = *request;
    let mut tx = pool.begin().await?;
    lock_products_of(&mut tx, &[order_id]).await?;
    let cancelled = sqlx::query_as!(
        Order,
        r#"UPDATE orders SET status = 'cancelled', refund_state = 'due', cancel_key = $3,
               cancel_request_id = $5, cancel_traceparent = $6, cancelled_at = now(),
               settle_attempts = 0, next_settle_at = now() + make_interval(secs => $4),
               updated_at = now()
           WHERE id = $1 AND user_id = $2 AND status IN ('pending', 'created')
           RETURNING id, user_id, title, price, status AS "status: OrderStatus",
                     cancel_request_id AS "request_id!", cancel_traceparent AS traceparent,
                     created_at, refund_state AS "refund_state: RefundState", refunded,
                     order_lines(orders.id) AS "items!: Items""#,
        order_id,
        user_id,
        key,
        settle_delay.as_secs_f64(),
        request.request_id,
        request.traceparent,
    )
    .fetch_optional(&mut *tx)
    .await;
    match cancelled {
        Ok(Some(order)) => {
            give_back_units(&mut tx, &[order.id]).await?;
            tx.commit().await?;
            return Ok(Cancel::Cancelled(order));
        }
        Ok(None) => tx.rollback().await?,
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
    let envelope = order.event(EventType::OrderCancelled, None, Some(refunded));
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
                  created_at AS "created_at!", refund_state AS "refund_state: RefundState",
                  refunded,
                  order_lines(done.id) AS "items!: Items"
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
                     refund_state AS "refund_state: RefundState", refunded,
                     order_lines(orders.id) AS "items!: Items""#,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// The orders of `users` whose price is not the sum of their lines (unit price × quantity):
/// none, when the contract holds. Orders from before the catalogue (no lines) are left out.
pub async fn mispriced(pool: &PgPool, users: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"SELECT o.id AS "id!" FROM orders o JOIN order_items i ON i.order_id = o.id
           WHERE o.user_id = ANY($1)
           GROUP BY o.id HAVING o.price <> sum(i.unit_price * i.quantity)"#,
        users,
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
    use super::*;

    fn line(title: &str, quantity: i32) -> OrderLine {
        OrderLine {
            product_id: Uuid::new_v4(),
            title: Title::parse(title).expect("title"),
            unit_price: 100,
            quantity,
        }
    }

    #[test]
    fn the_title_sums_the_lines_up_within_200_characters() {
        assert_eq!(
            summarize(&[line("Blue mug", 2), line("Green tea", 1)]),
            "Blue mug ×2, Green tea"
        );
        let long = "x".repeat(150);
        let many = [line(&long, 1), line(&long, 3), line("Tea", 1)];
        assert_eq!(summarize(&many), format!("{long}, and 2 more"));
        let longest = "y".repeat(200);
        let cut = summarize(&[line(&longest, 100), line("Tea", 1)]);
        assert_eq!(cut.chars().count(), 200);
        assert!(cut.ends_with("…, and 1 more"), "{cut}");
        let alone = summarize(&[line(&longest, 100)]);
        assert_eq!(alone.chars().count(), 200);
        assert!(alone.ends_with('…'), "{alone}");
    }

    #[test]
    fn a_basket_has_1_to_20_distinct_lines_of_1_to_100_units() {
        let id = Uuid::new_v4();
        assert!(Basket::parse(&[]).is_err());
        assert!(Basket::parse(&[(id, 1), (id, 2)]).is_err());
        for bad in [0, -1, 101, i64::MAX] {
            assert!(Basket::parse(&[(id, bad)]).is_err(), "{bad}");
        }
        let twenty: Vec<_> = (0..20).map(|_| (Uuid::new_v4(), 100)).collect();
        assert_eq!(Basket::parse(&twenty).expect("20 lines").lines().len(), 20);
        let mut too_many = twenty.clone();
        too_many.push((Uuid::new_v4(), 1));
        assert!(Basket::parse(&too_many).is_err());
    }

    fn order(user: Uuid, key: Option<&str>, lines: &[(Uuid, i64)]) -> NewOrder {
        NewOrder {
            user_id: user,
            basket: Basket::parse(lines).expect("basket"),
            request_id: "r".to_owned(),
            traceparent: None,
            idempotency: key.map(|k| (k.to_owned(), vec![1])),
        }
    }

    fn stock(price: i64, available: i32, active: bool) -> Stock {
        Stock {
            title: Title::parse("Mug").expect("title"),
            price,
            available,
            active,
        }
    }

    #[test]
    fn a_group_takes_units_in_arrival_order_and_refuses_what_is_left_short() {
        let (mug, tea, gone, lamp) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let mut stock = HashMap::from([
            (mug, stock(1250, 3, true)),
            (lamp, stock(100, 5, true)),
            (tea, stock(1_000_000_000, 5, true)),
            (gone, stock(100, 9, false)),
        ]);
        let user = Uuid::new_v4();
        let news = [
            order(user, Some("a"), &[(mug, 2)]),
            order(user, Some("a"), &[(mug, 1)]),
            order(user, None, &[(mug, 2), (lamp, 1)]),
            order(user, None, &[(mug, 1)]),
            order(user, None, &[(mug, 1), (Uuid::new_v4(), 1)]),
            order(user, None, &[(gone, 1)]),
            order(user, None, &[(tea, 1), (mug, 1)]),
            order(user, None, &[(tea, 1)]),
        ];
        let taken = HashSet::from([7]);
        let decided = decide(&news, &mut stock, &taken);
        let accepted = |n: usize| match &decided[n] {
            Decision::Accept(a) => Some(a.total),
            _ => None,
        };
        assert_eq!(accepted(0), Some(2500));
        assert!(matches!(decided[1], Decision::Repeat), "same user and key");
        // Only one mug is left for the third order's two: refused, and it takes nothing.
        match &decided[2] {
            Decision::Refuse(Refusal::OutOfStock(short)) => assert_eq!(short, &[(mug, 1)]),
            _ => panic!(
                "the third order is not refused out of stock: {:?}",
                accepted(2)
            ),
        }
        assert_eq!(accepted(3), Some(1250));
        assert!(matches!(
            decided[4],
            Decision::Refuse(Refusal::NotForSale { line: 1 })
        ));
        assert!(matches!(
            decided[5],
            Decision::Refuse(Refusal::NotForSale { line: 0 })
        ));
        assert!(matches!(
            decided[6],
            Decision::Refuse(Refusal::OverLimit {
                total: 1_000_001_250
            })
        ));
        assert!(matches!(decided[7], Decision::Repeat), "found taken");
        assert_eq!(stock[&mug].available, 0);
        assert_eq!(stock[&tea].available, 5);
        assert_eq!(stock[&lamp].available, 5, "a refused order takes nothing");
    }

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
