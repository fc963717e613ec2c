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

# A soak is about the steady state, which in production includes autovacuum (on by default in
# Postgres and in CloudNativePG). A server that has it off (this workplace's CI machines do,
# conf.d/90-ci.conf) would show every table and index bloating instead: it is switched on for
# the soak and restored after.
autovacuum_was="$(psql_admin -c 'SHOW autovacuum')"
set_autovacuum() {
  psql_admin -c "ALTER SYSTEM ${1}" -c 'SELECT pg_reload_conf()' >/dev/null
}
finish() {
  [ "$autovacuum_was" = on ] || set_autovacuum "RESET autovacuum"
  restore_load_limits
}
trap finish EXIT
if [ "$autovacuum_was" != on ]; then
  say "autovacuum is off on this Postgres server: on for the soak (ALTER SYSTEM), reset after"
  set_autovacuum "SET autovacuum = on"
  # What autovacuum would have done all along, done first: else its catch-up on the tables of
  # earlier runs eats into the capacity measured and the soak's first minutes.
  say "vacuuming the shop's databases first (VACUUM ANALYZE), as autovacuum keeps them"
  for svc in user billing order notification; do psql_admin -d "shop_$svc" -c "VACUUM (ANALYZE)"; done
fi
lift_load_limits
new_admin soakadmin   # fills the catalogue the soak buys from

say "soaking for ${SOAK_SECONDS:-600} s against $REPLICAS replica(s) of each service"
"$CARGO_TARGET_DIR/$BUILD_DIR/bench" --gateway "http://127.0.0.1:$GATEWAY_PORT" \
  --pg-admin "$PG_ADMIN_URL" --run-dir "$RUN_DIR" --out "$LOCAL/soak" --soak "${SOAK_SECONDS:-600}"
