//! The outbox relay: publishes unsent outbox rows to Kafka in id order and marks them sent
//! only after the broker acknowledged them. Woken by NOTIFY on commit, with a slow poll as a
//! safety net. A broker outage or restart only delays delivery: the rows wait in the outbox,
//! and readiness reports the relay failing ("degraded") until a pass succeeds again. The
//! producer keeps no state on the broker (see `KafkaConfig::producer`), so a broker that comes
//! back, even without its data, takes its events again. Sent events are deleted once older
//! than the retention (`prune`): the outbox holds what waits and what just went out, not
//! every event ever.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use common::backoff::Backoff;
use common::telemetry::{self, TRACEPARENT};
use events::REQUEST_ID_HEADER;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};

use crate::metrics::OrderMetrics;
use crate::orders::OUTBOX_CHANNEL;

const BATCH: i64 = 100;
/// Sent events deleted per statement: a bounded transaction however far behind pruning is.
const PRUNE_BATCH: i64 = 5000;
/// How often the relay prunes at most (more often when the retention is short).
const PRUNE_EVERY: Duration = Duration::from_secs(30);
/// Only one relay at a time publishes (per database), so events leave in outbox order.
const RELAY_LOCK: i64 = 0x6f72_6465_7273; // "orders"

struct OutboxRow {
    id: i64,
    topic: String,
    key: String,
    payload: String,
    request_id: String,
    traceparent: Option<String>,
}

/// How the relay's last pass went, for the readiness check.
#[derive(Clone, Default)]
pub struct RelayStatus(Arc<Mutex<Option<String>>>);

impl RelayStatus {
    /// `Err` names why the last pass failed, until one succeeds.
    pub fn check(&self) -> Result<(), String> {
        match &*self.lock() {
            None => Ok(()),
            Some(problem) => Err(problem.clone()),
        }
    }

    fn set(&self, failing: Option<String>) {
        *self.lock() = failing;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // A plain value: consistent whatever panicked while holding it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub async fn run(
    pool: PgPool,
    producer: FutureProducer,
    status: RelayStatus,
    metrics: Arc<OrderMetrics>,
    poll: Duration,
    retention: Duration,
) {
    let mut listener = connect_listener(&pool).await;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let prune_every = PRUNE_EVERY.min(retention / 4);
    let mut next_prune = Instant::now();
    loop {
        if Instant::now() >= next_prune {
            next_prune = Instant::now() + prune_every;
            match prune(&pool, retention).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, "pruned sent outbox events"),
                // Nothing waits on it: the next round deletes these too.
                Err(e) => tracing::warn!(error = %e, "pruning the outbox failed"),
            }
        }
        match relay_batch(&pool, &producer, &metrics).await {
            Ok(sent) => {
                backoff.reset();
                status.set(None);
                if sent == BATCH as usize {
                    continue;
                }
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_ms = delay.as_millis() as u64,
                    "outbox relay failed"
                );
                status.set(Some(format!("{e:#}")));
                tokio::time::sleep(delay).await;
                continue;
            }
        }
        match listener.as_mut() {
            Some(l) => {
                tokio::select! {
                    notified = l.recv() => match notified {
                        Ok(_) => gather(l).await,
                        Err(_) => listener = None,
                    },
                    () = tokio::time::sleep(poll) => {},
                }
            }
            None => {
                tokio::time::sleep(poll).await;
                listener = connect_listener(&pool).await;
            }
        }
    }
}

/// How long the relay lets further commits join a wake-up before it reads the outbox.
const GATHER: Duration = Duration::from_millis(5);

/// After a wake-up: waits `GATHER`, so that the orders committed meanwhile go out in the same
/// pass, then takes the notifications that arrived for them. Under load this turns a pass (and
/// its four statements) per order into one per few milliseconds; the producer batches for as
/// long (`linger.ms`) anyway.
async fn gather(listener: &mut PgListener) {
    tokio::time::sleep(GATHER).await;
    // `recv` is cancel-safe: a notification not yet complete stays for the next call.
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::ZERO, listener.recv()).await {}
}

async fn connect_listener(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(OUTBOX_CHANNEL).await.ok()?;
    Some(listener)
}

/// Deletes the events sent more than `retention` ago, oldest first, `PRUNE_BATCH` per
/// statement; returns how many. Unsent and parked events are never deleted. Replicas prune
/// side by side without waiting on each other's rows (`SKIP LOCKED`).
async fn prune(pool: &PgPool, retention: Duration) -> sqlx::Result<u64> {
    let mut deleted = 0;
    loop {
        let batch = sqlx::query!(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
             WHERE sent_at < now() - make_interval(secs => $1) \
             ORDER BY sent_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            retention.as_secs_f64(),
            PRUNE_BATCH,
        )
        .execute(pool)
        .await?
        .rows_affected();
        deleted += batch;
        if batch < PRUNE_BATCH as u64 {
            return Ok(deleted);
        }
    }
}

/// Publishes one batch: the unsent rows are published, the broker's answers collected, the
/// rows it refuses for good parked and the ones it acknowledged marked sent, in one
/// transaction. Returns how many rows were sent or parked.
async fn relay_batch(
    pool: &PgPool,
    producer: &FutureProducer,
    metrics: &OrderMetrics,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = unsent(&mut tx).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let deliveries = publish(producer, &rows);
    let delivered = collect(&rows, deliveries).await;
    park(&mut tx, &delivered.parked, &delivered.reasons).await?;
    mark_sent(&mut tx, &delivered.sent).await?;
    tx.commit().await?;
    metrics.events_published.inc_by(delivered.sent.len() as u64);
    match delivered.failure {
        Some(e) => Err(e),
        None => Ok(delivered.sent.len() + delivered.parked.len()),
    }
}

