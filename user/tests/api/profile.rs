use common::error::code;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{access, assert_error, json_of, spawn_app, TestApp, UserApi};

async fn put_profile(app: &TestApp, id: &str, token: &str, body: Value) -> reqwest::Response {
    app.http
        .put(app.url(&format!("/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_owner_updates_only_the_fields_given() {
    let app = spawn_app().await;
    let (id, tokens) = app.signed_up("alice").await;
    let body = json_of(
        put_profile(
            &app,
            &id,
            access(&tokens),
            json!({ "email": "a@example.com", "firstName": "Alice" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["data"]["email"], "a@example.com");
    assert_eq!(body["data"]["firstName"], "Alice");
    let body = json_of(
        put_profile(&app, &id, access(&tokens), json!({ "lastName": "Liddell" })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["data"]["firstName"], "Alice");
    assert_eq!(body["data"]["lastName"], "Liddell");
    let me = json_of(app.me(access(&tokens)).await, StatusCode::OK).await;
    assert_eq!(me["data"], body["data"]);
}

#[tokio::test]
async fn nobody_changes_another_users_profile() {
    let app = spawn_app().await;
    let (alice_id, alice) = app.signed_up("alice").await;
    let (_, bob) = app.signed_up("bob").await;
    let response = put_profile(
        &app,
        &alice_id,
        access(&bob),
        json!({ "email": "evil@example.com" }),
    )
    .await;
    assert_error(response, StatusCode::FORBIDDEN, code::FORBIDDEN).await;
    let me = json_of(app.me(access(&alice)).await, StatusCode::OK).await;
    assert_eq!(me["data"]["email"], Value::Null);
}

#[tokio::test]
async fn invalid_profile_updates_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let (id, tokens) = app.signed_up("alice").await;
    for body in [
        json!({ "email": "not-an-email" }),
        json!({ "firstName": "" }),
        json!({ "lastName": "x".repeat(101) }),
        json!({ "email": 5 }),
    ] {
        let response = put_profile(&app, &id, access(&tokens), body).await;
        assert_error(response, StatusCode::BAD_REQUEST, code::INVALID_REQUEST).await;
    }
    let response = put_profile(&app, "not-a-uuid", access(&tokens), json!({})).await;
    assert_error(response, StatusCode::BAD_REQUEST, code::INVALID_REQUEST).await;
    let me = json_of(app.me(access(&tokens)).await, StatusCode::OK).await;
    assert_eq!(me["data"]["email"], Value::Null);
    assert_eq!(me["data"]["firstName"], Value::Null);
}

#[tokio::test]
async fn updating_without_a_token_is_401() {
    let app = spawn_app().await;
    let (id, _) = app.signed_up("alice").await;
    let response = app
        .http
        .put(app.url(&format!("/{id}")))
        .json(&json!({ "email": "a@b.co" }))
        .send()
        .await
        .expect("request");
    assert_error(response, StatusCode::UNAUTHORIZED, code::UNAUTHORIZED).await;
}
