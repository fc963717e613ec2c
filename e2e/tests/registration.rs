//! User and billing together: registration provisions the account over HTTP, and tokens
//! issued by the user service are accepted by billing.

use e2e::{free_addr, start_billing, start_user, Service};
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::TestKeys;

async fn register_and_login(
    http: &reqwest::Client,
    user: &Service,
    login: &str,
) -> (String, String) {
    let credentials = json!({ "login": login, "password": "correct horse battery" });
    let registered = http
        .post(format!("{}/api/v1/users/register", user.base))
        .json(&credentials)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let id = registered.json::<Value>().await.expect("json")["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let tokens: Value = http
        .post(format!("{}/api/v1/users/login", user.base))
        .json(&credentials)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    (
        id,
        tokens["data"]["accessToken"]
            .as_str()
            .expect("token")
            .to_owned(),
    )
}

/// Whether billing holds an account of `user_id`.
async fn has_account(billing: &Service, user_id: &str) -> bool {
    let user_id = user_id.parse().expect("a user id");
    billing::audit::books(&billing.db, user_id)
        .await
        .expect("books")
        .is_some()
}

#[tokio::test]
async fn registration_creates_the_billing_account_and_the_token_works_there() {
    let keys = TestKeys::new();
    let billing = start_billing("127.0.0.1:0".parse().expect("addr"), &keys).await;
    let user = start_user(&billing.base, &keys).await;
    let http = reqwest::Client::new();

    let (id, access) = register_and_login(&http, &user, "alice").await;
    assert!(
        has_account(&billing, &id).await,
        "account created during registration"
    );

    let account: Value = http
        .get(format!("{}/api/v1/billing/account/my", billing.base))
        .bearer_auth(&access)
        .send()
        .await
        .expect("my account")
        .json()
        .await
        .expect("json");
    assert_eq!(account["data"]["userId"], id);
    assert_eq!(account["data"]["balance"], 0);
}

#[tokio::test]
async fn registration_while_billing_is_down_ends_with_an_account_once_it_is_back() {
    let keys = TestKeys::new();
    let billing_addr = free_addr();
    let user = start_user(&format!("http://{billing_addr}"), &keys).await;
    let http = reqwest::Client::new();

    // Billing is down: registration still succeeds.
    let (id, access) = register_and_login(&http, &user, "bob").await;

    let billing = start_billing(billing_addr, &keys).await;
    assert!(
        !has_account(&billing, &id).await,
        "billing never heard of bob while down"
    );
    let response = http
        .get(format!("{}/api/v1/billing/account/my", billing.base))
        .bearer_auth(&access)
        .send()
        .await
        .expect("my account");
    assert_eq!(response.status(), StatusCode::OK);
    let account: Value = response.json().await.expect("json");
    assert_eq!(account["data"]["balance"], 0);
    assert!(has_account(&billing, &id).await);
}
