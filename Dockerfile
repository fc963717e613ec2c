# One image per service: docker build --build-arg SERVICE=user -t shop/user:0.1.0 .
# (`make images` builds all four where a Docker engine runs.)

# --- Dependencies, cached apart from the source: cargo-chef's recipe changes only when a
# --- Cargo.toml or Cargo.lock does.
FROM rust:1.95-slim-bookworm AS chef
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake pkg-config zlib1g-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/* \
    && cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG SERVICE
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json --package "${SERVICE}"
COPY . .
RUN cargo build --release --locked --package "${SERVICE}" --bin "${SERVICE}" \
    && cp "target/release/${SERVICE}" /service

# --- Runtime: a slim base with no build tools, as an unprivileged user.
FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates zlib1g libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin shop
COPY --from=builder /service /usr/local/bin/service
USER 10001:10001
ENV HOST=0.0.0.0 LOG_FORMAT=json
# The service answers GET <prefix>/health; Kubernetes probes it over HTTP.
ENTRYPOINT ["/usr/local/bin/service"]
