//! Kafka for tests: settings that reach no broker, and topics of a test's own.

use std::ops::Deref;
use std::sync::Once;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;

use crate::kafka::{KafkaConfig, KafkaSecurity};

/// Kafka settings for a service whose tests need no broker: nothing listens there, so events
/// stay in the outbox and the consumer keeps retrying in the background.
pub fn no_broker() -> KafkaConfig {
    KafkaConfig {
        brokers: "127.0.0.1:1".to_owned(),
        topic: "order-events-unused".to_owned(),
        create_topics: false,
        fetch_wait_ms: 10,
        security: KafkaSecurity::plaintext(),
    }
}

/// The prefix of every test topic, so that leftovers can be found and deleted.
const TEST_TOPIC_PREFIX: &str = "test-order-events-";

/// Settings with an order-events topic of one test's own (created by the services at start),
/// so tests never see each other's events.
///
/// Test topics are deleted by the next test process that makes one, before it makes it: the
/// first `TestTopic::new` of a process deletes every test topic on the broker. Not when the test
/// ends: its services' Kafka clients are still running then (a test's runtime stops them only
/// after its locals are dropped), and librdkafka crashes on the metadata the local broker (tansu)
/// sends for a topic deleted under a live client. Cargo runs test binaries one at a time, so no
/// client of another process still uses the topics deleted.
pub struct TestTopic(KafkaConfig);

impl TestTopic {
    pub fn new(brokers: &str) -> Self {
        static SWEPT: Once = Once::new();
        SWEPT.call_once(|| delete_test_topics(brokers));
        Self(KafkaConfig {
            brokers: brokers.to_owned(),
            topic: format!("{TEST_TOPIC_PREFIX}{}", uuid::Uuid::new_v4().simple()),
            create_topics: true,
            fetch_wait_ms: 10,
            security: KafkaSecurity::plaintext(),
        })
    }
}

impl Deref for TestTopic {
    type Target = KafkaConfig;

    fn deref(&self) -> &KafkaConfig {
        &self.0
    }
}

/// Deletes the test topics (and their dead-letter topics) of earlier test processes.
fn delete_test_topics(brokers: &str) {
    let kafka = KafkaConfig {
        brokers: brokers.to_owned(),
        ..no_broker()
    };
    // Its own thread and runtime: this may be called from inside a test's runtime.
    let deleted = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let admin: AdminClient<DefaultClientContext> = kafka.client().create()?;
            let metadata = admin.inner().fetch_metadata(None, Duration::from_secs(5))?;
            let leftovers: Vec<&str> = metadata
                .topics()
                .iter()
                .map(|t| t.name())
                .filter(|name| name.starts_with(TEST_TOPIC_PREFIX))
                .collect();
            if !leftovers.is_empty() {
                let options = AdminOptions::new()
                    .request_timeout(Some(Duration::from_secs(5)))
                    .operation_timeout(Some(Duration::from_secs(5)));
                admin.delete_topics(&leftovers, &options).await?;
            }
            anyhow::Ok(leftovers.len())
        })
    })
    .join();
    match deleted {
        Ok(Ok(count)) => eprintln!("deleted {count} test topics of earlier test runs"),
        Ok(Err(e)) => eprintln!("test topics of earlier runs not deleted: {e:#}"),
        Err(_) => {
            eprintln!("test topics of earlier runs not deleted: the deleting thread panicked")
        }
    }
}
