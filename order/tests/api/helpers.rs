use std::time::Duration;
pub use testkit::{assert_error, json_of};

use common::auth::ServiceToken;
use events::testing::no_broker;
use order::{build, Config};
use reqwest::Response;
use serde_json::{json, Value};
use testkit::{TestBase, TestService, SERVICE_TOKEN};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// An order service on a random port with its own database, paying through `billing`.
pub struct TestApp {
    pub service: TestService,
    pub billing: MockServer,
}

impl std::ops::Deref for TestApp {
    type Target = TestService;

    fn deref(&self) -> &TestService {
        &self.service
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        // Long enough that the settler never races these tests' own requests.
        Self::spawn_settling_after(Duration::from_secs(3600)).await
    }

    /// With the settler taking over pending payments and due refunds after `settle_delay`.
    pub async fn spawn_settling_after(settle_delay: Duration) -> Self {
        Self::spawn_with(settle_delay, Duration::from_secs(3600)).await
    }

    /// With the relay deleting events sent more than `retention` ago.
    pub async fn spawn_keeping_sent_events(retention: Duration) -> Self {
        Self::spawn_with(Duration::from_secs(3600), retention).await
    }

    async fn spawn_with(settle_delay: Duration, outbox_retention: Duration) -> Self {
        let billing = MockServer::start().await;
        let test = TestBase::new("order").await;
        let config = Config {
            service: test.service(),
            // No broker is needed here: events wait in the outbox (asserted on directly).
            kafka: no_broker(),
            billing_url: billing.uri(),
            billing_timeout: Duration::from_millis(500),
            service_token: ServiceToken::new(SERVICE_TOKEN.to_owned()),
            settle_interval: Duration::from_millis(100),
            settle_delay,
            outbox_poll: Duration::from_secs(1),
            outbox_retention,
        };
        let service = test
            .serve(
                build(config).await.expect("build order service"),
                "/api/v1/orders",
            )
            .await;
        Self { service, billing }
    }

    /// Billing answers every withdraw with `status` and `body`.
    pub async fn billing_answers(&self, status: u16, body: Value) {
        Mock::given(method("POST"))
            .and(path("/api/v1/billing/account/withdraw"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&self.billing)
            .await;
    }

    pub async fn billing_charges(&self) {
        self.billing_answers(
            200,
            json!({ "data": { "id": Uuid::new_v4(), "userId": Uuid::new_v4(), "balance": 0 } }),
        )
        .await;
    }

    /// Billing answers every refund with `status` and `body`, at most `times` times when given
    /// (mounted later answers take over then).
    pub async fn billing_refunds(&self, status: u16, body: Value, times: Option<u64>) {
        let mut mock = Mock::given(method("POST"))
            .and(path("/api/v1/billing/account/refund"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body));
        if let Some(times) = times {
            mock = mock.up_to_n_times(times).with_priority(1);
        }
        mock.mount(&self.billing).await;
    }

    pub async fn billing_refunded(&self, refunded: i64) {
        self.billing_refunds(
            200,
            json!({ "data": { "id": Uuid::new_v4(), "userId": Uuid::new_v4(), "balance": 0, "refunded": refunded } }),
            None,
        )
        .await;
    }

    /// The bodies of the refund requests billing received, in order.
    pub async fn refunds_asked(&self) -> Vec<Value> {
        self.billing
            .received_requests()
            .await
            .expect("recorded")
            .iter()
            .filter(|r| r.url.path() == "/api/v1/billing/account/refund")
            .map(|r| serde_json::from_slice(&r.body).expect("json"))
            .collect()
    }

    pub async fn cancel(&self, token: &str, id: &str, key: Option<&str>) -> Response {
        let mut request = self
            .http
            .post(self.url(&format!("/{id}/cancel")))
            .bearer_auth(token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request")
    }

    /// The outbox events of `kind` for order `id`, as JSON.
    pub async fn events(&self, id: &str, kind: &str) -> Vec<Value> {
        sqlx::query_scalar!(
            r#"SELECT payload FROM outbox
               WHERE payload::jsonb -> 'data' ->> 'orderId' = $1 AND payload::jsonb ->> 'type' = $2
               ORDER BY id"#,
            id,
            kind,
        )
        .fetch_all(&self.db)
        .await
        .expect("outbox")
        .iter()
        .map(|payload| serde_json::from_str(payload).expect("an event's JSON"))
        .collect()
    }

    pub async fn create(
        &self,
        token: &str,
        title: &str,
        price: i64,
        key: Option<&str>,
    ) -> Response {
        let mut request = self
            .http
            .post(self.url(""))
            .bearer_auth(token)
            .json(&json!({ "title": title, "price": price }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request")
    }

    /// (status of each of the user's orders, number of outbox events) from the database.
    pub async fn stored(&self) -> (Vec<String>, i64) {
        let statuses = sqlx::query_scalar!("SELECT status FROM orders ORDER BY created_at")
            .fetch_all(&self.db)
            .await
            .expect("orders");
        let events = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM outbox"#)
            .fetch_one(&self.db)
            .await
            .expect("outbox");
        (statuses, events)
    }
}

pub fn slow(delay: Duration) -> ResponseTemplate {
    ResponseTemplate::new(200).set_delay(delay)
}
