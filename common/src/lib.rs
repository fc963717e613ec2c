//! Shared building blocks of the shop's services.
//!
//! Scope rule: only what at least two services need and that carries no service's own domain
//! logic. SQL for a service's tables stays in that service. What only the Kafka side needs
//! (events, client settings) is in the `events` crate, so that user and billing do not build
//! librdkafka; test support is in the dev-only `testkit` crate.

pub mod auth;
pub mod backoff;
pub mod config;
pub mod db;
pub mod error;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod internal_client;
pub mod limits;
pub mod metrics;
pub mod money;
pub mod openapi;
pub mod pagination;
pub mod server;
pub mod telemetry;

pub use error::{ApiError, ApiResult};
