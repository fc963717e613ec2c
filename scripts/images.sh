#!/usr/bin/env bash
# make images [REGISTRY=registry.example.org] [TAG=...] [PLATFORM=linux/amd64] [PUSH=1]
#             [BINARIES=source|prebuilt]
# Builds one image per service from the Dockerfile, and shop/web (the storefront and Swagger UI)
# from api-gateway/web.Dockerfile, each tagged <REGISTRY>/shop/<name>:<TAG> (TAG defaults to the
# workspace version, the charts' default tag; without REGISTRY, the local shop/<name>).
#
# With a running Docker engine, docker builds them from the registry's base images. Without one,
# podman does (installed from Debian's packages if missing), from base images made on this
# machine (scripts/images/bases.sh: debootstrap, no registry needed). The files are the same;
# only the base images' source differs.
#
# BINARIES=source (the default) compiles the services inside the build; BINARIES=prebuilt takes
# this workspace's release build (built here first if missing), which takes seconds instead of a
# container compile: the runtime stages are the same.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
if [ "${PUSH:-}" = 1 ] && [ -z "${REGISTRY:-}" ]; then
  echo "PUSH=1 needs REGISTRY (e.g. REGISTRY=ghcr.io/your-org): where should the images go?" >&2
  exit 2
fi
binaries="${BINARIES:-source}"
case "$binaries" in source|prebuilt) ;; *) echo "BINARIES is source or prebuilt, not '$binaries'" >&2; exit 2 ;; esac
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
image() { echo "${REGISTRY:+$REGISTRY/}shop/$1:${TAG:-$version}"; }
platform="${PLATFORM:-linux/amd64}"

build_args=(--platform "$platform" --build-arg BINARIES="$binaries")
# ENGINE=podman (make image-check) chooses podman whatever else runs.
engine="${ENGINE:-$(docker info >/dev/null 2>&1 && echo docker || echo podman)}"
if [ "$engine" = podman ]; then
  use_podman
  "$ROOT/scripts/images/bases.sh" "$binaries"
  # --network host: the build's apt and cargo reach the package registries as this machine does.
  build_args+=(--network host --build-arg DEBIAN_IMAGE="$DEBIAN_BASE_IMAGE" --build-arg RUST_IMAGE="$RUST_BASE_IMAGE")
fi

context="$ROOT"
if [ "$binaries" = prebuilt ]; then
  say "the release build of the four services (cargo build --release)"
  cargo build --quiet --release --locked -p user -p billing -p order -p notification --bins
  context="$LOCAL/image-binaries"
  rm -rf "$context" && mkdir -p "$context"
  for entry in "${SERVICES[@]}"; do cp "$CARGO_TARGET_DIR/release/${entry%%:*}" "$context/"; done
fi

built=()
build() { # name dockerfile context [build option...]
  local ref start=$SECONDS; ref="$(image "$1")"
  say "building $ref ($engine)"
  "$engine" build "${build_args[@]}" "${@:4}" -f "$2" -t "$ref" "$3"
  echo "built $ref in $(( SECONDS - start )) s"
  built+=("$ref")
}
for entry in "${SERVICES[@]}"; do
  build "${entry%%:*}" "$ROOT/Dockerfile" "$context" --build-arg SERVICE="${entry%%:*}"
done

# shop/web: the storefront at / and Swagger UI at /api/docs/, assembled in .local/web.
"$ROOT/scripts/docs.sh"
"$ROOT/scripts/storefront.sh"
web="$LOCAL/web"
rm -rf "$web" && mkdir -p "$web/html/api"
cp -r "$ROOT/storefront/dist/." "$web/html/"
cp -r "$LOCAL/docs" "$web/html/api/docs"
cp "$ROOT/api-gateway/web.conf" "$web/nginx.conf"
cp "$ROOT/api-gateway/web-main.conf" "$web/nginx-main.conf"
build web "$ROOT/api-gateway/web.Dockerfile" "$web"

if [ "${PUSH:-}" = 1 ]; then
  for ref in "${built[@]}"; do
    say "pushing $ref"
    "$engine" push "$ref"
  done
fi
