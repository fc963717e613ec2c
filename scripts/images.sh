#!/usr/bin/env bash
# make images [REGISTRY=registry.example.org] [TAG=...] [PLATFORM=linux/amd64] [PUSH=1]: builds
# one image per service from the Dockerfile, and shop/web (the storefront and Swagger UI) from
# api-gateway/web.Dockerfile, each tagged <REGISTRY>/shop/<name>:<TAG> (TAG defaults to the
# workspace version, the charts' default tag; without REGISTRY, the local shop/<name>), for
# PLATFORM (the cluster's nodes; another than this machine's needs docker buildx). PUSH=1 pushes
# them to REGISTRY (docker login to it first).
source "$(dirname "$0")/lib.sh"
if ! docker info >/dev/null 2>&1; then
  echo "make images needs a running Docker engine (docker info failed); nothing built." >&2
  exit 1
fi
if [ "${PUSH:-}" = 1 ] && [ -z "${REGISTRY:-}" ]; then
  echo "PUSH=1 needs REGISTRY (e.g. REGISTRY=ghcr.io/your-org): where should the images go?" >&2
  exit 2
fi
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
image() { echo "${REGISTRY:+$REGISTRY/}shop/$1:${TAG:-$version}"; }
platform="${PLATFORM:-linux/amd64}"

built=()
for entry in "${SERVICES[@]}"; do
  name="${entry%%:*}"
  say "building $(image "$name")"
  docker build --platform "$platform" --build-arg SERVICE="$name" -t "$(image "$name")" "$ROOT"
  built+=("$(image "$name")")
done
# shop/web: the storefront at / and Swagger UI at /api/docs/, assembled in .local/web.
"$ROOT/scripts/docs.sh"
"$ROOT/scripts/storefront.sh"
web="$LOCAL/web"
rm -rf "$web" && mkdir -p "$web/html/api"
cp -r "$ROOT/storefront/dist/." "$web/html/"
cp -r "$LOCAL/docs" "$web/html/api/docs"
cp "$ROOT/api-gateway/web.conf" "$web/nginx.conf"
say "building $(image web)"
docker build --platform "$platform" -f "$ROOT/api-gateway/web.Dockerfile" -t "$(image web)" "$web"
built+=("$(image web)")

if [ "${PUSH:-}" = 1 ]; then
  for ref in "${built[@]}"; do
    say "pushing $ref"
    docker push "$ref"
  done
fi
