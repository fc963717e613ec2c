//! The per-login limit on password attempts, the sessions' absolute lifetime, and the answers
//! no browser or proxy may store.

use std::time::Duration;

use common::error::code;
use reqwest::StatusCode;
use serde_json::Value;
use testkit::retry_after;

use crate::helpers::{access, assert_error, json_of, refresh_of, spawn_app, TestApp, UserApi};

/// Five wrong passwords at `login`; each answered 401.
async fn five_wrong(app: &TestApp, login: &str) {
    for _ in 0..5 {
        assert_error(
            app.login(login, "not the password").await,
            StatusCode::UNAUTHORIZED,
            code::UNAUTHORIZED,
        )
        .await;
    }
}

#[tokio::test]
async fn repeated_failures_at_one_login_slow_it_down_the_same_whether_it_exists_or_not() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let mut answers: Vec<Value> = Vec::new();
    for login in ["alice", "nobody-at-all"] {
        five_wrong(&app, login).await;
        // The sixth is still checked (401) and makes the next wait a second.
        assert_error(
            app.login(login, "not the password").await,
            StatusCode::UNAUTHORIZED,
            code::UNAUTHORIZED,
        )
        .await;
        let limited = app.login(login, "not the password").await;
        assert_eq!(retry_after(&limited), 1);
        answers
            .push(assert_error(limited, StatusCode::TOO_MANY_REQUESTS, code::RATE_LIMITED).await);
    }
    // An existing and a made-up login get the very same answer.
    assert_eq!(answers[0], answers[1]);

    // While the wait lasts even the right password is refused, unchecked; after it, it works,
    // and the count starts again.
    assert_error(
        app.login("alice", "correct horse battery").await,
        StatusCode::TOO_MANY_REQUESTS,
        code::RATE_LIMITED,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    json_of(
        app.login("alice", "correct horse battery").await,
        StatusCode::OK,
    )
    .await;
    five_wrong(&app, "alice").await;
}

