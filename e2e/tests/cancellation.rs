//! Cancelling orders end to end, with the real billing (its refund and void), Postgres and
//! Kafka. The invariant every test ends on: for each order, money charged minus money refunded
//! is its price if it is `created` and 0 otherwise, and the balance equals the ledger's sum.

use std::time::Duration;

use e2e::{
    assert_stock_adds_up, books_of, events_of, eventually, free_addr, kafka_brokers, money_of,
    own_topic, start_billing, start_notification, start_order, Api, Customer, Service, Shop,
};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use testkit::proxy::{Held, SlowProxy};
use testkit::TestKeys;

/// Checks the invariant for each order, once every refund has been settled.
async fn assert_money_follows_status(
    api: &Api,
    order: &Service,
    billing: &Service,
    who: &Customer,
    ids: &[String],
) {
    for id in ids {
        let body = eventually(
            Duration::from_secs(30),
            "the refund to be settled",
            || async {
                let body: Value = api.get_order(order, who, id).await;
                let due: Option<String> =
                    sqlx::query_scalar("SELECT refund_state FROM orders WHERE id = $1::uuid")
                        .bind(id)
                        .fetch_one(&order.db)
                        .await
                        .expect("order");
                (due.as_deref() != Some("due")).then_some(body)
            },
        )
        .await;
        let price = body["data"]["price"].as_i64().expect("price");
        let (charged, refunded) = money_of(billing, id).await;
        let expected = if body["data"]["status"] == "created" {
            price
        } else {
            0
        };
        assert_eq!(charged - refunded, expected, "order {id}: {body}");
        assert!(
            refunded == 0 || refunded == charged,
            "order {id}: refunded {refunded} of {charged}"
        );
    }
    let (balance, ledger) = books_of(billing, who).await;
    assert_eq!(balance, ledger, "the balance equals the ledger's sum");
    assert_stock_adds_up(order).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_order_is_cancelled_refunded_and_notified() {
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
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(api.balance(billing, &alice).await, 8_750);

    let (status, body) = api.cancel(order, &alice, &id, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "cancelled");
    assert_eq!(
        api.balance(billing, &alice).await,
        10_000,
        "every kopeck back"
    );
    assert_eq!(money_of(billing, &id).await, (1_250, 1_250));
    assert_eq!(events_of(order, &id, "OrderCancelled").await, 1);
    // Cancelling again changes nothing.
    let (status, body) = api.cancel(order, &alice, &id, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(api.balance(billing, &alice).await, 10_000);

    let notes = api.await_notifications(notification, &alice, 2).await;
    let cancelled = notes
        .iter()
        .find(|n| n["type"] == "order_cancelled")
        .unwrap_or_else(|| panic!("no order_cancelled notification: {notes:?}"));
    assert_eq!(cancelled["orderId"], id.as_str());
    assert_eq!(
        cancelled["text"],
        "Your order of Blue mug for 12.50 was cancelled; 12.50 was returned to your account."
    );
    assert_money_follows_status(api, order, billing, &alice, &[id]).await;
}

/// Cancel while billing is down, then billing returns: 202 with the order cancelled at once;
/// the settler settles the refund (here a void: the order was never charged) with backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_while_billing_is_down_the_money_is_settled_when_it_returns() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let billing_addr = free_addr();
    let order = start_order(&format!("http://{billing_addr}"), &keys, &kafka).await;
    let notification = start_notification(&keys, &kafka).await;
    let api = Api::default();
    let dave = Customer::new(&keys);

    let (status, body) = api.order(&order, &dave, "Lamp", 3_000).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    let (status, body) = api.cancel(&order, &dave, &id, Some("cancel-lamp")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["data"]["status"], "cancelled");
    // A repeat with the same key replays; without it, the order is already cancelled.
    let (status, _) = api.cancel(&order, &dave, &id, Some("cancel-lamp")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = api.cancel(&order, &dave, &id, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        events_of(&order, &id, "OrderCancelled").await,
        0,
        "not before billing answered"
    );

    let billing = start_billing(billing_addr, &keys).await;
    api.deposit(&billing, &dave, 5_000).await;
    eventually(Duration::from_secs(90), "the refund to settle", || async {
        (events_of(&order, &id, "OrderCancelled").await == 1).then_some(())
    })
    .await;
    assert_eq!(money_of(&billing, &id).await, (0, 0), "never charged");
    assert_eq!(api.balance(&billing, &dave).await, 5_000);
    // The payment the settler would retry can never land now: billing voided the order.
    let late = api
        .http
        .post(format!("{}/api/v1/billing/account/withdraw", billing.base))
        .header("X-Service-Token", e2e::ORDER_SERVICE_TOKEN)
        .json(&serde_json::json!({ "userId": dave.id, "orderId": id, "amount": 3_000 }))
        .send()
        .await
        .expect("withdraw");
    assert_eq!(late.status(), StatusCode::CONFLICT);
    assert_eq!(api.balance(&billing, &dave).await, 5_000);
    assert_eq!(events_of(&order, &id, "OrderCreated").await, 0);
    let notes = api.await_notifications(&notification, &dave, 1).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["type"], "order_cancelled");
    assert_money_follows_status(&api, &order, &billing, &dave, &[id]).await;
}

/// Two (here ten) cancels of one order at once: one cancels, the rest are 409 (or, with the
/// same key, replay); the money comes back once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cancels_of_one_order_refund_once() {
    let shop = Shop::start().await;
    let erin = shop.customer_with(10_000).await;
    let Shop {
        billing,
        order,
        api,
        ..
    } = &shop;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, body) = api.order(order, &erin, &format!("cup {i}"), 1_000).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["data"]["id"].as_str().expect("id").to_owned());
    }
    let cancels = ids.iter().flat_map(|id| {
        (0..10).map(move |i| {
            let key = (i % 2 == 0).then(|| format!("same-key-{id}"));
            (id.clone(), key)
        })
    });
    let who = &erin;
    let results = join_all(
        cancels.map(|(id, key)| async move { api.cancel(order, who, &id, key.as_deref()).await }),
    )
    .await;
    // The first cancel of each order and the keyed repeats (replays) answer the cancelled order,
    // 202 while its refund is still being settled; unkeyed repeats are 409.
    let cancelled = results
        .iter()
        .filter(|(s, b)| {
            (*s == StatusCode::OK || *s == StatusCode::ACCEPTED)
                && b["data"]["status"] == "cancelled"
        })
        .count();
    let conflicts = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!(cancelled + conflicts, results.len(), "{results:?}");
    // Per order, one cancel wins: an unkeyed one (the other nine are 409: the keyed ones meet
    // a cancelled order), or a keyed one (its four repeats replay it, the unkeyed five are 409).
    for (n, id) in ids.iter().enumerate() {
        let answers = &results[n * 10..(n + 1) * 10];
        let won = answers
            .iter()
            .filter(|(s, _)| *s != StatusCode::CONFLICT)
            .count();
        assert!(won == 1 || won == 5, "order {id}: {answers:?}");
        let bodies: Vec<_> = answers
            .iter()
            .filter(|(s, _)| *s != StatusCode::CONFLICT)
            .map(|(_, b)| &b["data"]["id"])
            .collect();
        assert!(bodies.iter().all(|b| *b == id.as_str()), "{answers:?}");
    }
    // First wait for any refund still being settled (a cancel may have answered 202).
    assert_money_follows_status(api, order, billing, &erin, &ids).await;
    assert_eq!(api.balance(billing, &erin).await, 10_000);
    for id in &ids {
        assert_eq!(money_of(billing, id).await, (1_000, 1_000));
        assert_eq!(events_of(order, id, "OrderCancelled").await, 1);
    }
}

