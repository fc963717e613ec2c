//! Shared building blocks of the shop's services.
//!
//! Scope rule: only what at least two services need and that carries no service's own domain
//! logic. SQL for a service's tables stays in that service.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod internal_client;
pub mod kafka;
pub mod metrics;
pub mod money;
pub mod openapi;
pub mod pagination;
pub mod server;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ApiError, ApiResult};
