#!/usr/bin/env bash
# Runs the Postman collection (postman/shop.postman_collection.json) with Newman against the
# shop at BASE_URL (default: the local gateway). Exits non-zero on any failed assertion.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
BASE_URL="${BASE_URL:-http://localhost:${GATEWAY_PORT:-8080}}"
NEWMAN_VERSION="6.2.2"
TOOLS="$ROOT/.local/tools"

if ! command -v npm >/dev/null 2>&1; then
  echo "==> installing npm (apt)"
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi

newman="$TOOLS/node_modules/.bin/newman"
if [ ! -x "$newman" ]; then
  echo "==> installing newman $NEWMAN_VERSION (npm, once) into $TOOLS"
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "newman@$NEWMAN_VERSION" >/dev/null
fi

echo "==> newman against $BASE_URL"
"$newman" run "$ROOT/postman/shop.postman_collection.json" \
  --env-var "baseUrl=$BASE_URL" --bail --color off
