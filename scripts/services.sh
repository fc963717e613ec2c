# The local stack's processes under supervisord (Debian's supervisor package): one program per
# piece, the broker (tansu), each replica of each service, the gateway (nginx) and Prometheus.
# scripts/supervisord.conf declares supervisord; its programs, whose settings change from run to
# run, are written into .local/supervisor/.
# Sourced by the scripts that start, stop or act on the stack; `scripts/stack.sh` is the
# command for one piece.

# The settings of the README's Configuration that the local stack leaves at the services'
# defaults: passed on when the caller sets them (make up, scripts/stack.sh start), as the
# per-user command limit a load run lifts (lift_load_limits) and the OTLP endpoint make test sets.
SERVICE_SETTINGS=(ACCESS_TOKEN_TTL_SECONDS BILLING_TIMEOUT_SECONDS CATALOGUE_CACHE_MS
  COMMAND_LIMIT_BURST COMMAND_LIMIT_PER_MINUTE DATABASE_MAX_CONNECTIONS JWT_AUDIENCE JWT_ISSUER
  KAFKA_CREATE_TOPICS KAFKA_FETCH_WAIT_MS KAFKA_GROUP_ID KAFKA_SASL_MECHANISM KAFKA_SASL_PASSWORD
  KAFKA_SASL_USERNAME KAFKA_SECURITY_PROTOCOL KAFKA_SSL_CA_LOCATION ORDER_EVENTS_TOPIC
  OTEL_BSP_SCHEDULE_DELAY OTEL_EXPORTER_OTLP_ENDPOINT OUTBOX_POLL_MS OUTBOX_RETENTION_SECONDS
  PASSWORD_QUEUE_WAIT_MS REFRESH_TOKEN_TTL_SECONDS REQUEST_TIMEOUT_SECONDS RUN_MIGRATIONS
  RUST_BACKTRACE SESSION_LIFETIME_SECONDS SETTLE_DELAY_MS SETTLE_INTERVAL_MS SHUTDOWN_DRAIN_MS)

# The environment of one service, as VAR=value words.
service_env() { # name port
  local name="$1" port="$2"
  echo "HOST=127.0.0.1 PORT=$port DATABASE_URL=$(db_url "$name")"
  echo "JWT_PUBLIC_KEY_FILE=$LOCAL/keys/jwt-public.pem"
  echo "LOG_FORMAT=${LOG_FORMAT:-pretty} RUST_LOG=${RUST_LOG:-info}"
  local setting
  for setting in "${SERVICE_SETTINGS[@]}"; do
    if [ -n "${!setting:-}" ]; then echo "$setting=${!setting}"; fi
  done
  case "$name" in
    user) echo "JWT_PRIVATE_KEY_FILE=$LOCAL/keys/jwt-private.pem BILLING_URL=$(billing_url)"
          echo "SERVICE_TOKEN=$(cat "$LOCAL/keys/service-token-user")" ;;
    billing) echo "USER_SERVICE_TOKEN=$(cat "$LOCAL/keys/service-token-user")"
             echo "ORDER_SERVICE_TOKEN=$(cat "$LOCAL/keys/service-token-order")" ;;
    # ORDER_BILLING_URL: make faults puts a fault-injecting proxy between order and billing.
    order) echo "BILLING_URL=${ORDER_BILLING_URL:-$(billing_url)} KAFKA_BROKERS=${KAFKA_BROKERS:-$LOCAL_KAFKA}"
           echo "SERVICE_TOKEN=$(cat "$LOCAL/keys/service-token-order")" ;;
    notification) echo "KAFKA_BROKERS=${KAFKA_BROKERS:-$LOCAL_KAFKA}" ;;
  esac
}

# Where user and order call billing: its one instance, or all of them through the gateway's
# internal listener (which retries on the other replica only what is safe, as the gateway does).
billing_url() {
  if [ "$REPLICAS" -gt 1 ]; then echo "http://127.0.0.1:$BILLING_LB_PORT"; else echo "http://127.0.0.1:8082"; fi
}

# Load runs (bench, soak, faults) drive many users from one address, and each user far past the
# per-user command limit: they lift the gateway's login and registration limits (a reload) and
# the services' per-user command limit (billing and order restarted with it lifted, unless they
# already run so, as under make test), and restore both at the end.
LIFTED_COMMAND_LIMIT=100000000
lift_load_limits() {
  LOGIN_RATE=1000000r/s REGISTER_RATE=1000000r/s render_gateway_conf
  reload_gateway
  # Exported in any case: a service the run restarts itself (make faults) keeps it lifted.
  SAVED_COMMAND_LIMITS="${COMMAND_LIMIT_PER_MINUTE:-}:${COMMAND_LIMIT_BURST:-}"
  export COMMAND_LIMIT_PER_MINUTE=$LIFTED_COMMAND_LIMIT COMMAND_LIMIT_BURST=$LIFTED_COMMAND_LIMIT
  apply_command_limits
}
restore_load_limits() {
  render_gateway_conf
  if program_running gateway; then reload_gateway; else start_gateway; fi
  say "gateway login and registration limits restored"
  # Whatever the caller had set before.
  local saved="${SAVED_COMMAND_LIMITS:-:}"
  unset COMMAND_LIMIT_PER_MINUTE COMMAND_LIMIT_BURST
  if [ -n "${saved%%:*}" ]; then export COMMAND_LIMIT_PER_MINUTE="${saved%%:*}"; fi
  if [ -n "${saved#*:}" ]; then export COMMAND_LIMIT_BURST="${saved#*:}"; fi
  apply_command_limits
}
# Billing and order with the command limit of this environment: supervisord restarts the
# instances whose settings it changes, and leaves the others running.
apply_command_limits() {
  local entry name
  for entry in $(instances billing order); do
    name="${entry%%:*}"
    apply_supervisor_conf "$name"
    program_running "$name" && continue
    say "restarting $name with the per-user command limit ${COMMAND_LIMIT_PER_MINUTE:-(its default)}"
    ctl_do start "$name"
    wait_instance "$name" "${entry#*:}"
  done
}

