#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::server::main("user", &user::MIGRATOR, || async {
        user::build(user::Config::from_env()?).await
    })
    .await
}
