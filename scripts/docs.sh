#!/usr/bin/env bash
# Assembles the Swagger UI the gateway serves at /api/docs/: Swagger UI's assets from the npm
# package (no CDN), pointed at the committed api-spec/openapi.yaml. Safe to repeat.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/tools.sh" js

DOCS="$LOCAL/docs"
rm -rf "$DOCS" && mkdir -p "$DOCS"
cp -r "$ROOT/tools/node_modules/swagger-ui-dist/." "$DOCS/"
cp "$ROOT/api-spec/openapi.yaml" "$DOCS/openapi.yaml"
cp "$ROOT/api-gateway/swagger-initializer.js" "$DOCS/swagger-initializer.js"
