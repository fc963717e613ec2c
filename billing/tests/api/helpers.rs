use std::ops::Deref;

use billing::audit::{self, Books, OrderMoney};
use billing::{build, Config};
use common::auth::ServiceToken;
use common::limits::CommandLimit;
use reqwest::Response;
use serde_json::json;
pub use testkit::{assert_error, json_of, ORDER_SERVICE_TOKEN, USER_SERVICE_TOKEN};
use testkit::{TestBase, TestService};
use uuid::Uuid;

/// A billing service on a random port with its own database.
pub type TestApp = testkit::TestApp;

pub async fn spawn_app() -> TestApp {
    spawn_app_with_command_limit(CommandLimit::new(6000, 1000)).await
}

/// With this per-user limit on deposits (the default app's is far above any test's pace).
pub async fn spawn_app_with_command_limit(command_limit: CommandLimit) -> TestApp {
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
    TestApp { service, extra: () }
}

/// Billing's requests and books, on the service under test.
pub trait BillingApi: Deref<Target = TestService> {
    async fn my_account(&self, token: &str) -> Response {
        self.http
            .get(self.url("/account/my"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    async fn deposit(&self, token: &str, amount: i64, key: Option<&str>) -> Response {
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

    async fn withdraw(&self, user: Uuid, order: Uuid, amount: i64) -> Response {
        self.http
            .post(self.url("/account/withdraw"))
            .header("X-Service-Token", ORDER_SERVICE_TOKEN)
            .json(&json!({ "userId": user, "orderId": order, "amount": amount }))
            .send()
            .await
            .expect("request")
    }

    async fn refund(&self, user: Uuid, order: Uuid) -> Response {
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
    async fn order_money(&self, order: Uuid) -> (i64, i64) {
        let OrderMoney { charged, refunded } =
            audit::order_money(&self.db, order).await.expect("ledger");
        (charged, refunded)
    }

    /// (balance, sum of ledger entries, number of ledger entries) straight from the database;
    /// all 0 without an account.
    async fn books(&self, user: Uuid) -> (i64, i64, i64) {
        audit::books(&self.db, user)
            .await
            .expect("books query")
            .map_or((0, 0, 0), |b: Books| (b.balance, b.ledger_sum, b.entries))
    }
}

impl<T: Deref<Target = TestService>> BillingApi for T {}
