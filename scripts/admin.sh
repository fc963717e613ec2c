#!/usr/bin/env bash
# make admin LOGIN=<login> [REVOKE=1]: `user admin grant|revoke <login>` against the local stack
# (make up): gives a registered user the admin role, who then runs the catalogue from the page's
# admin section or the API, from their next login or refresh. With no LOGIN, lists who holds a
# role. The same command an operator runs in a cluster (README, "Running the catalogue").
#   scripts/admin.sh grant|revoke <login> | scripts/admin.sh list
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"

binary="$CARGO_TARGET_DIR/$BUILD_DIR/user"
[ -x "$binary" ] || { echo "no $binary: run make up first" >&2; exit 1; }
# shellcheck disable=SC2046
exec env $(service_env user 8081) "$binary" admin "$@"
