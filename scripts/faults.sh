#!/usr/bin/env bash
# make faults: crashes, restarts and slows the pieces of the running local stack under load
# and checks that no money, order or event was lost or doubled (faults/src/main.rs says what is
# checked). Brings the stack up if it is not running; lifts the gateway's login and
# registration limits and the per-user command limit for the run (restored at the end).
# FAULTS_ONLY=name,name runs some.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"
cd "$ROOT"

stack_running || "$ROOT/scripts/up.sh"

say "building the fault suite (cargo build --profile $BUILD_PROFILE -p faults)"
cargo build --quiet --profile "$BUILD_PROFILE" -p faults

trap restore_load_limits EXIT
lift_load_limits
new_admin faultsadmin   # adds the products the scenarios buy

say "fault scenarios against the running stack"
ROOT="$ROOT" GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" \
ORDER_DATABASE_URL="$(db_url order)" BILLING_DATABASE_URL="$(db_url billing)" \
NOTIFICATION_DATABASE_URL="$(db_url notification)" \
  "$CARGO_TARGET_DIR/$BUILD_DIR/faults"
