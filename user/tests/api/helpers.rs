use std::ops::Deref;
use std::time::Duration;
pub use testkit::{assert_error, json_of};

use common::auth::ServiceToken;
use common::config::Secret;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use testkit::{TestBase, TestService, USER_SERVICE_TOKEN};
use user::{build, Config};

/// A user service on a random port with its own database.
pub type TestApp = testkit::TestApp;

/// The address of a port nobody listens on.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let test = TestBase::new("user").await;
    let mut config = Config {
        service: test.service(),
        jwt_private_key_pem: Secret::new(test.keys.private_pem.clone()),
        access_token_ttl: Duration::from_secs(900),
        refresh_token_ttl: Duration::from_secs(3600),
        session_lifetime: Duration::from_secs(7200),
        // Test processes run many services side by side, sharing one hashing queue.
        password_queue_wait: Duration::from_secs(30),
        billing_url: closed_port_url(),
        billing_timeout: Duration::from_secs(1),
        service_token: ServiceToken::new(USER_SERVICE_TOKEN.to_owned()),
    };
    adjust(&mut config);
    let service = test
        .serve(
            build(config).await.expect("build user service"),
            "/api/v1/users",
        )
        .await;
    TestApp { service, extra: () }
}

/// The user service's requests, on the service under test.
pub trait UserApi: Deref<Target = TestService> {
    async fn post(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    async fn register(&self, login: &str, password: &str) -> Response {
        self.post("/register", json!({ "login": login, "password": password }))
            .await
    }

    async fn login(&self, login: &str, password: &str) -> Response {
        self.post("/login", json!({ "login": login, "password": password }))
            .await
    }

    /// Registers and logs in; returns (user id, login response data).
    async fn signed_up(&self, login: &str) -> (String, Value) {
        let registered = json_of(
            self.register(login, "correct horse battery").await,
            StatusCode::CREATED,
        )
        .await;
        let tokens = json_of(
            self.login(login, "correct horse battery").await,
            StatusCode::OK,
        )
        .await;
        (
            registered["data"]["id"].as_str().expect("id").to_owned(),
            tokens["data"].clone(),
        )
    }

    async fn me(&self, access_token: &str) -> Response {
        self.http
            .get(self.url("/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request")
    }

    async fn refresh(&self, refresh_token: &str) -> Response {
        self.post("/refresh", json!({ "refreshToken": refresh_token }))
            .await
    }
}

impl<T: Deref<Target = TestService>> UserApi for T {}

pub fn access(tokens: &Value) -> &str {
    tokens["accessToken"].as_str().expect("accessToken")
}

pub fn refresh_of(tokens: &Value) -> &str {
    tokens["refreshToken"].as_str().expect("refreshToken")
}
