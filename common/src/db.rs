//! The Postgres pool, with the service's embedded migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::backoff::Backoff;
use crate::config::ServiceConfig;

/// Connects, and runs `migrator` when the configuration says so (sqlx holds an advisory lock
/// while migrating, so replicas starting together do not race).
pub async fn connect(config: &ServiceConfig, migrator: &Migrator) -> anyhow::Result<PgPool> {
    let options = PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection it hands out by default: a round trip per query. Only a
        // connection that sat idle for a while may have been cut (a restarted Postgres, a
        // proxy's idle timeout); one in steady use proves itself with every query.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > Duration::from_secs(1) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        });
    let pool = connect_with_retry(options, config.database_url.expose()).await?;
    if config.run_migrations {
        migrator.run(&pool).await.context("running migrations")?;
    }
    Ok(pool)
}

/// `<service> migrate`: applies the migrations to `DATABASE_URL` and exits (run once per
/// release by the Kubernetes pre-install/pre-upgrade Job).
pub async fn migrate_command(migrator: &Migrator) -> anyhow::Result<()> {
    let pool = command_pool().await?;
    migrator.run(&pool).await.context("running migrations")?;
    tracing::info!("migrations applied");
    Ok(())
}

/// The one connection of an operator's subcommand (`migrate`, `user admin`, `order
/// catalogue`, `notification redrive`) to the service's database, `DATABASE_URL`, retried as
/// the service retries it.
pub async fn command_pool() -> anyhow::Result<PgPool> {
    let url: String = crate::config::required("DATABASE_URL")?;
    connect_with_retry(PgPoolOptions::new().max_connections(1), &url).await
}

/// Opens the pool, waiting with backoff (1 s doubling to 30 s) while the database cannot be
/// reached or refuses the login: at start-up it may still be coming up, or its role not yet
/// created (an operator bootstrapping it). Only a malformed `DATABASE_URL` fails at once. The
/// process keeps trying until the platform gives up on it (Kubernetes' startup probe).
pub async fn connect_with_retry(options: PgPoolOptions, url: &str) -> anyhow::Result<PgPool> {
    let target = PgConnectOptions::from_str(url).context("DATABASE_URL is not a Postgres URL")?;
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        match options.clone().connect_with(target.clone()).await {
            Ok(pool) => return Ok(pool),
            Err(e @ sqlx::Error::Configuration(_)) => {
                return Err(e).context("connecting to the database (DATABASE_URL)")
            }
            Err(e) => {
                let wait = backoff.next_delay();
                // sqlx's errors name neither the URL nor the password.
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64,
                    "database not reachable yet (DATABASE_URL)");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// True when the database answers a ping within two seconds.
pub async fn ping(pool: &PgPool) -> Result<(), String> {
    let ping = async {
        let mut conn = pool.acquire().await?;
        sqlx::Connection::ping(&mut *conn).await
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// How often a service deletes the rows of its tables that are past their retention.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// A background loop: runs `sweep` (DELETEs of rows past their retention, returning how many)
/// at start and then every `every`. A failure is logged and tried again at the next turn;
/// replicas may sweep at the same time (the DELETEs are idempotent).
pub async fn sweep_forever<F, Fut>(what: &'static str, every: Duration, sweep: F)
where
    F: Fn() -> Fut + Send,
    Fut: std::future::Future<Output = sqlx::Result<u64>> + Send,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sweep().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(what, deleted, "deleted rows past their retention"),
            Err(e) => tracing::warn!(what, error = %e, "retention sweep failed; next turn retries"),
        }
    }
}
