//! The notification consumer against a real broker: duplicates, poison messages, restarts.

use std::time::Duration;

use e2e::{
    kafka_brokers, order_created, own_topic, publish, publish_event, start_notification,
    start_notification_on, Api, Customer,
};
use events::{dead_letter_topic, DLQ_REASON_HEADER};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use testkit::TestKeys;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_delivered_twice_gives_one_notification() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let notification = start_notification(&keys, &kafka).await;
    let producer = kafka.producer().expect("producer");
    let who = Customer::new(&keys);
    let envelope = order_created(who.id, "Duplicated");
    publish_event(&producer, &kafka.topic, &envelope).await;
    publish_event(&producer, &kafka.topic, &envelope).await;
    let follow_up = order_created(who.id, "After");
    publish_event(&producer, &kafka.topic, &follow_up).await;

    let notes = Api::default()
        .await_notifications(&notification, &who, 2)
        .await;
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(
        notes
            .iter()
            .filter(|n| n["orderId"] == envelope.data.order_id.to_string())
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_goes_to_the_dlq_and_the_next_ones_are_still_processed() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let notification = start_notification(&keys, &kafka).await;
    let producer = kafka.producer().expect("producer");
    let who = Customer::new(&keys);
    let key = who.id.to_string();
    publish(
        &producer,
        &kafka.topic,
        &key,
        b"{ this is not json",
        "req-garbage",
    )
    .await;
    let after = order_created(who.id, "After poison");
    publish_event(&producer, &kafka.topic, &after).await;

    let notes = Api::default()
        .await_notifications(&notification, &who, 1)
        .await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["orderId"], after.data.order_id.to_string());

    let dlq: StreamConsumer = kafka
        .client()
        .set(
            "group.id",
            format!("dlq-reader-{}", Uuid::new_v4().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    dlq.subscribe(&[&dead_letter_topic(&kafka.topic)])
        .expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(30), dlq.recv())
        .await
        .expect("a DLQ message")
        .expect("recv");
    assert_eq!(message.payload(), Some(&b"{ this is not json"[..]));
    let reason = message
        .headers()
        .and_then(|h| {
            h.iter()
                .find(|h| h.key == DLQ_REASON_HEADER)
                .and_then(|h| h.value.map(<[u8]>::to_vec))
        })
        .expect("reason header");
    assert!(String::from_utf8_lossy(&reason).contains("invalid envelope"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_restart_mid_stream_loses_and_doubles_nothing() {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let group = format!("test-{}", Uuid::new_v4().simple());
    let database = testkit::TestDatabase::create("e2e_notification").await;
    let producer = kafka.producer().expect("producer");
    let who = Customer::new(&keys);
    let api = Api::default();

    let first = start_notification_on(database.clone(), &keys, &kafka, &group).await;
    for i in 0..20 {
        publish_event(
            &producer,
            &kafka.topic,
            &order_created(who.id, &format!("first {i}")),
        )
        .await;
    }
    // Stop it while it may still be working through the stream.
    e2e::eventually(Duration::from_secs(30), "some notifications", || async {
        (!api.notifications(&first, &who).await.is_empty()).then_some(())
    })
    .await;
    first.stop().await;
    for i in 0..20 {
        publish_event(
            &producer,
            &kafka.topic,
            &order_created(who.id, &format!("second {i}")),
        )
        .await;
    }
    let second = start_notification_on(database, &keys, &kafka, &group).await;
    let notes = api.await_notifications(&second, &who, 40).await;
    assert_eq!(notes.len(), 40, "every event exactly once");
}
