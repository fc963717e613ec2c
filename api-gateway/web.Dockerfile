# The shop/web image: the shop's static files on unprivileged nginx (port 8080, user 101), as
# the local gateway serves them: the storefront at / (storefront/dist: index.html revalidated
# at every load, the hashed /assets/ cached for a year) and Swagger UI of the merged public
# OpenAPI document at /api/docs/. `make images` builds it with .local/web as the context, which
# scripts/web.sh assembles from npm packages (no CDN).
FROM docker.io/nginxinc/nginx-unprivileged:1.30.4-alpine-slim
COPY --chown=101:101 nginx.conf /etc/nginx/conf.d/default.conf
COPY --chown=101:101 html/ /usr/share/nginx/html/
