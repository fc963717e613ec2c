//! What the services' tests share: a fresh Postgres database per test (dropped afterwards),
//! throwaway Ed25519 signing keys, a service's settings for a test, the app a service's tests
//! drive ([`TestApp`]), assertions on the contract's error shape, and a TCP proxy that slows
//! one direction (`proxy`). A dev-dependency only: no service binary links it (the fault
//! suite's binary does).
//!
//! Test logs are off unless asked for: `TEST_LOG=debug cargo test -p order` (any `RUST_LOG`
//! filter) prints the services' logs, captured per test by the test harness.

pub mod proxy;

use std::sync::{Arc, Once};
use std::time::Duration;

use base64::Engine;
use common::config::{JwtConfig, ServiceConfig};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// The admin URL tests create databases through (`TEST_DATABASE_URL`); the default is the
/// local development role that `make up` creates.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://shop:shop@127.0.0.1:5432/postgres".to_owned())
}

/// Installs the subscriber of the in-process services once: log lines to the test's captured
/// output when `TEST_LOG` is set (its value is the filter, as `RUST_LOG`'s would be), none
/// otherwise, and the services' spans with their trace context, as in production.
pub fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        use tracing_subscriber::Layer;

        let logs = tracing_subscriber::EnvFilter::new(
            std::env::var("TEST_LOG").unwrap_or_else(|_| "off".to_owned()),
        );
        // Spans are traced as in the services (at info), logged or not: trace context
        // propagates.
        let (spans, _no_exporter) = common::telemetry::traces("test");
        let _ = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(logs),
            )
            .with(spans)
            .try_init();
    });
}

/// An empty database of one test's own, dropped (with any connection still open to it) when
/// the last clone of this handle is dropped. Databases are named `test_<prefix>_<uuid>`;
/// `make test` also drops leftovers of runs that were killed before their destructors ran.
#[derive(Clone)]
pub struct TestDatabase(Arc<DatabaseName>);

struct DatabaseName {
    name: String,
    url: String,
}

impl TestDatabase {
    pub async fn create(prefix: &str) -> Self {
        let admin = admin_url();
        let name = format!("test_{prefix}_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("cannot reach Postgres at TEST_DATABASE_URL ({admin}): {e}")
        });
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Self(Arc::new(DatabaseName { name, url }))
    }

    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// Makes the database unreachable as an outage would: no new connections (the test role
    /// is not a superuser), and the open ones cut.
    pub async fn cut_off(&self) {
        let mut admin = PgConnection::connect(&admin_url()).await.expect("admin");
        let name = &self.0.name;
        sqlx::query(&format!("ALTER DATABASE \"{name}\" CONNECTION LIMIT 0"))
            .execute(&mut admin)
            .await
            .expect("limit connections");
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(name)
            .execute(&mut admin)
            .await
            .expect("cut connections");
    }
}

impl Drop for DatabaseName {
    fn drop(&mut self) {
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // Its own thread and runtime: a destructor cannot await, and may run inside a runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_url()).await?;
                sqlx::query(&statement).execute(&mut conn).await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("test database {} not dropped: {e:#}", self.name);
        }
    }
}

/// A new Ed25519 key pair as (private PKCS#8 PEM, public SPKI PEM), like `openssl genpkey`.
pub fn ed25519_pem_pair() -> (String, String) {
    let mut seed = [0u8; 32];
    SystemRandom::new()
        .fill(&mut seed)
        .expect("system randomness");
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("valid seed");
    // Fixed DER prefixes for an Ed25519 PKCS#8 v1 private key and SubjectPublicKeyInfo.
    let mut private = hex("302e020100300506032b657004220420");
    private.extend_from_slice(&seed);
    let mut public = hex("302a300506032b6570032100");
    public.extend_from_slice(pair.public_key().as_ref());
    (pem("PRIVATE KEY", &private), pem("PUBLIC KEY", &public))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex literal"))
        .collect()
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
}

/// A throwaway signing key pair with the token settings a test service is configured with.
pub struct TestKeys {
    pub private_pem: String,
    pub jwt: JwtConfig,
}

impl TestKeys {
    pub fn new() -> Self {
        let (private_pem, public_key_pem) = ed25519_pem_pair();
        Self {
            private_pem,
            jwt: JwtConfig {
                public_key_pem,
                issuer: "shop-user".to_owned(),
                audience: "shop".to_owned(),
            },
        }
    }

    /// A valid access token for `user_id`, as the user service would issue it.
    pub fn token(&self, user_id: Uuid) -> String {
        self.token_with(user_id, &[])
    }

    /// A valid access token for `user_id` with the `admin` role.
    pub fn admin_token(&self, user_id: Uuid) -> String {
        self.token_with(user_id, &[common::auth::Role::Admin])
    }

    fn token_with(&self, user_id: Uuid, roles: &[common::auth::Role]) -> String {
        common::auth::TokenIssuer::new(&self.private_pem, &self.jwt, Duration::from_secs(300))
            .expect("test key")
            .issue(user_id, Uuid::new_v4(), roles)
            .expect("sign test token")
            .token
    }
}

