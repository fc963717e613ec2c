use common::error::code;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{access, assert_error, json_of, spawn_app, TestApp, UserApi};

#[tokio::test]
async fn register_returns_201_and_stores_only_an_argon2id_hash() {
    let app = spawn_app().await;
    let body = json_of(
        app.register("alice", "correct horse battery").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(body["data"]["login"], "alice");
    assert!(
        body["data"].get("password").is_none(),
        "a chosen password is never echoed"
    );
    let hash = sqlx::query_scalar!("SELECT password_hash FROM users WHERE login = 'alice'")
        .fetch_one(&app.db)
        .await
        .expect("user row");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse battery"));
}

#[tokio::test]
async fn register_without_password_generates_one_shown_once_that_works() {
    let app = spawn_app().await;
    let body = json_of(
        app.post("/register", json!({ "login": "bob" })).await,
        StatusCode::CREATED,
    )
    .await;
    let password = body["data"]["password"]
        .as_str()
        .expect("generated password");
    assert!(password.len() >= 16);
    json_of(app.login("bob", password).await, StatusCode::OK).await;
}

/// `user_registration_hashes_total` from the service's /metrics.
async fn registration_hashes(app: &TestApp) -> f64 {
    app.metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix("user_registration_hashes_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("user_registration_hashes_total is exported")
}

#[tokio::test]
async fn a_taken_login_is_409_whatever_its_case() {
    let app = spawn_app().await;
    json_of(
        app.register("carol", "correct horse battery").await,
        StatusCode::CREATED,
    )
    .await;
    assert_error(
        app.register("carol", "another password").await,
        StatusCode::CONFLICT,
        code::CONFLICT,
    )
    .await;
    assert_error(
        app.register("CAROL", "another password").await,
        StatusCode::CONFLICT,
        code::CONFLICT,
    )
    .await;
    assert_eq!(
        registration_hashes(&app).await,
        1.0,
        "a taken login is refused before its password is hashed"
    );
    let count = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM users"#)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[tokio::test]
async fn registration_succeeds_while_billing_is_down() {
    // BILLING_URL points at a closed port in these tests; billing creates the account on first use.
    let app = spawn_app().await;
    let registered = json_of(
        app.register("dave", "correct horse battery").await,
        StatusCode::CREATED,
    )
    .await;
    // The user is stored for good, not just answered for: they log in and are who registered.
    let tokens = json_of(
        app.login("dave", "correct horse battery").await,
        StatusCode::OK,
    )
    .await;
    let me = json_of(app.me(access(&tokens["data"])).await, StatusCode::OK).await;
    assert_eq!(me["data"]["id"], registered["data"]["id"]);
}

#[tokio::test]
async fn profile_fields_are_kept() {
    let app = spawn_app().await;
    let registered = app
        .post(
            "/register",
            json!({ "login": "erin", "password": "correct horse battery", "email": "erin@example.com",
                    "firstName": "Erin", "lastName": "Example" }),
        )
        .await;
    json_of(registered, StatusCode::CREATED).await;
    let tokens = json_of(
        app.login("erin", "correct horse battery").await,
        StatusCode::OK,
    )
    .await;
    let me = json_of(
        app.me(tokens["data"]["accessToken"].as_str().expect("token"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["data"]["email"], "erin@example.com");
    assert_eq!(me["data"]["firstName"], "Erin");
    assert_eq!(me["data"]["lastName"], "Example");
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
async fn registrations_and_logins_are_counted() {
    let app = spawn_app().await;
    app.signed_up("frank").await;
    assert_error(
        app.login("frank", "wrong password!").await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
    let text = app.metrics().await;
    assert!(
        text.contains(r#"user_registrations_total{outcome="created"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"user_logins_total{outcome="succeeded"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"user_logins_total{outcome="failed"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn serves_its_own_openapi_document() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    let doc = json_of(response, StatusCode::OK).await;
    for path in [
        "/api/v1/users/register",
        "/api/v1/users/login",
        "/api/v1/users/refresh",
        "/api/v1/users/logout",
        "/api/v1/users/me",
        "/api/v1/users/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} undocumented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
