//! The admin role: granted and revoked by the operator's command only, shown by /users/me, and
//! carried by access tokens from the next login or refresh.

use common::auth::TokenVerifier;
use reqwest::StatusCode;
use user::admin::{run, Command};

use crate::helpers::{access, json_of, refresh_of, spawn_app, TestApp, UserApi};

fn roles_in(app: &TestApp, tokens: &serde_json::Value) -> Vec<String> {
    TokenVerifier::new(&app.keys.jwt)
        .expect("verifier")
        .verify(access(tokens))
        .expect("a valid token")
        .roles
}

#[tokio::test]
async fn a_new_user_has_no_role_in_me_or_the_token() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_up("alice").await;
    let me = json_of(app.me(access(&tokens)).await, StatusCode::OK).await;
    assert_eq!(me["data"]["roles"], serde_json::json!([]));
    assert!(roles_in(&app, &tokens).is_empty());
}

#[tokio::test]
async fn a_granted_role_applies_from_the_next_refresh_and_login_and_a_revoked_one_goes() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_up("Alice").await;
    // Case-insensitive like the login itself.
    let said = run(&app.db, Command::Grant("alice".to_owned()))
        .await
        .expect("grant");
    assert_eq!(said, "alice: admin (from the next login or refresh)\n");
    // Granting twice holds it once.
    run(&app.db, Command::Grant("ALICE".to_owned()))
        .await
        .expect("grant again");

    // The token in hand keeps what it carried; the refresh brings the role.
    assert!(roles_in(&app, &tokens).is_empty());
    let refreshed = json_of(app.refresh(refresh_of(&tokens)).await, StatusCode::OK).await;
    assert_eq!(roles_in(&app, &refreshed["data"]), ["admin"]);
    let me = json_of(app.me(access(&refreshed["data"])).await, StatusCode::OK).await;
    assert_eq!(me["data"]["roles"], serde_json::json!(["admin"]));
    let login = json_of(
        app.login("alice", "correct horse battery").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(roles_in(&app, &login["data"]), ["admin"]);
    let listed = run(&app.db, Command::List).await.expect("list");
    assert_eq!(listed, "Alice: admin\n1 users hold a role\n");

    run(&app.db, Command::Revoke("alice".to_owned()))
        .await
        .expect("revoke");
    let refreshed = json_of(
        app.refresh(refresh_of(&refreshed["data"])).await,
        StatusCode::OK,
    )
    .await;
    assert!(roles_in(&app, &refreshed["data"]).is_empty());
    let login = json_of(
        app.login("alice", "correct horse battery").await,
        StatusCode::OK,
    )
    .await;
    assert!(roles_in(&app, &login["data"]).is_empty());
}

#[tokio::test]
async fn granting_to_an_unknown_login_fails_and_changes_nothing() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let err = run(&app.db, Command::Grant("nobody".to_owned()))
        .await
        .expect_err("no such login");
    assert!(err.to_string().contains("nobody"), "{err}");
    let listed = run(&app.db, Command::List).await.expect("list");
    assert_eq!(listed, "0 users hold a role\n");
}
