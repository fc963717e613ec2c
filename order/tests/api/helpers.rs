use std::collections::HashMap;
use std::ops::Deref;
use std::time::Duration;
pub use testkit::{assert_error, json_of};

use common::auth::ServiceToken;
use common::limits::CommandLimit;
use events::testing::no_broker;
use order::{build, Config};
use reqwest::Response;
use serde_json::{json, Value};
use testkit::{TestBase, TestService, ORDER_SERVICE_TOKEN};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What order's tests keep beside the service.
pub struct Extra {
    /// The stand-in for billing.
    pub billing: MockServer,
    /// An admin's token, to fill the catalogue.
    pub admin: String,
    /// Products `create` added, by title and price.
    products: tokio::sync::Mutex<HashMap<(String, i64), Uuid>>,
}

/// An order service on a random port with its own database, paying through `extra.billing`.
pub type TestApp = testkit::TestApp<Extra>;

pub async fn spawn_app() -> TestApp {
    // Long enough that the settler never races these tests' own requests.
    spawn_app_settling_after(Duration::from_secs(3600)).await
}

/// With the settler taking over pending payments and due refunds after `settle_delay`.
pub async fn spawn_app_settling_after(settle_delay: Duration) -> TestApp {
    spawn_configured(settle_delay, Duration::from_secs(3600), default_limit()).await
}

/// With the relay deleting events sent more than `retention` ago.
pub async fn spawn_app_keeping_sent_events(retention: Duration) -> TestApp {
    spawn_configured(Duration::from_secs(3600), retention, default_limit()).await
}

/// With this per-user limit on orders, cancels and restocks (the other constructors' is far
/// above any test's pace).
pub async fn spawn_app_with_command_limit(command_limit: CommandLimit) -> TestApp {
    spawn_configured(
        Duration::from_secs(3600),
        Duration::from_secs(3600),
        command_limit,
    )
    .await
}

fn default_limit() -> CommandLimit {
    CommandLimit::new(6000, 1000)
}

async fn spawn_configured(
    settle_delay: Duration,
    outbox_retention: Duration,
    command_limit: CommandLimit,
) -> TestApp {
    let billing = MockServer::start().await;
    let test = TestBase::new("order").await;
    let config = Config {
        service: test.service(),
        // No broker is needed here: events wait in the outbox (asserted on directly).
        kafka: no_broker(),
        billing_url: billing.uri(),
        billing_timeout: Duration::from_millis(500),
        service_token: ServiceToken::new(ORDER_SERVICE_TOKEN.to_owned()),
        command_limit: std::sync::Arc::new(command_limit),
        settle_interval: Duration::from_millis(100),
        settle_delay,
        outbox_poll: Duration::from_secs(1),
        outbox_retention,
        catalogue_cache: Duration::from_millis(1000),
    };
    let service = test
        .serve(
            build(config).await.expect("build order service"),
            "/api/v1/orders",
        )
        .await;
    let admin = service.admin().1;
    TestApp {
        service,
        extra: Extra {
            billing,
            admin,
            products: Default::default(),
        },
    }
}

/// The order service's requests and billing's answers, on the service under test.
pub trait OrderApi: Deref<Target = TestService> {
    fn extra(&self) -> &Extra;

    /// The URL of `path` under the catalogue's prefix, `/api/v1/products`.
    fn products_url(&self, path: &str) -> String {
        format!("{}/api/v1/products{path}", self.base)
    }

