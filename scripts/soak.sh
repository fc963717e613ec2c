#!/usr/bin/env bash
# make soak (not part of make test): orders through the gateway at half the order capacity it
# measures first, for SOAK_SECONDS (600), against REPLICAS (2) instances of every service
# (the stack is restarted so if it runs another number). Every 5 s it samples each replica's
# RSS and open sockets, the outbox backlog and the consumer lag, and writes
# .local/soak/report.md (first minute against last minute of each series, flat or not),
# report.html (a chart of each over time) and samples.csv.
WANTED_REPLICAS="${REPLICAS:-2}"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"
cd "$ROOT" || exit 1

ensure_stack "$WANTED_REPLICAS"

say "building the load generator (cargo build --profile $BUILD_PROFILE -p bench)"
cargo build --quiet --profile "$BUILD_PROFILE" -p bench

trap restore_gateway_limits EXIT
lift_gateway_limits

say "soaking for ${SOAK_SECONDS:-600} s against $REPLICAS replica(s) of each service"
"$CARGO_TARGET_DIR/$BUILD_DIR/bench" --gateway "http://127.0.0.1:$GATEWAY_PORT" \
  --pg-admin "$PG_ADMIN_URL" --run-dir "$RUN_DIR" --out "$LOCAL/soak" --soak "${SOAK_SECONDS:-600}"
