//! Two replicas of a service on one database (and one broker), as Kubernetes runs them: the
//! outbox relay, the settler, the consumer group, refresh-token rotation and Idempotency-Keys
//! hold when the two instances work at the same moment.

use common::error::code;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use e2e::{
    eventually, free_addr, kafka_brokers, money_of, order_created, own_topic, publish_event,
    start_billing, start_notification_on, start_order_on, start_user_on, Api, Customer, Service,
};
use events::kafka::KafkaConfig;
use futures::future::join_all;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::{TestDatabase, TestKeys};
use uuid::Uuid;

/// Two order replicas on one new database.
async fn order_replicas(billing_url: &str, keys: &TestKeys, kafka: &KafkaConfig) -> [Service; 2] {
    let database = TestDatabase::create("e2e_order").await;
    [
        start_order_on(database.clone(), billing_url, keys, kafka).await,
        start_order_on(database, billing_url, keys, kafka).await,
    ]
}

/// Reads every event on `topic` until `count` have arrived, then a few seconds more to catch
/// duplicates; returns them in the order of their partitions' offsets.
async fn read_events(kafka: &KafkaConfig, count: usize) -> Vec<events::Envelope> {
    let reader: StreamConsumer = kafka
        .client()
        .set("group.id", format!("reader-{}", Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    reader.subscribe(&[&kafka.topic]).expect("subscribe");
    let mut events = Vec::new();
    let mut patience = Duration::from_secs(60);
    loop {
        match tokio::time::timeout(patience, reader.recv()).await {
            Ok(message) => {
                let message = message.expect("recv");
                let payload = message.payload().expect("payload");
                events.push(serde_json::from_slice(payload).expect("an event"));
                if events.len() == count {
                    patience = Duration::from_secs(3);
                }
            }
            Err(_) if events.len() >= count => return events,
            Err(_) => panic!("only {} of {count} events arrived", events.len()),
        }
    }
}

/// Two order replicas relay one outbox: every order's event is published once, and each
/// user's events arrive in the order the user's orders were placed, although the orders were
/// placed on both replicas in turn (each replica's relay runs; one at a time holds the lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_publish_each_event_once_and_in_order_per_user() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let billing = start_billing(free_addr(), &keys).await;
    let replicas = order_replicas(&billing.base, &keys, &kafka).await;
    let api = Api::default();
    let customers: Vec<Customer> = (0..4).map(|_| Customer::new(&keys)).collect();
    for who in &customers {
        api.deposit(&billing, who, 1_000_000).await;
    }
    const EACH: usize = 25;
    let placed = join_all(customers.iter().map(|who| {
        let (api, replicas) = (&api, &replicas);
        async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let (status, body) = api.order(&replicas[i % 2], who, &format!("#{i}"), 10).await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                ids.push(body["data"]["id"].as_str().expect("id").to_owned());
            }
            (who.id, ids)
        }
    }))
    .await;

    let events = read_events(&kafka, customers.len() * EACH).await;
    assert_eq!(events.len(), customers.len() * EACH, "no event twice");
    let ids: HashSet<_> = events.iter().map(|e| e.data.order_id).collect();
    assert_eq!(ids.len(), events.len(), "no order's event twice");
    for (user, placed) in placed {
        let arrived: Vec<String> = events
            .iter()
            .filter(|e| e.data.user_id == user)
            .map(|e| e.data.order_id.to_string())
            .collect();
        assert_eq!(
            arrived, placed,
            "user {user}: events in the order of the orders"
        );
    }
    let mut published = 0.0;
    for replica in &replicas {
        published += replica.metric("order_events_published_total", &[]).await;
    }
    assert_eq!(
        published as usize,
        events.len(),
        "the relays published each row once"
    );
}

