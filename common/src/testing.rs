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