/// The next `BATCH` unsent rows in id order; none while another relay holds the lock (until
/// the transaction ends).
async fn unsent(tx: &mut PgConnection) -> sqlx::Result<Vec<OutboxRow>> {
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#,
        RELAY_LOCK
    )
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Ok(Vec::new());
    }
    sqlx::query_as!(
        OutboxRow,
        "SELECT id, topic, key, payload, request_id, traceparent FROM outbox \
         WHERE sent_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT $1",
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await
}

/// Hands the rows' events to the producer, in order, up to the first it cannot queue now; for
/// each, its delivery, or why it was refused for good before it was sent.
fn publish(producer: &FutureProducer, rows: &[OutboxRow]) -> Vec<Result<DeliveryFuture, String>> {
    // Enqueue all, then await acknowledgements in order; one request in flight keeps order.
    let mut deliveries = Vec::with_capacity(rows.len());
    for row in rows {
        let mut headers = OwnedHeaders::new_with_capacity(2).insert(Header {
            key: REQUEST_ID_HEADER,
            value: Some(row.request_id.as_str()),
        });
        if let Some(traceparent) = publish_traceparent(row) {
            headers = headers.insert(Header {
                key: TRACEPARENT,
                value: Some(traceparent.as_str()),
            });
        }
        let record = FutureRecord::to(&row.topic)
            .key(&row.key)
            .payload(&row.payload)
            .headers(headers);
        match producer.send_result(record) {
            Ok(delivery) => deliveries.push(Ok(delivery)),
            Err((e, _)) if refused_for_good(&e) => deliveries.push(Err(e.to_string())),
            Err((e, _)) => {
                tracing::warn!(error = %e, "producer queue refused an event");
                break;
            }
        }
    }
    deliveries
}

/// What became of a batch's events.
#[derive(Default)]
struct Delivered {
    /// Acknowledged by the broker, before any failure.
    sent: Vec<i64>,
    /// Refused for good, each with its reason (`reasons`, in the same order).
    parked: Vec<i64>,
    reasons: Vec<String>,
    /// The first failure: its row and the ones after it stay unsent.
    failure: Option<anyhow::Error>,
}

/// Awaits the broker's answer to each event, in order.
async fn collect(rows: &[OutboxRow], deliveries: Vec<Result<DeliveryFuture, String>>) -> Delivered {
    let mut delivered = Delivered::default();
    for (row, delivery) in rows.iter().zip(deliveries) {
        let fate = fate(delivery).await;
        if delivered.failure.is_some() {
            // Acknowledged after an earlier failure: sent again later, deduplicated downstream.
            continue;
        }
        match fate {
            Fate::Sent => delivered.sent.push(row.id),
            Fate::Parked(reason) => {
                tracing::error!(
                    outbox_id = row.id,
                    reason,
                    "the broker refuses this event for good; parked"
                );
                delivered.parked.push(row.id);
                delivered.reasons.push(reason);
            }
            Fate::Failed(e) => delivered.failure = Some(e),
        }
    }
    delivered
}

/// Sets aside the rows the broker refuses for good, with why, for an operator.
async fn park(tx: &mut PgConnection, ids: &[i64], reasons: &[String]) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE outbox SET parked_at = now(), park_reason = p.reason \
         FROM unnest($1::bigint[], $2::text[]) AS p(id, reason) WHERE outbox.id = p.id",
        ids,
        reasons,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn mark_sent(tx: &mut PgConnection, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query!("UPDATE outbox SET sent_at = now() WHERE id = ANY($1)", ids)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The `traceparent` of an event's message: a `publish` span, child of the span that wrote the
/// event (the request, or the settler), so the consumer's span joins the same trace.
fn publish_traceparent(row: &OutboxRow) -> Option<String> {
    let written_by = row.traceparent.as_deref()?;
    let span = common::traced_span!(
        "publish",
        telemetry::Parent::of(Some(written_by)),
        outbox_id = row.id
    );
    telemetry::traceparent_of(&span)
}

/// What became of one row's event.
enum Fate {
    Sent,
    /// Refused for good, for this reason.
    Parked(String),
    Failed(anyhow::Error),
}

/// Awaits the broker's answer to one event (`Err`: refused before it was sent).
async fn fate(delivery: Result<DeliveryFuture, String>) -> Fate {
    let delivery = match delivery {
        Ok(delivery) => delivery,
        Err(reason) => return Fate::Parked(reason),
    };
    match delivery.await {
        Ok(Ok(_)) => Fate::Sent,
        Ok(Err((e, _))) if refused_for_good(&e) => Fate::Parked(e.to_string()),
        Ok(Err((e, _))) => Fate::Failed(anyhow::anyhow!("publishing event: {e}")),
        Err(_) => Fate::Failed(anyhow::anyhow!("producer dropped the delivery")),
    }
}

/// Errors about the event itself, which no retry can mend (its size, its form); any other
/// failure (the broker down, a corrupted transfer) is retried. A broker whose topic limit is
/// below the producer's refuses a whole request as too large, so events sent with an oversized
/// one are parked with it; an operator re-queues them (see the ShopOutboxEventParked alert).
fn refused_for_good(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}
