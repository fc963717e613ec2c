#!/usr/bin/env bash
# make down: stops exactly what make up started: gateway, services, the local broker, and
# Postgres if make up had to start it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"

stop_gateway
for pidfile in "$RUN_DIR"/*.pid; do
  [ -e "$pidfile" ] || continue
  name="$(basename "$pidfile" .pid)"
  stop_pid "$name" "$pidfile"
done
rm -f "$RUN_DIR/replicas"
if [ -s "$RUN_DIR/postgres.started" ]; then
  say "stopping Postgres (make up started it)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(cat "$RUN_DIR/postgres.started")" main stop || true
  rm -f "$RUN_DIR/postgres.started"
fi
say "stopped"
