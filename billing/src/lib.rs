//! The billing service: one account per user, deposits, and idempotent withdrawals for orders.

pub mod ledger;
mod metrics;
mod routes;

use std::sync::Arc;

use axum::extract::FromRef;
use common::auth::{ServiceToken, TokenVerifier};
use common::config::{self, ConfigError, ServiceConfig};
use common::server::Server;
use sqlx::PgPool;

pub use metrics::BillingMetrics;
pub use routes::openapi;

/// The service's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Everything the billing service reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub service: ServiceConfig,
    /// The credential other services present on internal endpoints (`SERVICE_TOKEN`).
    pub service_token: ServiceToken,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            service: ServiceConfig::from_env(8082)?,
            service_token: ServiceToken::new(config::secret("SERVICE_TOKEN", 16)?),
        })
    }
}

/// Shared state of the handlers (the extractors take the verifier and credential from it).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<TokenVerifier>,
    pub service_token: ServiceToken,
    pub metrics: Arc<BillingMetrics>,
}

/// Connects to the database, migrates it, and binds the listener (port 0 picks a free one).
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let db = common::db::connect(&config.service, &MIGRATOR).await?;
    let metrics = common::metrics::Metrics::for_pool(db.clone());
    let state = AppState {
        db,
        verifier: Arc::new(TokenVerifier::new(&config.service.jwt)?),
        service_token: config.service_token,
        metrics: Arc::new(BillingMetrics::new(&metrics)),
    };
    Ok(Server::bind(
        config.service.listen,
        routes::PREFIX,
        routes::router(state),
        metrics,
        config.service.request_timeout,
    )
    .await?)
}
