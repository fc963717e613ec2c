//! What a client is told when the database goes away under a request, against a real Postgres
//! (`TEST_DATABASE_URL`): the server ending the session may have come after a commit, so the
//! outcome is unknown (504), never an opaque 500.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::error::{code, ApiError};
use sqlx::Connection;

#[tokio::test]
async fn a_session_the_server_terminates_is_504_outcome_unknown_not_500() {
    // As Postgres does to every session when it restarts or shuts down (SQLSTATE 57P01).
    let mut conn = sqlx::PgConnection::connect(&testkit::admin_url())
        .await
        .expect("connect");
    let err = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
        .execute(&mut conn)
        .await
        .expect_err("the session is terminated");
    let code = match &err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        other => panic!("expected the server's error, got {other:?}"),
    };
    assert_eq!(code.as_deref(), Some("57P01"));
    let response = ApiError::from(err).into_response();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .expect("body");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["code"], code::OUTCOME_UNKNOWN);
}
