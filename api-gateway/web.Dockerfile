# The shop/web image: the shop's static files on unprivileged nginx (port 8080, uid 101, a
# read-only root with /tmp the only writable path), as the local gateway serves them: the
# storefront at / (storefront/dist: index.html revalidated at every load, the hashed /assets/
# cached for a year) and Swagger UI of the merged public OpenAPI document at /api/docs/.
# `make images` builds it with .local/web as the context, which scripts/images.sh assembles from
# npm packages (no CDN). The base is an argument, as in the services' Dockerfile.
ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim

# --- The runtime root: Debian's nginx binary, the libraries it links, mime.types, the
# --- configuration, the files, passwd and nsswitch.conf. No shell, no package manager.
FROM ${DEBIAN_IMAGE} AS rootfs
RUN apt-get update && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*
RUN set -eu; \
    mkdir /rootfs && cd /rootfs; \
    cp --parents /usr/sbin/nginx .; \
    for lib in $(ldd usr/sbin/nginx | awk '$2 == "=>" { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }'); do \
      cp --parents -L "$lib" .; \
    done; \
    mkdir -p etc/nginx/conf.d tmp && chmod 1777 tmp; \
    cp /etc/nginx/mime.types etc/nginx/; \
    echo 'nginx:x:101:101:nginx:/nonexistent:/usr/sbin/nologin' > etc/passwd; \
    echo 'nginx:x:101:' > etc/group; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' > etc/nsswitch.conf
COPY nginx-main.conf /rootfs/etc/nginx/nginx.conf
COPY nginx.conf /rootfs/etc/nginx/conf.d/default.conf
COPY html/ /rootfs/usr/share/nginx/html/

FROM scratch AS runtime
COPY --from=rootfs /rootfs /
USER 101:101
EXPOSE 8080
# nginx finishes the requests in flight on SIGQUIT (SIGTERM would drop them).
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/usr/sbin/nginx", "-e", "stderr", "-g", "daemon off;"]
