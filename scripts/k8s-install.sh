#!/usr/bin/env bash
# Installs the whole shop into one Kubernetes namespace, in order: namespace, Kafka, one Postgres
# per service, the secrets, the four services, the ingress. Needs kubectl and helm (v3.13+ or 4)
# pointed at the cluster, the images pushed where the charts' image.repository says (make images),
# and ingress-nginx plus kube-prometheus-stack (monitoring/k8s-prometheus.yaml) installed.
# Safe to run again: existing secrets are kept, releases are upgraded.
#
#   scripts/k8s-install.sh [namespace]              (default: shop)
#   PROFILE=production scripts/k8s-install.sh shop  (adds charts/values-production.yaml)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NS="${1:-shop}"
SERVICES=(user billing order notification)
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
random() { openssl rand -hex 24; }
secret_exists() { kubectl -n "$NS" get secret "$1" >/dev/null 2>&1; }

say "1. namespace $NS"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -

say "2. Kafka (Bitnami chart, topics provisioned by kafka/config.yaml)"
helm upgrade --install kafka oci://registry-1.docker.io/bitnamicharts/kafka \
  --namespace "$NS" -f "$ROOT/kafka/config.yaml" --wait

say "3. one Postgres per service (Bitnami chart, <service>/database/postgres/config.yaml)"
for svc in "${SERVICES[@]}"; do
  if ! secret_exists "shop-$svc-postgres"; then
    kubectl -n "$NS" create secret generic "shop-$svc-postgres" \
      --from-literal=postgres-password="$(random)" --from-literal=password="$(random)"
  fi
  helm upgrade --install "$svc-postgres" oci://registry-1.docker.io/bitnamicharts/postgresql \
    --namespace "$NS" -f "$ROOT/$svc/database/postgres/config.yaml" --wait
done

say "4. the services' secrets (JWT key pair, service credential, database URLs), where missing"
keys="$(mktemp -d)"; trap 'rm -rf "$keys"' EXIT
if secret_exists shop-user; then
  # Reuse what the user service already signs with, so every service trusts the same key.
  kubectl -n "$NS" get secret shop-user -o jsonpath='{.data.JWT_PRIVATE_KEY}' | base64 -d >"$keys/private.pem"
  kubectl -n "$NS" get secret shop-user -o jsonpath='{.data.JWT_PUBLIC_KEY}' | base64 -d >"$keys/public.pem"
  kubectl -n "$NS" get secret shop-user -o jsonpath='{.data.SERVICE_TOKEN}' | base64 -d >"$keys/token"
else
  openssl genpkey -algorithm ed25519 -out "$keys/private.pem"
  openssl pkey -in "$keys/private.pem" -pubout -out "$keys/public.pem"
  openssl rand -hex 32 >"$keys/token"
fi
for svc in "${SERVICES[@]}"; do
  secret_exists "shop-$svc" && continue
  pw="$(kubectl -n "$NS" get secret "shop-$svc-postgres" -o jsonpath='{.data.password}' | base64 -d)"
  args=(--from-literal=DATABASE_URL="postgres://shop_$svc:$pw@$svc-postgres-postgresql:5432/shop_$svc"
        --from-file=JWT_PUBLIC_KEY="$keys/public.pem" --from-file=SERVICE_TOKEN="$keys/token")
  [ "$svc" = user ] && args+=(--from-file=JWT_PRIVATE_KEY="$keys/private.pem")
  kubectl -n "$NS" create secret generic "shop-$svc" "${args[@]}"
done

say "5. the services (charts next to each service; migrations run in a pre-install Job)"
for svc in "${SERVICES[@]}"; do
  helm dependency build "$ROOT/$svc/chart"
  profile=()
  [ "${PROFILE:-}" = production ] && profile=(-f "$ROOT/charts/values-production.yaml")
  helm upgrade --install "$svc" "$ROOT/$svc/chart" --namespace "$NS" --wait "${profile[@]}"
done

say "6. the ingress (ingress-nginx)"
kubectl -n "$NS" apply -f "$ROOT/api-gateway/ingress.yaml"

say "7. monitoring: dashboards for Grafana's sidecar and the alert rules (kube-prometheus-stack)"
for board in "$ROOT"/monitoring/dashboards/*.json; do
  name="$(basename "$board" .json)"
  kubectl -n "$NS" create configmap "dashboard-$name" --from-file="$name.json=$board" \
    --dry-run=client -o yaml | kubectl label --local -f - grafana_dashboard=1 -o yaml \
    | kubectl annotate --local -f - grafana_folder=Shop -o yaml | kubectl apply -f -
done
{
  printf 'apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n'
  printf '  name: shop-alerts\n  labels:\n    release: kube-prometheus-stack\nspec:\n'
  grep -v '^#' "$ROOT/monitoring/rules/shop.rules.yaml" | sed 's/^/  /'
} | kubectl -n "$NS" apply -f -

say "done: kubectl -n $NS get pods,ingress"
