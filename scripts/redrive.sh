#!/usr/bin/env bash
# make redrive [ARGS="--all"]: `notification redrive` against the local stack (make up): lists
# the dead letters of order-events.dlq, or republishes the chosen ones
# (monitoring/runbooks/dead-letters.md).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"

binary="$CARGO_TARGET_DIR/$BUILD_DIR/notification"
[ -x "$binary" ] || { echo "no $binary: run make up first" >&2; exit 1; }
# shellcheck disable=SC2046,SC2086
exec env $(service_env notification 8084) "$binary" redrive $ARGS
