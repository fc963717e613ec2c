#!/usr/bin/env bash
# make up: installs what is missing, builds, prepares Postgres, starts every service and the
# gateway in the background, waits until healthy, and prints where everything is.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"

ensure_packages curl:curl nginx:nginx jq:jq
"$ROOT/scripts/postgres.sh"
"$ROOT/scripts/keys.sh"
"$ROOT/scripts/kafka.sh"

ensure_build_deps
say "building the services (cargo build --profile $BUILD_PROFILE)"
cargo build --workspace --bins --quiet --profile "$BUILD_PROFILE"

for entry in "${SERVICES[@]}"; do
  start_service "${entry%%:*}" "${entry#*:}"
done
for entry in "${SERVICES[@]}"; do
  name="${entry%%:*}"
  wait_healthy "$name" "http://127.0.0.1:${entry#*:}/api/v1/$(prefix_of "$name")/health"
done
"$ROOT/scripts/docs.sh"
start_gateway
wait_healthy gateway "http://127.0.0.1:$GATEWAY_PORT/api/v1/users/health"
if [ "${WITH_PROMETHEUS:-0}" = 1 ]; then
  "$ROOT/scripts/prometheus.sh"
fi

cat <<MSG

The shop is up.
  Gateway (the public API)  http://localhost:$GATEWAY_PORT/api/v1/...
  user                      http://127.0.0.1:8081/api/v1/users    (metrics: /metrics)
  billing                   http://127.0.0.1:8082/api/v1/billing  (metrics: /metrics)
  order                     http://127.0.0.1:8083/api/v1/orders   (metrics: /metrics)
  notification              http://127.0.0.1:8084/api/v1/notifications (metrics: /metrics)
  Kafka                     ${KAFKA_BROKERS:-$LOCAL_KAFKA}, topics order-events and order-events.dlq
  API docs (Swagger UI)     http://localhost:$GATEWAY_PORT/api/docs/
  Prometheus                $([ "${WITH_PROMETHEUS:-0}" = 1 ] && echo "http://127.0.0.1:${PROMETHEUS_PORT:-9091} (rules and alerts of monitoring/)" || echo "not started (WITH_PROMETHEUS=1 make up starts it)")
  Logs                      $LOG_DIR/<service>.log, gateway-access.log
  Postgres                  $(db_url '<service>')
Try:  curl -s http://localhost:$GATEWAY_PORT/api/v1/users/health
Stop: make down
MSG
