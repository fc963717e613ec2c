//! The billing service: one account per user, deposits, and idempotent withdrawals for orders.

pub mod audit;
pub mod ledger;
mod metrics;
mod routes;

use std::sync::Arc;

use axum::extract::FromRef;
use common::auth::{Caller, ServiceCredentials, ServiceToken, TokenVerifier};
use common::config::{self, ConfigError, ServiceConfig};
use common::limits::CommandLimit;
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
    /// The credentials of the services that call the internal endpoints, one each:
    /// `USER_SERVICE_TOKEN` (account creation) and `ORDER_SERVICE_TOKEN` (withdraw, refund).
    pub user_service_token: ServiceToken,
    pub order_service_token: ServiceToken,
    /// The per-user limit on deposits (`COMMAND_LIMIT_*`).
    pub command_limit: Arc<CommandLimit>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let user = config::secret("USER_SERVICE_TOKEN", 16)?;
        let order = config::secret("ORDER_SERVICE_TOKEN", 16)?;
        if user == order {
            // One credential for both would open every internal endpoint to both callers.
            return Err(ConfigError {
                name: "ORDER_SERVICE_TOKEN".to_owned(),
                problem: "must differ from USER_SERVICE_TOKEN: each caller has its own".to_owned(),
            });
        }
        Ok(Self {
            service: ServiceConfig::from_env(8082)?,
            user_service_token: ServiceToken::new(user),
            order_service_token: ServiceToken::new(order),
            command_limit: Arc::new(CommandLimit::from_env()?),
        })
    }
}

/// Shared state of the handlers (the extractors take the verifier and credential from it).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<TokenVerifier>,
    pub credentials: Arc<ServiceCredentials>,
    pub command_limit: Arc<CommandLimit>,
    pub metrics: Arc<BillingMetrics>,
}

/// Connects to the database, migrates it, and binds the listener (port 0 picks a free one).
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let db = common::db::connect(&config.service, &MIGRATOR).await?;
    let metrics = common::metrics::Metrics::for_pool(db.clone());
    let state = AppState {
        db,
        verifier: Arc::new(TokenVerifier::new(&config.service.jwt)?),
        credentials: Arc::new(ServiceCredentials::new(vec![
            (Caller::User, config.user_service_token),
            (Caller::Order, config.order_service_token),
        ])),
        command_limit: config.command_limit,
        metrics: Arc::new(BillingMetrics::new(&metrics)),
    };
    let sweep = {
        let db = state.db.clone();
        common::db::sweep_forever("idempotency keys", common::db::SWEEP_EVERY, move || {
            let db = db.clone();
            async move { ledger::sweep_idempotency_keys(&db).await }
        })
    };
    Ok(Server::bind(
        config.service.listen,
        routes::PREFIX,
        routes::router(state),
        metrics,
        config.service.request_timeout,
    )
    .await?
    .with_background("retention sweep", sweep))
}
