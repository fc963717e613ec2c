//! The purchase flow end to end: order, billing and notification services with real Postgres
//! databases and a real Kafka broker (`KAFKA_BROKERS`), each test on a topic of its own.

use std::collections::HashSet;
use std::time::Duration;

use e2e::{
    charges_for, events_for, eventually, free_addr, kafka_brokers, own_topic, start_billing,
    start_notification, start_order, Api, Customer, Shop,
};
use reqwest::StatusCode;
use testkit::TestKeys;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_enough_money_is_created_charged_and_notified() {
    let shop = Shop::start().await;
    let alice = shop.customer_with(10_000).await;
    let Shop {
        billing,
        order,
        notification,
        api,
        ..
    } = &shop;

    let (status, body) = api.order(order, &alice, "Blue mug", 1_250).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["status"], "created");
    let order_id = body["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(api.balance(billing, &alice).await, 8_750);
    assert_eq!(charges_for(billing, &order_id).await, 1);

    let notes = api.await_notifications(notification, &alice, 1).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["type"], "order_created");
    assert_eq!(notes[0]["orderId"], order_id.as_str());
    assert!(notes[0]["text"]
        .as_str()
        .expect("text")
        .contains("Blue mug"));
    assert!(notes[0]["text"].as_str().expect("text").contains("12.50"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_without_enough_money_is_rejected_kept_and_notified() {
    let shop = Shop::start().await;
    let bob = shop.customer_with(100).await;
    let Shop {
        billing,
        order,
        notification,
        api,
        ..
    } = &shop;

    let (status, body) = api.order(order, &bob, "Piano", 500_000).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "insufficient_funds");
    let order_id = body["details"]["order"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        api.get_order(order, &bob, &order_id).await["data"]["status"],
        "rejected"
    );
    assert_eq!(api.balance(billing, &bob).await, 100, "balance unchanged");
    assert_eq!(charges_for(billing, &order_id).await, 0);

    let notes = api.await_notifications(notification, &bob, 1).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["type"], "order_not_created");
    assert!(notes[0]["text"]
        .as_str()
        .expect("text")
        .contains("not enough money"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_billing_down_the_order_is_pending_then_settled_once_when_it_returns() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let billing_addr = free_addr();
    let order = start_order(&format!("http://{billing_addr}"), &keys, &kafka).await;
    let notification = start_notification(&keys, &kafka).await;
    let api = Api::default();
    let carol = Customer::new(&keys);

    let (status, body) = api.order(&order, &carol, "Lamp", 3_000).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["data"]["status"], "pending");
    let order_id = body["data"]["id"].as_str().expect("id").to_owned();
    // Let the settler try (and fail) against the absent billing a few times.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        api.get_order(&order, &carol, &order_id).await["data"]["status"],
        "pending"
    );
    assert_eq!(
        events_for(&order, &order_id).await,
        0,
        "no event while the outcome is unknown"
    );

    let billing = start_billing(billing_addr, &keys).await;
    api.deposit(&billing, &carol, 5_000).await;
    eventually(Duration::from_secs(90), "the order to settle", || async {
        let status = api.get_order(&order, &carol, &order_id).await["data"]["status"].clone();
        (status == "created").then_some(())
    })
    .await;
    assert_eq!(
        charges_for(&billing, &order_id).await,
        1,
        "charged exactly once"
    );
    assert_eq!(api.balance(&billing, &carol).await, 2_000);
    assert_eq!(events_for(&order, &order_id).await, 1, "exactly one event");
    let notes = api.await_notifications(&notification, &carol, 1).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["type"], "order_created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_beyond_the_balance_are_exactly_split() {
    let shop = Shop::start().await;
    let dave = shop.customer_with(1_000).await;
    let Shop {
        billing,
        order,
        notification,
        api,
        ..
    } = &shop;

    // Money for 10 of 30 orders of 100, all placed at once.
    let titles: Vec<String> = (0..30).map(|i| format!("item {i}")).collect();
    let results =
        futures::future::join_all(titles.iter().map(|t| api.order(order, &dave, t, 100))).await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let rejected = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!((created, rejected), (10, 20), "{results:?}");
    assert_eq!(api.balance(billing, &dave).await, 0);

    let notes = api.await_notifications(notification, &dave, 30).await;
    assert_eq!(notes.len(), 30, "one notification per order");
    let orders: HashSet<&str> = notes
        .iter()
        .map(|n| n["orderId"].as_str().expect("orderId"))
        .collect();
    assert_eq!(orders.len(), 30);
    assert_eq!(
        notes
            .iter()
            .filter(|n| n["type"] == "order_created")
            .count(),
        10
    );
    // Outcomes are recorded in groups: each order's event is its own outcome.
    for (status, body) in &results {
        let (id, kind) = if *status == StatusCode::CREATED {
            (&body["data"]["id"], "order_created")
        } else {
            (&body["details"]["order"]["id"], "order_not_created")
        };
        let note = notes
            .iter()
            .find(|n| n["orderId"] == *id)
            .unwrap_or_else(|| panic!("no notification for order {id}"));
        assert_eq!(note["type"], kind, "{note}");
    }
}

/// An event the broker refuses for good (here larger than any broker's default
/// `message.max.bytes`) is parked with its reason, and the events after it still go out: one
/// bad row never blocks the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_refused_for_good_is_parked_and_the_events_after_it_still_flow() {
    let shop = Shop::start().await;
    let alice = shop.customer_with(1_000).await;
    let Shop {
        order,
        notification,
        api,
        topic,
        ..
    } = &shop;
    let huge = "x".repeat(2_000_000);
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, key, payload, request_id) VALUES ($1, $2, $3, $4, 'test')",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(&topic.topic)
    .bind(alice.id.to_string())
    .bind(&huge)
    .execute(&order.db)
    .await
    .expect("outbox row");

    for title in ["Blue mug", "Red mug"] {
        let (status, body) = api.order(order, &alice, title, 100).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let notes = api.await_notifications(notification, &alice, 2).await;
    assert_eq!(notes.len(), 2, "{notes:?}");
    let (unsent, reasons): (i64, Vec<Option<String>>) = (
        sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL",
        )
        .fetch_one(&order.db)
        .await
        .expect("unsent"),
        sqlx::query_scalar("SELECT park_reason FROM outbox WHERE parked_at IS NOT NULL")
            .fetch_all(&order.db)
            .await
            .expect("parked"),
    );
    assert_eq!(unsent, 0);
    assert_eq!(reasons.len(), 1, "only the huge event is parked");
    let reason = reasons[0].clone().unwrap_or_default();
    assert!(reason.contains("MessageSizeTooLarge"), "{reason}");
    eventually(Duration::from_secs(5), "the parked gauge", || async {
        let text = api
            .http
            .get(format!("{}/metrics", order.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("order_outbox_parked_events 1\n")
            .then_some(())
    })
    .await;
}