/// Pending orders whose billing comes back while they are being cancelled: the settler's
/// charge and the cancel's refund race; whichever order they land in, each order ends with
/// charged minus refunded = 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancels_racing_the_settler_leave_no_money_charged() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let billing_addr = free_addr();
    let order = start_order(&format!("http://{billing_addr}"), &keys, &kafka).await;
    let api = Api::default();
    let frank = Customer::new(&keys);
    let mut ids = Vec::new();
    let placed = tokio::time::Instant::now();
    for i in 0..20 {
        let (status, body) = api
            .order(&order, &frank, &format!("pending {i}"), 100)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.push(body["data"]["id"].as_str().expect("id").to_owned());
    }
    // Billing returns; the settler (every 200 ms, for orders older than 1.5 s) starts charging
    // them while the customer cancels them one after another, from just before the settler is
    // due until well after: some cancels come first (the refund voids the order), some after
    // the charge was recorded (the order was created: refunded), some in between.
    let billing = start_billing(billing_addr, &keys).await;
    api.deposit(&billing, &frank, 10_000).await;
    let cancels = join_all(ids.iter().enumerate().map(|(i, id)| {
        let (api, order, frank) = (&api, &order, &frank);
        async move {
            tokio::time::sleep_until(placed + Duration::from_millis(1_300 + 60 * i as u64)).await;
            api.cancel(order, frank, id, None).await
        }
    }))
    .await;
    for ((status, body), id) in cancels.iter().zip(&ids) {
        if *status == StatusCode::CONFLICT {
            // The settler got there before the deposit: not enough money, rejected.
            let now = api.get_order(&order, &frank, id).await;
            assert_eq!(now["data"]["status"], "rejected", "{body}");
            continue;
        }
        assert!(
            *status == StatusCode::OK || *status == StatusCode::ACCEPTED,
            "a pending or created order can be cancelled: {status} {body}"
        );
        assert_eq!(body["data"]["status"], "cancelled");
    }
    assert_money_follows_status(&api, &order, &billing, &frank, &ids).await;
    assert_eq!(api.balance(&billing, &frank).await, 10_000);
    let charged = billing::audit::charged_orders(&billing.db)
        .await
        .expect("ledger")
        .len();
    eprintln!("orders the settler charged before their cancel's refund: {charged} of 20");
}

