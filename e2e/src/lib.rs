//! Test harness for cross-service tests: starts the real services in-process, each on its own
//! port and fresh database, wired together over HTTP and a real Kafka broker.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use common::auth::ServiceToken;
use common::config::Secret;
use events::kafka::KafkaConfig;
pub use events::testing::TestTopic;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use testkit::{service_config, TestDatabase, TestKeys};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use testkit::{ORDER_SERVICE_TOKEN, USER_SERVICE_TOKEN};

/// The per-user command limit of the services under test: far above any test's pace (the
/// limit itself is tested in billing's and order's own suites).
pub fn command_limit() -> std::sync::Arc<common::limits::CommandLimit> {
    std::sync::Arc::new(common::limits::CommandLimit::new(60_000, 10_000))
}

/// The broker the tests use (`KAFKA_BROKERS`; `make test` starts a local one).
pub fn kafka_brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Settings with an order-events topic of this test's own, deleted when dropped.
pub fn own_topic(brokers: &str) -> TestTopic {
    TestTopic::new(brokers)
}

/// An address nobody listens on now, for a service that is down (and may start there later).
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

/// A running service: its base URL, a pool on its database, and a way to stop it. The
/// database is dropped once no service or test holds it any more.
pub struct Service {
    pub base: String,
    pub db: PgPool,
    pub database: TestDatabase,
    /// For the order service: an admin's token, to fill its catalogue.
    pub admin: Option<String>,
    /// Products [`Api::order`] added, by title and price.
    products: tokio::sync::Mutex<HashMap<(String, i64), Uuid>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Service {
    async fn start<F>(
        addr: SocketAddr,
        database: TestDatabase,
        run: impl FnOnce(oneshot::Receiver<()>) -> F,
    ) -> Self
    where
        F: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(stopped));
        Self {
            base: format!("http://{addr}"),
            db: PgPool::connect(database.url()).await.expect("service pool"),
            database,
            admin: None,
            products: Default::default(),
            stop: Some(stop),
            task,
        }
    }

    /// Adds a product to this order service's catalogue, as an admin; returns its id.
    pub async fn product(&self, title: &str, price: i64, stock: i64) -> Uuid {
        let admin = self
            .admin
            .as_deref()
            .expect("the order service has an admin");
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/products", self.base))
            .bearer_auth(admin)
            .json(&json!({ "title": title, "price": price, "stock": stock }))
            .send()
            .await
            .expect("add a product");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        body["data"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    }

    /// A product called `title` priced `price`, added (with plenty of stock) the first time.
    async fn product_for(&self, title: &str, price: i64) -> Uuid {
        let mut products = self.products.lock().await;
        let key = (title.to_owned(), price);
        if let Some(id) = products.get(&key) {
            return *id;
        }
        let id = self.product(title, price, 100_000).await;
        products.insert(key, id);
        id
    }

    /// The units of a product that can be ordered now.
    pub async fn available(&self, product: Uuid) -> i64 {
        let body: Value = reqwest::get(format!("{}/api/v1/products/{product}", self.base))
            .await
            .expect("product")
            .json()
            .await
            .expect("json");
        body["data"]["available"].as_i64().expect("available")
    }

    /// Stops the service the way SIGTERM does and waits until it has.
    /// A counter or gauge of the service's `/metrics`, summed over the series whose labels
    /// contain every one of `labels` (`route="/x"`, ...); 0 when there is none.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
                    && labels.iter().all(|l| line.contains(l))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

async fn shutdown(stopped: oneshot::Receiver<()>) {
    let _ = stopped.await;
}

/// Billing on `listen` (port 0 for any).
pub async fn start_billing(listen: SocketAddr, keys: &TestKeys) -> Service {
    testkit::init_logs();
    let database = TestDatabase::create("e2e_billing").await;
    let app = billing::build(billing::Config {
        service: service_config(listen, &database, keys),
        user_service_token: ServiceToken::new(USER_SERVICE_TOKEN.to_owned()),
        order_service_token: ServiceToken::new(ORDER_SERVICE_TOKEN.to_owned()),
        command_limit: command_limit(),
    })
    .await
    .expect("billing starts");
    let addr = app.local_addr();
    Service::start(addr, database, |stopped| app.run_until(shutdown(stopped))).await
}

pub async fn start_user(billing_url: &str, keys: &TestKeys) -> Service {
    start_user_on(TestDatabase::create("e2e_user").await, billing_url, keys).await
}

/// The user service on `database` (pass the same one to run a second replica on its data).
pub async fn start_user_on(database: TestDatabase, billing_url: &str, keys: &TestKeys) -> Service {
    let app = user::build(user::Config {
        service: service_config(any_port(), &database, keys),
        jwt_private_key_pem: Secret::new(keys.private_pem.clone()),
        access_token_ttl: Duration::from_secs(900),
        refresh_token_ttl: Duration::from_secs(3600),
        session_lifetime: Duration::from_secs(7200),
        // Test processes run many services side by side, sharing one hashing queue.
        password_queue_wait: Duration::from_secs(30),
        billing_url: billing_url.to_owned(),
        billing_timeout: Duration::from_secs(1),
        service_token: ServiceToken::new(USER_SERVICE_TOKEN.to_owned()),
    })
    .await
    .expect("user starts");
    let addr = app.local_addr();
    Service::start(addr, database, |stopped| app.run_until(shutdown(stopped))).await
}

pub async fn start_order(billing_url: &str, keys: &TestKeys, kafka: &KafkaConfig) -> Service {
    start_order_on(
        TestDatabase::create("e2e_order").await,
        billing_url,
        keys,
        kafka,
    )
    .await
}

/// The order service on `database` (pass the same one to run a second replica on its data).
pub async fn start_order_on(
    database: TestDatabase,
    billing_url: &str,
    keys: &TestKeys,
    kafka: &KafkaConfig,
) -> Service {
    let app = order::build(order::Config {
        service: service_config(any_port(), &database, keys),
        kafka: kafka.clone(),
        billing_url: billing_url.to_owned(),
        billing_timeout: Duration::from_secs(1),
        service_token: ServiceToken::new(ORDER_SERVICE_TOKEN.to_owned()),
        command_limit: command_limit(),
        settle_interval: Duration::from_millis(200),
        settle_delay: Duration::from_millis(1500),
        outbox_poll: Duration::from_secs(2),
        outbox_retention: Duration::from_secs(3600),
        catalogue_cache: Duration::from_millis(1000),
    })
    .await
    .expect("order starts");
    let addr = app.local_addr();
    let mut service =
        Service::start(addr, database, |stopped| app.run_until(shutdown(stopped))).await;
    service.admin = Some(keys.admin_token(Uuid::new_v4()));
    service
}

/// The notification service on `database` (pass the same one to restart it on its data).
pub async fn start_notification_on(
    database: TestDatabase,
    keys: &TestKeys,
    kafka: &KafkaConfig,
    group: &str,
) -> Service {
    let app = notification::build(notification::Config {
        service: service_config(any_port(), &database, keys),
        kafka: kafka.clone(),
        group_id: group.to_owned(),
    })
    .await
    .expect("notification starts");
    let addr = app.local_addr();
    Service::start(addr, database, |stopped| app.run_until(shutdown(stopped))).await
}

pub async fn start_notification(keys: &TestKeys, kafka: &KafkaConfig) -> Service {
    testkit::init_logs();
    let database = TestDatabase::create("e2e_notification").await;
    start_notification_on(
        database,
        keys,
        kafka,
        &format!("test-{}", Uuid::new_v4().simple()),
    )
    .await
}

/// Polls `check` every 100 ms until it returns `Some`, or panics naming `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A user known to billing: an id, an access token, and the money deposited.
pub struct Customer {
    pub id: Uuid,
    pub token: String,
}

impl Customer {
    pub fn new(keys: &TestKeys) -> Self {
        let id = Uuid::new_v4();
        Self {
            id,
            token: keys.token(id),
        }
    }
}

/// Small HTTP helpers against the services' public APIs.
pub struct Api {
    pub http: reqwest::Client,
}

impl Default for Api {
    fn default() -> Self {
        Self {
            http: reqwest::Client::new(),
        }
    }
}

impl Api {
    pub async fn deposit(&self, billing: &Service, who: &Customer, amount: i64) {
        let response = self
            .http
            .post(format!("{}/api/v1/billing/account/deposit", billing.base))
            .bearer_auth(&who.token)
            .json(&json!({ "amount": amount }))
            .send()
            .await
            .expect("deposit");
        assert_eq!(response.status(), StatusCode::OK);
    }

    pub async fn balance(&self, billing: &Service, who: &Customer) -> i64 {
        let body: Value = self
            .http
            .get(format!("{}/api/v1/billing/account/my", billing.base))
            .bearer_auth(&who.token)
            .send()
            .await
            .expect("balance")
            .json()
            .await
            .expect("json");
        body["data"]["balance"].as_i64().expect("balance")
    }

    /// Orders one unit of a product called `title` priced `price` (added to the order
    /// service's catalogue the first time); returns the status code and body.
    pub async fn order(
        &self,
        order: &Service,
        who: &Customer,
        title: &str,
        price: i64,
    ) -> (StatusCode, Value) {
        let product = order.product_for(title, price).await;
        self.order_lines(order, who, &[(product, 1)]).await
    }

    /// Orders `lines` (product, quantity); returns the status code and body.
    pub async fn order_lines(
        &self,
        order: &Service,
        who: &Customer,
        lines: &[(Uuid, i64)],
    ) -> (StatusCode, Value) {
        let items: Vec<Value> = lines
            .iter()
            .map(|(id, quantity)| json!({ "productId": id, "quantity": quantity }))
            .collect();
        let response = self
            .http
            .post(format!("{}/api/v1/orders", order.base))
            .bearer_auth(&who.token)
            .json(&json!({ "items": items }))
            .send()
            .await
            .expect("order");
        let status = response.status();
        (status, response.json().await.expect("json"))
    }

    /// Cancels an order (with an `Idempotency-Key` when given); returns the status code and body.
    pub async fn cancel(
        &self,
        order: &Service,
        who: &Customer,
        id: &str,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}/api/v1/orders/{id}/cancel", order.base))
            .bearer_auth(&who.token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("cancel");
        let status = response.status();
        (status, response.json().await.expect("json"))
    }

    pub async fn get_order(&self, order: &Service, who: &Customer, id: &str) -> Value {
        self.http
            .get(format!("{}/api/v1/orders/{id}", order.base))
            .bearer_auth(&who.token)
            .send()
            .await
            .expect("get order")
            .json()
            .await
            .expect("json")
    }

    /// The user's notifications (first page of up to 200).
    pub async fn notifications(&self, notification: &Service, who: &Customer) -> Vec<Value> {
        let body: Value = self
            .http
            .get(format!(
                "{}/api/v1/notifications?limit=200",
                notification.base
            ))
            .bearer_auth(&who.token)
            .send()
            .await
            .expect("notifications")
            .json()
            .await
            .expect("json");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the user has exactly `count` notifications, then a little longer to catch a
    /// duplicate arriving late; returns them.
    pub async fn await_notifications(
        &self,
        notification: &Service,
        who: &Customer,
        count: usize,
    ) -> Vec<Value> {
        eventually(
            Duration::from_secs(30),
            &format!("{count} notifications"),
            || async {
                let list = self.notifications(notification, who).await;
                (list.len() >= count).then_some(())
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        self.notifications(notification, who).await
    }
}

/// Rows in billing's ledger that charge `order_id`.
pub async fn charges_for(billing: &Service, order_id: &str) -> i64 {
    billing::audit::withdrawal_entries(&billing.db, uuid_of(order_id))
        .await
        .expect("ledger")
}

fn uuid_of(id: &str) -> Uuid {
    id.parse().expect("an order id")
}

/// Waits until no order of `order` is pending: an order answered 202 (its charge answered
/// after the request's deadline) has been paid, or refused, by the settler.
pub async fn all_settled(order: &Service) {
    eventually(
        Duration::from_secs(60),
        "every pending order settled",
        || async {
            let pending: i64 =
                sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'pending'")
                    .fetch_one(&order.db)
                    .await
                    .expect("orders");
            (pending == 0).then_some(())
        },
    )
    .await;
}

/// (charged, refunded) for `order_id`, from billing's ledger: what its withdrawal took and what
/// its refund gave back.
pub async fn money_of(billing: &Service, order_id: &str) -> (i64, i64) {
    let money = billing::audit::order_money(&billing.db, uuid_of(order_id))
        .await
        .expect("ledger");
    (money.charged, money.refunded)
}

/// The account's balance and the sum of its ledger, straight from billing's database.
pub async fn books_of(billing: &Service, who: &Customer) -> (i64, i64) {
    let books = billing::audit::books(&billing.db, who.id)
        .await
        .expect("books")
        .expect("the customer has an account");
    (books.balance, books.ledger_sum)
}

/// Outbox events of `kind` (OrderCreated, OrderNotCreated, OrderCancelled) for `order_id`.
pub async fn events_of(order: &Service, order_id: &str, kind: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE payload::jsonb -> 'data' ->> 'orderId' = $1 \
         AND payload::jsonb ->> 'type' = $2",
    )
    .bind(order_id)
    .bind(kind)
    .fetch_one(&order.db)
    .await
    .expect("outbox")
}

/// The contract's stock invariant over the order service's catalogue: for every product,
/// available plus the units its pending and created orders hold is every unit ever added.
pub async fn assert_stock_adds_up(order: &Service) {
    let mismatches = order::catalogue::stock_mismatches(&order.db, None)
        .await
        .expect("stock");
    assert!(
        mismatches.is_empty(),
        "stock does not add up: {mismatches:?}"
    );
}

/// Outbox events written for `order_id`.
pub async fn events_for(order: &Service, order_id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE payload::jsonb -> 'data' ->> 'orderId' = $1",
    )
    .bind(order_id)
    .fetch_one(&order.db)
    .await
    .expect("outbox")
}

/// Billing, order and notification wired together on a topic of their own.
pub struct Shop {
    pub keys: TestKeys,
    pub topic: TestTopic,
    pub billing: Service,
    pub order: Service,
    pub notification: Service,
    pub api: Api,
}

impl Shop {
    pub async fn start() -> Self {
        let keys = TestKeys::new();
        let kafka = own_topic(&kafka_brokers());
        let billing = start_billing(free_addr(), &keys).await;
        let order = start_order(&billing.base, &keys, &kafka).await;
        let notification = start_notification(&keys, &kafka).await;
        Self {
            keys,
            topic: kafka,
            billing,
            order,
            notification,
            api: Api::default(),
        }
    }

    /// A new customer with `amount` deposited.
    pub async fn customer_with(&self, amount: i64) -> Customer {
        let customer = Customer::new(&self.keys);
        self.api.deposit(&self.billing, &customer, amount).await;
        customer
    }
}

/// An `OrderCreated` event of `user`'s order `title`, as order publishes it.
pub fn order_created(user: Uuid, title: &str) -> events::Envelope {
    events::Envelope::new(
        events::EventType::OrderCreated,
        events::OrderEvent {
            order_id: Uuid::new_v4(),
            user_id: user,
            title: title.to_owned(),
            price: 100,
            items: vec![],
            reason: None,
            refunded: None,
        },
    )
}

/// Publishes `payload` under `key` with a `request_id` header, as the outbox relay does.
pub async fn publish(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    key: &str,
    payload: &[u8],
    request_id: &str,
) {
    use rdkafka::message::{Header, OwnedHeaders};
    let headers = OwnedHeaders::new().insert(Header {
        key: events::REQUEST_ID_HEADER,
        value: Some(request_id),
    });
    producer
        .send(
            rdkafka::producer::FutureRecord::to(topic)
                .key(key)
                .payload(payload)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .expect("publish");
}

/// Publishes `envelope` keyed by its user, its request id `req-<event id>`.
pub async fn publish_event(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    envelope: &events::Envelope,
) {
    let payload = serde_json::to_vec(envelope).expect("json");
    let request_id = format!("req-{}", envelope.event_id.simple());
    let key = envelope.data.user_id.to_string();
    publish(producer, topic, &key, &payload, &request_id).await;
}
