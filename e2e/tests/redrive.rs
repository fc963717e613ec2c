//! `notification redrive` against the real broker and Postgres: an event the database refused
//! is dead-lettered; once the cause is removed, redriving it gives exactly one notification,
//! and redriving again (or twice at once) changes nothing.

use std::time::Duration;

use e2e::{
    eventually, kafka_brokers, order_created, own_topic, publish, publish_event,
    start_notification, Api, Customer, Service, TestTopic,
};
use events::kafka::KafkaConfig;
use events::{Envelope, REQUEST_ID_HEADER};
use notification::redrive::{self, Command, Filter, Outcome, Report};
use rdkafka::producer::FutureProducer;
use testkit::TestKeys;
use uuid::Uuid;

/// The cause: a rule of the notification database that refuses these titles, so their
/// events are dead-lettered (SQLSTATE 23514) as data the database will never accept would be.
async fn refuse_titles_with(notification: &Service, word: &str) {
    sqlx::query(&format!(
        "ALTER TABLE notifications ADD CONSTRAINT test_refused CHECK (text NOT LIKE '%{word}%')"
    ))
    .execute(&notification.db)
    .await
    .expect("add the refusing rule");
}

async fn remove_the_cause(notification: &Service) {
    sqlx::query("ALTER TABLE notifications DROP CONSTRAINT test_refused")
        .execute(&notification.db)
        .await
        .expect("drop the refusing rule");
}

async fn run(notification: &Service, kafka: &KafkaConfig, command: Command) -> Report {
    let producer = kafka.producer().expect("producer");
    redrive::run(&notification.db, kafka, &producer, &command)
        .await
        .expect("redrive runs")
}

async fn await_dead_letters(notification: &Service, kafka: &KafkaConfig, count: usize) -> Report {
    eventually(
        Duration::from_secs(30),
        &format!("{count} dead letters"),
        || async {
            let report = run(notification, kafka, Command::List(Filter::default())).await;
            (report.lines.len() >= count).then_some(report)
        },
    )
    .await
}

fn redriven(report: &Report) -> usize {
    report.count(|o| *o == Outcome::Redriven)
}

fn of_order(notes: &[serde_json::Value], envelope: &Envelope) -> usize {
    notes
        .iter()
        .filter(|n| n["orderId"] == envelope.data.order_id.to_string())
        .count()
}

/// A notification service on a topic of its own whose database refuses titles with "Poison",
/// a producer for that topic, and a customer.
struct Refusing {
    kafka: TestTopic,
    notification: Service,
    producer: FutureProducer,
    who: Customer,
}

