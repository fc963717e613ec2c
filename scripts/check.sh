#!/usr/bin/env bash
# make check: the gate before a commit, without the stack. Formatting, clippy (warnings are
# errors), and the workspace's Rust tests against a real Postgres (a database per test) and the
# local broker (a topic per test); among them testkit/tests/sqlx_data.rs, which checks the
# committed query data (<service>/.sqlx) against the migrations without rebuilding anything.
# Under 5 minutes on a warm tree. make test runs it first, as its first phases.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"
cd "$ROOT"

# Alone, it prints its own phase table; under make test, its phases go into make test's. It
# leaves Postgres and the local broker running (make down stops the broker).
phases "make check: the time of each phase"
trap 'phases_end $?' EXIT

phase "make check: Postgres and the local broker for the tests"
"$ROOT/scripts/postgres.sh"
"$ROOT/scripts/kafka.sh"
export TEST_DATABASE_URL="$PG_ADMIN_URL"
export KAFKA_BROKERS="${KAFKA_BROKERS:-$LOCAL_KAFKA}"
# Databases of earlier runs that were killed before their tests could drop them.
psql "$PG_ADMIN_URL" -qAtX >/dev/null <<<"SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database WHERE datname LIKE 'test\_%' \gexec"
ensure_build_deps

phase "make check: cargo fmt --check"
cargo fmt --all -- --check

phase "make check: cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

phase "make check: the workspace's Rust tests (the committed SQL query data among them)"
cargo test --workspace --quiet