#[tokio::test]
async fn the_wait_grows_with_each_failure_but_never_past_thirty_seconds() {
    let app = spawn_app().await;
    app.signed_up("bob").await;
    five_wrong(&app, "bob").await;
    // Make the recorded failures many: the delay is capped.
    sqlx::query!("UPDATE login_attempts SET attempts = 500, blocked_until = NULL")
        .execute(&app.db)
        .await
        .expect("many failures");
    assert_error(
        app.login("bob", "not the password").await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
    let limited = app.login("bob", "not the password").await;
    assert_eq!(retry_after(&limited), 30);
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, code::RATE_LIMITED).await;
    // Fifteen quiet minutes forget the count.
    sqlx::query!(
        "UPDATE login_attempts SET last_attempt_at = now() - interval '16 minutes', \
         blocked_until = now() - interval '1 minute'"
    )
    .execute(&app.db)
    .await
    .expect("quiet");
    json_of(
        app.login("bob", "correct horse battery").await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn a_burst_of_guesses_sent_at_once_gets_only_a_few_checked() {
    let app = spawn_app().await;
    app.signed_up("carol").await;
    let answers =
        futures::future::join_all((0..30).map(|_| app.login("carol", "not the password"))).await;
    let checked = answers
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    let limited = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // Each attempt is counted before its password is checked: five free ones and the one that
    // starts the wait, whatever the order they arrive in.
    assert_eq!((checked, limited), (6, 24));
}

#[tokio::test]
async fn a_session_ends_at_its_lifetime_however_often_it_is_refreshed() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_up("dave").await;
    let next = json_of(app.refresh(refresh_of(&tokens)).await, StatusCode::OK).await;
    // The session began longer ago than its lifetime (two hours in these tests).
    sqlx::query!("UPDATE sessions SET created_at = now() - interval '2 hours 1 minute'")
        .execute(&app.db)
        .await
        .expect("age the session");
    assert_error(
        app.refresh(refresh_of(&next["data"])).await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn refresh_tokens_never_outlive_their_session() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_up("erin").await;
    // Tokens last an hour here, sessions two: a token issued 90 minutes into the session
    // expires with it, 30 minutes later, not an hour later.
    sqlx::query!("UPDATE sessions SET created_at = now() - interval '90 minutes'")
        .execute(&app.db)
        .await
        .expect("age the session");
    json_of(app.refresh(refresh_of(&tokens)).await, StatusCode::OK).await;
    let left = sqlx::query_scalar!(
        r#"SELECT EXTRACT(EPOCH FROM expires_at - now())::float8 AS "left!"
           FROM refresh_tokens WHERE used_at IS NULL"#
    )
    .fetch_one(&app.db)
    .await
    .expect("the new token");
    assert!((left - 1800.0).abs() < 5.0, "{left}");
}

#[tokio::test]
async fn login_refresh_register_and_profile_answers_are_never_stored() {
    let app = spawn_app().await;
    let registered = app.register("frank", "correct horse battery").await;
    let login = app.login("frank", "correct horse battery").await;
    for response in [&registered, &login] {
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let tokens = json_of(login, StatusCode::OK).await;
    let refreshed = app.refresh(refresh_of(&tokens["data"])).await;
    assert_eq!(refreshed.headers()["cache-control"], "no-store");
    let me = app.me(access(&tokens["data"])).await;
    assert_eq!(me.headers()["cache-control"], "no-store");
    // Errors too.
    let failed = app.login("frank", "not the password").await;
    assert_eq!(failed.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn the_sweep_deletes_what_can_no_longer_be_used() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_up("gina").await;
    json_of(app.refresh(refresh_of(&tokens)).await, StatusCode::OK).await;
    app.login("nobody", "wrong").await;
    // Age everything past its retention, and run the sweep as the service does hourly.
    sqlx::query!("UPDATE sessions SET created_at = now() - interval '3 hours'")
        .execute(&app.db)
        .await
        .expect("age");
    sqlx::query!("UPDATE login_attempts SET last_attempt_at = now() - interval '16 minutes'")
        .execute(&app.db)
        .await
        .expect("age");
    let deleted = user::sweep_once(&app.db, Duration::from_secs(7200))
        .await
        .expect("sweep");
    assert!(deleted >= 2, "{deleted}");
    let left = sqlx::query_scalar!(
        r#"SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM refresh_tokens)
                + (SELECT count(*) FROM login_attempts) AS "left!""#
    )
    .fetch_one(&app.db)
    .await
    .expect("count");
    assert_eq!(left, 0);
}

async fn login_from(app: &TestApp, login: &str, password: &str, address: &str) -> StatusCode {
    app.http
        .post(app.url("/login"))
        .header("x-real-ip", address)
        .json(&serde_json::json!({ "login": login, "password": password }))
        .send()
        .await
        .expect("login")
        .status()
}

/// Six wrong passwords at `login` from `address`, each checked (401): the next one waits.
async fn six_guesses(app: &TestApp, login: &str, address: &str) {
    for _ in 0..6 {
        assert_eq!(
            login_from(app, login, "a guess", address).await,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn guesses_from_elsewhere_never_lock_the_owner_out_where_they_logged_in_before() {
    let app = spawn_app().await;
    app.signed_up("hank").await;
    let (home, elsewhere) = ("198.51.100.7", "203.0.113.9");
    assert_eq!(
        login_from(&app, "hank", "correct horse battery", home).await,
        StatusCode::OK
    );
    // Someone elsewhere guesses until the login waits, and keeps it waiting.
    six_guesses(&app, "hank", elsewhere).await;
    assert_eq!(
        login_from(&app, "hank", "a guess", elsewhere).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // From elsewhere even the right password waits; from home it opens at once.
    assert_eq!(
        login_from(&app, "hank", "correct horse battery", elsewhere).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from(&app, "hank", "correct horse battery", home).await,
        StatusCode::OK
    );
    // A wrong password from home during the wait is checked and refused, not a way in.
    six_guesses(&app, "hank", elsewhere).await;
    assert_eq!(
        login_from(&app, "hank", "another guess", home).await,
        StatusCode::UNAUTHORIZED
    );
}
