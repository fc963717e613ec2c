use notification::{build, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init();
    if std::env::args().nth(1).as_deref() == Some("migrate") {
        return common::db::migrate_command(&notification::MIGRATOR).await;
    }
    let app = build(Config::from_env()?).await?;
    tracing::info!(addr = %app.local_addr(), "notification service listening");
    app.run_until(common::server::shutdown_signal()).await?;
    Ok(())
}