NGINX_DIR="$LOCAL/nginx"

# Makes sure the stack runs, with `replicas` instances of each service when given (restarting
# it if it runs another number), and sets REPLICAS to what runs.
ensure_stack() { # [replicas]
  local running; running="$(cat "$RUN_DIR/replicas" 2>/dev/null || echo 1)"
  if ! stack_running || { [ -n "${1:-}" ] && [ "$1" != "$running" ]; }; then
    REPLICAS="${1:-1}" "$ROOT/scripts/up.sh"
  fi
  REPLICAS="$(cat "$RUN_DIR/replicas")"
}

# nginx runs with .local/nginx as its prefix: the template's relative paths are under it.
render_gateway_conf() {
  mkdir -p "$NGINX_DIR/tmp"
  # Started as root, nginx would run its workers as nobody, who cannot read the storefront and
  # Swagger UI in a checkout under a private folder (a home folder of mode 0700, /root): they
  # run as whoever runs make up, as the services do. As any other user nginx cannot switch,
  # and needs no directive.
  local worker_user="" v6="" svc
  [ "$(id -u)" -eq 0 ] && worker_user="user $(id -un) $(id -gn);"
  grep -q '00000000000000000000000000000001 01' /proc/net/if_inet6 2>/dev/null && v6="listen [::1]:$GATEWAY_PORT;"
  # The upstream servers of each service: every instance of it. max_fails=0: a replica that
  # refused a connection is tried again by the next request (a refused connection costs
  # microseconds on loopback and is retried on the other replica), never left out for a while:
  # in a rolling restart the one that just came back must take the traffic at once.
  for svc in user billing order notification; do
    instances "$svc" | sed 's/^.*:\(.*\)$/server 127.0.0.1:\1 max_fails=0;/' >"$NGINX_DIR/$svc-servers.conf"
  done
  sed -e "s|__LISTEN_V6__|$v6|g" -e "s|__WORKER_USER__|$worker_user|g" \
      -e "s|__GATEWAY_PORT__|$GATEWAY_PORT|g" -e "s|__BILLING_LB_PORT__|$BILLING_LB_PORT|g" \
      -e "s|__LOGIN_RATE__|${LOGIN_RATE:-10r/m}|g" -e "s|__REGISTER_RATE__|${REGISTER_RATE:-30r/m}|g" \
      "$ROOT/api-gateway/nginx.conf.template" >"$NGINX_DIR/nginx.conf"
  nginx -t -q -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf"
}

start_gateway() {
  render_gateway_conf
  if program_running gateway; then reload_gateway; return; fi
  require_free_port "$GATEWAY_PORT" gateway
  say "starting the gateway (nginx) on http://localhost:$GATEWAY_PORT (log: $LOG_DIR/gateway-access.log)"
  apply_supervisor_conf gateway
  ctl_do start gateway
}

# New configuration, new workers; the old ones finish their requests.
reload_gateway() {
  ctl_do signal HUP gateway
  sleep 1   # the old workers hand over
}

# Registers a new user through the gateway and gives it the admin role with the operator's
# command, for a suite that fills the catalogue (bench, faults, the stack tests); exports
# SHOP_ADMIN_LOGIN and SHOP_ADMIN_PASSWORD. A throwaway local account, never reused.
new_admin() { # login-prefix
  SHOP_ADMIN_LOGIN="$1$(date +%s)$RANDOM"
  SHOP_ADMIN_PASSWORD="$(openssl rand -hex 16)"
  curl -fsS -o /dev/null -X POST "http://127.0.0.1:$GATEWAY_PORT/api/v1/users/register" \
    -H 'Content-Type: application/json' \
    -d "{\"login\":\"$SHOP_ADMIN_LOGIN\",\"password\":\"$SHOP_ADMIN_PASSWORD\"}"
  bash "$ROOT/scripts/admin.sh" grant "$SHOP_ADMIN_LOGIN" >/dev/null
  export SHOP_ADMIN_LOGIN SHOP_ADMIN_PASSWORD
}