async fn refusing_poison() -> Refusing {
    let keys = TestKeys::new();
    let kafka = own_topic(&kafka_brokers());
    let notification = start_notification(&keys, &kafka).await;
    let producer = kafka.producer().expect("producer");
    refuse_titles_with(&notification, "Poison").await;
    Refusing {
        kafka,
        notification,
        producer,
        who: Customer::new(&keys),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redriven_dead_letter_notifies_once_and_redriving_again_changes_nothing() {
    let Refusing {
        kafka,
        notification,
        producer,
        who,
    } = refusing_poison().await;

    let poison = order_created(who.id, "Poison mug");
    publish_event(&producer, &kafka.topic, &poison).await;
    publish(
        &producer,
        &kafka.topic,
        &who.id.to_string(),
        b"{ not json",
        "req-garbage",
    )
    .await;
    let after = order_created(who.id, "After");
    publish_event(&producer, &kafka.topic, &after).await;
    let api = Api::default();
    let notes = api.await_notifications(&notification, &who, 1).await;
    assert_eq!(
        notes.len(),
        1,
        "only the accepted event notifies: {notes:?}"
    );
    assert_eq!(of_order(&notes, &after), 1);

    // Listed with why, and with the original key and headers; listing changes nothing.
    let listed = await_dead_letters(&notification, &kafka, 2).await;
    assert_eq!(listed.lines.len(), 2);
    let (readable, unreadable): (Vec<_>, Vec<_>) =
        listed.lines.iter().partition(|l| l.letter.event.is_ok());
    let refused = &readable[0].letter;
    let refused_event = refused.event.as_ref().expect("a readable event");
    assert_eq!(refused_event.event_id, poison.event_id);
    assert!(refused.reason.contains("23514"), "{}", refused.reason);
    assert_eq!(refused.key.as_deref(), Some(who.id.to_string().as_bytes()));
    assert!(refused.headers.contains(&(
        REQUEST_ID_HEADER.to_owned(),
        Some(format!("req-{}", poison.event_id.simple()).into_bytes())
    )));
    let garbage = &unreadable[0].letter;
    assert!(garbage.event.is_err() && garbage.reason.contains("invalid envelope"));
    assert!(listed
        .lines
        .iter()
        .all(|l| l.outcome.is_none() && l.redriven_at.is_none()));
    let rendered = readable[0].to_string();
    assert!(rendered.contains(&poison.event_id.to_string()) && rendered.contains("23514"));

    // The cause removed, two operators redrive everything at the same moment.
    remove_the_cause(&notification).await;
    let all = || Command::Redrive(Filter::default());
    let (first, second) = tokio::join!(
        run(&notification, &kafka, all()),
        run(&notification, &kafka, all())
    );
    assert_eq!(redriven(&first) + redriven(&second), 1, "republished once");
    for report in [&first, &second] {
        assert_eq!(report.count(|o| matches!(o, Outcome::Unreadable(_))), 1);
        assert_eq!(report.count(|o| matches!(o, Outcome::Failed(_))), 0);
    }
    let notes = api.await_notifications(&notification, &who, 2).await;
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(of_order(&notes, &poison), 1);

    // Redriving again republishes nothing; a later event on the same partition proves the
    // consumer has caught up with anything that could have been republished.
    let again = run(&notification, &kafka, all()).await;
    assert_eq!(redriven(&again), 0);
    assert_eq!(again.count(|o| *o == Outcome::AlreadyRedriven), 1);
    let sentinel = order_created(who.id, "Sentinel");
    publish_event(&producer, &kafka.topic, &sentinel).await;
    let notes = api.await_notifications(&notification, &who, 3).await;
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert_eq!(of_order(&notes, &poison), 1);
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM redrives")
        .fetch_one(&notification.db)
        .await
        .expect("count");
    assert_eq!(recorded, 1);

    // The consumer saw the republished event as a redrive (its redriven_from header).
    let metrics = reqwest::get(format!("{}/metrics", notification.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("notification_redriven_events_total{outcome=\"stored\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_by_event_id_republishes_only_that_event() {
    let Refusing {
        kafka,
        notification,
        producer,
        who,
    } = refusing_poison().await;
    let chosen = order_created(who.id, "Poison lamp");
    let left = order_created(who.id, "Poison chair");
    publish_event(&producer, &kafka.topic, &chosen).await;
    publish_event(&producer, &kafka.topic, &left).await;
    await_dead_letters(&notification, &kafka, 2).await;
    remove_the_cause(&notification).await;

    let unknown = Uuid::new_v4();
    let report = run(
        &notification,
        &kafka,
        Command::Redrive(Filter {
            event_ids: vec![chosen.event_id, unknown],
            ..Filter::default()
        }),
    )
    .await;
    assert_eq!(redriven(&report), 1);
    assert_eq!(report.lines.len(), 1, "only the chosen event is selected");
    assert_eq!(report.not_found, vec![unknown]);

    let sentinel = order_created(who.id, "Sentinel");
    publish_event(&producer, &kafka.topic, &sentinel).await;
    let notes = Api::default()
        .await_notifications(&notification, &who, 2)
        .await;
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(of_order(&notes, &chosen), 1);
    assert_eq!(
        of_order(&notes, &left),
        0,
        "not chosen, still a dead letter"
    );

    let listed = run(&notification, &kafka, Command::List(Filter::default())).await;
    let waiting: Vec<_> = listed
        .lines
        .iter()
        .filter(|l| l.redriven_at.is_none())
        .map(|l| l.letter.event.as_ref().map(|e| e.event_id).ok())
        .collect();
    assert_eq!(waiting, vec![Some(left.event_id)]);
}
