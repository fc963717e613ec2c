//! The outbox relay: publishes unsent outbox rows to Kafka in id order and marks them sent
//! only after the broker acknowledged them. Woken by NOTIFY on commit, with a slow poll as a
//! safety net. A broker outage only delays delivery: the rows wait in the outbox. A producer
//! that hit a fatal error (fenced after a broker lost its state, say) is replaced by a new
//! one; until a batch goes out again, readiness reports the relay as failing ("degraded").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::backoff::Backoff;
use events::kafka::KafkaConfig;
use events::REQUEST_ID_HEADER;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
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

/// The relay's producer and how its last pass went; shared with the readiness check.
#[derive(Clone)]
pub struct Publisher {
    kafka: KafkaConfig,
    inner: Arc<Mutex<PublisherState>>,
}

struct PublisherState {
    producer: FutureProducer,
    /// Why the last pass failed, until one succeeds.
    failing: Option<String>,
}

impl Publisher {
    pub fn new(kafka: KafkaConfig) -> anyhow::Result<Self> {
        let producer = kafka.producer()?;
        Ok(Self {
            kafka,
            inner: Arc::new(Mutex::new(PublisherState {
                producer,
                failing: None,
            })),
        })
    }

    /// The current producer (a handle: cheap to clone).
    pub fn producer(&self) -> FutureProducer {
        self.lock().producer.clone()
    }

