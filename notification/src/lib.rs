//! The notification service: turns order events into notifications users can list.

mod consumer;
mod metrics;
pub mod notifications;
pub mod redrive;
mod routes;

use std::sync::Arc;

use axum::extract::FromRef;
use common::auth::TokenVerifier;
use common::config::{self, ConfigError, ServiceConfig};
use common::server::Server;
use events::dead_letter_topic;
use events::kafka::KafkaConfig;
use rdkafka::producer::FutureProducer;
use sqlx::PgPool;

use consumer::Consumer;
use metrics::NotificationMetrics;
pub use routes::openapi;

/// The service's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Everything the notification service reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub service: ServiceConfig,
    pub kafka: KafkaConfig,
    /// The consumer group (`KAFKA_GROUP_ID`, default `notification`).
    pub group_id: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            service: ServiceConfig::from_env(8084)?,
            kafka: KafkaConfig::from_env()?,
            group_id: config::or("KAFKA_GROUP_ID", "notification".to_owned())?,
        })
    }
}

/// Shared state of the handlers (the extractors take the verifier and credential from it).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<TokenVerifier>,
    pub producer: FutureProducer,
    pub topic: String,
    pub metrics: Arc<NotificationMetrics>,
}

pub async fn build(config: Config) -> anyhow::Result<Server> {
    let db = common::db::connect(&config.service, &MIGRATOR).await?;
    let dlq = dead_letter_topic(&config.kafka.topic);
    if let Err(e) = config
        .kafka
        .ensure_topics(&[&config.kafka.topic, &dlq])
        .await
    {
        tracing::warn!(error = format!("{e:#}"), "could not ensure Kafka topics");
    }
    let metrics = common::metrics::Metrics::for_pool(db.clone());
    let producer = config.kafka.producer()?;
    let business = Arc::new(NotificationMetrics::new(&metrics));
    let consumer = Consumer::new(
        &config.kafka,
        &config.group_id,
        db.clone(),
        producer.clone(),
        business.clone(),
    )?;
    let state = AppState {
        db,
        verifier: Arc::new(TokenVerifier::new(&config.service.jwt)?),
        producer,
        topic: config.kafka.topic.clone(),
        metrics: business,
    };
    Ok(Server::bind(
        config.service.listen,
        routes::PREFIX,
        routes::router(state),
        metrics,
        config.service.request_timeout,
    )
    .await?
    .with_background("consumer", consumer.run()))
}
