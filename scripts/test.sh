#!/usr/bin/env bash
# make test: every check and test suite. Starts what the tests need (Postgres, the stack) and
# stops again what it started.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"
cd "$ROOT"

# Whatever this run starts (broker, stack) is stopped at the end, pass or fail, unless the
# stack was already up before it: then it comes back at the end, pass or fail, as it was (its
# replicas, the per-user limits of billing and order). Last, the time of each phase.
phases "make test: the time of each phase"
replicas_before="$(cat "$RUN_DIR/replicas" 2>/dev/null || echo 1)"
stack_was_up=0
stack_running && stack_was_up=1
finish() {
  local status=$?
  phase_end "$([ "$status" = 0 ] && echo ok || echo failed)"
  if [ "$stack_was_up" = 1 ]; then
    unset COMMAND_LIMIT_PER_MINUTE COMMAND_LIMIT_BURST
    REPLICAS="$replicas_before" "$ROOT/scripts/up.sh" >/dev/null || say "the stack could not be brought back up"
  else
    "$ROOT/scripts/down.sh" >/dev/null || say "the stack could not be stopped"
  fi
  phases_end "$status"
  [ "$status" = 0 ] && say "all test suites passed"
  return "$status"
}
trap finish EXIT

# First the contributor's gate (formatting, clippy, the workspace's Rust tests).
"$ROOT/scripts/check.sh"

phase "tools (npm, PyPI); the storefront's TypeScript; the OpenAPI document's validity"
"$ROOT/scripts/tools.sh" js py
"$ROOT/scripts/storefront.sh" typecheck
"$LOCAL/venv/bin/openapi-spec-validator" "$ROOT/api-spec/openapi.yaml"

phase "Kubernetes: charts, edge, operators' resources (schemas, policies), the deploy entry point"
ensure_packages shellcheck:shellcheck
"$LOCAL/venv/bin/python" -m pytest -q "$ROOT/charts/tests"

phase "monitoring: alert rules (promtool check and unit tests), dashboards"
ensure_packages promtool:prometheus
promtool check rules "$ROOT/monitoring/rules/shop.rules.yaml"
promtool test rules "$ROOT/monitoring/rules/shop.rules.test.yaml"
"$LOCAL/venv/bin/python" -m pytest -q "$ROOT/monitoring/tests/test_dashboards.py"

# The stack-level suites run against the stack (restarted here with the binaries just tested),
# two replicas of every service behind the gateway, as Kubernetes runs them.
# Its services export their spans to the OTLP collector the gateway tests' tracing test runs
# on this address (while nobody listens there, the exporter drops them).
export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:${OTLP_PORT:-4318}" OTEL_BSP_SCHEDULE_DELAY=200
export REPLICAS=2
# The suites below drive single users far past the per-user command limit (the load runs,
# the fuzzer): the stack runs with it lifted. The limit itself is tested in billing's and
# order's own suites.
export COMMAND_LIMIT_PER_MINUTE=$LIFTED_COMMAND_LIMIT COMMAND_LIMIT_BURST=$LIFTED_COMMAND_LIMIT
phase "the stack: two replicas of every service behind the gateway (make up REPLICAS=2)"
WITH_PROMETHEUS=1 "$ROOT/scripts/up.sh"
# An admin for the suites that fill the catalogue (the gateway tests, Newman): registered
# through the gateway, granted with the operator's command (SHOP_ADMIN_LOGIN, _PASSWORD).
new_admin testadmin

# First against the fresh stack: it registers and logs in, which the later suites' many
# attempts leave this address no budget for (the gateway's per-client limits).
phase "the storefront in headless Chromium: the whole journey, axe-core, screenshots in .local/screenshots"
ensure_packages chromium:chromium
GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" node "$ROOT/storefront/tests/journey.mjs"

phase "gateway tests against the running stack"
GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" LOG_DIR="$LOG_DIR" OTLP_COLLECTOR_ADDR="127.0.0.1:${OTLP_PORT:-4318}" \
  cargo test -p e2e --test gateway --test edge_headers -- --ignored

phase "Newman collection through the gateway"
bash "$ROOT/.postman-test.sh"

# After Newman: the fuzzer's many login attempts use up this address's login rate limit.
phase "schemathesis: contract fuzzing through the gateway"
"$ROOT/scripts/schemathesis.sh"

phase "Swagger UI in headless Chromium"
GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" node "$ROOT/api-gateway/tests/swagger-ui.mjs"

phase "benchmark smoke: every scenario runs and answers without errors (timings are not judged here)"
BENCH_SMOKE=1 "$ROOT/scripts/bench.sh"

phase "monitoring: every metric the dashboards and alerts use is exported; Prometheus scrapes all"
SHOP_METRICS_URLS="$(instances | sed 's|^[^:]*:\(.*\)|http://127.0.0.1:\1/metrics|' | paste -sd,)" \
PROMETHEUS_URL="http://127.0.0.1:${PROMETHEUS_PORT:-9091}" \
  "$LOCAL/venv/bin/python" -m pytest -q "$ROOT/monitoring/tests/stack_metrics_test.py"

# Last: the fault suite kills and restarts pieces of the stack (Postgres too). With two
# replicas it stages one replica's crash and a rolling restart; then, with the stack restarted
# with one replica each, the outages of a service's one instance.
phase "fault suite with two replicas: one replica killed, a rolling restart, under load (make faults)"
"$ROOT/scripts/faults.sh"
phase "fault suite with one replica each: crashes, restarts and a slow billing under load (make faults)"
export REPLICAS=1
WITH_PROMETHEUS=1 "$ROOT/scripts/up.sh" >/dev/null
"$ROOT/scripts/faults.sh"

# The images, last: their containers use the host's network (the local Postgres and broker
# listen on loopback) and the services' ports, so the local stack stops first. The services are
# compiled inside the image build, as users build them (about 7 minutes from nothing here; 1.5
# after a source change, the dependencies cached).
phase "the images: built with podman, run as the charts run them, the charts played (make image-check)"
"$ROOT/scripts/down.sh"
"$ROOT/scripts/image-check.sh"
