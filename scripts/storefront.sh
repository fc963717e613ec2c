#!/usr/bin/env bash
# Builds the storefront the gateway serves at / (storefront/README.md): its pinned npm packages
# (storefront/package-lock.json: esbuild, TypeScript) once, then storefront/dist (under a second).
#   storefront.sh            build
#   storefront.sh typecheck  build, and check the types (tsc; make test)
source "$(dirname "$0")/lib.sh"
npm_ci "$ROOT/storefront" "the storefront's build tools"
cd "$ROOT/storefront" || exit 1
say "building the storefront (storefront/dist)"
npm run --silent build >/dev/null
if [ "${1:-}" = typecheck ]; then
  say "type-checking the storefront (tsc --noEmit)"
  npm run --silent typecheck
fi
