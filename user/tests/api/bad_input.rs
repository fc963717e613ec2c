use common::error::code;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, TestApp, UserApi};

async fn user_count(app: &TestApp) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM users"#)
        .fetch_one(&app.db)
        .await
        .expect("count")
}

#[tokio::test]
async fn invalid_registrations_are_400_and_create_nothing() {
    let app = spawn_app().await;
    let bodies = [
        json!({}),
        json!({ "login": 5, "password": "correct horse battery" }),
        json!({ "login": "ab", "password": "correct horse battery" }),
        json!({ "login": "has space", "password": "correct horse battery" }),
        json!({ "login": "alice", "password": "short" }),
        json!({ "login": "alice", "password": "p".repeat(129) }),
        json!({ "login": "alice", "password": "correct horse battery", "email": "nope" }),
        json!({ "login": "alice", "password": "correct horse battery", "firstName": "" }),
    ];
    for body in bodies {
        let response = app.post("/register", body.clone()).await;
        assert_error(response, StatusCode::BAD_REQUEST, code::INVALID_REQUEST).await;
    }
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn invalid_fields_are_named_in_details() {
    let app = spawn_app().await;
    let body = assert_error(
        app.post(
            "/register",
            json!({ "login": "alice", "password": "short" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        code::INVALID_REQUEST,
    )
    .await;
    assert!(body["details"]["password"].is_string(), "{body}");
}

#[tokio::test]
async fn malformed_json_and_oversized_bodies_get_json_errors() {
    let app = spawn_app().await;
    let send = |body: String| {
        app.http
            .post(app.url("/register"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    assert_error(
        send("{\"login\":".to_owned()).await.expect("request"),
        StatusCode::BAD_REQUEST,
        code::INVALID_REQUEST,
    )
    .await;
    let huge = format!(
        r#"{{"login":"alice","password":"{}"}}"#,
        "p".repeat(70 * 1024)
    );
    assert_error(
        send(huge).await.expect("request"),
        StatusCode::PAYLOAD_TOO_LARGE,
        code::PAYLOAD_TOO_LARGE,
    )
    .await;
    let no_type = app
        .http
        .post(app.url("/register"))
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_error(no_type, StatusCode::BAD_REQUEST, code::INVALID_REQUEST).await;
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn malformed_login_and_refresh_bodies_are_400() {
    let app = spawn_app().await;
    assert_error(
        app.post("/login", json!({ "login": "alice" })).await,
        StatusCode::BAD_REQUEST,
        code::INVALID_REQUEST,
    )
    .await;
    assert_error(
        app.post("/refresh", json!({ "token": "x" })).await,
        StatusCode::BAD_REQUEST,
        code::INVALID_REQUEST,
    )
    .await;
}
