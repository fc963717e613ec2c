use billing::{build, Config};
use common::auth::ServiceToken;
use common::limits::CommandLimit;
use reqwest::Response;
use serde_json::json;
pub use testkit::{assert_error, json_of, ORDER_SERVICE_TOKEN, USER_SERVICE_TOKEN};
use testkit::{TestBase, TestService};
use uuid::Uuid;

/// A billing service on a random port with its own database.
pub struct TestApp {
    pub service: TestService,
}

impl std::ops::Deref for TestApp {
    type Target = TestService;

    fn deref(&self) -> &TestService {
        &self.service
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with_command_limit(CommandLimit::new(6000, 1000)).await
    }

    /// With this per-user limit on deposits (the default app's is far above any test's pace).
    pub async fn spawn_with_command_limit(command_limit: CommandLimit) -> Self {
        let test = TestBase::new("billing").await;
        let mut service = test.service();
        service.database_max_connections = 20;
        let config = Config {
            service,
            user_service_token: ServiceToken::new(USER_SERVICE_TOKEN.to_owned()),
            order_service_token: ServiceToken::new(ORDER_SERVICE_TOKEN.to_owned()),
            command_limit: std::sync::Arc::new(command_limit),
        };
        let service = test
            .serve(
                build(config).await.expect("build billing"),
                "/api/v1/billing",
            )
            .await;
        Self { service }
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
            .header("X-Service-Token", ORDER_SERVICE_TOKEN)
            .json(&json!({ "userId": user, "orderId": order, "amount": amount }))
            .send()
            .await
            .expect("request")
    }

    pub async fn refund(&self, user: Uuid, order: Uuid) -> Response {
        self.http
            .post(self.url("/account/refund"))
            .header("X-Service-Token", ORDER_SERVICE_TOKEN)
            .json(&json!({ "userId": user, "orderId": order }))
            .send()
            .await
            .expect("request")
    }

    /// (charged, refunded) for one order, from the ledger: what its withdrawal took and what
    /// its refund gave back.
    pub async fn order_money(&self, order: Uuid) -> (i64, i64) {
        let row = sqlx::query!(
            r#"SELECT COALESCE(-SUM(amount) FILTER (WHERE kind = 'withdrawal'), 0)::bigint AS "charged!",
                      COALESCE(SUM(amount) FILTER (WHERE kind = 'refund'), 0)::bigint AS "refunded!"
               FROM ledger_entries WHERE order_id = $1"#,
            order,
        )
        .fetch_one(&self.db)
        .await
        .expect("ledger");
        (row.charged, row.refunded)
    }

    /// (balance, sum of ledger entries, number of ledger entries) straight from the database.
    pub async fn books(&self, user: Uuid) -> (i64, i64, i64) {
        sqlx::query!(
            r#"SELECT a.balance, COALESCE(SUM(l.amount), 0)::bigint AS "sum!",
                      COUNT(l.id) AS "entries!"
               FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
               WHERE a.user_id = $1 GROUP BY a.balance"#,
            user,
        )
        .fetch_optional(&self.db)
        .await
        .expect("books query")
        .map_or((0, 0, 0), |row| (row.balance, row.sum, row.entries))
    }
}
