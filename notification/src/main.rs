#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::server::main("notification", &notification::MIGRATOR, || async {
        notification::build(notification::Config::from_env()?).await
    })
    .await
}
