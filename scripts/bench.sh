#!/usr/bin/env bash
# make bench: the shop's throughput and latency through the gateway, against ceilings measured
# in the same run on the same machine. Brings the stack up if it is not running, starts a
# trivial upstream behind an nginx configured like the gateway (the proxy ceiling), lifts the
# gateway's login limit for the run (restored at the end), and runs the bench crate's load
# generator, which prints the table and writes .local/bench/report.{md,html,json}.
#   BENCH_SMOKE=1   a few seconds per scenario and 50 customers (what CI runs)
#   BENCH_SECONDS, BENCH_USERS, BENCH_CONNECTIONS override the defaults (15, 100, 32)
#   REPLICAS=2      against two instances of every service (the stack is restarted so if it
#                   runs another number); without it, against the stack as it runs
WANTED_REPLICAS="${REPLICAS:-}"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"
cd "$ROOT"

ensure_packages wrk:wrk pgbench:postgresql-client nginx:nginx

ensure_stack "$WANTED_REPLICAS"

say "building the load generator (cargo build --profile $BUILD_PROFILE -p bench)"
cargo build --quiet --profile "$BUILD_PROFILE" -p bench

# The ceiling: bench/ceiling's nginx with the gateway's settings proxying to a trivial upstream.
CEILING_DIR="$LOCAL/bench/nginx"
mkdir -p "$CEILING_DIR/tmp"

# Ceilings left by a run that was killed before its trap ran.
pkill -QUIT -f -- "-p $CEILING_DIR -c" && sleep 0.5
require_free_port 8090 "bench ceiling proxy"
require_free_port 8091 "bench trivial upstream"
nginx -p "$CEILING_DIR" -c "$ROOT/bench/ceiling/upstream.conf" & ceiling_pids=($!)
nginx -p "$CEILING_DIR" -c "$ROOT/bench/ceiling/proxy.conf" & ceiling_pids+=($!)
finish() {
  kill -QUIT "${ceiling_pids[@]}" 2>/dev/null || true
  restore_load_limits
  rm -f "$CEILING_DIR/access.log"
}
trap finish EXIT

# Logins are a scenario of their own, and every scenario registers its customers: the
# per-address limits would turn them into 429s.
say "lifting the gateway's login and registration limits and the per-user command limit for the run"
lift_load_limits
say "an admin of the run's own fills the catalogue the order scenarios buy from"
new_admin benchadmin

args=(--gateway "http://127.0.0.1:$GATEWAY_PORT" --ceiling "http://127.0.0.1:8090/"
      --pg-admin "$PG_ADMIN_URL" --run-dir "$RUN_DIR" --out "$LOCAL/bench")
[ "${BENCH_SMOKE:-0}" = 1 ] && args+=(--smoke)
[ -n "${BENCH_SECONDS:-}" ] && args+=(--seconds "$BENCH_SECONDS")
[ -n "${BENCH_USERS:-}" ] && args+=(--users "$BENCH_USERS")
[ -n "${BENCH_CONNECTIONS:-}" ] && args+=(--connections "$BENCH_CONNECTIONS")

say "running the benchmark (stack binaries: $BUILD_PROFILE profile)"
"$CARGO_TARGET_DIR/$BUILD_DIR/bench" "${args[@]}"
