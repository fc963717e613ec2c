# One image per service: docker build --build-arg SERVICE=user -t shop/user:0.1.0 .
# `make images` builds all four, and shop/web, with Docker where an engine runs, else with
# podman; `make image-check` builds them with podman from local base images and runs them as the
# charts do (scripts/images.sh, scripts/image-check.sh).
#
# The base images are arguments, so the same file builds from a registry's images or from local
# stand-ins (podman: pass every argument explicitly, BINARIES too: buildah resolves a stage named
# by an argument's default only when the argument is given).
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
# Where the four binaries come from: `source` compiles them here; `prebuilt` takes them from
# the build context's root (user, billing, order, notification: a release build of this
# workspace on Debian bookworm's glibc), for a check that has just built them.
ARG BINARIES=source

# --- Dependencies, cached apart from the source: cargo-chef's recipe changes only when a
# --- Cargo.toml or Cargo.lock does.
FROM ${RUST_IMAGE} AS chef
RUN apt-get update && apt-get install -y --no-install-recommends build-essential pkg-config zlib1g-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/* \
    && cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# All four services in one build: each service's image takes its binary from this one stage,
# which the engine's layer cache builds once for the four.
FROM chef AS source
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json -p user -p billing -p order -p notification
COPY . .
RUN cargo build --release --locked -p user -p billing -p order -p notification --bins \
    && mkdir /out && cp target/release/user target/release/billing target/release/order target/release/notification /out/

FROM scratch AS prebuilt
COPY user billing order notification /out/

FROM ${BINARIES} AS binaries

# --- The runtime root: the service, the shared libraries it links (glibc, OpenSSL for
# --- librdkafka's TLS and SCRAM, zlib), Debian's CA bundle, a passwd entry for uid 10001, and
# --- nsswitch.conf (without it glibc asks DNS before /etc/hosts, so a pod's hostAliases and
# --- localhost would depend on the DNS server). Nothing else: no shell, no package manager.
FROM ${DEBIAN_IMAGE} AS rootfs
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/*
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "--build-arg SERVICE=user|billing|order|notification is required" >&2; exit 1; }
COPY --from=binaries /out/${SERVICE} /rootfs/usr/local/bin/service
RUN set -eu; \
    cd /rootfs; \
    for lib in $(ldd usr/local/bin/service | awk '$2 == "=>" { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }'); do \
      cp --parents -L "$lib" .; \
    done; \
    mkdir -p etc/ssl/certs tmp && chmod 1777 tmp; \
    cp /etc/ssl/certs/ca-certificates.crt etc/ssl/certs/; \
    echo 'shop:x:10001:10001:shop:/nonexistent:/usr/sbin/nologin' > etc/passwd; \
    echo 'shop:x:10001:' > etc/group; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' > etc/nsswitch.conf

FROM scratch AS runtime
COPY --from=rootfs /rootfs /
USER 10001:10001
ENV HOST=0.0.0.0 LOG_FORMAT=json SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# The service answers GET <prefix>/health; Kubernetes probes it over HTTP.
ENTRYPOINT ["/usr/local/bin/service"]
