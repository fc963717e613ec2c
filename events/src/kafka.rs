//! Kafka client settings shared by the producer (order) and the consumer (notification).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;

use common::config::{self, ConfigError};

use crate::ORDER_EVENTS_TOPIC;

/// Where the broker is and which topic carries order events.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `KAFKA_BROKERS`, comma separated `host:port` (default `127.0.0.1:9092`).
    pub brokers: String,
    /// `ORDER_EVENTS_TOPIC` (default `order-events`; tests use their own).
    pub topic: String,
    /// `KAFKA_CREATE_TOPICS`: create missing topics at startup (off where the platform does it).
    pub create_topics: bool,
    /// `KAFKA_FETCH_WAIT_MS` (default 10): the longest a consumer's fetch waits for new data.
    /// A Kafka broker answers as soon as data arrives, so a short wait only means more empty
    /// fetches while idle; the local broker (tansu) always waits it out, so librdkafka's
    /// default of 500 ms would put ~400 ms between an order and its notification.
    pub fetch_wait_ms: u32,
}

impl KafkaConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            brokers: config::or("KAFKA_BROKERS", "127.0.0.1:9092".to_owned())?,
            topic: config::or("ORDER_EVENTS_TOPIC", ORDER_EVENTS_TOPIC.to_owned())?,
            create_topics: config::or("KAFKA_CREATE_TOPICS", true)?,
            fetch_wait_ms: config::or("KAFKA_FETCH_WAIT_MS", 10)?,
        })
    }

    /// Client settings common to every client of this cluster.
    pub fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("socket.timeout.ms", "10000")
            .set("reconnect.backoff.max.ms", "5000");
        config
    }

    /// A producer that keeps order within a partition (one request in flight, so a retry is
    /// never overtaken) and may duplicate on a retry, which the consumers' event-id check
    /// absorbs. Not librdkafka's idempotent producer: its producer id and epoch are broker
    /// state, and a broker that lost or mishandles that state (UnknownProducerId, then a fenced
    /// or panicking epoch bump) stops every event until the process is restarted.
    pub fn producer(&self) -> anyhow::Result<FutureProducer> {
        Ok(self
            .client()
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .set("acks", "all")
            .set("message.timeout.ms", "10000")
            .set("linger.ms", "5")
            .create()?)
    }

    /// Creates the topics that are missing (single partition count and replication 1 here;
    /// in Kubernetes the Kafka chart provisions them and this is switched off).
    pub async fn ensure_topics(&self, topics: &[&str]) -> anyhow::Result<()> {
        if !self.create_topics {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = self.client().create()?;
        let new: Vec<NewTopic> = topics
            .iter()
            .map(|t| NewTopic::new(t, 3, TopicReplication::Fixed(1)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&new, &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => anyhow::bail!("creating topic {topic}: {code}"),
            }
        }
        Ok(())
    }
}

/// True when the broker answers a metadata request for `topic` within two seconds.
pub async fn ping(producer: &FutureProducer, topic: &str) -> Result<(), String> {
    let producer = producer.clone();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        use rdkafka::producer::Producer;
        producer
            .client()
            .fetch_metadata(Some(&topic), Duration::from_secs(2))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}
