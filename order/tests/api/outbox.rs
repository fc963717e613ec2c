use std::time::Duration;

use crate::helpers::{spawn_app_keeping_sent_events, TestApp};

/// Inserts an outbox row for `key`, created and (when `sent`) sent `age` ago; parked if asked.
async fn event(app: &TestApp, key: &str, age: &str, sent: bool, parked: bool) {
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, key, payload, request_id, created_at, sent_at, parked_at) \
         VALUES (gen_random_uuid(), 'order-events', $1, '{}', 'test', now() - $2::interval, \
                 CASE WHEN $3 THEN now() - $2::interval END, CASE WHEN $4 THEN now() - $2::interval END)",
    )
    .bind(key)
    .bind(age)
    .bind(sent)
    .bind(parked)
    .execute(&app.db)
    .await
    .expect("outbox row");
}

async fn keys_left(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT key FROM outbox ORDER BY key")
        .fetch_all(&app.db)
        .await
        .expect("outbox")
}

/// The outbox does not grow without end: the relay deletes events sent longer ago than the
/// retention, and keeps those sent since, those not sent yet and the parked ones, however old.
#[tokio::test]
async fn the_relay_deletes_events_sent_before_the_retention_and_keeps_the_rest() {
    let app = spawn_app_keeping_sent_events(Duration::from_secs(20)).await;
    event(&app, "sent long ago", "2 hours", true, false).await;
    event(&app, "sent 21 s ago", "21 seconds", true, false).await;
    event(&app, "sent just now", "1 second", true, false).await;
    event(&app, "parked long ago", "2 hours", false, true).await;

    // The relay prunes every quarter of the retention (5 s here).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut left = keys_left(&app).await;
    while left.len() > 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        left = keys_left(&app).await;
    }
    assert_eq!(left, ["parked long ago", "sent just now"]);
}
