#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("redrive") {
        return common::server::command("notification", notification::redrive::command(args)).await;
    }
    common::server::main("notification", &notification::MIGRATOR, || async {
        notification::build(notification::Config::from_env()?).await
    })
    .await
}
