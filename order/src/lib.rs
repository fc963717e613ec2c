//! The order service: places orders, pays them through billing, and reports each outcome as an
//! event through a transactional outbox.

mod batch;
pub mod catalogue;
mod clients;
mod listing;
mod metrics;
pub mod orders;
mod payment;
mod relay;
mod routes;
mod settler;
pub mod starter;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use common::auth::{ServiceToken, TokenVerifier};
use common::config::{self, ConfigError, ServiceConfig};
use common::internal_client::InternalClient;
use common::limits::CommandLimit;
use common::server::Server;
use events::kafka::KafkaConfig;
use sqlx::PgPool;

use clients::billing::BillingClient;
use metrics::OrderMetrics;
use rdkafka::producer::FutureProducer;
use relay::RelayStatus;
pub use routes::openapi;

/// The service's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Everything the order service reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub service: ServiceConfig,
    pub kafka: KafkaConfig,
    pub billing_url: String,
    /// Per call to billing; past it the order stays pending and is settled later.
    pub billing_timeout: Duration,
    /// Its own credential for billing's internal endpoints (`SERVICE_TOKEN`).
    pub service_token: ServiceToken,
    /// The per-user limit on orders, cancels and restocks (`COMMAND_LIMIT_*`).
    pub command_limit: Arc<CommandLimit>,
    /// How often the settler looks for pending orders (`SETTLE_INTERVAL_MS`).
    pub settle_interval: Duration,
    /// How long a new pending order is left to its own request before the settler tries.
    pub settle_delay: Duration,
    /// The relay's safety-net poll when no NOTIFY arrives (`OUTBOX_POLL_MS`).
    pub outbox_poll: Duration,
    /// How long sent events stay in the outbox before the relay deletes them
    /// (`OUTBOX_RETENTION_SECONDS`).
    pub outbox_retention: Duration,
    /// How long a replica answers the public catalogue listing from the page it last read
    /// (`CATALOGUE_CACHE_MS`; 0: always read afresh). See `listing`.
    pub catalogue_cache: Duration,
}

fn millis_or(name: &str, default: u64) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(config::or(name, default)?))
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            service: ServiceConfig::from_env(8083)?,
            kafka: KafkaConfig::from_env()?,
            billing_url: config::or("BILLING_URL", "http://127.0.0.1:8082".to_owned())?,
            billing_timeout: config::seconds_or("BILLING_TIMEOUT_SECONDS", 3)?,
            service_token: ServiceToken::new(config::secret("SERVICE_TOKEN", 16)?),
            command_limit: Arc::new(CommandLimit::from_env()?),
            settle_interval: millis_or("SETTLE_INTERVAL_MS", 2000)?,
            settle_delay: millis_or("SETTLE_DELAY_MS", 10_000)?,
            outbox_poll: millis_or("OUTBOX_POLL_MS", 5000)?,
            outbox_retention: config::seconds_or("OUTBOX_RETENTION_SECONDS", 3600)?,
            catalogue_cache: millis_or("CATALOGUE_CACHE_MS", 1000)?,
        })
    }
}

/// Shared state of the handlers and background tasks (the extractors take the verifier from
/// it).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<TokenVerifier>,
    pub command_limit: Arc<CommandLimit>,
    pub billing: BillingClient,
    pub producer: FutureProducer,
    /// How the outbox relay's last pass went (readiness reports it).
    pub relay: RelayStatus,
    pub topic: String,
    /// How long the settler leaves a new order, or a new cancellation's refund, to the request.
    pub settle_delay: Duration,
    pub orders: orders::Writer,
    pub metrics: Arc<OrderMetrics>,
    /// The public catalogue listing's last pages.
    pub listing: Arc<listing::ListingCache>,
}

/// Connects to the database (migrating it) and the broker, and binds the listener; the outbox
/// relay and the settler run in the background while it serves.
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let db = common::db::connect(&config.service, &MIGRATOR).await?;
    if let Err(e) = config.kafka.ensure_topics(&[&config.kafka.topic]).await {
        // The broker may come later; the outbox holds events until it does.
        tracing::warn!(error = format!("{e:#}"), "could not ensure Kafka topics");
    }
    let metrics = common::metrics::Metrics::for_pool(db.clone());
    let state = AppState {
        db: db.clone(),
        verifier: Arc::new(TokenVerifier::new(&config.service.jwt)?),
        command_limit: config.command_limit,
        billing: BillingClient::new(InternalClient::new(
            &config.billing_url,
            config.service_token,
            config.billing_timeout,
        )?),
        producer: config.kafka.producer()?,
        relay: RelayStatus::default(),
        topic: config.kafka.topic.clone(),
        settle_delay: config.settle_delay,
        orders: orders::Writer::new(db.clone(), config.settle_delay, config.kafka.topic.clone()),
        metrics: Arc::new(OrderMetrics::new(&metrics)),
        listing: Arc::new(listing::ListingCache::new(config.catalogue_cache)),
    };
    let relay = relay::run(
        state.db.clone(),
        state.producer.clone(),
        state.relay.clone(),
        state.metrics.clone(),
        config.outbox_poll,
        config.outbox_retention,
    );
    let routes = routes::router(state.clone());
    let sweep = {
        let db = state.db.clone();
        common::db::sweep_forever("restock keys", common::db::SWEEP_EVERY, move || {
            let db = db.clone();
            async move { catalogue::sweep_restock_keys(&db).await }
        })
    };
    let settler = settler::run(state, config.settle_interval);
    Ok(Server::bind(
        config.service.listen,
        routes::PREFIX,
        routes,
        metrics,
        config.service.request_timeout,
    )
    .await?
    .with_background("outbox relay", relay)
    .with_background("settler", settler)
    .with_background("retention sweep", sweep))
}
