#!/usr/bin/env bash
# Runs the Postman collection (postman/shop.postman_collection.json) with Newman against the
# shop at BASE_URL (default: the local gateway). Exits non-zero on any failed assertion.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
BASE_URL="${BASE_URL:-http://localhost:${GATEWAY_PORT:-8080}}"

bash "$ROOT/scripts/tools.sh" js
newman="$ROOT/tools/node_modules/.bin/newman"

echo "==> newman against $BASE_URL"
"$newman" run "$ROOT/postman/shop.postman_collection.json" \
  --env-var "baseUrl=$BASE_URL" --bail --color off
