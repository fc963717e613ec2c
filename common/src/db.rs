//! The Postgres pool, with the service's embedded migrations.

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::config::ServiceConfig;

/// Connects, and runs `migrator` when the configuration says so (sqlx holds an advisory lock
/// while migrating, so replicas starting together do not race).
pub async fn connect(config: &ServiceConfig, migrator: &Migrator) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
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
        })
        .connect(&config.database_url)
        .await
        .context("connecting to the database (DATABASE_URL)")?;
    if config.run_migrations {
        migrator.run(&pool).await.context("running migrations")?;
    }
    Ok(pool)
}

/// `<service> migrate`: applies the migrations to `DATABASE_URL` and exits (run once per
/// release by the Kubernetes pre-install/pre-upgrade Job).
pub async fn migrate_command(migrator: &Migrator) -> anyhow::Result<()> {
    let url: String = crate::config::required("DATABASE_URL")?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .context("connecting to the database (DATABASE_URL)")?;
    migrator.run(&pool).await.context("running migrations")?;
    tracing::info!("migrations applied");
    Ok(())
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
