#!/usr/bin/env bash
# make down: stops exactly what make up started: supervisord and its programs (gateway,
# services, the local broker, Prometheus), and Postgres if make up had to start it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"

if supervisor_running; then
  say "stopping the local stack (supervisord and its programs)"
  ctl signal CONT all >/dev/null 2>&1 || true   # a paused program acts on TERM only once resumed
  ctl shutdown >/dev/null
  # It stops its programs one by one (each at most 10 s before SIGKILL), then itself.
  wait_for 120 test ! -S "$RUN_DIR/supervisor.sock" || { echo "supervisord is still stopping; see $LOG_DIR/supervisord.log" >&2; exit 1; }
fi
rm -f "$RUN_DIR/replicas"
if [ -f "$RUN_DIR/postgres.started" ]; then
  say "stopping Postgres (make up started it)"
  postgres_ctl stop || true
  rm -f "$RUN_DIR/postgres.started"
fi
say "stopped"
