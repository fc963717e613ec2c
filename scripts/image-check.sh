#!/usr/bin/env bash
# make image-check [BINARIES=source|prebuilt]: builds every image with podman from local base
# images (scripts/images.sh), then runs each as its chart runs it, against this machine's
# Postgres and broker, and plays each service chart with `podman kube play`
# (scripts/images/check.py). Ends with one summary line per image: its size and its checks.
# BINARIES=prebuilt takes the workspace's release build instead of compiling in the image build
# (what make test does: the runtime stages are the same, the compile is the one it just tested).
# The containers use the host's network, so the services' ports and 8080 must be free: make down.
# Rootful podman: the check reads the containers' processes in /proc and gives the Secrets'
# files the pod's group, as the kubelet does.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
if [ "$(id -u)" -ne 0 ]; then
  echo "make image-check runs podman as root (it checks the containers' users and capabilities from the host): run it as root or with sudo" >&2
  exit 1
fi
use_podman

# Containers an interrupted run left behind hold the ports.
podman ps -aq --filter name='^imagecheck-' | xargs -r podman rm -f >/dev/null
for entry in "${SERVICES[@]}" web:8080; do
  require_free_port "${entry#*:}" "the ${entry%%:*} image's port; make down stops the local stack"
done
"$ROOT/scripts/postgres.sh"
"$ROOT/scripts/keys.sh"
# The check's databases are dropped at the end; the local broker, started if it did not run,
# stays up (make down stops it).
databases=(imagecheck_user imagecheck_billing imagecheck_order imagecheck_notification)
cleanup() {
  for db in "${databases[@]}"; do psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true; done
}
trap cleanup EXIT
"$ROOT/scripts/kafka.sh"
"$ROOT/scripts/tools.sh" py

# Fresh databases, the ones the Secrets made up for the check name (imagecheck_<service>).
for db in "${databases[@]}"; do
  psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db OWNER $PG_USER" >/dev/null
done

start=$SECONDS
ENGINE=podman PLATFORM=linux/amd64 REGISTRY="" TAG="" PUSH="" "$ROOT/scripts/images.sh"
say "the images are built ($(( SECONDS - start )) s; binaries: ${BINARIES:-source})"

say "running every image as its chart does"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
IMAGE_TAG="$version" IMAGE_CHECK_PG="postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT" \
  "$LOCAL/venv/bin/python" "$ROOT/scripts/images/check.py"