/// A cancel while the request that placed the order is still paying it (its withdrawal held
/// on the way to billing), with retries of that request (same Idempotency-Key) at the same
/// time: the withdrawal and the cancel's refund reach billing in either order, and the order
/// ends cancelled with nothing kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_racing_the_paying_request_and_its_retries_keeps_no_money() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let billing = start_billing(free_addr(), &keys).await;
    let billing_addr = billing
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let api = Api::default();
    let mut outcomes = Vec::new();
    for (round, overtake) in [(0, true), (1, false), (2, true), (3, false)] {
        // The withdrawal is held for 500 ms on its way to billing. When `overtake`, the hold is
        // lifted before the cancel, so its refund reaches billing first (billing voids the
        // order, the withdrawal is refused); otherwise the refund is held as well and comes
        // second (billing gives the charge back).
        let proxy = SlowProxy::start(billing_addr, Duration::from_millis(500), Held::Requests)
            .await
            .expect("proxy");
        let order = start_order(&format!("http://{}", proxy.addr), &keys, &kafka).await;
        let hugo = Customer::new(&keys);
        api.deposit(&billing, &hugo, 5_000).await;
        let teapot = order.product("Teapot", 2_000, 100).await;
        let key = format!("teapot-{round}");
        let create = || {
            let (api, order, hugo, key) = (&api, &order, &hugo, key.clone());
            async move {
                let response = api
                    .http
                    .post(format!("{}/api/v1/orders", order.base))
                    .bearer_auth(&hugo.token)
                    .header("Idempotency-Key", key)
                    .json(&serde_json::json!({ "items": [{ "productId": teapot, "quantity": 1 }] }))
                    .send()
                    .await
                    .expect("order");
                let status = response.status();
                (status, response.json::<Value>().await.expect("json"))
            }
        };
        let racing = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let list: Value = api
                .http
                .get(format!("{}/api/v1/orders", order.base))
                .bearer_auth(&hugo.token)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            let id = list["data"][0]["id"]
                .as_str()
                .expect("the order is stored")
                .to_owned();
            if overtake {
                proxy.set_delay(Duration::ZERO);
            }
            let retries = join_all((0..5).map(|_| create()));
            let (cancel, retries) = tokio::join!(api.cancel(&order, &hugo, &id, None), retries);
            (id, cancel, retries)
        };
        let (first, (id, cancel, retries)) = tokio::join!(create(), racing);
        for (status, body) in retries.iter().chain(std::iter::once(&first)) {
            assert_eq!(
                body["data"]["id"],
                id.as_str(),
                "the same order: {status} {body}"
            );
        }
        assert!(
            cancel.0 == StatusCode::OK || cancel.0 == StatusCode::ACCEPTED,
            "a pending or created order can be cancelled: {cancel:?}"
        );
        assert_money_follows_status(&api, &order, &billing, &hugo, std::slice::from_ref(&id)).await;
        assert_eq!(
            api.get_order(&order, &hugo, &id).await["data"]["status"],
            "cancelled"
        );
        assert_eq!(api.balance(&billing, &hugo).await, 5_000);
        let money = money_of(&billing, &id).await;
        // Which way it went is decided by the hold: voided (nothing charged), or refunded.
        assert_eq!(
            money,
            if overtake { (0, 0) } else { (2_000, 2_000) },
            "round {round}"
        );
        outcomes.push(money);
    }
    eprintln!("(charged, refunded) per round: {outcomes:?}");
}
