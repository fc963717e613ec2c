# Shared settings of the local stack; sourced by the other scripts.
# Every value here is a LOCAL-DEVELOPMENT DEFAULT, not something to reuse in production.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"             # everything make up creates: keys, logs, supervisord, nginx
LOG_DIR="$LOCAL/log"
RUN_DIR="$LOCAL/run"
mkdir -p "$LOG_DIR" "$RUN_DIR"

GATEWAY_PORT="${GATEWAY_PORT:-8080}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-shop}"                 # local development role
PG_PASSWORD="${PG_PASSWORD:-shop}"         # local development password
PG_ADMIN_URL="postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/postgres"
# The newest local cluster, through Debian's pg_ctlcluster: start|stop|restart [mode].
postgres_ctl() {
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -n | tail -1)" main "$1" ${2:+-m "$2"}
}
wait_postgres() {
  wait_for 30 pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || { echo "Postgres did not come up at $PG_HOST:$PG_PORT" >&2; return 1; }
}
# As the postgres superuser over the local socket (peer auth on a stock install).
psql_admin() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- psql -qAtX "$@"
  else sudo -u postgres psql -qAtX "$@"; fi
}
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export CARGO_TARGET_DIR
# The cargo profile the stack's binaries are built with (release: the shop at its best; dev
# builds faster and runs far slower), and the target folder it writes.
BUILD_PROFILE="${BUILD_PROFILE:-release}"
case "$BUILD_PROFILE" in dev) BUILD_DIR=debug ;; *) BUILD_DIR="$BUILD_PROFILE" ;; esac

# name:port of each service
SERVICES=(user:8081 billing:8082 order:8083 notification:8084)

# How many instances of each service run: `make up REPLICAS=2` starts a second one of each on
# its port + 100 (user 8181, billing 8182, ...), all behind the gateway. The scripts that act on
# a running stack (stack.sh, faults, bench) use the count it was started with.
REPLICAS="${REPLICAS:-$(cat "$RUN_DIR/replicas" 2>/dev/null || echo 1)}"
case "$REPLICAS" in [1-9]) ;; *) echo "REPLICAS must be 1 to 9, not '$REPLICAS'" >&2; exit 2 ;; esac
# With replicas, user and order reach billing through this local stand-in for the Kubernetes
# Service in front of billing's pods (a listener of the gateway's nginx, not public).
BILLING_LB_PORT="${BILLING_LB_PORT:-8089}"

service_of() { echo "${1%-[0-9]}"; }
# Every instance as name:port, replica 1 of each first: of every service, or of those named.
# Replica k of a service is named after the service (k = 1) or <service>-k.
instances() { # [service...]
  local k entry name
  for k in $(seq 1 "$REPLICAS"); do
    for entry in "${SERVICES[@]}"; do
      name="${entry%%:*}"
      [ $# -eq 0 ] || [[ " $* " == *" $name "* ]] || continue
      [ "$k" = 1 ] || name+="-$k"
      echo "$name:$(( ${entry#*:} + 100 * (k - 1) ))"
    done
  done
}

# The local broker (tansu) unless KAFKA_BROKERS points at another Kafka.
LOCAL_KAFKA="127.0.0.1:9092"
TANSU_VERSION="0.6.0"
export PATH="$HOME/.cargo/bin:$PATH:/usr/sbin:/sbin"   # tansu (cargo install); nginx, pg tools

# The path prefix of a service's API.
prefix_of() {
  case "$1" in user) echo users ;; order) echo orders ;; notification) echo notifications ;; *) echo "$1" ;; esac
}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# The phases of make check and make test, timed. `phases <title>` starts the record (unless an
# outer run keeps it: make test's table holds the phases of the make check it runs) and prints
# it as a table at exit, pass or fail; `phase <name>` ends the one before and starts the next,
# recorded as "seconds<TAB>outcome<TAB>name" in $PHASE_LOG.
phases() { # title
  [ -z "${PHASE_LOG:-}" ] || return 0
  export PHASE_LOG; PHASE_LOG="$(mktemp)" PHASE_TITLE="$1"
}
phase() { # name
  phase_end ok
  PHASE_NAME="$1" PHASE_START="$SECONDS"
  say "$1"
}
phase_end() { # ok|failed
  [ -n "${PHASE_NAME:-}" ] && printf '%s\t%s\t%s\n' "$((SECONDS - PHASE_START))" "$1" "$PHASE_NAME" >>"$PHASE_LOG"
  PHASE_NAME=""
}
# At exit: the last phase's outcome from the status, and the table of the run that began it.
phases_end() { # status
  phase_end "$([ "$1" = 0 ] && echo ok || echo failed)"
  [ -n "${PHASE_TITLE:-}" ] || return 0
  printf '\n%s\n\n| phase | time | outcome |\n|---|---:|---|\n' "$PHASE_TITLE"
  awk -F '\t' '{ total += $1; printf "| %s | %dm%02ds | %s |\n", $3, $1 / 60, $1 % 60, $2 }
    END { printf "| total | %dm%02ds | |\n", total / 60, total % 60 }' "$PHASE_LOG"
  rm -f "$PHASE_LOG"
}

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs Debian packages that are missing (by the command they provide; __none__: install).
ensure_packages() { # cmd:package ...
  local missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} (apt)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The C libraries the build links: OpenSSL, for librdkafka's TLS and SCRAM login (the
# cluster's Kafka; the local broker needs neither).
ensure_build_deps() {
  pkg-config --exists openssl 2>/dev/null || ensure_packages __none__:pkg-config __none__:libssl-dev
}

# npm ci in a folder when its package-lock.json is newer than what node_modules holds.
npm_ci() { # dir what
  ensure_packages npm:npm
  if [ ! -f "$1/node_modules/.package-lock.json" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    say "installing $2 (npm ci, ${1#"$ROOT"/}/package-lock.json)"
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# Runs a command every 0.1 s until it succeeds, for at most the given seconds.
wait_for() { # seconds command...
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ "$SECONDS" -lt "$deadline" ] || return 1; sleep 0.1; done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Stops with a clear message when something else already listens on a port we need.
require_free_port() { # port what
  if port_open "$1"; then
    echo "port $1 ($2) is already in use by another process; stop it or free the port first" >&2
    exit 1
  fi
}

# A service's database. On loopback without TLS: there it protects nothing and costs CPU on
# both ends (rustls and OpenSSL were a tenth of a balance read in the make bench profile);
# another PG_HOST keeps the client's default (TLS when the server offers it).
db_url() {
  local tls=""
  case "$PG_HOST" in 127.*|localhost|::1) tls="?sslmode=disable" ;; esac
  echo "postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/shop_$1$tls"
}

# Podman, for building and running the images where no Docker engine runs (make images,
# make image-check): Debian's podman with runc and the settings in scripts/images/containers.conf,
# and debootstrap for the base images it builds from (scripts/images/bases.sh).
DEBIAN_BASE_IMAGE="localhost/debian:bookworm-slim"
use_podman() {
  ensure_packages podman:podman runc:runc debootstrap:debootstrap
  export CONTAINERS_CONF="$ROOT/scripts/images/containers.conf"
  # The local stand-in for rust:<this machine's toolchain>-slim-bookworm.
  RUST_BASE_IMAGE="localhost/rust:$(rustc --version | awk '{ split($2, v, "."); print v[1] "." v[2] }')-slim-bookworm"
}
