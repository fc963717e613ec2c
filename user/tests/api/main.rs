//! The user service's HTTP API against a real Postgres, one fresh database per test.
//! Billing is absent here (its address refuses connections); the e2e crate covers the real call.

mod abuse;
mod auth;
mod bad_input;
mod helpers;
mod profile;
mod register;
mod roles;