# A service instance's readiness (or /live: the process serves, whatever its dependencies do).
wait_instance() { # name port [/live]
  wait_healthy "$1" "http://127.0.0.1:$2/api/v1/$(prefix_of "$(service_of "$1")")/health${3:-}"
}
wait_healthy() { # name url
  wait_for 30 curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
  echo "$1 did not become healthy at $2; last log lines:" >&2
  tail -n 20 "$LOG_DIR/$1.log" >&2 2>/dev/null || true
  return 1
}

# supervisord with scripts/supervisord.conf, and the services' instances as its programs, in
# .local/supervisor/programs.conf: their settings come from the environment of each run.
SUPERVISOR_CONF="$ROOT/scripts/supervisord.conf"
ctl() { supervisorctl -c "$SUPERVISOR_CONF" "$@"; }

# Every program: the local broker (in memory; scripts/kafka.sh makes its topics), the services'
# instances (their environment as supervisord's KEY="value",... with '%' doubled), the gateway
# (its configuration rendered by render_gateway_conf) and Prometheus on this run's port. Each
# starts only when asked and is never restarted behind the operator's back (a crash stays a
# crash, as make faults stages it); its output goes to .local/log/<program>.log.
render_supervisor_conf() {
  mkdir -p "$LOCAL/supervisor"
  "$ROOT/scripts/keys.sh"   # the services' credentials, in their environment
  local entry name word env
  (
    umask 077   # the services' credentials
    program_conf tansu 10 "tansu broker --listener-url tcp://$LOCAL_KAFKA --advertised-listener-url tcp://$LOCAL_KAFKA --storage-engine memory://tansu/"
    for entry in $(instances); do
      name="${entry%%:*}" env=()
      # shellcheck disable=SC2046
      for word in $(service_env "$(service_of "$name")" "${entry#*:}"); do env+=("${word%%=*}=\"${word#*=}\""); done
      program_conf "$name" 20 "$CARGO_TARGET_DIR/$BUILD_DIR/$(service_of "$name")"
      echo "environment=$(IFS=,; echo "${env[*]//%/%%}")"
    done
    program_conf gateway 30 "nginx -p $NGINX_DIR -c $NGINX_DIR/nginx.conf -g \"daemon off;\""
    echo "stopsignal=QUIT"   # nginx finishes its requests
    program_conf prometheus 40 "prometheus --config.file=$LOCAL/prometheus/prometheus.yml --storage.tsdb.path=$LOCAL/prometheus/data --web.listen-address=127.0.0.1:${PROMETHEUS_PORT:-9091}"
  ) >"$LOCAL/supervisor/programs.conf.new"
  mv "$LOCAL/supervisor/programs.conf.new" "$LOCAL/supervisor/programs.conf"
}
program_conf() { # name priority command
  printf '\n[program:%s]\ncommand=%s\npriority=%s\nautostart=false\nautorestart=false\nstartsecs=0\n' "$1" "$3" "$2"
  printf 'redirect_stderr=true\nstdout_logfile=%s\n' "$LOG_DIR/$1.log"
}

# supervisorctl for an action: quiet when it works, its answer on stderr when not (a program
# that cannot be spawned, an unknown name).
ctl_do() {
  local out
  if ! out="$(ctl "$@" 2>&1)"; then echo "supervisorctl $*: $out" >&2; return 1; fi
}

supervisor_running() { [ -S "$RUN_DIR/supervisor.sock" ] && ctl pid >/dev/null 2>&1; }

# Starts supervisord, or brings it to this run's configuration: programs whose configuration
# changed are stopped, those no longer configured (replicas beyond REPLICAS) removed; none is
# started here. Only the named programs when given. supervisord starts with a bare environment:
# its programs get what their sections say, nothing of the shell that started it.
apply_supervisor_conf() { # [program...]
  if ! command -v supervisord >/dev/null 2>&1; then
    ensure_packages supervisord:supervisor
    # Debian's package also starts a system-wide supervisord where systemd runs: not needed.
    as_root systemctl disable --now supervisor >/dev/null 2>&1 || true
  fi
  render_supervisor_conf
  if supervisor_running; then
    ctl_do update "$@"
  else
    env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8 supervisord -c "$SUPERVISOR_CONF"
    wait_for 5 supervisor_running || { echo "supervisord did not start; see $LOG_DIR/supervisord.log" >&2; return 1; }
  fi
}

program_running() { # name
  [ -S "$RUN_DIR/supervisor.sock" ] && [[ "$(ctl status "$1" 2>/dev/null)" == *" RUNNING "* ]]
}
program_stopped() { ! program_running "$1"; }
stack_running() { program_running user && program_running gateway; }

# Stops a program gracefully (TERM, KILL after 10 s); a paused one is resumed first, as it
# acts on TERM only then.
stop_program() { # name
  program_running "$1" || return 0
  say "stopping $1"
  ctl signal CONT "$1" >/dev/null 2>&1 || true
  ctl_do stop "$1"
}

# (Re)starts a service instance with this run's settings.
start_service() { # instance port
  stop_program "$1"
  require_free_port "$2" "$1"
  say "starting $1 on 127.0.0.1:$2 (log: $LOG_DIR/$1.log)"
  apply_supervisor_conf "$1"
  ctl_do start "$1"
}
