use billing::{build, Config};
use common::auth::ServiceToken;
use common::config::ServiceConfig;
pub use common::testing::{assert_error, json_of};
use common::testing::{fresh_database, TestKeys};
use reqwest::Response;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

pub const SERVICE_TOKEN: &str = "test-service-token-0123456789";

/// A billing service on a random port with its own database.
pub struct TestApp {
    pub base: String,
    pub db: PgPool,
    pub keys: TestKeys,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let database_url = fresh_database("billing").await;
        let keys = TestKeys::new();
        let config = Config {
            service: ServiceConfig {
                listen: "127.0.0.1:0".parse().expect("addr"),
                database_url: database_url.clone(),
                database_max_connections: 20,
                jwt: keys.jwt.clone(),
                request_timeout: std::time::Duration::from_secs(30),
                run_migrations: true,
            },
            service_token: ServiceToken::new(SERVICE_TOKEN.to_owned()),
        };
        let app = build(config).await.expect("build billing");
        let base = format!("http://{}", app.local_addr());
        tokio::spawn(app.run_until(std::future::pending()));
        let db = PgPool::connect(&database_url).await.expect("test pool");
        Self {
            base,
            db,
            keys,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1/billing{path}", self.base)
    }

    /// A new user id and a valid access token for it.
    pub fn user(&self) -> (Uuid, String) {
        let id = Uuid::new_v4();
        (id, self.keys.token(id))
    }

    pub async fn my_account(&self, token: &str) -> Response {
        self.http
            .get(self.url("/account/my"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn deposit(&self, token: &str, amount: i64, key: Option<&str>) -> Response {
        let mut request = self
            .http
            .post(self.url("/account/deposit"))
            .bearer_auth(token)
            .json(&json!({ "amount": amount }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request")
    }

    pub async fn withdraw(&self, user: Uuid, order: Uuid, amount: i64) -> Response {
        self.http
            .post(self.url("/account/withdraw"))
            .header("X-Service-Token", SERVICE_TOKEN)
            .json(&json!({ "userId": user, "orderId": order, "amount": amount }))
            .send()
            .await
            .expect("request")
    }

    /// (balance, sum of ledger entries, number of ledger entries) straight from the database.
    pub async fn books(&self, user: Uuid) -> (i64, i64, i64) {
        sqlx::query_as(
            "SELECT a.balance, COALESCE(SUM(l.amount), 0)::bigint, COUNT(l.id) \
             FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id \
             WHERE a.user_id = $1 GROUP BY a.balance",
        )
        .bind(user)
        .fetch_optional(&self.db)
        .await
        .expect("books query")
        .unwrap_or((0, 0, 0))
    }
}
