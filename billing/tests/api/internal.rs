use common::error::code;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{
    assert_error, json_of, spawn_app, BillingApi, ORDER_SERVICE_TOKEN, USER_SERVICE_TOKEN,
};

#[tokio::test]
async fn create_account_is_idempotent_per_user() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let create = || {
        app.http
            .post(app.url("/account"))
            .header("X-Service-Token", USER_SERVICE_TOKEN)
            .json(&json!({ "userId": user }))
            .send()
    };
    let first = json_of(create().await.expect("request"), StatusCode::CREATED).await;
    let again = json_of(create().await.expect("request"), StatusCode::OK).await;
    assert_eq!(first["data"]["id"], again["data"]["id"]);
    assert_eq!(first["data"]["balance"], 0);
}

#[tokio::test]
async fn internal_endpoints_need_the_service_credential() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 1000, None).await, StatusCode::OK).await;
    let body = json!({ "userId": user, "orderId": Uuid::new_v4(), "amount": 10 });
    // No credential, a wrong one, and an end user's own bearer token are all refused.
    let attempts = [
        app.http.post(app.url("/account/withdraw")).json(&body),
        app.http
            .post(app.url("/account/withdraw"))
            .header("X-Service-Token", "guess-guess-guess-guess")
            .json(&body),
        app.http
            .post(app.url("/account/withdraw"))
            .bearer_auth(&token)
            .json(&body),
        app.http
            .post(app.url("/account"))
            .bearer_auth(&token)
            .json(&json!({ "userId": user })),
    ];
    for attempt in attempts {
        let response = attempt.send().await.expect("request");
        assert_error(response, StatusCode::UNAUTHORIZED, code::UNAUTHORIZED).await;
    }
    assert_eq!(app.books(user).await, (1000, 1000, 1));
}

#[tokio::test]
async fn each_service_credential_opens_only_its_own_endpoints() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 1000, None).await, StatusCode::OK).await;
    let order = Uuid::new_v4();
    let post = |path: &str, credential: &str, body: serde_json::Value| {
        app.http
            .post(app.url(path))
            .header("X-Service-Token", credential)
            .json(&body)
            .send()
    };
    // The user service's credential creates accounts and can neither charge nor refund.
    let charge = json!({ "userId": user, "orderId": order, "amount": 300 });
    let refund = json!({ "userId": user, "orderId": order });
    for (path, body) in [("/account/withdraw", &charge), ("/account/refund", &refund)] {
        let response = post(path, USER_SERVICE_TOKEN, body.clone())
            .await
            .expect("request");
        assert_error(response, StatusCode::FORBIDDEN, code::FORBIDDEN).await;
    }
    // The order service's credential cannot create accounts.
    let stranger = Uuid::new_v4();
    let response = post(
        "/account",
        ORDER_SERVICE_TOKEN,
        json!({ "userId": stranger }),
    )
    .await
    .expect("request");
    assert_error(response, StatusCode::FORBIDDEN, code::FORBIDDEN).await;
    // Nothing happened: no charge, no void (the order can still be charged), no account.
    assert_eq!(app.books(user).await, (1000, 1000, 1));
    json_of(app.withdraw(user, order, 300).await, StatusCode::OK).await;
    assert_eq!(app.books(user).await, (700, 700, 2));
    let response = post(
        "/account",
        USER_SERVICE_TOKEN,
        json!({ "userId": stranger }),
    )
    .await
    .expect("request");
    json_of(response, StatusCode::CREATED).await;
}

#[tokio::test]
async fn withdraw_charges_and_records_a_ledger_entry() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 1000, None).await, StatusCode::OK).await;
    let body = json_of(
        app.withdraw(user, Uuid::new_v4(), 300).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["data"]["balance"], 700);
    assert_eq!(app.books(user).await, (700, 700, 2));
}

#[tokio::test]
async fn withdraw_is_idempotent_per_order() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 1000, None).await, StatusCode::OK).await;
    let order = Uuid::new_v4();
    let first = json_of(app.withdraw(user, order, 300).await, StatusCode::OK).await;
    json_of(app.deposit(&token, 50, None).await, StatusCode::OK).await;
    let repeat = json_of(app.withdraw(user, order, 300).await, StatusCode::OK).await;
    assert_eq!(first, repeat, "a repeat returns the first outcome");
    assert_eq!(app.books(user).await, (750, 750, 3));
}

#[tokio::test]
async fn not_enough_money_is_a_409_and_changes_nothing() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 100, None).await, StatusCode::OK).await;
    let body = assert_error(
        app.withdraw(user, Uuid::new_v4(), 101).await,
        StatusCode::CONFLICT,
        code::INSUFFICIENT_FUNDS,
    )
    .await;
    assert_eq!(body["error"], "not enough money");
    assert_eq!(app.books(user).await, (100, 100, 1));
}

#[tokio::test]
async fn a_rejected_order_stays_rejected_when_retried_after_a_deposit() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    let order = Uuid::new_v4();
    assert_error(
        app.withdraw(user, order, 500).await,
        StatusCode::CONFLICT,
        code::INSUFFICIENT_FUNDS,
    )
    .await;
    json_of(app.deposit(&token, 1000, None).await, StatusCode::OK).await;
    assert_error(
        app.withdraw(user, order, 500).await,
        StatusCode::CONFLICT,
        code::INSUFFICIENT_FUNDS,
    )
    .await;
    assert_eq!(app.books(user).await, (1000, 1000, 1));
}

#[tokio::test]
async fn an_order_id_cannot_be_reused_for_another_amount_or_user() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 1000, None).await, StatusCode::OK).await;
    let order = Uuid::new_v4();
    json_of(app.withdraw(user, order, 300).await, StatusCode::OK).await;
    assert_error(
        app.withdraw(user, order, 301).await,
        StatusCode::CONFLICT,
        code::CONFLICT,
    )
    .await;
    assert_error(
        app.withdraw(Uuid::new_v4(), order, 300).await,
        StatusCode::CONFLICT,
        code::CONFLICT,
    )
    .await;
    assert_eq!(app.books(user).await, (700, 700, 2));
}

#[tokio::test]
async fn withdraw_from_a_user_without_account_is_insufficient_funds() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    assert_error(
        app.withdraw(user, Uuid::new_v4(), 1).await,
        StatusCode::CONFLICT,
        code::INSUFFICIENT_FUNDS,
    )
    .await;
    assert_eq!(app.books(user).await, (0, 0, 0));
}
