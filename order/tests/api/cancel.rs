//! Cancelling orders against a stand-in for billing (its real refund is tested in billing's
//! own tests and end to end in e2e/tests/cancellation.rs): the answers, the outbox event, the
//! idempotency key, and what happens while billing cannot answer.

use std::time::Duration;

use common::error::code::INSUFFICIENT_FUNDS;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    assert_error, json_of, spawn_app, spawn_app_settling_after, OrderApi, TestApp,
};

async fn created_order(app: &TestApp, token: &str) -> String {
    app.billing_charges().await;
    let body = json_of(
        app.create(token, "Blue mug", 1_250, None).await,
        StatusCode::CREATED,
    )
    .await;
    body["data"]["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_created_order_is_cancelled_refunded_and_announced() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    let id = created_order(&app, &token).await;
    app.billing_refunded(1_250).await;

    let body = json_of(app.cancel(&token, &id, None).await, StatusCode::OK).await;
    assert_eq!(body["data"]["status"], "cancelled");
    assert_eq!(body["data"]["id"], id.as_str());
    let read = json_of(
        app.http
            .get(app.url(&format!("/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["data"]["status"], "cancelled");
    // Billing was asked to refund this order of this user.
    let asked = app.refunds_asked().await;
    assert_eq!(asked, vec![json!({ "userId": user, "orderId": id })]);
    // One OrderCancelled event, saying what came back.
    let events = app.events(&id, "OrderCancelled").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["refunded"], 1_250);
    assert_eq!(events[0]["data"]["title"], "Blue mug");
}

#[tokio::test]
async fn a_second_cancel_is_409_and_a_repeat_with_the_same_key_replays() {
    let app = spawn_app().await;
    let (_, token) = app.user();
    let id = created_order(&app, &token).await;
    app.billing_refunded(1_250).await;
    json_of(
        app.cancel(&token, &id, Some("cancel-1")).await,
        StatusCode::OK,
    )
    .await;

    let replay = app.cancel(&token, &id, Some("cancel-1")).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(
        json_of(replay, StatusCode::OK).await["data"]["status"],
        "cancelled"
    );
    assert_error(
        app.cancel(&token, &id, None).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_error(
        app.cancel(&token, &id, Some("cancel-2")).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    // The key cannot cancel another order either.
    let other = created_order(&app, &token).await;
    assert_error(
        app.cancel(&token, &other, Some("cancel-1")).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(app.events(&id, "OrderCancelled").await.len(), 1);
}

#[tokio::test]
async fn only_the_owner_cancels_and_only_created_or_pending_orders() {
    let app = spawn_app().await;
    let (_, token) = app.user();
    let (_, stranger) = app.user();
    let id = created_order(&app, &token).await;
    assert_error(
        app.cancel(&stranger, &id, None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(
        app.cancel(&token, &unknown, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.cancel(&token, "not-a-uuid", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let anonymous = app
        .http
        .post(app.url(&format!("/{id}/cancel")))
        .send()
        .await
        .expect("request");
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A rejected order has nothing to give back.
    let app = spawn_app().await;
    let (_, token) = app.user();
    app.billing_answers(
        409,
        json!({ "error": "not enough money", "code": INSUFFICIENT_FUNDS }),
    )
    .await;
    let body = json_of(
        app.create(&token, "Piano", 500_000, None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let rejected = body["details"]["order"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_error(
        app.cancel(&token, &rejected, None).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(app.events(&rejected, "OrderCancelled").await.is_empty());
}

/// Billing down during a cancel: 202 with the order cancelled; the settler asks again with
/// backoff and records the refund and its event once billing answers.
#[tokio::test]
async fn with_billing_down_the_cancel_is_202_and_the_refund_settles_later() {
    let app = spawn_app_settling_after(Duration::from_millis(200)).await;
    let (_, token) = app.user();
    let id = created_order(&app, &token).await;
    app.billing_refunds(
        503,
        json!({ "error": "down", "code": "unavailable" }),
        Some(3),
    )
    .await;
    app.billing_refunded(1_250).await;

    let body = json_of(app.cancel(&token, &id, None).await, StatusCode::ACCEPTED).await;
    assert_eq!(body["data"]["status"], "cancelled");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.events(&id, "OrderCancelled").await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the settler never settled the refund"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = app.events(&id, "OrderCancelled").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["refunded"], 1_250);
    let refunds = app.refunds_asked().await.len();
    assert!(refunds >= 4, "asked until billing answered: {refunds}");
    // Settled: a keyless repeat is a plain conflict, and nothing is due any more.
    assert_error(
        app.cancel(&token, &id, None).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
}

/// A pending order cancelled, and billing then voids it: its charge can never land, and no
/// OrderCreated is ever published for it.
#[tokio::test]
async fn a_pending_order_can_be_cancelled() {
    let app = spawn_app().await;
    let (_, token) = app.user();
    app.billing_answers(500, json!({ "error": "boom", "code": "internal" }))
        .await;
    let body = json_of(
        app.create(&token, "Lamp", 3_000, None).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    app.billing_refunded(0).await;

    let body = json_of(app.cancel(&token, &id, None).await, StatusCode::OK).await;
    assert_eq!(body["data"]["status"], "cancelled");
    let events = app.events(&id, "OrderCancelled").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["refunded"], 0);
    assert!(app.events(&id, "OrderCreated").await.is_empty());
}

/// Many cancels of one order at once: one cancels it and asks billing once; the others are 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cancels_cancel_once() {
    let app = spawn_app().await;
    let (_, token) = app.user();
    let id = created_order(&app, &token).await;
    app.billing_refunded(1_250).await;
    let results = futures::future::join_all((0..10).map(|_| app.cancel(&token, &id, None))).await;
    let statuses: Vec<StatusCode> = results.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        9,
        "{statuses:?}"
    );
    assert_eq!(app.events(&id, "OrderCancelled").await.len(), 1);
}