impl Default for TestKeys {
    fn default() -> Self {
        Self::new()
    }
}

/// The user service's credential for billing's internal endpoints, in tests.
pub const USER_SERVICE_TOKEN: &str = "test-user-service-token-0123";
/// The order service's credential for billing's internal endpoints, in tests.
pub const ORDER_SERVICE_TOKEN: &str = "test-order-service-token-0123";

/// A service's settings for a test: this address (port 0 for any free one), this database
/// (migrated at start), these keys, a 30 s request deadline and 10 pooled connections.
pub fn service_config(
    listen: std::net::SocketAddr,
    database: &TestDatabase,
    keys: &TestKeys,
) -> ServiceConfig {
    ServiceConfig {
        listen,
        database_url: common::config::DatabaseUrl::new(database.url().to_owned()),
        database_max_connections: 10,
        jwt: keys.jwt.clone(),
        request_timeout: Duration::from_secs(30),
        run_migrations: true,
    }
}

/// What a service under test starts from: its own fresh database and throwaway keys.
pub struct TestBase {
    pub database: TestDatabase,
    pub keys: TestKeys,
}

impl TestBase {
    pub async fn new(prefix: &str) -> Self {
        init_logs();
        Self {
            database: TestDatabase::create(prefix).await,
            keys: TestKeys::new(),
        }
    }

    /// The service settings of [`service_config`] on a random port.
    pub fn service(&self) -> ServiceConfig {
        service_config(
            "127.0.0.1:0".parse().expect("addr"),
            &self.database,
            &self.keys,
        )
    }

    /// Serves `server`, whose API is under `prefix` (`/api/v1/orders`), in the background
    /// until the test ends.
    pub async fn serve(self, server: common::server::Server, prefix: &str) -> TestService {
        let base = format!("http://{}", server.local_addr());
        tokio::spawn(server.run_until(std::future::pending()));
        let db = sqlx::PgPool::connect(self.database.url())
            .await
            .expect("test pool");
        TestService {
            api: format!("{base}{prefix}"),
            base,
            db,
            keys: self.keys,
            http: reqwest::Client::new(),
            database: self.database,
        }
    }
}

/// A service under test: its base URL, a pool on its database, the keys its tokens are signed
/// with, and an HTTP client. Dropping it drops the database.
pub struct TestService {
    pub base: String,
    pub db: sqlx::PgPool,
    pub keys: TestKeys,
    pub http: reqwest::Client,
    /// The base URL and the API prefix.
    api: String,
    database: TestDatabase,
}

impl TestService {
    /// The URL of `path` under the service's API prefix (`/health` is `<prefix>/health`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// Makes the service's database unreachable (see [`TestDatabase::cut_off`]).
    pub async fn cut_off_database(&self) {
        self.database.cut_off().await;
    }

    /// `GET` of `path` under the service's API prefix, without a token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    /// The service's `/metrics`, as Prometheus text.
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.base);
        let response = self.http.get(url).send().await.expect("metrics");
        response.text().await.expect("metrics text")
    }

    /// A new user id and a valid access token for it.
    pub fn user(&self) -> (Uuid, String) {
        let id = Uuid::new_v4();
        (id, self.keys.token(id))
    }

    /// A new user id and a valid access token for it with the `admin` role.
    pub fn admin(&self) -> (Uuid, String) {
        let id = Uuid::new_v4();
        (id, self.keys.admin_token(id))
    }
}

/// A service under test and what its tests keep beside it (`extra`: order's billing stand-in;
/// nothing for the others). It reads as the service (`app.url(..)`, `app.db`): each service's
/// `tests/api/helpers.rs` spawns it and adds its requests as an extension trait on
/// `Deref<Target = TestService>`.
pub struct TestApp<S = ()> {
    pub service: TestService,
    pub extra: S,
}

impl<S> std::ops::Deref for TestApp<S> {
    type Target = TestService;

    fn deref(&self) -> &TestService {
        &self.service
    }
}

/// Asserts a response's status and returns its JSON body.
pub async fn json_of(
    response: reqwest::Response,
    status: reqwest::StatusCode,
) -> serde_json::Value {
    let actual = response.status();
    let body: serde_json::Value = response.json().await.expect("JSON body");
    assert_eq!(actual, status, "unexpected status, body: {body}");
    body
}

/// The `Retry-After` of a 429 or 503, in whole seconds (the test fails without one).
pub fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("the answer carries Retry-After")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds")
}

/// Asserts an error response in the contract's shape (`error` and `code`) and returns it.
pub async fn assert_error(
    response: reqwest::Response,
    status: reqwest::StatusCode,
    code: &str,
) -> serde_json::Value {
    let body = json_of(response, status).await;
    assert_eq!(body["code"], code, "body: {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "body: {body}"
    );
    body
}
