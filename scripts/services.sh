# Starting and stopping the services and the gateway; sourced by up.sh and down.sh.

# The environment of one service, as VAR=value words.
service_env() { # name port
  local name="$1" port="$2"
  echo "HOST=127.0.0.1 PORT=$port DATABASE_URL=$(db_url "$name")"
  echo "JWT_PUBLIC_KEY_FILE=$LOCAL/keys/jwt-public.pem"
  echo "LOG_FORMAT=${LOG_FORMAT:-pretty} RUST_LOG=${RUST_LOG:-info}"
  # The per-user limit on orders, cancels, deposits and restocks: the services' defaults,
  # unless a load run lifts it (lift_command_limits).
  [ -n "${COMMAND_LIMIT_PER_MINUTE:-}" ] && echo "COMMAND_LIMIT_PER_MINUTE=$COMMAND_LIMIT_PER_MINUTE"
  [ -n "${COMMAND_LIMIT_BURST:-}" ] && echo "COMMAND_LIMIT_BURST=$COMMAND_LIMIT_BURST"
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

# Ends the process of a pid file and waits until it is gone: TERM stops it gracefully (KILL
# after 10 s), KILL crashes it (no shutdown at all).
end_pid() { # TERM|KILL name pidfile [comm]
  local signal="$1" name="$2" pidfile="$3"
  if is_running "$pidfile" "${4:-}"; then
    local pid; pid="$(cat "$pidfile")"
    say "$([ "$signal" = TERM ] && echo stopping || echo killing) $name (pid $pid, SIG$signal)"
    kill "-$signal" "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true   # a paused process acts on TERM only once resumed
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}
stop_pid() { end_pid TERM "$@"; }  # name pidfile [comm]
kill_pid() { end_pid KILL "$@"; }  # name pidfile [comm]

# Load runs (bench, soak, faults) drive many users from one address, and each user far past the
# per-user command limit: they lift the gateway's login and registration limits (a reload) and
# the services' per-user command limit (billing and order restarted with it lifted, unless they
# already run so, as under make test), and restore both at the end.
LIFTED_COMMAND_LIMIT=100000000
lift_load_limits() {
  LOGIN_RATE=1000000r/s REGISTER_RATE=1000000r/s render_gateway_conf
  nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -s reload
  sleep 1   # the old workers hand over
  # Exported in any case: a service the run restarts itself (make faults) keeps it lifted.
  SAVED_COMMAND_LIMITS="${COMMAND_LIMIT_PER_MINUTE:-}:${COMMAND_LIMIT_BURST:-}"
  export COMMAND_LIMIT_PER_MINUTE=$LIFTED_COMMAND_LIMIT COMMAND_LIMIT_BURST=$LIFTED_COMMAND_LIMIT
  if ! command_limits_lifted; then
    say "restarting billing and order with the per-user command limit lifted for the run"
    COMMAND_LIMITS_LIFTED_HERE=1   # before: a failed restart is still restored at exit
    restart_limited_services
  fi
}
restore_load_limits() {
  render_gateway_conf
  nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -s reload 2>/dev/null || start_gateway
  say "gateway login and registration limits restored"
  # Whatever the caller had set before.
  local saved="${SAVED_COMMAND_LIMITS:-:}"
  unset COMMAND_LIMIT_PER_MINUTE COMMAND_LIMIT_BURST
  if [ -n "${saved%%:*}" ]; then export COMMAND_LIMIT_PER_MINUTE="${saved%%:*}"; fi
  if [ -n "${saved#*:}" ]; then export COMMAND_LIMIT_BURST="${saved#*:}"; fi
  if [ -n "${COMMAND_LIMITS_LIFTED_HERE:-}" ]; then
    say "restarting billing and order with their per-user command limit"
    restart_limited_services
  fi
}
# Whether the running billing and order services have the lifted limit in their environment.
command_limits_lifted() {
  local svc pid
  for svc in billing order; do
    pid="$(cat "$RUN_DIR/$svc.pid" 2>/dev/null)" || return 1
    { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null |
      grep -x "COMMAND_LIMIT_PER_MINUTE=$LIFTED_COMMAND_LIMIT" >/dev/null || return 1
  done
}
restart_limited_services() {
  local entry name
  for entry in $(instances); do
    name="${entry%%:*}"
    case "$(service_of "$name")" in
      billing|order)
        start_service "$name" "${entry#*:}"
        wait_healthy "$name" "http://127.0.0.1:${entry#*:}/api/v1/$(prefix_of "$(service_of "$name")")/health" ;;
    esac
  done
}

# SIGSTOP (pause) or SIGCONT (resume) to the process of a pid file.
signal_pid() { # name pidfile pause|resume [comm]
  local name="$1" pidfile="$2"
  is_running "$pidfile" "${4:-}" || { echo "$name is not running" >&2; return 1; }
  case "$3" in
    pause) say "pausing $name (SIGSTOP)"; kill -STOP "$(cat "$pidfile")" ;;
    resume) say "resuming $name (SIGCONT)"; kill -CONT "$(cat "$pidfile")" ;;
  esac
}

