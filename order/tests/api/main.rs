//! The order service's HTTP API against a real Postgres, one fresh database per test. Billing is
//! a wiremock stand-in here, used to inject its answers and faults; the e2e crate runs the real
//! billing and broker.

mod cancel;
mod create;
mod helpers;
mod limits;
mod outbox;
mod products;
mod read;
mod stock;
mod trace;
