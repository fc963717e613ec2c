//! The Postgres pool, with the service's embedded migrations applied at startup.

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// Connects and runs `migrator` (sqlx takes an advisory lock, so replicas do not race).
pub async fn connect(
    url: &str,
    max_connections: u32,
    migrator: &Migrator,
) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .context("connecting to the database (DATABASE_URL)")?;
    migrator.run(&pool).await.context("running migrations")?;
    Ok(pool)
}

/// True when the database answers a trivial query within two seconds.
pub async fn ping(pool: &PgPool) -> Result<(), String> {
    let query = sqlx::query("SELECT 1").execute(pool);
    match tokio::time::timeout(Duration::from_secs(2), query).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}
