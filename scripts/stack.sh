#!/usr/bin/env bash
# Starts, stops, restarts, kills, pauses or resumes one piece of the running local stack, for
# operators and for make faults:   scripts/stack.sh <action> <piece>
# Pieces: user billing order notification (the services; with REPLICAS, user-2 ... are the
# other replicas), gateway, kafka (the local broker), postgres. stop is graceful (SIGTERM; nginx quits after its requests; Postgres shuts down
# fast), kill is SIGKILL (a crash: no shutdown at all), pause/resume (services and kafka) is
# SIGSTOP/SIGCONT (a process that hangs, then goes on). start of a service uses the binaries of
# the last make up (BUILD_PROFILE).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"

usage() { echo "usage: stack.sh start|stop|restart|kill|pause|resume user|billing|order|notification[-k]|gateway|kafka|postgres" >&2; exit 2; }
[ $# -eq 2 ] || usage
action="$1" piece="$2"

port_of() { # instance name -> its port
  local entry
  for entry in $(instances); do
    [ "${entry%%:*}" = "$1" ] && { echo "${entry#*:}"; return 0; }
  done
  echo "no instance $1 in this stack of $REPLICAS replica(s)" >&2
  return 1
}

postgres_ctl() { # start|stop|restart
  local version; version="$(ls /etc/postgresql | sort -n | tail -1)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main "$1" ${2:+-m "$2"}
}

case "$piece" in
  user|billing|order|notification|user-[2-9]|billing-[2-9]|order-[2-9]|notification-[2-9])
    port="$(port_of "$piece")"
    pidfile="$RUN_DIR/$piece.pid"
    case "$action" in
      start) start_service "$piece" "$port"
             wait_healthy "$piece" "http://127.0.0.1:$port/api/v1/$(prefix_of "$(service_of "$piece")")/health/live" ;;
      stop) stop_pid "$piece" "$pidfile" ;;
      kill) kill_pid "$piece" "$pidfile" ;;
      pause|resume) signal_pid "$piece" "$pidfile" "$action" ;;
      restart) "$0" stop "$piece"; "$0" start "$piece" ;;
      *) usage ;;
    esac ;;
  gateway)
    case "$action" in
      start) start_gateway ;;
      stop) stop_gateway ;;
      # The workers hold the port too: a crash of the whole gateway.
      kill) is_running "$NGINX_DIR/nginx.pid" nginx && pkill -KILL -P "$(cat "$NGINX_DIR/nginx.pid")" || true
            kill_pid gateway "$NGINX_DIR/nginx.pid" nginx ;;
      restart) stop_gateway; start_gateway ;;
      *) usage ;;
    esac ;;
  kafka)
    # The in-memory broker comes back empty, and its clients must not outlive that (librdkafka
    # crashes on the metadata of a topic recreated under it): restart restarts order and
    # notification with it (after stop or kill, restart them yourself). Events it had taken and
    # not yet delivered are lost with it.
    case "$action" in
      start) "$ROOT/scripts/kafka.sh" ;;
      stop) stop_pid kafka "$RUN_DIR/tansu.pid" tansu ;;
      kill) kill_pid kafka "$RUN_DIR/tansu.pid" tansu ;;
      pause|resume) signal_pid kafka "$RUN_DIR/tansu.pid" "$action" tansu ;;
      restart)
        say "the in-memory broker loses its topics, offsets and undelivered events; order and notification restart with it"
        clients=()
        for entry in $(instances); do
          case "$(service_of "${entry%%:*}")" in order|notification) clients+=("${entry%%:*}") ;; esac
        done
        for client in "${clients[@]}"; do "$0" stop "$client"; done
        stop_pid kafka "$RUN_DIR/tansu.pid" tansu
        "$ROOT/scripts/kafka.sh"
        for client in "${clients[@]}"; do "$0" start "$client"; done ;;
      *) usage ;;
    esac ;;
  postgres)
    case "$action" in
      start) postgres_ctl start ;;
      stop) postgres_ctl stop fast ;;
      kill) postgres_ctl stop immediate ;;
      restart) postgres_ctl restart fast ;;
      *) usage ;;
    esac
    if [ "$action" = start ] || [ "$action" = restart ]; then
      for _ in $(seq 1 30); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 0.5; done
      pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || { echo "Postgres did not come up" >&2; exit 1; }
    fi ;;
  *) usage ;;
esac
