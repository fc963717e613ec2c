#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("redrive") {
        let telemetry = common::telemetry::init("notification");
        let result = notification::redrive::command(args).await;
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
        if let Err(e) = result {
            // An operator's command: the message, not a backtrace.
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
        return Ok(());
    }
    common::server::main("notification", &notification::MIGRATOR, || async {
        notification::build(notification::Config::from_env()?).await
    })
    .await
}
