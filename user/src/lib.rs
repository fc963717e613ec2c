//! The user service: registration, login with JWT access and rotating refresh tokens, profiles.

pub mod admin;
mod attempts;
mod clients;
mod domain;
mod metrics;
mod password;
mod routes;
mod sessions;
mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use common::auth::{ServiceToken, TokenIssuer, TokenVerifier};
use common::config::{self, ConfigError, Secret, ServiceConfig};
use common::internal_client::InternalClient;
use common::server::Server;
use sqlx::PgPool;

use clients::billing::BillingClient;
use metrics::UserMetrics;
pub use routes::openapi;

/// The service's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Everything the user service reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub service: ServiceConfig,
    /// PEM of the Ed25519 private key that signs access tokens (`JWT_PRIVATE_KEY_FILE`).
    pub jwt_private_key_pem: Secret,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// The longest a login session lasts, however often it is refreshed
    /// (`SESSION_LIFETIME_SECONDS`, default 30 days).
    pub session_lifetime: Duration,
    /// How long a login or registration waits for a password-hashing slot before it is
    /// refused 503 (`PASSWORD_QUEUE_WAIT_MS`, default 1000).
    pub password_queue_wait: Duration,
    pub billing_url: String,
    pub billing_timeout: Duration,
    pub service_token: ServiceToken,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            service: ServiceConfig::from_env(8081)?,
            jwt_private_key_pem: Secret::new(config::file("JWT_PRIVATE_KEY_FILE")?),
            access_token_ttl: config::seconds_or("ACCESS_TOKEN_TTL_SECONDS", 900)?,
            refresh_token_ttl: config::seconds_or("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600)?,
            session_lifetime: config::seconds_or("SESSION_LIFETIME_SECONDS", 30 * 24 * 3600)?,
            password_queue_wait: Duration::from_millis(config::or(
                "PASSWORD_QUEUE_WAIT_MS",
                password::QUEUE_WAIT.as_millis() as u64,
            )?),
            billing_url: config::or("BILLING_URL", "http://127.0.0.1:8082".to_owned())?,
            billing_timeout: config::seconds_or("BILLING_TIMEOUT_SECONDS", 2)?,
            service_token: ServiceToken::new(config::secret("SERVICE_TOKEN", 16)?),
        })
    }
}

/// Shared state of the handlers (the extractors take the verifier and credential from it).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub issuer: Arc<TokenIssuer>,
    pub verifier: Arc<TokenVerifier>,
    pub billing: BillingClient,
    pub lifetimes: sessions::Lifetimes,
    pub password_queue_wait: Duration,
    pub metrics: Arc<UserMetrics>,
}

/// Deletes what can no longer be used: expired refresh tokens, sessions past their lifetime or
/// revoked a day ago, login attempt counts 15 minutes quiet. Returns the rows deleted. The
/// service runs it every `common::db::SWEEP_EVERY`.
pub async fn sweep_once(db: &PgPool, session_lifetime: Duration) -> sqlx::Result<u64> {
    Ok(sessions::sweep(db, session_lifetime).await? + attempts::sweep(db).await?)
}

/// Connects to the database, migrates it, and binds the listener (port 0 picks a free one).
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let db = common::db::connect(&config.service, &MIGRATOR).await?;
    let metrics = common::metrics::Metrics::for_pool(db.clone());
    let state = AppState {
        db,
        issuer: Arc::new(TokenIssuer::new(
            config.jwt_private_key_pem.expose(),
            &config.service.jwt,
            config.access_token_ttl,
        )?),
        verifier: Arc::new(TokenVerifier::new(&config.service.jwt)?),
        billing: BillingClient::new(InternalClient::new(
            &config.billing_url,
            config.service_token,
            config.billing_timeout,
        )?),
        lifetimes: sessions::Lifetimes {
            refresh_token_ttl: config.refresh_token_ttl,
            session_lifetime: config.session_lifetime,
        },
        password_queue_wait: config.password_queue_wait,
        metrics: Arc::new(UserMetrics::new(&metrics)),
    };
    let sweep = {
        let (db, lifetime) = (state.db.clone(), config.session_lifetime);
        common::db::sweep_forever(
            "sessions and login attempts",
            common::db::SWEEP_EVERY,
            move || {
                let db = db.clone();
                async move { sweep_once(&db, lifetime).await }
            },
        )
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
