//! The gateway in front of the running local stack (`make up`). `make test` starts the stack and
//! runs these with `--ignored`; a plain `cargo test` skips them because they need it running.

use common::error::code;
use std::net::IpAddr;

use reqwest::StatusCode;
use serde_json::{json, Value};

/// The log of every replica of `service` in `logs` (`order.log`, and `order-2.log` ... when the
/// stack runs replicas), one after the other.
fn service_log(logs: &str, service: &str) -> String {
    let mut text = std::fs::read_to_string(format!("{logs}/{service}.log")).expect("service log");
    for k in 2..10 {
        match std::fs::read_to_string(format!("{logs}/{service}-{k}.log")) {
            Ok(more) => text.push_str(&more),
            Err(_) => break,
        }
    }
    text
}

/// Waits until a line of `service`'s logs matches, and fails naming `what` after 30 s. A service's
/// output reaches its log file through supervisord a moment after the service wrote it, so a
/// line caused by a request may land after its answer.
async fn await_log_line(logs: &str, service: &str, what: &str, matches: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !service_log(logs, service).lines().any(&matches) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{service}.log has no line with {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn gateway() -> String {
    std::env::var("GATEWAY_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned())
}

fn url(path: &str) -> String {
    format!("{}{path}", gateway())
}

/// A client whose connections come from `source`, a loopback address of its own, so the
/// per-address login limit of one test does not affect another.
fn client_from(source: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(source))
        .build()
        .expect("client")
}

async fn json_error(response: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["code"], code, "{body}");
}

fn unique_login(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Registers through the gateway and logs in; returns the login response.
async fn register_and_login(http: &reqwest::Client, credentials: &Value) -> Value {
    let registered = http
        .post(url("/api/v1/users/register"))
        .json(credentials)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED);
    http.post(url("/api/v1/users/login"))
        .json(credentials)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json")
}

/// Registers a new user through the gateway, logs in, deposits `amount`; returns the access token.
async fn customer_with(http: &reqwest::Client, prefix: &str, amount: i64) -> String {
    let credentials = json!({ "login": unique_login(prefix), "password": "correct horse battery" });
    let tokens = register_and_login(http, &credentials).await;
    let access = tokens["data"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let deposit = http
        .post(url("/api/v1/billing/account/deposit"))
        .bearer_auth(&access)
        .json(&json!({ "amount": amount }))
        .send()
        .await
        .expect("deposit");
    assert_eq!(deposit.status(), StatusCode::OK);
    access
}

/// A product of the test's own, priced 100 with plenty of units, added through the gateway by
/// the admin that `make test` makes (`SHOP_ADMIN_LOGIN`, `SHOP_ADMIN_PASSWORD`); its id and
/// the admin's token, to take it off sale once the test is done with it ([`retire`]), so that
/// test products do not crowd the shop's first page.
async fn product(http: &reqwest::Client) -> (String, String) {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let credentials =
        json!({ "login": env("SHOP_ADMIN_LOGIN"), "password": env("SHOP_ADMIN_PASSWORD") });
    let tokens: Value = http
        .post(url("/api/v1/users/login"))
        .json(&credentials)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let admin = tokens["data"]["accessToken"]
        .as_str()
        .expect("admin token")
        .to_owned();
    let added = http
        .post(url("/api/v1/products"))
        .bearer_auth(&admin)
        .json(&json!({ "title": unique_login("Gateway mug "), "price": 100, "stock": 1000 }))
        .send()
        .await
        .expect("add a product");
    assert_eq!(added.status(), StatusCode::CREATED);
    let body: Value = added.json().await.expect("json");
    (body["data"]["id"].as_str().expect("id").to_owned(), admin)
}

/// Takes a test's product off sale.
async fn retire(http: &reqwest::Client, (id, admin): (String, String)) {
    let retired = http
        .patch(url(&format!("/api/v1/products/{id}")))
        .bearer_auth(admin)
        .json(&json!({ "active": false }))
        .send()
        .await
        .expect("retire the product");
    assert_eq!(retired.status(), StatusCode::OK);
}

/// An order of one unit of `product`.
fn one_of(product: &str) -> Value {
    json!({ "items": [{ "productId": product, "quantity": 1 }] })
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn the_catalogue_is_public_and_its_writes_are_the_admins() {
    let http = client_from([127, 0, 0, 41]);
    let added = product(&http).await;
    let mug = added.0.clone();
    let listed = http
        .get(url("/api/v1/products?limit=200"))
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), StatusCode::OK);
    assert!(listed.headers().contains_key("x-request-id"));
    let page: Value = listed.json().await.expect("json");
    assert!(page["data"]
        .as_array()
        .expect("products")
        .iter()
        .any(|p| p["id"] == mug.as_str()));
    let one: Value = http
        .get(url(&format!("/api/v1/products/{mug}")))
        .send()
        .await
        .expect("one")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (&one["data"]["price"], &one["data"]["available"]),
        (&json!(100), &json!(1000))
    );
    json_error(
        http.get(url("/api/v1/products/not-a-uuid"))
            .send()
            .await
            .expect("bad id"),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    json_error(
        http.post(url("/api/v1/products"))
            .json(&json!({ "title": "Mug", "price": 1, "stock": 1 }))
            .send()
            .await
            .expect("anonymous add"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let shopper = customer_with(&http, "catalogue", 1).await;
    json_error(
        http.post(url(&format!("/api/v1/products/{mug}/restock")))
            .bearer_auth(&shopper)
            .json(&json!({ "quantity": 5 }))
            .send()
            .await
            .expect("shopper restock"),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    retire(&http, added).await;
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn the_public_routes_reach_user_and_billing() {
    let http = client_from([127, 0, 0, 11]);
    let access = customer_with(&http, "gw", 2500).await;
    let access = access.as_str();
    let account: Value = http
        .get(url("/api/v1/billing/account/my"))
        .bearer_auth(access)
        .send()
        .await
        .expect("my")
        .json()
        .await
        .expect("json");
    assert_eq!(account["data"]["balance"], 2500);
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn a_request_id_is_generated_or_passed_through_to_every_service_log() {
    let http = client_from([127, 0, 0, 12]);
    let generated = http
        .get(url("/api/v1/billing/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(generated.status(), StatusCode::OK);
    assert!(!generated.headers()["x-request-id"].is_empty());

    let request_id = format!("gw-test-{}", uuid::Uuid::new_v4().simple());
    let response = http
        .post(url("/api/v1/users/register"))
        .header("X-Request-Id", &request_id)
        .json(&json!({ "login": unique_login("rid") }))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-request-id"], request_id.as_str());
    // Registration touches user and, through it, billing: both logs carry the id.
    let logs = std::env::var("LOG_DIR").unwrap_or_else(|_| "../.local/log".to_owned());
    for service in ["user", "billing"] {
        await_log_line(&logs, service, &request_id, |l| l.contains(&request_id)).await;
    }
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn internal_endpoints_and_metrics_are_not_routed() {
    let http = client_from([127, 0, 0, 13]);
    let body =
        json!({ "userId": uuid::Uuid::new_v4(), "orderId": uuid::Uuid::new_v4(), "amount": 1 });
    for path in [
        "/api/v1/billing/account",
        "/api/v1/billing/account/withdraw",
        "/api/v1/billing/account/refund",
        "/api/v1/billing/account%2Fwithdraw",
    ] {
        let response = http
            .post(url(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        json_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    for path in [
        "/metrics",
        "/api/v1/metrics",
        "/index.html",
        "/assets/missing.js",
        "/nowhere",
    ] {
        let response = http.get(url(path)).send().await.expect("request");
        json_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn oversized_bodies_are_refused_at_the_gateway() {
    let http = client_from([127, 0, 0, 14]);
    let body = format!(r#"{{"login":"x","password":"{}"}}"#, "p".repeat(100 * 1024));
    let response = http
        .post(url("/api/v1/users/register"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    json_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn failures_at_one_login_slow_it_down_whatever_the_address() {
    // One guess from each of ten addresses, each far under its address's limit.
    let login = format!("target{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut statuses = Vec::new();
    for n in 0..10u8 {
        let response = client_from([127, 0, 0, 160 + n])
            .post(url("/api/v1/users/login"))
            .json(&json!({ "login": login, "password": "guess guess guess" }))
            .send()
            .await
            .expect("login");
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            json_error(response, StatusCode::TOO_MANY_REQUESTS, code::RATE_LIMITED).await;
        }
    }
    // Five free, the sixth checked and starting the wait, the rest refused unchecked.
    assert!(
        statuses[..6].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(
        statuses[6..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn login_attempts_are_rate_limited_per_client_address() {
    let attacker = client_from([127, 0, 0, 15]);
    // A new login each time: the per-login limit (the test above) must not be what answers.
    let run = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let mut statuses = Vec::new();
    for n in 0..20 {
        let credentials =
            json!({ "login": format!("nobody{run}n{n}"), "password": "guess guess guess" });
        let response = attacker
            .post(url("/api/v1/users/login"))
            .json(&credentials)
            .send()
            .await
            .expect("login");
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            json_error(response, StatusCode::TOO_MANY_REQUESTS, code::RATE_LIMITED).await;
        }
    }
    assert_eq!(
        statuses[0],
        StatusCode::UNAUTHORIZED,
        "early attempts reach the service"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Another address is not affected by this one's limit.
    let neighbour = client_from([127, 0, 0, 16]);
    let response = neighbour
        .post(url("/api/v1/users/login"))
        .json(&json!({ "login": format!("neighbour{run}"), "password": "guess guess guess" }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn registrations_are_rate_limited_per_client_address() {
    // Each registration costs an argon2id hash: a burst of 20 passes, then 30 a minute.
    let flood = client_from([127, 0, 0, 23]);
    let mut created = 0;
    let mut limited = 0;
    for _ in 0..30 {
        let response = flood
            .post(url("/api/v1/users/register"))
            .json(&json!({ "login": unique_login("flood"), "password": "flood flood flood" }))
            .send()
            .await
            .expect("register");
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                json_error(response, StatusCode::TOO_MANY_REQUESTS, code::RATE_LIMITED).await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(created >= 20, "the burst passes: {created} created");
    assert!(
        limited >= 1,
        "the rest is limited: {created} created, {limited} limited"
    );
    let neighbour = client_from([127, 0, 0, 24]);
    let response = neighbour
        .post(url("/api/v1/users/register"))
        .json(&json!({ "login": unique_login("neighbour"), "password": "neighbour password" }))
        .send()
        .await
        .expect("register");
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "another address is not limited"
    );
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn an_orders_request_id_reaches_billing_and_across_kafka_to_notification() {
    let http = client_from([127, 0, 0, 18]);
    let access = customer_with(&http, "kafkahop", 1000).await;
    let access = access.as_str();
    let added = product(&http).await;
    let mug = added.0.clone();

    let request_id = format!("gw-order-{}", uuid::Uuid::new_v4().simple());
    let response = http
        .post(url("/api/v1/orders"))
        .bearer_auth(access)
        .header("X-Request-Id", &request_id)
        .json(&one_of(&mug))
        .send()
        .await
        .expect("order");
    assert_eq!(response.status(), StatusCode::CREATED);
    retire(&http, added).await;

    let logs = std::env::var("LOG_DIR").unwrap_or_else(|_| "../.local/log".to_owned());
    for service in ["order", "billing", "notification"] {
        await_log_line(&logs, service, &request_id, |l| l.contains(&request_id)).await;
    }
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn passwords_and_tokens_never_reach_the_logs() {
    let http = client_from([127, 0, 0, 19]);
    let password = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let credentials = json!({ "login": unique_login("quiet"), "password": password });
    let tokens = register_and_login(&http, &credentials).await;
    let refresh = tokens["data"]["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let rotated: Value = http
        .post(url("/api/v1/users/refresh"))
        .json(&json!({ "refreshToken": refresh }))
        .send()
        .await
        .expect("refresh")
        .json()
        .await
        .expect("json");
    let access = rotated["data"]["accessToken"]
        .as_str()
        .expect("access")
        .to_owned();
    http.get(url("/api/v1/billing/account/my"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("my");
    // Reuse of the spent token is logged as a security event, without the token itself.
    let reuse = format!("gw-reuse-{}", uuid::Uuid::new_v4().simple());
    http.post(url("/api/v1/users/refresh"))
        .header("X-Request-Id", &reuse)
        .json(&json!({ "refreshToken": refresh }))
        .send()
        .await
        .expect("reuse");

    // Once the last request's lines are in the logs, so are all of this test's.
    let logs = std::env::var("LOG_DIR").unwrap_or_else(|_| "../.local/log".to_owned());
    await_log_line(&logs, "user", &reuse, |l| l.contains(&reuse)).await;
    for file in std::fs::read_dir(&logs).expect("log dir") {
        let path = file.expect("entry").path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for secret in [&password, &refresh, &access] {
            assert!(
                !text.contains(secret.as_str()),
                "{} contains a secret",
                path.display()
            );
        }
    }
}

/// Sends `request` as raw bytes (an HTTP client would normalise or refuse it first) and returns
/// the status line and the body.
async fn raw(request: &[u8]) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = gateway().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    (status, body.to_owned())
}

#[tokio::test]
#[ignore = "needs the running stack (make test starts it)"]
async fn requests_nginx_itself_refuses_get_json_errors_not_html() {
    let long_uri = format!("/api/v1/users/{}", "x".repeat(64 * 1024));
    let big_header = format!("X-Big: {}\r\n", "y".repeat(64 * 1024));
    let cases = [
        (
            "a path above the root",
            "/api/../../x",
            String::new(),
            " 400 ",
        ),
        ("a 64 KiB URI", long_uri.as_str(), String::new(), " 414 "),
        (
            "a 64 KiB header",
            "/api/v1/users/health",
            big_header,
            " 400 ",
        ),
    ];
    for (what, path, header, status) in cases {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{header}Connection: close\r\n\r\n");
        let (status_line, body) = raw(request.as_bytes()).await;
        assert!(status_line.contains(status), "{what}: {status_line}");
        let body: Value = serde_json::from_str(&body).expect("a JSON body");
        assert_eq!(body["code"], "invalid_request", "{what}: {body}");
    }
}

/// One exported span, as the test's collector received it.
#[derive(Debug, Clone)]
struct ExportedSpan {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

/// An OTLP/HTTP trace collector on `OTLP_COLLECTOR_ADDR` (default 127.0.0.1:4318, where
/// `make test` points the stack's OTEL_EXPORTER_OTLP_ENDPOINT): keeps every span it is sent.
async fn otlp_collector() -> std::sync::Arc<std::sync::Mutex<Vec<ExportedSpan>>> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use prost::Message as _;

    let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let received = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let received = received.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
                let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect();
                let mut received = received.lock().expect("spans");
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|a| a.key == "service.name")
                        .and_then(|a| a.value.as_ref()?.value.clone())
                        .map(|v| match v {
                            Any::StringValue(s) => s,
                            other => format!("{other:?}"),
                        })
                        .unwrap_or_default();
                    for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                        received.push(ExportedSpan {
                            service: service.clone(),
                            name: span.name,
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                        });
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let addr = std::env::var("OTLP_COLLECTOR_ADDR").unwrap_or_else(|_| "127.0.0.1:4318".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| panic!("the test's OTLP collector cannot listen on {addr}: {e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    spans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the running stack (make test starts it, exporting spans to this test)"]
async fn an_order_is_one_trace_from_the_gateway_through_billing_and_kafka() {
    let collected = otlp_collector().await;
    let http = client_from([127, 0, 0, 25]);
    let access = customer_with(&http, "traced", 1000).await;
    let added = product(&http).await;
    let lamp = added.0.clone();

    // The client's trace is continued.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let client_span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let response = http
        .post(url("/api/v1/orders"))
        .bearer_auth(&access)
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&one_of(&lamp))
        .send()
        .await
        .expect("order");
    assert_eq!(response.status(), StatusCode::CREATED);
    retire(&http, added).await;

    // Its spans form one tree: order's request span under the client's, billing's withdraw
    // under it, and across the outbox and Kafka the relay's publish under it and the
    // notification consumer's under that.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let (order, billing, publish, consume) = loop {
        let spans: Vec<ExportedSpan> = collected
            .lock()
            .expect("spans")
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        let find = |service: &str, name: &str, parent: &str| {
            spans
                .iter()
                .find(|s| s.service == service && s.name == name && s.parent_span_id == parent)
                .cloned()
        };
        let order = find("order", "request", client_span);
        let billing = order
            .as_ref()
            .and_then(|o| find("billing", "request", &o.span_id));
        let publish = order
            .as_ref()
            .and_then(|o| find("order", "publish", &o.span_id));
        let consume = publish
            .as_ref()
            .and_then(|p| find("notification", "event", &p.span_id));
        if let (Some(o), Some(b), Some(p), Some(c)) = (order, billing, publish, consume) {
            break (o, b, p, c);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the trace's spans did not all arrive: {spans:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let ids = [&order, &billing, &publish, &consume].map(|s| s.span_id.clone());
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        4
    );

    // And the trace id is on the log lines of each service that took part.
    let logs = std::env::var("LOG_DIR").unwrap_or_else(|_| "../.local/log".to_owned());
    let traced = format!("trace_id={trace_id}");
    for service in ["order", "billing", "notification"] {
        await_log_line(&logs, service, &traced, |l| l.contains(&traced)).await;
    }

    // Without a traceparent the gateway starts the trace: its id is the gateway's request id.
    let refused = http
        .post(url("/api/v1/orders"))
        .bearer_auth(&access)
        .json(&json!({ "items": [] }))
        .send()
        .await
        .expect("order");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let started = refused.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    assert_eq!(started.len(), 32, "nginx's request id: {started}");
    let traced = format!("trace_id={started}");
    await_log_line(
        &logs,
        "order",
        &format!("a refused request with {traced}"),
        |l| l.contains("request refused") && l.contains(&traced),
    )
    .await;
}
