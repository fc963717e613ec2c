use common::error::code;
use reqwest::StatusCode;

use crate::helpers::{assert_error, json_of, spawn_app, spawn_app_with_command_limit, BillingApi};

#[tokio::test]
async fn my_account_starts_at_zero() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    let body = json_of(app.my_account(&token).await, StatusCode::OK).await;
    assert_eq!(body["data"]["userId"], user.to_string());
    assert_eq!(body["data"]["balance"], 0);
    assert!(body["data"]["id"].as_str().is_some());
}

#[tokio::test]
async fn deposits_add_up_and_are_in_the_ledger() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 1500, None).await, StatusCode::OK).await;
    let body = json_of(app.deposit(&token, 250, None).await, StatusCode::OK).await;
    assert_eq!(body["data"]["balance"], 1750);
    assert_eq!(app.books(user).await, (1750, 1750, 2));
    let body = json_of(app.my_account(&token).await, StatusCode::OK).await;
    assert_eq!(body["data"]["balance"], 1750);
}

#[tokio::test]
async fn deposit_with_the_same_idempotency_key_applies_once() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    let first = json_of(
        app.deposit(&token, 700, Some("key-1")).await,
        StatusCode::OK,
    )
    .await;
    let repeat = app.deposit(&token, 700, Some("key-1")).await;
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    let repeat = json_of(repeat, StatusCode::OK).await;
    assert_eq!(first, repeat);
    assert_eq!(app.books(user).await, (700, 700, 1));
}

#[tokio::test]
async fn idempotency_key_reused_with_another_body_is_a_conflict() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(
        app.deposit(&token, 700, Some("key-1")).await,
        StatusCode::OK,
    )
    .await;
    assert_error(
        app.deposit(&token, 800, Some("key-1")).await,
        StatusCode::CONFLICT,
        code::CONFLICT,
    )
    .await;
    assert_eq!(app.books(user).await, (700, 700, 1));
}

#[tokio::test]
async fn idempotency_keys_belong_to_one_user() {
    let app = spawn_app().await;
    let (alice, alice_token) = app.user();
    let (bob, bob_token) = app.user();
    json_of(
        app.deposit(&alice_token, 100, Some("shared")).await,
        StatusCode::OK,
    )
    .await;
    let body = json_of(
        app.deposit(&bob_token, 100, Some("shared")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["data"]["userId"], bob.to_string());
    assert_eq!(app.books(alice).await.0, 100);
    assert_eq!(app.books(bob).await.0, 100);
}

#[tokio::test]
async fn a_user_only_ever_sees_and_changes_their_own_account() {
    let app = spawn_app().await;
    let (alice, alice_token) = app.user();
    let (bob, bob_token) = app.user();
    json_of(app.deposit(&alice_token, 900, None).await, StatusCode::OK).await;
    let bobs = json_of(app.my_account(&bob_token).await, StatusCode::OK).await;
    assert_eq!(bobs["data"]["userId"], bob.to_string());
    assert_eq!(bobs["data"]["balance"], 0);
    assert_eq!(app.books(alice).await.0, 900);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthorized() {
    let app = spawn_app().await;
    let missing = app
        .http
        .get(app.url("/account/my"))
        .send()
        .await
        .expect("request");
    assert_error(missing, StatusCode::UNAUTHORIZED, code::UNAUTHORIZED).await;
    assert_error(
        app.my_account("not-a-jwt").await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
    let stranger = testkit::TestKeys::new().token(uuid::Uuid::new_v4());
    assert_error(
        app.deposit(&stranger, 100, None).await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn health_reports_the_database() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/health"))
        .send()
        .await
        .expect("request");
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["data"]["checks"]["database"], "ok");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let (_, token) = app.user();
    let generated = app.my_account(&token).await;
    assert!(!generated.headers()["x-request-id"].is_empty());
    let echoed = app
        .http
        .get(app.url("/account/my"))
        .bearer_auth(&token)
        .header("X-Request-Id", "trace-me-123")
        .send()
        .await
        .expect("request");
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn metrics_use_route_templates() {
    let app = spawn_app().await;
    let (_, token) = app.user();
    json_of(app.deposit(&token, 5, None).await, StatusCode::OK).await;
    let text = app.metrics().await;
    assert!(
        text.contains(r#"route="/api/v1/billing/account/deposit""#),
        "{text}"
    );
    assert!(text.contains("billing_deposits_total 1"), "{text}");
}

#[tokio::test]
async fn serves_its_own_openapi_document_internal_endpoints_included() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    let doc = json_of(response, StatusCode::OK).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/api/v1/billing/account/my",
        "/api/v1/billing/account/deposit",
        "/api/v1/billing/account",
        "/api/v1/billing/account/withdraw",
        "/api/v1/billing/account/refund",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} undocumented");
    }
    assert!(doc["components"]["securitySchemes"]["service"].is_object());
}

#[tokio::test]
async fn deposits_are_limited_per_user_with_retry_after() {
    let app = spawn_app_with_command_limit(common::limits::CommandLimit::new(1, 3)).await;
    let (alice, alice_token) = app.user();
    for _ in 0..3 {
        json_of(app.deposit(&alice_token, 100, None).await, StatusCode::OK).await;
    }
    let refused = app.deposit(&alice_token, 100, None).await;
    let retry_after = testkit::retry_after(&refused);
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, code::RATE_LIMITED).await;
    // The refused deposit added nothing; another user is not held back by alice's loop.
    assert_eq!(app.books(alice).await, (300, 300, 3));
    let (bob, bob_token) = app.user();
    json_of(app.deposit(&bob_token, 100, None).await, StatusCode::OK).await;
    assert_eq!(app.books(bob).await, (100, 100, 1));
}

#[tokio::test]
async fn a_deposit_key_is_remembered_for_a_day_then_swept() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 100, Some("k1")).await, StatusCode::OK).await;
    json_of(app.deposit(&token, 100, Some("k1")).await, StatusCode::OK).await;
    assert_eq!(app.books(user).await, (100, 100, 1), "the repeat replayed");
    // Under a day old, the sweep keeps it.
    let swept = billing::ledger::sweep_idempotency_keys(&app.db)
        .await
        .expect("sweep");
    assert_eq!(swept, 0);
    sqlx::query!("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .execute(&app.db)
        .await
        .expect("age the key");
    let swept = billing::ledger::sweep_idempotency_keys(&app.db)
        .await
        .expect("sweep");
    assert_eq!(swept, 1);
    // The key is new again: the same request is a new deposit.
    json_of(app.deposit(&token, 100, Some("k1")).await, StatusCode::OK).await;
    assert_eq!(app.books(user).await, (200, 200, 2));
}
