//! A broker outage delays events and loses none: the order service runs against a tansu broker
//! of this test's own, which is down while orders are placed and started afterwards.

use std::process::Stdio;
use std::time::Duration;

use e2e::{
    eventually, free_addr, own_topic, start_billing, start_notification, start_order, Api, Customer,
};
use reqwest::StatusCode;
use testkit::TestKeys;
use tokio::process::{Child, Command};

fn start_tansu(addr: std::net::SocketAddr) -> Child {
    let bin = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".to_owned());
    let url = format!("tcp://{addr}");
    let mut command = Command::new(&bin);
    command.args([
        "broker",
        "--listener-url",
        &url,
        "--advertised-listener-url",
        &url,
    ]);
    command.args(["--storage-engine", "memory://tansu/"]);
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} (TANSU_BIN; make test installs tansu): {e}"))
}

async fn unsent(order: &e2e::Service) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(&order.db)
        .await
        .expect("outbox")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_succeed_while_the_broker_is_down_and_their_events_arrive_once_after() {
    let keys = TestKeys::new();
    let broker = free_addr();
    let kafka = own_topic(&broker.to_string());
    let billing = start_billing(free_addr(), &keys).await;
    let order = start_order(&billing.base, &keys, &kafka).await;
    let api = Api::default();
    let erin = Customer::new(&keys);
    api.deposit(&billing, &erin, 1_000).await;

    // The broker is down: orders are still created and charged; their events wait.
    for i in 0..4 {
        let (status, body) = api.order(&order, &erin, &format!("book {i}"), 100).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = api.order(&order, &erin, "too expensive", 1_000).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(unsent(&order).await, 5, "every event waits in the outbox");
    // Readiness: still ready (orders are taken), "degraded", naming the relay's failure once
    // its first pass gave up (the producer's message timeout).
    let health = eventually(Duration::from_secs(30), "the relay failing", || async {
        let body: serde_json::Value = reqwest::get(format!("{}/api/v1/orders/health", order.base))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (body["data"]["checks"]["outbox relay"] != "ok").then_some(body)
    })
    .await;
    assert_eq!(health["data"]["status"], "degraded", "{health}");

    // The broker comes back; the notification service starts consuming.
    let _tansu = start_tansu(broker);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let notification = start_notification(&keys, &kafka).await;
    let notes = api.await_notifications(&notification, &erin, 5).await;
    assert_eq!(notes.len(), 5, "none lost, none doubled: {notes:?}");
    assert_eq!(
        notes
            .iter()
            .filter(|n| n["type"] == "order_not_created")
            .count(),
        1
    );
    assert_eq!(unsent(&order).await, 0, "all marked sent once acknowledged");
}
