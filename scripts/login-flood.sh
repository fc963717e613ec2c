#!/usr/bin/env bash
# make login-flood: genuine logins alone, then while a crowd of loopback addresses floods the
# login through the gateway with its per-address limits in place (bench/src/flood.rs). Brings
# the stack up if it is not running.
#   FLOOD_SECONDS (20 per phase), FLOOD_ADDRESSES (500)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"
cd "$ROOT"

ensure_stack
say "building the load generator (cargo build --profile $BUILD_PROFILE -p bench)"
cargo build --quiet --profile "$BUILD_PROFILE" -p bench
"$CARGO_TARGET_DIR/$BUILD_DIR/bench" --login-flood "${FLOOD_SECONDS:-20}" "${FLOOD_ADDRESSES:-500}" \
  "http://127.0.0.1:$GATEWAY_PORT"