start_service() { # instance port
  local name="$1" port="$2" pidfile="$RUN_DIR/$1.pid" service
  service="$(service_of "$1")"
  stop_pid "$name" "$pidfile"
  require_free_port "$port" "$name"
  say "starting $name on 127.0.0.1:$port (log: $LOG_DIR/$name.log)"
  # shellcheck disable=SC2046
  nohup env $(service_env "$service" "$port") "$CARGO_TARGET_DIR/$BUILD_DIR/$service" \
    >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# The gateway's upstream servers of a service: every instance of it. max_fails=0: a replica
# that refused a connection is tried again by the next request (a refused connection costs
# microseconds on loopback and is retried on the other replica), never left out for a while:
# in a rolling restart the one that just came back must take the traffic at once.
upstream_servers() { # service
  local entry servers=""
  for entry in $(instances); do
    [ "$(service_of "${entry%%:*}")" = "$1" ] && servers+="server 127.0.0.1:${entry#*:} max_fails=0; "
  done
  echo "$servers"
}

NGINX_DIR="$LOCAL/nginx"

# Makes sure the stack runs, with `replicas` instances of each service when given (restarting
# it if it runs another number), and sets REPLICAS to what runs.
ensure_stack() { # [replicas]
  local running; running="$(cat "$RUN_DIR/replicas" 2>/dev/null || echo 1)"
  if ! is_running "$RUN_DIR/user.pid" || ! is_running "$NGINX_DIR/nginx.pid" nginx \
     || { [ -n "${1:-}" ] && [ "$1" != "$running" ]; }; then
    REPLICAS="${1:-1}" "$ROOT/scripts/up.sh"
  fi
  REPLICAS="$(cat "$RUN_DIR/replicas")"
}

render_gateway_conf() {
  mkdir -p "$NGINX_DIR/tmp"
  # Started as root, nginx would run its workers as nobody, who cannot read the storefront and
  # Swagger UI in a checkout under a private folder (a home folder of mode 0700, /root): they
  # run as whoever runs make up, as the services do. As any other user nginx cannot switch,
  # and needs no directive.
  local worker_user=""
  [ "$(id -u)" -eq 0 ] && worker_user="user $(id -un) $(id -gn);"
  local v6=""
  grep -q '00000000000000000000000000000001 01' /proc/net/if_inet6 2>/dev/null && v6="listen [::1]:$GATEWAY_PORT;"
  sed -e "s|__LISTEN_V6__|$v6|g" \
      -e "s|__WORKER_USER__|$worker_user|g" \
      -e "s|__GATEWAY_PORT__|$GATEWAY_PORT|g" \
      -e "s|__NGINX_DIR__|$NGINX_DIR|g" \
      -e "s|__LOG_DIR__|$LOG_DIR|g" \
      -e "s|__DOCS_DIR__|$LOCAL/docs|g" \
      -e "s|__STOREFRONT_DIR__|$ROOT/storefront/dist|g" \
      -e "s|__LOGIN_RATE__|${LOGIN_RATE:-10r/m}|g" \
      -e "s|__REGISTER_RATE__|${REGISTER_RATE:-30r/m}|g" \
      -e "s|__BILLING_LB_PORT__|$BILLING_LB_PORT|g" \
      -e "s|__USER_SERVERS__|$(upstream_servers user)|g" \
      -e "s|__BILLING_SERVERS__|$(upstream_servers billing)|g" \
      -e "s|__ORDER_SERVERS__|$(upstream_servers order)|g" \
      -e "s|__NOTIFICATION_SERVERS__|$(upstream_servers notification)|g" \
      "$ROOT/api-gateway/nginx.conf.template" >"$NGINX_DIR/nginx.conf"
  nginx -t -q -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf"
}

start_gateway() {
  render_gateway_conf
  stop_gateway
  require_free_port "$GATEWAY_PORT" gateway
  say "starting the gateway (nginx) on http://localhost:$GATEWAY_PORT (log: $LOG_DIR/gateway-access.log)"
  nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf"
}

stop_gateway() {
  if is_running "$NGINX_DIR/nginx.pid" nginx; then
    say "stopping the gateway"
    nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -s quit 2>/dev/null || kill -TERM "$(cat "$NGINX_DIR/nginx.pid")"
    for _ in $(seq 1 50); do is_running "$NGINX_DIR/nginx.pid" nginx || break; sleep 0.1; done
  fi
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

wait_healthy() { # name url
  local name="$1" url="$2"
  for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "$name did not become healthy at $url; last log lines:" >&2
  tail -n 20 "$LOG_DIR/$name.log" >&2 2>/dev/null || true
  return 1
}