    /// The readiness check of the relay: `Err` names why its last pass failed.
    pub fn status(&self) -> Result<(), String> {
        match &self.lock().failing {
            None => Ok(()),
            Some(problem) => Err(problem.clone()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PublisherState> {
        // The state stays consistent whatever panicked while holding it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn succeeded(&self) {
        self.lock().failing = None;
    }

    /// Records a failed pass. A producer the broker no longer recognises (one that lost the
    /// producer's state answers `UnknownProducerId`, then `ProducerFenced` or
    /// `InvalidProducerEpoch` to every retry, each time the producer bumps its epoch) fails
    /// forever, and one in a fatal state refuses everything: either is replaced by a new
    /// producer, which registers afresh. The events it failed to publish stay unsent and go out
    /// through the new one.
    fn failed(&self, error: &anyhow::Error, metrics: &OrderMetrics) {
        let mut state = self.lock();
        state.failing = Some(format!("{error:#}"));
        let fatal = state.producer.client().fatal_error();
        let unrecognised = error
            .downcast_ref::<KafkaError>()
            .and_then(KafkaError::rdkafka_error_code)
            .is_some_and(|code| {
                matches!(
                    code,
                    RDKafkaErrorCode::UnknownProducerId
                        | RDKafkaErrorCode::ProducerFenced
                        | RDKafkaErrorCode::InvalidProducerEpoch
                        | RDKafkaErrorCode::OutOfOrderSequenceNumber
                )
            });
        if fatal.is_none() && !unrecognised {
            return;
        }
        tracing::error!(
            error = format!("{error:#}"),
            ?fatal,
            "replacing the Kafka producer"
        );
        match self.kafka.producer() {
            Ok(producer) => {
                state.producer = producer;
                metrics.producer_replacements.inc();
            }
            Err(e) => tracing::error!(error = format!("{e:#}"), "creating a Kafka producer failed"),
        }
    }
}

pub async fn run(pool: PgPool, publisher: Publisher, metrics: Arc<OrderMetrics>, poll: Duration) {
    let mut listener = connect_listener(&pool).await;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        match relay_batch(&pool, &publisher.producer(), &metrics).await {
            Ok(sent) => {
                backoff.reset();
                publisher.succeeded();
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
                publisher.failed(&e, &metrics);
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
        "SELECT id, topic, key, payload, request_id FROM outbox \
         WHERE sent_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT $1",
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
            Ok(delivery) => deliveries.push(Ok(delivery)),
            Err((e, _)) if refused_for_good(&e) => deliveries.push(Err(e.to_string())),
            Err((e, _)) => {
                tracing::warn!(error = %e, "producer queue refused an event");
                break;
            }
        }
    }
    let (mut sent, mut parked, mut reasons) = (Vec::new(), Vec::new(), Vec::new());
    let mut failure = None;
    for (row, delivery) in rows.iter().zip(deliveries) {
        let fate = fate(delivery).await;
        if failure.is_some() {
            // Acknowledged after an earlier failure: sent again later, deduplicated downstream.
            continue;
        }
        match fate {
            Fate::Sent => sent.push(row.id),
            Fate::Parked(reason) => {
                tracing::error!(
                    outbox_id = row.id,
                    reason,
                    "the broker refuses this event for good; parked"
                );
                parked.push(row.id);
                reasons.push(reason);
            }
            Fate::Failed(e) => failure = Some(e),
        }
    }
    if !parked.is_empty() {
        sqlx::query!(
            "UPDATE outbox SET parked_at = now(), park_reason = p.reason \
             FROM unnest($1::bigint[], $2::text[]) AS p(id, reason) WHERE outbox.id = p.id",
            &parked,
            &reasons,
        )
        .execute(&mut *tx)
        .await?;
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
        None => Ok(sent.len() + parked.len()),
    }
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
        Ok(Err((e, _))) => Fate::Failed(anyhow::Error::new(e).context("publishing event")),
        Err(_) => Fate::Failed(anyhow::anyhow!("producer dropped the delivery")),
    }
}

/// Errors about the event itself, which no retry can mend (its size, its encoding); any other
/// failure (the broker down, a fenced producer) is retried.
fn refused_for_good(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}

#[cfg(test)]
mod tests {
    //! The relay against librdkafka's mock cluster, which can answer with the errors a real
    //! broker sends only in rare states (a broker that lost its producer state fences the
    //! producer). The broker restart itself, with tansu, is in `e2e/tests/broker_outage.rs`
    //! and `make faults`.

    use rdkafka::mocking::MockCluster;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    use testkit::TestDatabase;

    use super::*;

    async fn outbox_row(pool: &PgPool, topic: &str) {
        sqlx::query!(
            "INSERT INTO outbox (event_id, topic, key, payload, request_id) \
             VALUES ($1, $2, 'user', '{}', 'test')",
            uuid::Uuid::new_v4(),
            topic,
        )
        .execute(pool)
        .await
        .expect("outbox row");
    }

    #[tokio::test]
    async fn a_fenced_producer_is_replaced_and_the_relay_reports_failing_until_it_recovers() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("events", 1, 1).expect("topic");
        let kafka = KafkaConfig {
            brokers: cluster.bootstrap_servers(),
            topic: "events".to_owned(),
            create_topics: false,
            fetch_wait_ms: 10,
        };
        let database = TestDatabase::create("order_relay").await;
        let pool = PgPool::connect(database.url()).await.expect("pool");
        crate::MIGRATOR.run(&pool).await.expect("migrations");
        let metrics = OrderMetrics::new(&common::metrics::Metrics::new());
        let publisher = Publisher::new(kafka).expect("publisher");

        outbox_row(&pool, "events").await;
        let sent = relay_batch(&pool, &publisher.producer(), &metrics).await;
        assert_eq!(sent.expect("first pass"), 1);

        // The broker no longer knows the producer, and refuses the new epoch it asks for: a
        // fatal error, after which this producer refuses everything.
        cluster.request_errors(
            RDKafkaApiKey::Produce,
            &[
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
            ],
        );
        outbox_row(&pool, "events").await;
        let fenced = publisher.producer();
        let error = relay_batch(&pool, &fenced, &metrics)
            .await
            .expect_err("the fenced pass fails");
        publisher.failed(&error, &metrics);
        assert!(
            publisher.status().is_err(),
            "readiness reports the relay failing"
        );
        assert_eq!(
            metrics.producer_replacements.get(),
            1,
            "the fenced producer was replaced: {error:#}"
        );

        let sent = relay_batch(&pool, &publisher.producer(), &metrics).await;
        assert_eq!(sent.expect("the new producer's pass"), 1);
        publisher.succeeded();
        assert_eq!(publisher.status(), Ok(()));
        let unsent =
            sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM outbox WHERE sent_at IS NULL"#)
                .fetch_one(&pool)
                .await
                .expect("unsent");
        assert_eq!(unsent, 0);
    }
}
