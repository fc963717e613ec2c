pub use common::testing::{assert_error, json_of};
use std::time::Duration;

use common::auth::ServiceToken;
use common::config::ServiceConfig;
use common::kafka::KafkaConfig;
use common::testing::{fresh_database, TestKeys};
use order::{build, Config};
use reqwest::Response;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// An order service on a random port with its own database, paying through `billing`.
pub struct TestApp {
    pub base: String,
    pub db: PgPool,
    pub keys: TestKeys,
    pub billing: MockServer,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let billing = MockServer::start().await;
        let database_url = fresh_database("order").await;
        let keys = TestKeys::new();
        let config = Config {
            service: ServiceConfig {
                listen: "127.0.0.1:0".parse().expect("addr"),
                database_url: database_url.clone(),
                database_max_connections: 10,
                jwt: keys.jwt.clone(),
                request_timeout: Duration::from_secs(30),
                run_migrations: true,
            },
            // No broker is needed here: events wait in the outbox (asserted on directly).
            kafka: KafkaConfig {
                brokers: "127.0.0.1:1".to_owned(),
                topic: "order-events-unused".to_owned(),
                create_topics: false,
                fetch_wait_ms: 10,
            },
            billing_url: billing.uri(),
            billing_timeout: Duration::from_millis(500),
            service_token: ServiceToken::new("test-service-token-0123456789".to_owned()),
            settle_interval: Duration::from_millis(100),
            // Long enough that the settler never races these tests' own requests.
            settle_delay: Duration::from_secs(3600),
            outbox_poll: Duration::from_secs(1),
        };
        let app = build(config).await.expect("build order service");
        let base = format!("http://{}", app.local_addr());
        tokio::spawn(app.run_until(std::future::pending()));
        let db = PgPool::connect(&database_url).await.expect("test pool");
        Self {
            base,
            db,
            keys,
            billing,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1/orders{path}", self.base)
    }

    pub fn user(&self) -> (Uuid, String) {
        let id = Uuid::new_v4();
        (id, self.keys.token(id))
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
        let statuses = sqlx::query_scalar("SELECT status FROM orders ORDER BY created_at")
            .fetch_all(&self.db)
            .await
            .expect("orders");
        let events = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&self.db)
            .await
            .expect("outbox");
        (statuses, events)
    }
}

pub fn slow(delay: Duration) -> ResponseTemplate {
    ResponseTemplate::new(200).set_delay(delay)
}
