#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("catalogue") {
        return common::server::command("order", order::starter::command(args)).await;
    }
    common::server::main("order", &order::MIGRATOR, || async {
        order::build(order::Config::from_env()?).await
    })
    .await
}
