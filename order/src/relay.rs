//! The outbox relay: publishes unsent outbox rows to Kafka in id order and marks them sent
//! only after the broker acknowledged them. Woken by NOTIFY on commit, with a slow poll as a
//! safety net. A broker outage only delays delivery: the rows wait in the outbox.

use std::sync::Arc;
use std::time::Duration;

use common::backoff::Backoff;
use events::REQUEST_ID_HEADER;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::postgres::PgListener;
use sqlx::PgPool;

use crate::metrics::OrderMetrics;
use crate::orders::OUTBOX_CHANNEL;

const BATCH: i64 = 100;
/// Only one relay at a time publishes (per database), so events leave in outbox order.
const RELAY_LOCK: i64 = 0x6f72_6465_7273; // "orders"

struct OutboxRow {
    id: i64,
    topic: String,
    key: String,
    payload: String,
    request_id: String,
}

pub async fn run(
    pool: PgPool,
    producer: FutureProducer,
    metrics: Arc<OrderMetrics>,
    poll: Duration,
) {
    let mut listener = connect_listener(&pool).await;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        match relay_batch(&pool, &producer, &metrics).await {
            Ok(sent) => {
                backoff.reset();
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

/// Publishes one batch; returns how many rows were sent.
async fn relay_batch(
    pool: &PgPool,
    producer: &FutureProducer,
    metrics: &OrderMetrics,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#,
        RELAY_LOCK
    )
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Ok(0);
    }
    let rows = sqlx::query_as!(
        OutboxRow,
        "SELECT id, topic, key, payload, request_id FROM outbox WHERE sent_at IS NULL \
         ORDER BY id LIMIT $1",
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    // Enqueue all, then await acknowledgements in order; the idempotent producer keeps order.
    let mut deliveries = Vec::with_capacity(rows.len());
    for row in &rows {
        let headers = OwnedHeaders::new().insert(Header {
            key: REQUEST_ID_HEADER,
            value: Some(row.request_id.as_str()),
        });
        let record = FutureRecord::to(&row.topic)
            .key(&row.key)
            .payload(&row.payload)
            .headers(headers);
        match producer.send_result(record) {
            Ok(delivery) => deliveries.push(delivery),
            Err((e, _)) => {
                tracing::warn!(error = %e, "producer queue refused an event");
                break;
            }
        }
    }
    let mut sent = Vec::new();
    let mut failure = None;
    for (row, delivery) in rows.iter().zip(deliveries) {
        match delivery.await {
            Ok(Ok(_)) if failure.is_none() => sent.push(row.id),
            Ok(Ok(_)) => {} // acknowledged after an earlier failure: resent later, deduplicated downstream
            Ok(Err((e, _))) => failure = failure.or(Some(anyhow::anyhow!("publishing event: {e}"))),
            Err(_) => failure = failure.or(Some(anyhow::anyhow!("producer dropped the delivery"))),
        }
    }
    sqlx::query!(
        "UPDATE outbox SET sent_at = now() WHERE id = ANY($1)",
        &sent
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    metrics.events_published.inc_by(sent.len() as u64);
    match failure {
        Some(e) => Err(e),
        None => Ok(sent.len()),
    }
}
