#!/usr/bin/env bash
# make up: installs what is missing, builds, prepares Postgres, starts every service and the
# gateway in the background, waits until healthy, and prints where everything is.
# REPLICAS=n: n instances of each service (default 1), whatever ran before.
REPLICAS="${REPLICAS:-1}"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"

ensure_packages curl:curl nginx:nginx jq:jq
"$ROOT/scripts/postgres.sh"
"$ROOT/scripts/kafka.sh"

ensure_build_deps
say "building the services (cargo build --profile $BUILD_PROFILE)"
cargo build --workspace --bins --quiet --profile "$BUILD_PROFILE"

# Every instance restarts with the new binaries and this run's settings; replicas beyond the
# number asked for (left by an earlier make up REPLICAS=n) stop. One supervisorctl call for all
# (each costs a Python start).
mapfile -t names < <(instances | cut -d: -f1)
if supervisor_running; then
  ctl signal CONT "${names[@]}" >/dev/null 2>&1 || true   # a paused one acts on TERM only then
  ctl stop "${names[@]}" >/dev/null 2>&1 || true
fi
for entry in $(instances); do require_free_port "${entry#*:}" "${entry%%:*}"; done
echo "$REPLICAS" >"$RUN_DIR/replicas"
apply_supervisor_conf
say "starting ${names[*]} (logs: $LOG_DIR/<name>.log)"
ctl_do start "${names[@]}"
for entry in $(instances); do wait_instance "${entry%%:*}" "${entry#*:}"; done
# The starter catalogue, into an empty catalogue only: a catalogue with any product is left
# as it is (production starts empty; an admin fills it).
# shellcheck disable=SC2046
env $(service_env order 8083) RUST_LOG=warn "$CARGO_TARGET_DIR/$BUILD_DIR/order" \
  catalogue load "$ROOT/order/catalogue/starter.json" | sed 's/^/==> catalogue: /'
"$ROOT/scripts/docs.sh"
"$ROOT/scripts/storefront.sh"
start_gateway
wait_healthy gateway "http://127.0.0.1:$GATEWAY_PORT/api/v1/users/health"
[ "${WITH_PROMETHEUS:-0}" != 1 ] || "$ROOT/scripts/prometheus.sh"

cat <<MSG

The shop is up.
  The shop (web page)       http://localhost:$GATEWAY_PORT/
  Gateway (the public API)  http://localhost:$GATEWAY_PORT/api/v1/...
  user                      http://127.0.0.1:8081/api/v1/users    (metrics: /metrics)
  billing                   http://127.0.0.1:8082/api/v1/billing  (metrics: /metrics)
  order                     http://127.0.0.1:8083/api/v1/orders   (metrics: /metrics)
  notification              http://127.0.0.1:8084/api/v1/notifications (metrics: /metrics)
  Replicas                  $REPLICAS of each service$([ "$REPLICAS" -gt 1 ] && echo " (replica k on the port + 100 x (k-1): user-2 on 8181 ...; billing for the services on 127.0.0.1:$BILLING_LB_PORT)")
  Kafka                     ${KAFKA_BROKERS:-$LOCAL_KAFKA}, topics order-events and order-events.dlq
  API docs (Swagger UI)     http://localhost:$GATEWAY_PORT/api/docs/
  Catalogue                 http://localhost:$GATEWAY_PORT/api/v1/products (admins: make admin LOGIN=<login>)
  Prometheus                $([ "${WITH_PROMETHEUS:-0}" = 1 ] && echo "http://127.0.0.1:${PROMETHEUS_PORT:-9091} (rules and alerts of monitoring/)" || echo "not started (WITH_PROMETHEUS=1 make up starts it)")
  Logs                      $LOG_DIR/<service>.log, gateway-access.log (make logs)
  Processes                 supervisord: scripts/stack.sh status|start|stop|restart|kill|pause|resume <piece>
  Postgres                  $(db_url '<service>')
Try:  curl -s http://localhost:$GATEWAY_PORT/api/v1/users/health
Stop: make down
MSG
