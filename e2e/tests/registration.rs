//! User and billing together: registration provisions the account over HTTP, and tokens
//! issued by the user service are accepted by billing.

use std::net::SocketAddr;
use std::time::Duration;

use common::auth::ServiceToken;
use common::config::{Secret, ServiceConfig};
use common::testing::{fresh_database, TestKeys};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

const SERVICE_TOKEN: &str = "e2e-service-token-0123456789";

fn service_config(listen: SocketAddr, database_url: &str, keys: &TestKeys) -> ServiceConfig {
    ServiceConfig {
        listen,
        database_url: database_url.to_owned(),
        database_max_connections: 5,
        jwt: keys.jwt.clone(),
        request_timeout: Duration::from_secs(30),
    }
}

/// Starts billing on `listen`; returns its base URL and a pool on its database.
async fn start_billing(listen: SocketAddr, keys: &TestKeys) -> (String, PgPool) {
    let url = fresh_database("e2e_billing").await;
    let app = billing::Application::build(billing::Config {
        service: service_config(listen, &url, keys),
        service_token: ServiceToken::new(SERVICE_TOKEN.to_owned()),
    })
    .await
    .expect("billing starts");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    (base, PgPool::connect(&url).await.expect("billing pool"))
}

async fn start_user(billing_url: &str, keys: &TestKeys) -> String {
    let url = fresh_database("e2e_user").await;
    let app = user::Application::build(user::Config {
        service: service_config("127.0.0.1:0".parse().expect("addr"), &url, keys),
        jwt_private_key_pem: Secret::new(keys.private_pem.clone()),
        access_token_ttl: Duration::from_secs(900),
        refresh_token_ttl: Duration::from_secs(3600),
        billing_url: billing_url.to_owned(),
        billing_timeout: Duration::from_secs(1),
        service_token: ServiceToken::new(SERVICE_TOKEN.to_owned()),
    })
    .await
    .expect("user starts");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    base
}

async fn register_and_login(
    http: &reqwest::Client,
    user_base: &str,
    login: &str,
) -> (String, String) {
    let credentials = json!({ "login": login, "password": "correct horse battery" });
    let registered = http
        .post(format!("{user_base}/api/v1/users/register"))
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
        .post(format!("{user_base}/api/v1/users/login"))
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

async fn account_rows(db: &PgPool, user_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM accounts WHERE user_id = $1::uuid")
        .bind(user_id)
        .fetch_one(db)
        .await
        .expect("count")
}

#[tokio::test]
async fn registration_creates_the_billing_account_and_the_token_works_there() {
    let keys = TestKeys::new();
    let (billing_base, billing_db) =
        start_billing("127.0.0.1:0".parse().expect("addr"), &keys).await;
    let user_base = start_user(&billing_base, &keys).await;
    let http = reqwest::Client::new();

    let (id, access) = register_and_login(&http, &user_base, "alice").await;
    assert_eq!(
        account_rows(&billing_db, &id).await,
        1,
        "account created during registration"
    );

    let account: Value = http
        .get(format!("{billing_base}/api/v1/billing/account/my"))
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
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let billing_addr = reserved.local_addr().expect("addr");
    drop(reserved);
    let user_base = start_user(&format!("http://{billing_addr}"), &keys).await;
    let http = reqwest::Client::new();

    // Billing is down: registration still succeeds.
    let (id, access) = register_and_login(&http, &user_base, "bob").await;

    let (billing_base, billing_db) = start_billing(billing_addr, &keys).await;
    assert_eq!(
        account_rows(&billing_db, &id).await,
        0,
        "billing never heard of bob while down"
    );
    let response = http
        .get(format!("{billing_base}/api/v1/billing/account/my"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("my account");
    assert_eq!(response.status(), StatusCode::OK);
    let account: Value = response.json().await.expect("json");
    assert_eq!(account["data"]["balance"], 0);
    assert_eq!(account_rows(&billing_db, &id).await, 1);
}
