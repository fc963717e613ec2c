//! The Kafka consumer: one notification per event, offsets committed only after the database
//! transaction (stored per event, committed each second), unparseable messages moved to the
//! dead-letter topic, backoff on errors.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::backoff::Backoff;
use common::telemetry::{self, TRACEPARENT};
use events::kafka::KafkaConfig;
use events::{
    dead_letter_topic, Envelope, DLQ_AT_HEADER, DLQ_ORIGIN_HEADER, DLQ_REASON_HEADER,
    LEGACY_REQUEST_ID_HEADER, REDRIVEN_FROM_HEADER, REQUEST_ID_HEADER,
};
use futures::FutureExt as _;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{CommitMode, Consumer as _, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sqlx::PgPool;
use tracing::Instrument;

use crate::metrics::NotificationMetrics;

/// The most events stored by one statement.
const MAX_BATCH: usize = 100;
/// How often the offsets of handled events are committed.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// How often the consumer looks at the partitions it was assigned.
const WATCH_INTERVAL: Duration = Duration::from_secs(10);
/// How long a consumer may hold no partition before it checks whether it should hold some.
const UNASSIGNED_GRACE: Duration = Duration::from_secs(30);
use crate::notifications;

/// Turns the Kafka client's periodic statistics into the consumer-lag gauge.
pub struct LagReporter(Arc<NotificationMetrics>);

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        // Only the partitions this consumer has now: after a rebalance the others are another
        // pod's to report.
        self.0.consumer_lag.reset();
        for (topic, stats) in &statistics.topics {
            for (partition, p) in &stats.partitions {
                // Partition -1 is librdkafka's internal one; a negative lag means not known yet.
                if *partition >= 0 && p.consumer_lag >= 0 {
                    let labels = [topic.as_str(), &partition.to_string()];
                    self.0
                        .consumer_lag
                        .with_label_values(&labels)
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for LagReporter {}

pub struct Consumer {
    pub consumer: StreamConsumer<LagReporter>,
    pub topic: String,
    pub group_id: String,
    pub db: PgPool,
    pub dlq_producer: FutureProducer,
    pub dlq_topic: String,
    pub metrics: Arc<NotificationMetrics>,
}

impl Consumer {
    pub fn new(
        kafka: &KafkaConfig,
        group_id: &str,
        db: PgPool,
        dlq_producer: FutureProducer,
        metrics: Arc<NotificationMetrics>,
    ) -> anyhow::Result<Self> {
        let consumer: StreamConsumer<LagReporter> = kafka
            .client()
            .set("group.id", group_id)
            // Offsets are stored only once the notification is in the database, and `run`
            // commits the stored ones each second: one commit request a second instead of one
            // per event. A crash redelivers at most that second's events, which the event-id
            // check skips. (Not librdkafka's auto-commit: it also commits on close, and a close
            // while the broker is down then waits for it indefinitely.)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            // A heartbeat a second (librdkafka's default is 3 s): a broker that stalls for up to
            // 9 s still finds every member's last contact within the session. With 3 s, a
            // member that last beat 3 s before an 8 s stall was evicted with all the others, and
            // the local broker (tansu) then left the group without a leader for good (fault
            // scenario broker-freeze failed: 84 of 800 notifications after 150 s).
            .set("heartbeat.interval.ms", "1000")
            .set("statistics.interval.ms", "5000")
            .set("fetch.wait.max.ms", kafka.fetch_wait_ms.to_string())
            .create_with_context(LagReporter(metrics.clone()))?;
        consumer.subscribe(&[&kafka.topic])?;
        Ok(Self {
            consumer,
            topic: kafka.topic.clone(),
            group_id: group_id.to_owned(),
            db,
            dlq_producer,
            dlq_topic: dead_letter_topic(&kafka.topic),
            metrics,
        })
    }

    /// Consumes forever; stopping it anywhere loses nothing (uncommitted messages come again).
    pub async fn run(self) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let mut commit_tick = tokio::time::interval(COMMIT_INTERVAL);
        commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut uncommitted = false;
        let mut watch_tick = tokio::time::interval(WATCH_INTERVAL);
        let mut watch = Watch::default();
        loop {
            // `recv` is cancel-safe: a message not taken now stays queued for the next call.
            let received = tokio::select! {
                received = self.consumer.recv() => received,
                _ = commit_tick.tick() => {
                    if std::mem::take(&mut uncommitted) {
                        self.commit_stored();
                    }
                    continue;
                }
                _ = watch_tick.tick() => {
                    self.watch_assignment(&mut watch);
                    continue;
                }
            };
            let first = match received {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(error = %e, "receiving from Kafka failed");
                    backoff.wait().await;
                    continue;
                }
            };
            backoff.reset();
            // What has already arrived joins this one: a single statement stores them all, so
            // under load an event costs a fraction of a commit.
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.consumer.recv().now_or_never() {
                    Some(Ok(message)) => batch.push(message),
                    _ => break,
                }
            }
            self.process_batch(&batch).await;
            uncommitted = true;
        }
    }

    /// Exports how many partitions this consumer holds, and rejoins the group (which makes it
    /// rebalance) when for `UNASSIGNED_GRACE` either this consumer held none although the group
    /// has fewer members than the topic has partitions, or a partition it does not hold had
    /// events waiting while the group's committed offset on it stood still: nobody consumes
    /// it. The local broker (tansu 0.6.0) leaves a group in both states, and no heartbeat
    /// revisits them: when a crashed member's session expires just as the restarted one
    /// synchronises, the group can settle with an empty assignment; and a SIGKILLed member is
    /// dropped, once its session expires, without a rebalance, so its partitions stay assigned
    /// to nobody alive. A real Kafka rebalances in both cases, and then this never fires.
    fn watch_assignment(&self, watch: &mut Watch) {
        let mine = self.consumer.assignment().unwrap_or_default();
        self.metrics.assigned_partitions.set(mine.count() as i64);
        // A few small requests every `WATCH_INTERVAL`: done inline.
        let view = match self.group_view(&mine) {
            Ok(view) => view,
            Err(e) => {
                tracing::warn!(error = %e, "could not describe the consumer group");
                return;
            }
        };
        let now = Instant::now();
        let partitions = view.partitions.len() + view.held_here;
        let idle_but_needed = view.members.is_some_and(|members| members < partitions);
        watch.idle_since = if idle_but_needed {
            watch.idle_since.or(Some(now))
        } else {
            None
        };
        // Per partition held elsewhere: since when its committed offset has stood still behind
        // the partition's end.
        let mut stalled = HashMap::new();
        for (partition, committed, end) in &view.partitions {
            if committed >= end {
                continue;
            }
            let since = match watch.stalled.get(partition) {
                Some((offset, since)) if offset == committed => *since,
                _ => now,
            };
            stalled.insert(*partition, (*committed, since));
        }
        watch.stalled = stalled;
        let orphaned: Vec<i32> = watch
            .stalled
            .iter()
            .filter(|(_, (_, since))| since.elapsed() >= UNASSIGNED_GRACE)
            .map(|(partition, _)| *partition)
            .collect();
        let idle_too_long = watch
            .idle_since
            .is_some_and(|s| s.elapsed() >= UNASSIGNED_GRACE);
        if !idle_too_long && orphaned.is_empty() {
            return;
        }
        tracing::warn!(
            members = ?view.members,
            held_here = mine.count(),
            ?orphaned,
            "partitions of the topic are left unconsumed; rejoining the group"
        );
        self.consumer.unsubscribe();
        if let Err(e) = self.consumer.subscribe(&[&self.topic]) {
            tracing::error!(error = %e, "subscribing again failed");
        }
        *watch = Watch::default();
    }

    /// The group's members (when this consumer holds nothing), and for each partition of the
    /// topic not held by this consumer (`mine`) the group's committed offset and the
    /// partition's end, from the broker.
    fn group_view(&self, mine: &TopicPartitionList) -> KafkaResult<GroupView> {
        let timeout = Duration::from_secs(2);
        // The members matter only to a consumer that holds nothing (`watch_assignment`).
        let members = if mine.count() == 0 {
            let groups = self
                .consumer
                .fetch_group_list(Some(&self.group_id), timeout)?;
            groups
                .groups()
                .iter()
                .find(|g| g.name() == self.group_id)
                .map_or(Some(0), |g| Some(g.members().len()))
        } else {
            None
        };
        let metadata = self.consumer.fetch_metadata(Some(&self.topic), timeout)?;
        let mut elsewhere = TopicPartitionList::new();
        let mut held_here = 0;
        for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
            if mine.find_partition(&self.topic, p.id()).is_some() {
                held_here += 1;
            } else {
                elsewhere.add_partition(&self.topic, p.id());
            }
        }
        let mut partitions = Vec::new();
        if elsewhere.count() > 0 {
            let committed = self.consumer.committed_offsets(elsewhere, timeout)?;
            for element in committed.elements() {
                let (low, high) =
                    self.consumer
                        .fetch_watermarks(&self.topic, element.partition(), timeout)?;
                // Never committed: the group has consumed nothing of what the partition holds.
                let at = match element.offset() {
                    Offset::Offset(n) => n,
                    _ => low,
                };
                partitions.push((element.partition(), at, high));
            }
        }
        Ok(GroupView {
            members,
            held_here,
            partitions,
        })
    }

    /// Commits the offsets stored so far, in the background.
    fn commit_stored(&self) {
        if let Err(e) = self.consumer.commit_consumer_state(CommitMode::Async) {
            // Nothing is lost: the next commit covers these offsets too, and a redelivery
            // before it is deduplicated.
            tracing::warn!(error = %e, "committing offsets failed");
        }
    }

    /// Stores the notifications of `batch` together; when that fails (a message the database
    /// rejects, an outage), each message goes through `process` alone, with its retries and
    /// dead-lettering. Every offset is stored once its message is done.
    async fn process_batch(&self, batch: &[BorrowedMessage<'_>]) {
        let mut parsed = Vec::with_capacity(batch.len());
        for message in batch {
            match Envelope::parse(message.payload().unwrap_or_default()) {
                Ok(envelope) => parsed.push((message, envelope)),
                Err(_) => self.process(message).await,
            }
        }
        if parsed.is_empty() {
            return;
        }
        let envelopes: Vec<&Envelope> = parsed.iter().map(|(_, e)| e).collect();
        match self.store(&envelopes).await {
            Ok(stored) => {
                for (message, envelope) in &parsed {
                    let _span = span_of(message).entered();
                    let outcome = self.stored(envelope, stored.contains(&envelope.event_id));
                    self.done(message, outcome);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, events = parsed.len(), "storing a batch failed, storing one by one");
                for (message, _) in &parsed {
                    self.process(message).await;
                }
            }
        }
    }

    /// Handles one message, retrying with backoff until it is stored or dead-lettered, then
    /// stores its offset.
    async fn process(&self, message: &BorrowedMessage<'_>) {
        let span = span_of(message);
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let outcome = loop {
            match self.handle(message).instrument(span.clone()).await {
                Ok(outcome) => break outcome,
                Err(e) => {
                    span.in_scope(|| {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "handling an event failed, retrying"
                        )
                    });
                    backoff.wait().await;
                }
            }
        };
        self.done(message, outcome);
    }

    /// Counts a handled message and stores its offset (`run` commits it within a second).
    fn done(&self, message: &BorrowedMessage<'_>, outcome: &'static str) {
        self.metrics
            .events_consumed
            .with_label_values(&[outcome])
            .inc();
        if header(message, REDRIVEN_FROM_HEADER).is_some() {
            self.metrics
                .redriven_events
                .with_label_values(&[outcome])
                .inc();
        }
        if let Err(e) = self.consumer.store_offset_from_message(message) {
            // The event is stored; a redelivery after this is deduplicated.
            tracing::warn!(error = %e, "storing the offset failed");
        }
    }

    /// Reports an event whose notification was stored now (`new`) or before.
    fn stored(&self, envelope: &Envelope, new: bool) -> &'static str {
        if new {
            let delay = chrono::Utc::now() - envelope.occurred_at;
            self.metrics
                .event_delay
                .observe(delay.num_milliseconds().max(0) as f64 / 1000.0);
            tracing::info!(event_id = %envelope.event_id, order_id = %envelope.data.order_id, "notification stored");
            "stored"
        } else {
            tracing::info!(event_id = %envelope.event_id, "duplicate event skipped");
            "duplicate"
        }
    }

    /// Stores the events' notifications, timed; the ids of the events stored now.
    async fn store(&self, envelopes: &[&Envelope]) -> sqlx::Result<Vec<uuid::Uuid>> {
        let _timer = self.metrics.db_query.start("store_notification");
        notifications::store_all(&self.db, envelopes).await
    }

    async fn handle(&self, message: &BorrowedMessage<'_>) -> anyhow::Result<&'static str> {
        let payload = message.payload().unwrap_or_default();
        match Envelope::parse(payload) {
            Ok(envelope) => {
                let stored = match self.store(&[&envelope]).await {
                    Ok(stored) => stored.contains(&envelope.event_id),
                    // Data the database will never accept (SQLSTATE classes 22 and 23) would
                    // block the partition forever: dead-letter it. Anything else is retried.
                    Err(sqlx::Error::Database(e))
                        if e.code()
                            .is_some_and(|c| c.starts_with("22") || c.starts_with("23")) =>
                    {
                        let reason =
                            format!("rejected by the database: {}", e.code().unwrap_or_default());
                        self.dead_letter(message, &reason).await?;
                        tracing::warn!(%reason, "event moved to the dead-letter topic");
                        return Ok("dead_lettered");
                    }
                    Err(e) => return Err(e.into()),
                };
                Ok(self.stored(&envelope, stored))
            }
            Err(reason) => {
                self.dead_letter(message, &reason).await?;
                tracing::warn!(%reason, "unparseable event moved to the dead-letter topic");
                Ok("dead_lettered")
            }
        }
    }

    /// Publishes `message` to the dead-letter topic as it came (key, value, headers) plus why
    /// and when, for `notification redrive` to list and republish.
    async fn dead_letter(&self, message: &BorrowedMessage<'_>, reason: &str) -> anyhow::Result<()> {
        let origin = format!(
            "{}/{}/{}",
            message.topic(),
            message.partition(),
            message.offset()
        );
        let at = chrono::Utc::now().to_rfc3339();
        let original = message.headers();
        let mut headers = OwnedHeaders::new_with_capacity(original.map_or(0, |h| h.count()) + 3);
        for h in original.iter().flat_map(|h| h.iter()) {
            headers = headers.insert(h);
        }
        for (key, value) in [
            (DLQ_REASON_HEADER, reason),
            (DLQ_AT_HEADER, at.as_str()),
            (DLQ_ORIGIN_HEADER, origin.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut record = FutureRecord::to(&self.dlq_topic)
            .payload(message.payload().unwrap_or_default())
            .headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        self.dlq_producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| anyhow::anyhow!("publishing to the dead-letter topic: {e}"))?;
        Ok(())
    }
}

/// The span of one event's log lines: the request that caused it, where it was read, and the
/// trace it continues (the relay's publish span is its parent).
/// What the watch over the group's assignment remembers between two looks.
#[derive(Default)]
struct Watch {
    /// Since when this consumer has held no partition although it should hold some.
    idle_since: Option<Instant>,
    /// Partitions held elsewhere with events waiting: (committed offset, unchanged since).
    stalled: HashMap<i32, (i64, Instant)>,
}

/// The consumer group as the broker sees it: its members (counted only when this consumer
/// holds no partition), how many partitions this consumer holds, and (partition, committed
/// offset, end) of each of the others.
struct GroupView {
    members: Option<usize>,
    held_here: usize,
    partitions: Vec<(i32, i64, i64)>,
}

fn span_of(message: &BorrowedMessage<'_>) -> tracing::Span {
    let request_id = header(message, REQUEST_ID_HEADER)
        .or_else(|| header(message, LEGACY_REQUEST_ID_HEADER))
        .unwrap_or_default();
    let traceparent = header(message, TRACEPARENT);
    common::traced_span!(
        "event",
        telemetry::Parent::of(traceparent.as_deref()),
        request_id = %request_id,
        offset = message.offset()
    )
}

/// A header's value as text.
pub fn header(message: &impl Message, name: &str) -> Option<String> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}
