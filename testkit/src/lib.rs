//! Test support: a fresh Postgres database per test and throwaway Ed25519 signing keys.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use sqlx::{Connection, PgConnection};

/// The admin URL tests create databases through (`TEST_DATABASE_URL`); the default is the
/// local development role that `make up` creates.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://shop:shop@127.0.0.1:5432/postgres".to_owned())
}

/// Creates an empty database named after `prefix` and returns its URL.
/// Databases are named `test_*`; `make test` drops leftovers before each run.
pub async fn fresh_database(prefix: &str) -> String {
    let admin = admin_url();
    let name = format!("test_{prefix}_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach Postgres at TEST_DATABASE_URL ({admin}): {e}"));
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{name}")
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
    pub jwt: crate::config::JwtConfig,
}

impl TestKeys {
    pub fn new() -> Self {
        let (private_pem, public_key_pem) = ed25519_pem_pair();
        Self {
            private_pem,
            jwt: crate::config::JwtConfig {
                public_key_pem,
                issuer: "shop-user".to_owned(),
                audience: "shop".to_owned(),
            },
        }
    }

    /// A valid access token for `user_id`, as the user service would issue it.
    pub fn token(&self, user_id: uuid::Uuid) -> String {
        crate::auth::TokenIssuer::new(
            &self.private_pem,
            &self.jwt,
            std::time::Duration::from_secs(300),
        )
        .expect("test key")
        .issue(user_id, uuid::Uuid::new_v4())
        .expect("sign test token")
        .token
    }
}

impl Default for TestKeys {
    fn default() -> Self {
        Self::new()
    }
}

/// The service credential the services under test are configured with.
pub const SERVICE_TOKEN: &str = "test-service-token-0123456789";

/// What a service under test starts from: its own fresh database and throwaway keys.
pub struct TestBase {
    pub database_url: String,
    pub keys: TestKeys,
}

impl TestBase {
    pub async fn new(prefix: &str) -> Self {
        Self {
            database_url: fresh_database(prefix).await,
            keys: TestKeys::new(),
        }
    }

    /// The shared service settings: a random port, this database (migrated at start), these
    /// keys, a 30 s request deadline and 10 pooled connections.
    pub fn service(&self) -> crate::config::ServiceConfig {
        crate::config::ServiceConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url: self.database_url.clone(),
            database_max_connections: 10,
            jwt: self.keys.jwt.clone(),
            request_timeout: std::time::Duration::from_secs(30),
            run_migrations: true,
        }
    }

    /// Serves `server` in the background; returns its base URL and a pool on its database.
    pub async fn serve(&self, server: crate::server::Server) -> (String, sqlx::PgPool) {
        let base = format!("http://{}", server.local_addr());
        tokio::spawn(server.run_until(std::future::pending()));
        let db = sqlx::PgPool::connect(&self.database_url)
            .await
            .expect("test pool");
        (base, db)
    }
}

/// Kafka settings for a service whose tests need no broker: nothing listens there, so events
/// stay in the outbox and the consumer keeps retrying in the background.
pub fn no_broker() -> crate::kafka::KafkaConfig {
    crate::kafka::KafkaConfig {
        brokers: "127.0.0.1:1".to_owned(),
        topic: "order-events-unused".to_owned(),
        create_topics: false,
        fetch_wait_ms: 10,
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
