use common::error::code;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{assert_error, json_of, spawn_app, BillingApi, TestApp, ORDER_SERVICE_TOKEN};

async fn raw_deposit(app: &TestApp, token: &str, body: &str) -> reqwest::Response {
    app.http
        .post(app.url("/account/deposit"))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn malformed_deposits_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 10, None).await, StatusCode::OK).await;
    let bodies = [
        "{",                                   // malformed JSON
        r#"{"amount": "100"}"#,                // wrong type
        r#"{"amount": 1.5}"#,                  // not an integer
        r#"{}"#,                               // missing field
        r#"{"amount": 0}"#,                    // below range
        r#"{"amount": -5}"#,                   // negative
        r#"{"amount": 1000000001}"#,           // above range
        r#"{"amount": 99999999999999999999}"#, // overflows
        r#"[100]"#,                            // wrong shape
    ];
    for body in bodies {
        let response = raw_deposit(&app, &token, body).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, code::INVALID_REQUEST).await;
        assert!(!error.to_string().contains("panicked"), "{body}: {error}");
    }
    assert_eq!(app.books(user).await, (10, 10, 1));
}

#[tokio::test]
async fn out_of_range_amounts_name_the_field() {
    let app = spawn_app().await;
    let (_, token) = app.user();
    let body = assert_error(
        raw_deposit(&app, &token, r#"{"amount": 0}"#).await,
        StatusCode::BAD_REQUEST,
        code::INVALID_REQUEST,
    )
    .await;
    assert!(body["details"]["amount"].is_string(), "{body}");
}

#[tokio::test]
async fn the_largest_allowed_amount_is_accepted() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(
        app.deposit(&token, 1_000_000_000, None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.books(user).await.0, 1_000_000_000);
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    let padding = "x".repeat(100 * 1024);
    let body = format!(r#"{{"amount": 5, "padding": "{padding}"}}"#);
    assert_error(
        raw_deposit(&app, &token, &body).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        code::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(app.books(user).await, (0, 0, 0));
}

#[tokio::test]
async fn malformed_withdrawals_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 1000, None).await, StatusCode::OK).await;
    let bodies = [
        json!({ "userId": "not-a-uuid", "orderId": Uuid::new_v4(), "amount": 10 }),
        json!({ "userId": user, "amount": 10 }),
        json!({ "userId": user, "orderId": Uuid::new_v4(), "amount": 0 }),
        json!({ "userId": user, "orderId": Uuid::new_v4(), "amount": "10" }),
    ];
    for body in bodies {
        let response = app
            .http
            .post(app.url("/account/withdraw"))
            .header("X-Service-Token", ORDER_SERVICE_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_error(response, StatusCode::BAD_REQUEST, code::INVALID_REQUEST).await;
    }
    assert_eq!(app.books(user).await, (1000, 1000, 1));
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_400() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    let long = "k".repeat(256);
    assert_error(
        app.deposit(&token, 10, Some(&long)).await,
        StatusCode::BAD_REQUEST,
        code::INVALID_REQUEST,
    )
    .await;
    assert_eq!(app.books(user).await, (0, 0, 0));
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let app = spawn_app().await;
    let missing = app
        .http
        .get(app.url("/nope"))
        .send()
        .await
        .expect("request");
    assert_error(missing, StatusCode::NOT_FOUND, code::NOT_FOUND).await;
    let wrong_method = app
        .http
        .delete(app.url("/account/my"))
        .send()
        .await
        .expect("request");
    assert_error(
        wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD_NOT_ALLOWED,
    )
    .await;
}
