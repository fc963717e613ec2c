//! The notification service's HTTP API against a real Postgres, one fresh database per test.
//! Notifications are stored here the way the consumer stores them (`store_all`); the e2e crate
//! runs the consumer against the real broker.

mod helpers;
mod list;