    /// Adds a product as an admin; returns its id.
    async fn product(&self, title: &str, price: i64, stock: i64) -> Uuid {
        let response = self
            .http
            .post(self.products_url(""))
            .bearer_auth(&self.extra().admin)
            .json(&json!({ "title": title, "price": price, "stock": stock }))
            .send()
            .await
            .expect("request");
        let body = json_of(response, reqwest::StatusCode::CREATED).await;
        body["data"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    }

    /// The product as the catalogue shows it to an admin.
    async fn read_product(&self, id: Uuid) -> Value {
        let response = self
            .http
            .get(self.products_url(&format!("/{id}")))
            .bearer_auth(&self.extra().admin)
            .send()
            .await
            .expect("request");
        json_of(response, reqwest::StatusCode::OK).await["data"].clone()
    }

    /// Changes a product as an admin (the change must be accepted); the product as changed.
    async fn patch_product(&self, id: Uuid, changes: Value) -> Value {
        let response = self
            .http
            .patch(self.products_url(&format!("/{id}")))
            .bearer_auth(&self.extra().admin)
            .json(&changes)
            .send()
            .await
            .expect("request");
        json_of(response, reqwest::StatusCode::OK).await["data"].clone()
    }

    /// Units of a product that can be ordered now.
    async fn available(&self, id: Uuid) -> i64 {
        self.read_product(id).await["available"]
            .as_i64()
            .expect("available")
    }

    /// Orders `lines` (product, quantity).
    async fn order(&self, token: &str, lines: &[(Uuid, i64)], key: Option<&str>) -> Response {
        let items: Vec<Value> = lines
            .iter()
            .map(|(id, quantity)| json!({ "productId": id, "quantity": quantity }))
            .collect();
        self.order_body(token, json!({ "items": items }), key).await
    }

    async fn order_body(&self, token: &str, body: Value, key: Option<&str>) -> Response {
        let mut request = self.http.post(self.url("")).bearer_auth(token).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request")
    }

    /// The contract's stock invariant over the whole catalogue: nothing when it holds.
    async fn stock_mismatches(&self) -> Vec<order::catalogue::StockMismatch> {
        order::catalogue::stock_mismatches(&self.db, None)
            .await
            .expect("stock")
    }

    /// Billing answers every withdraw with `status` and `body`.
    async fn billing_answers(&self, status: u16, body: Value) {
        Mock::given(method("POST"))
            .and(path("/api/v1/billing/account/withdraw"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&self.extra().billing)
            .await;
    }

    async fn billing_charges(&self) {
        self.billing_answers(
            200,
            json!({ "data": { "id": Uuid::new_v4(), "userId": Uuid::new_v4(), "balance": 0 } }),
        )
        .await;
    }

    /// Billing answers every refund with `status` and `body`, at most `times` times when given
    /// (mounted later answers take over then).
    async fn billing_refunds(&self, status: u16, body: Value, times: Option<u64>) {
        let mut mock = Mock::given(method("POST"))
            .and(path("/api/v1/billing/account/refund"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body));
        if let Some(times) = times {
            mock = mock.up_to_n_times(times).with_priority(1);
        }
        mock.mount(&self.extra().billing).await;
    }

    async fn billing_refunded(&self, refunded: i64) {
        self.billing_refunds(
            200,
            json!({ "data": { "id": Uuid::new_v4(), "userId": Uuid::new_v4(), "balance": 0, "refunded": refunded } }),
            None,
        )
        .await;
    }

    /// The bodies of the refund requests billing received, in order.
    async fn refunds_asked(&self) -> Vec<Value> {
        self.extra()
            .billing
            .received_requests()
            .await
            .expect("recorded")
            .iter()
            .filter(|r| r.url.path() == "/api/v1/billing/account/refund")
            .map(|r| serde_json::from_slice(&r.body).expect("json"))
            .collect()
    }

    async fn cancel(&self, token: &str, id: &str, key: Option<&str>) -> Response {
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
    async fn events(&self, id: &str, kind: &str) -> Vec<Value> {
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

    /// Orders one unit of a product called `title` priced `price`, added to the catalogue
    /// (with plenty of stock) the first time this app is asked for it.
    async fn create(&self, token: &str, title: &str, price: i64, key: Option<&str>) -> Response {
        let product = {
            let mut products = self.extra().products.lock().await;
            match products.get(&(title.to_owned(), price)) {
                Some(id) => *id,
                None => {
                    let id = self.product(title, price, 10_000).await;
                    products.insert((title.to_owned(), price), id);
                    id
                }
            }
        };
        self.order(token, &[(product, 1)], key).await
    }

    /// (status of each of the user's orders, number of outbox events) from the database.
    async fn stored(&self) -> (Vec<String>, i64) {
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

impl OrderApi for TestApp {
    fn extra(&self) -> &Extra {
        &self.extra
    }
}

pub fn slow(delay: Duration) -> ResponseTemplate {
    ResponseTemplate::new(200).set_delay(delay)
}
