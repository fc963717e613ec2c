#!/usr/bin/env bash
# Starts, stops, restarts, kills, pauses or resumes one piece of the running local stack, for
# operators and for make faults:   scripts/stack.sh <action> <piece>
# Pieces: user billing order notification (the services; with REPLICAS, user-2 ... are the
# other replicas), gateway, kafka (the local broker), postgres. They run under supervisord
# (scripts/services.sh), except Postgres. stop is graceful (SIGTERM; nginx quits after its
# requests; Postgres shuts down fast), kill is SIGKILL (a crash: no shutdown at all),
# pause/resume (services and kafka) is SIGSTOP/SIGCONT (a process that hangs, then goes on), pid
# prints a piece's process id, status lists every program. start of a service uses the binaries
# of the last make up (BUILD_PROFILE) and the environment of the caller (as make up's).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services.sh"

usage() { echo "usage: stack.sh start|stop|restart|kill|pause|resume|pid user|billing|order|notification[-k]|gateway|kafka|postgres; stack.sh status" >&2; exit 2; }
if [ "${1:-}" = status ]; then ctl status; exit; fi
[ $# -eq 2 ] || usage
action="$1" piece="$2"

# SIGKILL: a crash. Waits until supervisord has seen the process end.
kill_program() { # program
  program_running "$1" || return 0
  say "killing $1 (SIGKILL)"
  ctl_do signal KILL "$1"
  wait_for 5 program_stopped "$1"
}

# The actions every supervised piece shares.
program_action() { # action program
  case "$1" in
    stop) stop_program "$2" ;;
    kill) kill_program "$2" ;;
    pause) say "pausing $2 (SIGSTOP)"; ctl_do signal STOP "$2" ;;
    resume) say "resuming $2 (SIGCONT)"; ctl_do signal CONT "$2" ;;
    pid) ctl pid "$2" ;;
    *) usage ;;
  esac
}

case "$piece" in
  user|billing|order|notification|user-[2-9]|billing-[2-9]|order-[2-9]|notification-[2-9])
    port="$(instances | sed -n "s/^$piece://p")"
    [ -n "$port" ] || { echo "no instance $piece in this stack of $REPLICAS replica(s)" >&2; exit 1; }
    case "$action" in
      start) start_service "$piece" "$port"; wait_instance "$piece" "$port" /live ;;
      restart) "$0" stop "$piece"; "$0" start "$piece" ;;
      *) program_action "$action" "$piece" ;;
    esac ;;
  gateway)
    case "$action" in
      start|restart) [ "$action" = restart ] && stop_program gateway; start_gateway ;;
      # The workers hold the port too: a crash of the whole gateway. They are listed first (the
      # master would start new ones for those killed before it) and killed after it.
      kill) program_running gateway || exit 0
            workers="$(pgrep -P "$(ctl pid gateway)" || true)"
            kill_program gateway
            [ -z "$workers" ] || xargs kill -KILL <<<"$workers" 2>/dev/null || true ;;
      pause|resume) usage ;;
      *) program_action "$action" gateway ;;
    esac ;;
  kafka)
    # The in-memory broker comes back empty, and its clients must not outlive that (librdkafka
    # crashes on the metadata of a topic recreated under it): restart restarts order and
    # notification with it (after stop or kill, restart them yourself). Events it had taken and
    # not yet delivered are lost with it.
    case "$action" in
      start) "$ROOT/scripts/kafka.sh" ;;
      restart)
        say "the in-memory broker loses its topics, offsets and undelivered events; order and notification restart with it"
        mapfile -t clients < <(instances order notification | cut -d: -f1)
        for client in "${clients[@]}"; do "$0" stop "$client"; done
        stop_program tansu
        "$ROOT/scripts/kafka.sh"
        for client in "${clients[@]}"; do "$0" start "$client"; done ;;
      *) program_action "$action" tansu ;;
    esac ;;
  postgres)
    case "$action" in
      start) postgres_ctl start ;;
      stop) postgres_ctl stop fast ;;
      kill) postgres_ctl stop immediate ;;
      restart) postgres_ctl restart fast ;;
      *) usage ;;
    esac
    case "$action" in start|restart) wait_postgres ;; esac ;;
  *) usage ;;
esac
