#!/usr/bin/env bash
# make down: stops exactly what make up started: supervisord and its programs (gateway,
# services, the local broker, Prometheus), and Postgres if make up had to start it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"

if supervisor_running; then
  say "stopping the local stack (supervisord and its programs)"
  ctl signal CONT all >/dev/null 2>&1 || true   # a paused program acts on TERM only once resumed
  ctl shutdown >/dev/null
  for _ in $(seq 1 300); do [ -S "$RUN_DIR/supervisor.sock" ] || break; sleep 0.1; done
fi
rm -f "$RUN_DIR/replicas"
if [ -s "$RUN_DIR/postgres.started" ]; then
  say "stopping Postgres (make up started it)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(cat "$RUN_DIR/postgres.started")" main stop || true
  rm -f "$RUN_DIR/postgres.started"
fi
say "stopped"