/// Pending orders (billing was down when they were placed, on either replica) are settled by
/// the two replicas' settlers: each order is asked of billing once and settled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_settlers_settle_each_pending_order_once() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let billing_addr = free_addr();
    let replicas = order_replicas(&format!("http://{billing_addr}"), &keys, &kafka).await;
    let api = Api::default();
    let who = Customer::new(&keys);
    const ORDERS: usize = 30;
    let mut ids = Vec::new();
    for i in 0..ORDERS {
        let (status, body) = api
            .order(&replicas[i % 2], &who, &format!("pending {i}"), 100)
            .await;
        // Billing refused the connection: nothing reached it, the order waits for the settler.
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.push(body["data"]["id"].as_str().expect("id").to_owned());
    }
    let billing = start_billing(billing_addr, &keys).await;
    api.deposit(&billing, &who, 10_000).await;
    for id in &ids {
        eventually(Duration::from_secs(60), "the order settled", || async {
            let now = api.get_order(&replicas[0], &who, id).await;
            (now["data"]["status"] != "pending").then_some(())
        })
        .await;
    }
    // Orders the settlers reached before the deposit were rejected; the rest were charged.
    let mut charged = 0;
    for id in &ids {
        let (taken, refunded) = money_of(&billing, id).await;
        assert_eq!(refunded, 0);
        let status = api.get_order(&replicas[1], &who, id).await["data"]["status"].clone();
        assert_eq!(
            taken > 0,
            status == "created",
            "{id}: {status} with {taken} charged"
        );
        charged += taken;
        let events = e2e::events_for(&replicas[0], id).await;
        assert_eq!(events, 1, "{id}: one event, one settlement");
    }
    assert_eq!(api.balance(&billing, &who).await, 10_000 - charged);
    let withdrawals = billing
        .metric(
            "http_requests_total",
            &[r#"route="/api/v1/billing/account/withdraw""#],
        )
        .await;
    assert_eq!(
        withdrawals as usize, ORDERS,
        "billing was asked once per order, by one settler"
    );
    let mut settled = 0.0;
    for replica in &replicas {
        settled += replica
            .metric("order_orders_total", &[r#"status="created""#])
            .await;
        settled += replica
            .metric("order_orders_total", &[r#"status="rejected""#])
            .await;
    }
    assert_eq!(settled as usize, ORDERS);
}

/// Notifications in the database, by order id.
async fn notified(db: &sqlx::PgPool) -> HashMap<Uuid, i64> {
    sqlx::query_as::<_, (Uuid, i64)>("SELECT order_id, count(*) FROM notifications GROUP BY 1")
        .fetch_all(db)
        .await
        .expect("notifications")
        .into_iter()
        .collect()
}

/// Two notification replicas in one consumer group split the topic's partitions; when one
/// stops while events keep coming, the other takes its partitions over: every event gives
/// exactly one notification, none lost, none doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_consumers_split_the_partitions_and_a_stop_loses_and_doubles_nothing() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let group = format!("test-{}", Uuid::new_v4().simple());
    let database = TestDatabase::create("e2e_notification").await;
    let first = start_notification_on(database.clone(), &keys, &kafka, &group).await;
    let second = start_notification_on(database, &keys, &kafka, &group).await;
    let assigned = "notification_consumer_assigned_partitions";
    eventually(
        Duration::from_secs(60),
        "both consumers holding partitions",
        || async {
            let (a, b) = (
                first.metric(assigned, &[]).await,
                second.metric(assigned, &[]).await,
            );
            (a >= 1.0 && b >= 1.0 && a + b == 3.0).then_some(())
        },
    )
    .await;

    let producer = kafka.producer().expect("producer");
    let users: Vec<Uuid> = (0..12).map(|_| Uuid::new_v4()).collect();
    let mut sent = Vec::new();
    for round in 0..5 {
        for user in &users {
            let event = order_created(*user, &format!("before {round}"));
            publish_event(&producer, &kafka.topic, &event).await;
            sent.push(event.data.order_id);
        }
    }
    let db = first.db.clone();
    eventually(
        Duration::from_secs(60),
        "the first 60 notifications",
        || async { (notified(&db).await.len() == sent.len()).then_some(()) },
    )
    .await;

    // The second stops while the next events are published: its partitions move over.
    let publishing = async {
        let mut more = Vec::new();
        for round in 0..5 {
            for user in &users {
                let event = order_created(*user, &format!("during {round}"));
                publish_event(&producer, &kafka.topic, &event).await;
                more.push(event.data.order_id);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        more
    };
    let (more, ()) = tokio::join!(publishing, second.stop());
    sent.extend(more);
    eventually(Duration::from_secs(90), "all 120 notifications", || async {
        (notified(&db).await.len() == sent.len()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let notes = notified(&db).await;
    assert_eq!(notes.len(), sent.len());
    for id in &sent {
        assert_eq!(notes.get(id), Some(&1), "order {id}: one notification");
    }
    eventually(
        Duration::from_secs(60),
        "the first holding all 3 partitions",
        || async { (first.metric(assigned, &[]).await == 3.0).then_some(()) },
    )
    .await;
}

/// A refresh token presented to both user replicas at the same moment: one refresh succeeds,
/// the other is the reuse that revokes the session, so even the winner's new token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_token_used_on_two_replicas_at_once_is_caught_as_reuse() {
    let keys = TestKeys::new();
    let billing = start_billing(free_addr(), &keys).await;
    let database = TestDatabase::create("e2e_user").await;
    let replicas = [
        start_user_on(database.clone(), &billing.base, &keys).await,
        start_user_on(database, &billing.base, &keys).await,
    ];
    let http = reqwest::Client::new();
    let credentials = json!({ "login": "twice", "password": "correct horse battery" });
    let registered = http
        .post(format!("{}/api/v1/users/register", replicas[0].base))
        .json(&credentials)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let refresh = |base: String, token: String| {
        let http = http.clone();
        async move {
            let response = http
                .post(format!("{base}/api/v1/users/refresh"))
                .json(&json!({ "refreshToken": token }))
                .send()
                .await
                .expect("refresh");
            let status = response.status();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    for session in 0..5 {
        let login: Value = http
            .post(format!("{}/api/v1/users/login", replicas[session % 2].base))
            .json(&credentials)
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let token = login["data"]["refreshToken"].as_str().expect("token");
        let (a, b) = tokio::join!(
            refresh(replicas[0].base.clone(), token.to_owned()),
            refresh(replicas[1].base.clone(), token.to_owned()),
        );
        let answers = [a, b];
        let won: Vec<_> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .collect();
        assert_eq!(
            won.len(),
            1,
            "one of two concurrent refreshes wins: {answers:?}"
        );
        let lost = answers
            .iter()
            .find(|(s, _)| *s != StatusCode::OK)
            .expect("a loser");
        assert_eq!(lost.0, StatusCode::UNAUTHORIZED, "{lost:?}");
        let next = won[0].1["data"]["refreshToken"]
            .as_str()
            .expect("next token");
        let (status, body) = refresh(replicas[session % 2].base.clone(), next.to_owned()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "the reuse revoked the session: {body}"
        );
    }
}

/// The same order request with the same Idempotency-Key sent to both order replicas at once:
/// one order, charged once, and both answers name it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_idempotency_key_on_two_replicas_at_once_places_one_order() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let billing = start_billing(free_addr(), &keys).await;
    let replicas = order_replicas(&billing.base, &keys, &kafka).await;
    let api = Api::default();
    let who = Customer::new(&keys);
    api.deposit(&billing, &who, 10_000).await;
    let twin = replicas[0].product("Twin", 500, 100).await;
    let place = |base: &str, key: String| {
        let request = api
            .http
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&who.token)
            .header("Idempotency-Key", key)
            .json(&json!({ "items": [{ "productId": twin, "quantity": 1 }] }));
        async move {
            let response = request.send().await.expect("order");
            let status = response.status();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let mut ids = Vec::new();
    for i in 0..10 {
        let key = format!("twin-{i}");
        let (a, b) = tokio::join!(
            place(&replicas[0].base, key.clone()),
            place(&replicas[1].base, key)
        );
        for (status, body) in [&a, &b] {
            assert!(
                *status == StatusCode::CREATED
                    || *status == StatusCode::OK
                    || *status == StatusCode::ACCEPTED,
                "{status} {body}"
            );
        }
        let id = a.1["data"]["id"].as_str().expect("id").to_owned();
        assert_eq!(
            b.1["data"]["id"],
            id.as_str(),
            "both answers name one order"
        );
        ids.push(id);
    }
    for id in &ids {
        eventually(Duration::from_secs(30), "the order settled", || async {
            let now = api.get_order(&replicas[0], &who, id).await;
            (now["data"]["status"] == "created").then_some(())
        })
        .await;
        assert_eq!(money_of(&billing, id).await, (500, 0), "{id}: charged once");
    }
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&replicas[0].db)
        .await
        .expect("count");
    assert_eq!(orders, 10, "one order per key");
    assert_eq!(api.balance(&billing, &who).await, 10_000 - 10 * 500);
}

/// Two replicas sell the same few units at once: each decides its group from the stock it read,
/// and the one whose units ran short meanwhile is refused by the stock's CHECK and decides again
/// with the products locked. Exactly the units there are get sold, none twice, and the money
/// and the units add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_racing_for_the_last_units_sell_each_once() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let billing = start_billing(free_addr(), &keys).await;
    let replicas = order_replicas(&billing.base, &keys, &kafka).await;
    let api = Api::default();
    let mug = replicas[0].product("Last mugs", 100, 30).await;
    let tea = replicas[0].product("Last tea", 100, 20).await;
    let buyers: Vec<Customer> = (0..120).map(|_| Customer::new(&keys)).collect();
    join_all(buyers.iter().map(|who| api.deposit(&billing, who, 10_000))).await;
    let baskets: Vec<Vec<(Uuid, i64)>> = (0..buyers.len())
        .map(|n| match n % 3 {
            0 => vec![(mug, 1)],
            1 => vec![(tea, 1), (mug, 1)],
            _ => vec![(tea, 2)],
        })
        .collect();
    let answers = join_all(
        buyers
            .iter()
            .zip(&baskets)
            .enumerate()
            .map(|(n, (who, lines))| api.order_lines(&replicas[n % 2], who, lines)),
    )
    .await;
    let mut sold = HashMap::from([(mug, 0i64), (tea, 0i64)]);
    let mut created = Vec::new();
    for ((status, body), lines) in answers.iter().zip(&baskets) {
        match *status {
            // 202: billing answered after the request's deadline; the units are reserved and
            // the settler pays the order.
            StatusCode::CREATED | StatusCode::ACCEPTED => {
                for (product, quantity) in lines {
                    *sold.entry(*product).or_default() += quantity;
                }
                created.push(body["data"]["id"].as_str().expect("id").to_owned());
            }
            StatusCode::CONFLICT => assert_eq!(body["code"], code::OUT_OF_STOCK, "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    e2e::all_settled(&replicas[0]).await;
    assert_eq!(sold[&mug], 30, "every mug sold, none twice");
    assert_eq!(sold[&tea], 20, "all the tea sold, none twice");
    for replica in &replicas {
        assert_eq!(replica.available(mug).await, 0);
        assert_eq!(replica.available(tea).await, 0);
    }
    for id in &created {
        let (charged, refunded) = money_of(&billing, id).await;
        assert_eq!(refunded, 0);
        assert!(charged > 0, "order {id} was charged");
    }
    e2e::assert_stock_adds_up(&replicas[0]).await;
}
