# The shop/docs image: Swagger UI of the merged public OpenAPI document, served at /api/docs/ by
# unprivileged nginx (port 8080, user 101). `make images` builds it with .local/docs as the
# context, which scripts/docs.sh assembles from the swagger-ui-dist npm package (no CDN).
FROM docker.io/nginxinc/nginx-unprivileged:1.30.4-alpine-slim
COPY --chown=101:101 . /usr/share/nginx/html/api/docs/
