#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("admin") {
        return common::server::command("user", user::admin::command(args)).await;
    }
    common::server::main("user", &user::MIGRATOR, || async {
        user::build(user::Config::from_env()?).await
    })
    .await
}
