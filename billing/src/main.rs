#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::server::main("billing", &billing::MIGRATOR, || async {
        billing::build(billing::Config::from_env()?).await
    })
    .await
}
