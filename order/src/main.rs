#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::server::main("order", &order::MIGRATOR, || async {
        order::build(order::Config::from_env()?).await
    })
    .await
}
