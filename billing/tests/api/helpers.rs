use billing::{build, Config};
use common::auth::ServiceToken;
pub use common::testing::{assert_error, json_of, SERVICE_TOKEN};
use common::testing::{TestBase, TestKeys};
use reqwest::Response;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// A billing service on a random port with its own database.
pub struct TestApp {
    pub base: String,
    pub db: PgPool,
    pub keys: TestKeys,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let test = TestBase::new("billing").await;
        let mut service = test.service();
        service.database_max_connections = 20;
        let config = Config {
            service,
            service_token: ServiceToken::new(SERVICE_TOKEN.to_owned()),
        };
        let (base, db) = test
            .serve(build(config).await.expect("build billing"))
            .await;
        Self {
            base,
            db,
            keys: test.keys,
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
