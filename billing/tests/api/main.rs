//! Billing's HTTP API against a real Postgres, one fresh database per test.

mod accounts;
mod audit;
mod bad_input;
mod concurrency;
mod helpers;
mod internal;
mod refunds;
