#!/usr/bin/env bash
# The offline data of the services' compile-time checked SQL (sqlx::query! and friends): each
# service commits it in <service>/.sqlx/ (its code's and its tests' queries), so that building
# needs no database (.cargo/config.toml sets SQLX_OFFLINE=true). After changing a query or a
# migration, this rewrites it from a real Postgres holding the service's migrations (no sqlx-cli
# needed):   scripts/sqlx.sh prepare [service...]
# make check checks it without rebuilding anything (testkit/tests/sqlx_data.rs).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

[ "${1:-}" = prepare ] || { echo "usage: scripts/sqlx.sh prepare [service...]" >&2; exit 2; }
shift
if [ "$#" -gt 0 ]; then services=("$@"); else services=(user billing order notification); fi

"$ROOT/scripts/postgres.sh"
export PGOPTIONS="--client-min-messages=warning"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
server="${PG_ADMIN_URL%/*}"
for svc in "${services[@]}"; do
  db="sqlx_${svc}_$$"   # of this run: two runs at once do not share a scratch database
  psql "$PG_ADMIN_URL" -qAtX -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\"" >/dev/null
  for migration in "$svc"/migrations/*.sql; do
    psql "$server/$db" -qAtX -v ON_ERROR_STOP=1 -f "$migration" >/dev/null
  done
  mkdir -p "$work/$svc"
  # The macros write what they checked into SQLX_OFFLINE_DIR when they run online; touching the
  # crate makes cargo expand them again (the environment alone does not).
  find "$svc/src" "$svc/tests" -name '*.rs' -exec touch {} +
  SQLX_OFFLINE=false DATABASE_URL="$server/$db" SQLX_OFFLINE_DIR="$work/$svc" \
    cargo check --quiet -p "$svc" --lib --tests
  find "$svc/src" "$svc/tests" -name '*.rs' -exec touch {} +   # back to offline for the next build
  psql "$PG_ADMIN_URL" -qAtX -c "DROP DATABASE \"$db\" WITH (FORCE)" >/dev/null
  rm -rf "$svc/.sqlx"
  if [ -n "$(ls -A "$work/$svc")" ]; then cp -r "$work/$svc" "$svc/.sqlx"; fi
  echo "$svc/.sqlx: $(ls "$svc/.sqlx" 2>/dev/null | wc -l) queries"
done
