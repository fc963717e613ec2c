#!/usr/bin/env bash
# Runs the Postman collection (postman/shop.postman_collection.json) with Newman against the
# shop at BASE_URL (default: the local gateway). Exits non-zero on any failed assertion.
# The catalogue steps need an admin's account: SHOP_ADMIN_LOGIN and SHOP_ADMIN_PASSWORD. Without
# them, against the local stack, it makes one (registers a user and grants it the admin role
# with `make admin`, the operator's command); against another shop, give them.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
BASE_URL="${BASE_URL:-http://localhost:${GATEWAY_PORT:-8080}}"

bash "$ROOT/scripts/tools.sh" js
newman="$ROOT/tools/node_modules/.bin/newman"

if [ -z "${SHOP_ADMIN_LOGIN:-}" ]; then
  case "$BASE_URL" in
    http://localhost:*|http://127.0.0.1:*)
      # shellcheck source=scripts/lib.sh disable=SC1091
      source "$ROOT/scripts/lib.sh"
      # shellcheck source=scripts/services.sh disable=SC1091
      source "$ROOT/scripts/services.sh"
      echo "==> an admin for the catalogue steps (registered and granted on the local stack)"
      new_admin qaadmin ;;
    *) echo "SHOP_ADMIN_LOGIN and SHOP_ADMIN_PASSWORD: an admin's account of $BASE_URL" >&2; exit 2 ;;
  esac
fi

echo "==> newman against $BASE_URL"
"$newman" run "$ROOT/postman/shop.postman_collection.json" \
  --env-var "baseUrl=$BASE_URL" \
  --env-var "adminLogin=$SHOP_ADMIN_LOGIN" --env-var "adminPassword=$SHOP_ADMIN_PASSWORD" \
  --bail --color off
