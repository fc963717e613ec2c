#!/usr/bin/env bash
# make images: builds one image per service from the Dockerfile, tagged with the workspace
# version (the charts' default tag). IMAGE_PREFIX picks the registry (default shop/).
source "$(dirname "$0")/lib.sh"
if ! docker info >/dev/null 2>&1; then
  echo "make images needs a running Docker engine (docker info failed); nothing built." >&2
  exit 1
fi
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
for entry in "${SERVICES[@]}"; do
  name="${entry%%:*}"
  say "building ${IMAGE_PREFIX:-shop/}$name:$version"
  docker build --build-arg SERVICE="$name" -t "${IMAGE_PREFIX:-shop/}$name:$version" "$ROOT"
done
