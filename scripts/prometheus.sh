#!/usr/bin/env bash
# Starts a local Prometheus (Debian's package) scraping every service, with the shop's alert
# rules, on 127.0.0.1:${PROMETHEUS_PORT:-9091} (not 9090, where Debian's own prometheus service
# listens once the package is installed). Called by `make up` when WITH_PROMETHEUS=1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"
ensure_packages prometheus:prometheus
PORT="${PROMETHEUS_PORT:-9091}"
DIR="$LOCAL/prometheus"
mkdir -p "$DIR/data"
targets() { instances "$1" | sed 's/^.*:\(.*\)$/"127.0.0.1:\1"/' | paste -sd, -; } # of a service
sed -e "s|__RULES__|$ROOT/monitoring/rules/shop.rules.yaml|" \
    -e "s|__USER_TARGETS__|$(targets user)|" -e "s|__BILLING_TARGETS__|$(targets billing)|" \
    -e "s|__ORDER_TARGETS__|$(targets order)|" -e "s|__NOTIFICATION_TARGETS__|$(targets notification)|" \
    "$ROOT/monitoring/prometheus-local.yml" >"$DIR/prometheus.yml"
stop_program prometheus
require_free_port "$PORT" prometheus
say "starting Prometheus on http://127.0.0.1:$PORT (log: $LOG_DIR/prometheus.log)"
apply_supervisor_conf prometheus
ctl_do start prometheus
wait_healthy prometheus "http://127.0.0.1:$PORT/-/ready"
