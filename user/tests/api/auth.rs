use common::error::code;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    access, assert_error, json_of, refresh_of, spawn_app, spawn_app_with, UserApi,
};

#[tokio::test]
async fn login_returns_a_bearer_token_pair_that_opens_me() {
    let app = spawn_app().await;
    let (id, tokens) = app.signed_up("alice").await;
    assert_eq!(tokens["tokenType"], "Bearer");
    assert_eq!(tokens["expiresIn"], 900);
    let me = json_of(app.me(access(&tokens)).await, StatusCode::OK).await;
    assert_eq!(me["data"]["id"], id);
    assert_eq!(me["data"]["login"], "alice");
}

#[tokio::test]
async fn login_is_case_insensitive_on_the_login() {
    let app = spawn_app().await;
    let (id, _) = app.signed_up("Grace").await;
    let tokens = json_of(
        app.login("grace", "correct horse battery").await,
        StatusCode::OK,
    )
    .await;
    // The token is Grace's own, and her login keeps the case she chose.
    let me = json_of(app.me(access(&tokens["data"])).await, StatusCode::OK).await;
    assert_eq!(me["data"]["id"], id);
    assert_eq!(me["data"]["login"], "Grace");
}

#[tokio::test]
async fn wrong_password_and_unknown_login_get_the_same_401() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let wrong = assert_error(
        app.login("alice", "not the password").await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
    let unknown = assert_error(
        app.login("nobody", "not the password").await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn refresh_rotates_the_token() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_up("alice").await;
    let next = json_of(app.refresh(refresh_of(&tokens)).await, StatusCode::OK).await;
    assert_ne!(next["data"]["refreshToken"], tokens["refreshToken"]);
    json_of(app.me(access(&next["data"])).await, StatusCode::OK).await;
    json_of(app.refresh(refresh_of(&next["data"])).await, StatusCode::OK).await;
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_session() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_up("alice").await;
    let next = json_of(app.refresh(refresh_of(&tokens)).await, StatusCode::OK).await;
    // The old token again: refused, and the whole session dies with it.
    assert_error(
        app.refresh(refresh_of(&tokens)).await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.refresh(refresh_of(&next["data"])).await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
    // Another login session of the same user is untouched.
    let other = json_of(
        app.login("alice", "correct horse battery").await,
        StatusCode::OK,
    )
    .await;
    json_of(
        app.refresh(refresh_of(&other["data"])).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_let_exactly_one_through() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_up("alice").await;
    let token = refresh_of(&tokens).to_owned();
    let results = futures::future::join_all((0..10).map(|_| app.refresh(&token))).await;
    let statuses: Vec<StatusCode> = results.iter().map(|r| r.status()).collect();
    // The token is spent by one conditional UPDATE: one use wins; the others wait for it to
    // commit, find the token spent and are refused as a reuse.
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        9,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn unknown_and_expired_refresh_tokens_are_401() {
    let app = spawn_app_with(|c| c.refresh_token_ttl = std::time::Duration::from_secs(1)).await;
    assert_error(
        app.refresh("made-up-token").await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
    let (_, tokens) = app.signed_up("alice").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_error(
        app.refresh(refresh_of(&tokens)).await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_up("alice").await;
    let response = app
        .http
        .post(app.url("/logout"))
        .bearer_auth(access(&tokens))
        .json(&json!({ "refreshToken": refresh_of(&tokens) }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.refresh(refresh_of(&tokens)).await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn logout_cannot_end_another_users_session() {
    let app = spawn_app().await;
    let (_, alice) = app.signed_up("alice").await;
    let (_, bob) = app.signed_up("bob").await;
    let response = app
        .http
        .post(app.url("/logout"))
        .bearer_auth(access(&bob))
        .json(&json!({ "refreshToken": refresh_of(&alice) }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    json_of(app.refresh(refresh_of(&alice)).await, StatusCode::OK).await;
}

#[tokio::test]
async fn logout_needs_a_bearer_token() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_up("alice").await;
    let response = app
        .post("/logout", json!({ "refreshToken": refresh_of(&tokens) }))
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, code::UNAUTHORIZED).await;
    json_of(app.refresh(refresh_of(&tokens)).await, StatusCode::OK).await;
}

#[tokio::test]
async fn me_rejects_missing_foreign_and_expired_tokens() {
    let app = spawn_app_with(|c| c.access_token_ttl = std::time::Duration::from_secs(1)).await;
    let missing = app.http.get(app.url("/me")).send().await.expect("request");
    assert_error(missing, StatusCode::UNAUTHORIZED, code::UNAUTHORIZED).await;
    let foreign = testkit::TestKeys::new().token(uuid::Uuid::new_v4());
    assert_error(
        app.me(&foreign).await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
    let (_, tokens) = app.signed_up("alice").await;
    json_of(app.me(access(&tokens)).await, StatusCode::OK).await;
    // 1 s lifetime plus the verifier's 5 s leeway.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    assert_error(
        app.me(access(&tokens)).await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
}
