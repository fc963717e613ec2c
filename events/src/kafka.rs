//! Kafka client settings shared by the producer (order) and the consumer (notification).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;

use common::config::{self, ConfigError, Secret};

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
    /// How clients authenticate and encrypt (plaintext unless `KAFKA_SECURITY_PROTOCOL` says).
    pub security: KafkaSecurity,
}

/// `KAFKA_SECURITY_PROTOCOL` (`plaintext` by default; `sasl_ssl` on the cluster, where each
/// service is a Strimzi `KafkaUser` with SCRAM-SHA-512 credentials), `KAFKA_SASL_MECHANISM`
/// (default `SCRAM-SHA-512`), `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`, and
/// `KAFKA_SSL_CA_LOCATION` (the cluster CA's certificate file; the system's CAs when unset).
#[derive(Debug, Clone)]
pub struct KafkaSecurity {
    pub protocol: String,
    pub sasl: Option<SaslLogin>,
    pub ca_location: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SaslLogin {
    pub mechanism: String,
    pub username: String,
    pub password: Secret,
}

impl KafkaSecurity {
    /// No authentication, no encryption: the local broker.
    pub fn plaintext() -> Self {
        Self {
            protocol: "plaintext".to_owned(),
            sasl: None,
            ca_location: None,
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        let protocol: String = config::or("KAFKA_SECURITY_PROTOCOL", "plaintext".to_owned())?;
        let protocol = protocol.to_ascii_lowercase();
        let uses_sasl = protocol.starts_with("sasl_");
        if !["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"].contains(&protocol.as_str()) {
            return Err(ConfigError {
                name: "KAFKA_SECURITY_PROTOCOL".to_owned(),
                problem: format!(
                    "{protocol:?} is not one of plaintext, ssl, sasl_plaintext, sasl_ssl"
                ),
            });
        }
        let sasl = if uses_sasl {
            Some(SaslLogin {
                mechanism: config::or("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512".to_owned())?,
                username: config::required("KAFKA_SASL_USERNAME")?,
                password: Secret::new(config::required("KAFKA_SASL_PASSWORD")?),
            })
        } else {
            None
        };
        let ca_location: String = config::or("KAFKA_SSL_CA_LOCATION", String::new())?;
        Ok(Self {
            protocol,
            sasl,
            ca_location: (!ca_location.is_empty()).then_some(ca_location),
        })
    }

    fn apply(&self, config: &mut ClientConfig) {
        config.set("security.protocol", &self.protocol);
        if let Some(sasl) = &self.sasl {
            config
                .set("sasl.mechanisms", &sasl.mechanism)
                .set("sasl.username", &sasl.username)
                .set("sasl.password", sasl.password.expose());
        }
        if let Some(ca) = &self.ca_location {
            config.set("ssl.ca.location", ca);
        }
    }
}

impl KafkaConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            brokers: config::or("KAFKA_BROKERS", "127.0.0.1:9092".to_owned())?,
            topic: config::or("ORDER_EVENTS_TOPIC", ORDER_EVENTS_TOPIC.to_owned())?,
            create_topics: config::or("KAFKA_CREATE_TOPICS", true)?,
            fetch_wait_ms: config::or("KAFKA_FETCH_WAIT_MS", 10)?,
            security: KafkaSecurity::from_env()?,
        })
    }

    /// Client settings common to every client of this cluster.
    pub fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("socket.timeout.ms", "10000")
            .set("reconnect.backoff.max.ms", "5000");
        self.security.apply(&mut config);
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

#[cfg(test)]
mod tests {
    use rdkafka::producer::BaseProducer;

    use super::{KafkaConfig, KafkaSecurity, SaslLogin};
    use common::config::Secret;

    fn cluster_settings() -> KafkaConfig {
        KafkaConfig {
            security: KafkaSecurity {
                protocol: "sasl_ssl".to_owned(),
                sasl: Some(SaslLogin {
                    mechanism: "SCRAM-SHA-512".to_owned(),
                    username: "order".to_owned(),
                    password: Secret::new("s3cret".to_owned()),
                }),
                ca_location: Some("/etc/ssl/certs/ca-certificates.crt".to_owned()),
            },
            ..crate::testing::no_broker()
        }
    }

    #[test]
    fn the_cluster_login_reaches_every_client() {
        let config = cluster_settings().client();
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.username"), Some("order"));
        assert_eq!(config.get("sasl.password"), Some("s3cret"));
        assert_eq!(
            config.get("ssl.ca.location"),
            Some("/etc/ssl/certs/ca-certificates.crt")
        );
        assert!(!format!("{:?}", cluster_settings()).contains("s3cret"));
    }

    #[test]
    fn librdkafka_is_built_with_tls_and_scram() {
        // librdkafka refuses SCRAM and ssl.ca.location unless it was built with OpenSSL.
        let created: Result<BaseProducer, _> = cluster_settings().client().create();
        assert!(created.is_ok(), "{:?}", created.err());
    }

    #[test]
    fn the_local_broker_needs_no_login() {
        let config = crate::testing::no_broker().client();
        assert_eq!(config.get("security.protocol"), Some("plaintext"));
        assert_eq!(config.get("sasl.username"), None);
    }
}
