#!/usr/bin/env bash
# make deploy / scripts/k8s-install.sh: installs the whole shop into a Kubernetes cluster, in
# order, waiting for each step: checks the prerequisites, pushes the images, then Kafka
# (Strimzi), one Postgres per service (CloudNativePG), the services' secrets, the NGINX Ingress
# Controller, the four services, the edge (routes, TLS, limits, Swagger UI), the namespace's
# default-deny network baseline and the monitoring objects; prints where the shop is. Safe to run
# again: secrets are kept (the old shared service credential is replaced), the rest is upgraded.
#
#   scripts/k8s-install.sh --registry ghcr.io/acme --host shop.acme.org --tls-issuer letsencrypt
#   scripts/k8s-install.sh --registry ghcr.io/acme --host shop.acme.org --tls-secret shop-tls
#
# Options: --namespace NAME (default shop), --production (charts/values-production.yaml),
#          --tag TAG (default <version>-<commit>, -dirty with uncommitted changes: a new tag
#          per build, so a re-deploy rolls the pods), --platform (default linux/amd64),
#          --no-push (the images of --tag are already in the registry), --skip-controller (an
#          NGINX Ingress Controller 5.x with VirtualServer support is already installed).
# Needs kubectl and helm (3.13+ or 4) pointed at the cluster, docker (with buildx for another
# platform) logged in to the registry, npm, and openssl. Runs on bash 3.2 (macOS) and later.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SERVICES="user billing order notification"
STRIMZI_VERSION=1.0.1
CNPG_VERSION=1.29.2
CONTROLLER_CHART_VERSION=2.6.4 # the F5 NGINX Ingress Controller 5.5.4
CONTROLLER_NAMESPACE=nginx-ingress
MIN_KUBERNETES_MINOR=30 # preStop.sleep in the service charts

NS=shop
REGISTRY=""
HOST=""
TLS_ISSUER=""
TLS_SECRET=""
PRODUCTION=""
TAG=""
PLATFORM=linux/amd64
PUSH=1
CONTROLLER=1

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() {
  printf 'k8s-install: %s\n' "$*" >&2
  exit 1
}
usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --registry) REGISTRY="${2:-}"; shift 2 ;;
    --host) HOST="${2:-}"; shift 2 ;;
    --tls-issuer) TLS_ISSUER="${2:-}"; shift 2 ;;
    --tls-secret) TLS_SECRET="${2:-}"; shift 2 ;;
    --namespace) NS="${2:-}"; shift 2 ;;
    --production) PRODUCTION=1; shift ;;
    --tag) TAG="${2:-}"; shift 2 ;;
    --platform) PLATFORM="${2:-}"; shift 2 ;;
    --no-push) PUSH=""; shift ;;
    --skip-controller) CONTROLLER=""; shift ;;
    -h | --help) usage ;;
    *) printf 'k8s-install: unknown option %s\n' "$1" >&2; usage ;;
  esac
done
[ -n "$REGISTRY" ] || { echo "k8s-install: --registry is required (where the images go and are pulled from)" >&2; usage; }
[ -n "$HOST" ] || { echo "k8s-install: --host is required (the shop's public host name)" >&2; usage; }
if [ -n "$TLS_ISSUER" ] && [ -n "$TLS_SECRET" ]; then
  fail "give --tls-issuer (cert-manager issues the certificate) or --tls-secret (a Secret you made), not both"
fi
[ -n "$TLS_ISSUER$TLS_SECRET" ] || fail "TLS: give --tls-issuer <ClusterIssuer> or --tls-secret <Secret in namespace $NS>"
if [ -z "$TAG" ]; then
  TAG="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
  if commit="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null)"; then
    TAG="$TAG-$commit"
    [ -z "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ] || TAG="$TAG-dirty"
  fi
fi

# --- 1. Prerequisites: checked before anything is changed.
say "1. prerequisites"
for tool in kubectl helm openssl; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done
if [ -n "$PUSH" ]; then
  command -v docker >/dev/null 2>&1 || fail "docker is needed to build and push the images (or --no-push)"
  command -v npm >/dev/null 2>&1 || fail "npm is needed to build the storefront and assemble Swagger UI for the web image (or --no-push)"
fi
minor="$(kubectl get --raw /version | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p')"
[ -n "$minor" ] || fail "cannot read the cluster's version (kubectl get --raw /version)"
if [ "$minor" -lt "$MIN_KUBERNETES_MINOR" ]; then
  fail "Kubernetes 1.$minor: the charts need 1.$MIN_KUBERNETES_MINOR or later (preStop sleep)"
fi

missing=""
need() { # what is missing, and how to install it
  missing="$missing
  - $*"
}
need_crd() { # crd version install-hint
  local served
  served="$(kubectl get crd "$1" -o jsonpath='{.spec.versions[*].name}' 2>/dev/null || true)"
  case " $served " in
    *" $2 "*) ;;
    *) need "$1 ($2): $3" ;;
  esac
}
strimzi="helm install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator --version $STRIMZI_VERSION -n strimzi --create-namespace --set watchAnyNamespace=true"
cnpg="helm install cnpg cloudnative-pg --repo https://cloudnative-pg.github.io/charts -n cnpg-system --create-namespace (operator $CNPG_VERSION)"
kps="kube-prometheus-stack with monitoring/k8s-prometheus.yaml (its header says how, Grafana's admin Secret first)"
for crd in kafkas kafkanodepools kafkatopics kafkausers; do
  need_crd "$crd.kafka.strimzi.io" v1 "$strimzi"
done
need_crd clusters.postgresql.cnpg.io v1 "$cnpg"
# The operators themselves: Strimzi must watch this namespace; CloudNativePG must run in
# cnpg-system, where the databases' NetworkPolicies let it reach the instances.
operator() { # jsonpath selector...
  local path="$1"
  shift
  kubectl get deployment -A "$@" -o jsonpath="$path" 2>/dev/null || true
}
strimzi_ns="$(operator '{.items[0].metadata.namespace}' --field-selector metadata.name=strimzi-cluster-operator)"
watched="$(operator '{.items[0].spec.template.spec.containers[0].env[?(@.name=="STRIMZI_NAMESPACE")].value}' \
  --field-selector metadata.name=strimzi-cluster-operator)"
if [ -z "$strimzi_ns" ]; then
  need "the Strimzi cluster operator (no Deployment strimzi-cluster-operator): $strimzi"
else
  case ",$watched," in
    *",*,"* | *",$NS,"*) ;;
    *) [ "$strimzi_ns" = "$NS" ] || need "the Strimzi operator in $strimzi_ns does not watch $NS: reinstall it with --set watchAnyNamespace=true" ;;
  esac
fi
cnpg_ns="$(operator '{.items[0].metadata.namespace}' -l app.kubernetes.io/name=cloudnative-pg)"
if [ "$cnpg_ns" != cnpg-system ]; then
  need "the CloudNativePG operator in namespace cnpg-system (found: ${cnpg_ns:-none}): $cnpg"
fi
for crd in servicemonitors podmonitors prometheusrules; do
  need_crd "$crd.monitoring.coreos.com" v1 "$kps"
done
if [ -n "$TLS_ISSUER" ]; then
  need_crd certificates.cert-manager.io v1 "cert-manager (https://cert-manager.io/docs/installation/helm/)"
  if ! kubectl get clusterissuer "$TLS_ISSUER" >/dev/null 2>&1; then
    need "ClusterIssuer $TLS_ISSUER: create it (cert-manager), or give --tls-secret"
  fi
fi
if [ -z "$CONTROLLER" ]; then
  need_crd virtualservers.k8s.nginx.org v1 "the F5 NGINX Ingress Controller (drop --skip-controller to install it)"
  need_crd policies.k8s.nginx.org v1 "the F5 NGINX Ingress Controller (drop --skip-controller to install it)"
fi
# The class name the edge uses must belong to the F5 controller (the community ingress-nginx,
# which earlier installs of the shop used, also calls its class nginx).
class_controller="$(kubectl get ingressclass nginx -o jsonpath='{.spec.controller}' 2>/dev/null || true)"
if [ -n "$class_controller" ] && [ "$class_controller" != nginx.org/ingress-controller ]; then
  need "the IngressClass nginx belongs to $class_controller, not the F5 NGINX Ingress Controller: uninstall that controller (and its IngressClass) first"
fi
available="$(kubectl get apiservice v1beta1.metrics.k8s.io \
  -o jsonpath='{.status.conditions[?(@.type=="Available")].status}' 2>/dev/null || true)"
if [ "$available" != True ]; then
  need "metrics-server (the services' HorizontalPodAutoscalers read CPU from it): https://github.com/kubernetes-sigs/metrics-server#installation"
fi
[ -z "$missing" ] || fail "missing in the cluster; install these first:$missing"

# --- 2. Images, where the cluster pulls them from.
if [ -n "$PUSH" ]; then
  say "2. building and pushing the images to $REGISTRY"
  make -C "$ROOT" images REGISTRY="$REGISTRY" TAG="$TAG" PLATFORM="$PLATFORM" PUSH=1
else
  say "2. images: using those of tag $TAG already in $REGISTRY (--no-push)"
fi

say "3. namespace $NS"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -

say "4. Kafka (Strimzi $STRIMZI_VERSION): cluster, topics, one login per service"
kubectl -n "$NS" apply -f "$ROOT/kafka/"
kubectl -n "$NS" wait kafka/shop --for=condition=Ready --timeout=20m
kubectl -n "$NS" wait kafkatopic --all --for=condition=Ready --timeout=5m
kubectl -n "$NS" wait kafkauser --all --for=condition=Ready --timeout=5m

say "5. one Postgres per service (CloudNativePG $CNPG_VERSION)"
for svc in $SERVICES; do
  kubectl -n "$NS" apply -f "$ROOT/$svc/database/"
done
for svc in $SERVICES; do
  kubectl -n "$NS" wait "clusters.postgresql.cnpg.io/$svc-db" --for=condition=Ready --timeout=15m
done

say "6. the services' secrets (JWT key pair; one billing credential per calling service), where missing"
secret_exists() { kubectl -n "$NS" get secret "$1" >/dev/null 2>&1; }
secret_value() { # secret key file: writes the key's decoded value to file; fails when the key is absent
  local encoded
  encoded="$(kubectl -n "$NS" get secret "$1" -o jsonpath="{.data.$2}" 2>/dev/null || true)"
  [ -n "$encoded" ] || return 1
  printf '%s' "$encoded" | openssl base64 -d -A >"$3"
}
keys="$(mktemp -d)"
trap 'rm -rf "$keys"' EXIT
if secret_exists shop-user; then
  # Reuse what the user service already signs with, so every service trusts the same key.
  secret_value shop-user JWT_PRIVATE_KEY "$keys/private.pem" || fail "the Secret shop-user has no JWT_PRIVATE_KEY"
  secret_value shop-user JWT_PUBLIC_KEY "$keys/public.pem" || fail "the Secret shop-user has no JWT_PUBLIC_KEY"
else
  openssl genpkey -algorithm ed25519 -out "$keys/private.pem"
  openssl pkey -in "$keys/private.pem" -pubout -out "$keys/public.pem"
fi
# Each service that calls billing has its own credential (user: account creation; order:
# withdraw and refund), in its own Secret as SERVICE_TOKEN; billing's Secret holds them as
# USER_SERVICE_TOKEN and ORDER_SERVICE_TOKEN. An install of the old shape (one SERVICE_TOKEN
# shared by all) gets new ones, so that the shared credential stops working.
replace=""
if secret_exists shop-billing \
  && secret_value shop-billing USER_SERVICE_TOKEN "$keys/user-token" \
  && secret_value shop-billing ORDER_SERVICE_TOKEN "$keys/order-token"; then
  :
else
  if secret_exists shop-billing; then
    replace=1
    say "   the Secrets hold the old shared SERVICE_TOKEN: replacing it with a new credential per calling service (user, order); the shared one stops working once billing, user and order restart"
  fi
  openssl rand -hex 32 >"$keys/user-token"
  openssl rand -hex 32 >"$keys/order-token"
fi
for svc in $SERVICES; do
  if [ -z "$replace" ] && secret_exists "shop-$svc"; then continue; fi
  case "$svc" in
    user) credentials="--from-file=JWT_PRIVATE_KEY=$keys/private.pem --from-file=SERVICE_TOKEN=$keys/user-token" ;;
    order) credentials="--from-file=SERVICE_TOKEN=$keys/order-token" ;;
    billing) credentials="--from-file=USER_SERVICE_TOKEN=$keys/user-token --from-file=ORDER_SERVICE_TOKEN=$keys/order-token" ;;
    *) credentials="" ;; # notification calls no service
  esac
  # $credentials is words without spaces (paths under mktemp's directory), or none. Written whole:
  # created, or replaced when the credentials are renewed (replace, not apply: apply would keep
  # the old shared SERVICE_TOKEN key in billing's and notification's Secrets).
  write=create
  secret_exists "shop-$svc" && write=replace
  # shellcheck disable=SC2086
  kubectl -n "$NS" create secret generic "shop-$svc" --from-file=JWT_PUBLIC_KEY="$keys/public.pem" $credentials \
    --dry-run=client -o yaml | kubectl -n "$NS" "$write" -f -
done
if [ -n "$replace" ]; then
  # Until billing, user and order have restarted with them (below), a run that stops half way
  # must restart them next time: the pod templates do not change, so helm would not.
  kubectl -n "$NS" annotate secret shop-billing shop-credentials-restart=pending --overwrite
fi

if [ -n "$CONTROLLER" ]; then
  say "7. the NGINX Ingress Controller (chart $CONTROLLER_CHART_VERSION, api-gateway/controller-values.yaml)"
  helm upgrade --install nginx-ingress oci://ghcr.io/nginx/charts/nginx-ingress \
    --version "$CONTROLLER_CHART_VERSION" --namespace "$CONTROLLER_NAMESPACE" --create-namespace \
    -f "$ROOT/api-gateway/controller-values.yaml"
  # The pods, not the load balancer: a cluster may take long to give it an address.
  kubectl -n "$CONTROLLER_NAMESPACE" rollout status deployment/nginx-ingress-controller --timeout=10m
else
  say "7. the NGINX Ingress Controller: already installed (--skip-controller)"
fi

say "8. the services (migrations run in each chart's pre-install Job)"
for svc in $SERVICES; do
  helm dependency build "$ROOT/$svc/chart" >/dev/null
  # The chart's own values, and with --production charts/values-production.yaml over them.
  values="$ROOT/$svc/chart/values.yaml"
  [ -z "$PRODUCTION" ] || values="$ROOT/charts/values-production.yaml"
  helm upgrade --install "$svc" "$ROOT/$svc/chart" --namespace "$NS" --wait --timeout 10m \
    --set image.registry="$REGISTRY" --set image.tag="$TAG" -f "$values"
done
pending="$(kubectl -n "$NS" get secret shop-billing -o jsonpath='{.metadata.annotations.shop-credentials-restart}' 2>/dev/null || true)"
if [ -n "$replace" ] || [ "$pending" = pending ]; then
  # The pods read their credentials at start: restart the three so none keeps the shared one.
  say "   restarting billing, user and order with their new credentials"
  kubectl -n "$NS" rollout restart deployment/billing deployment/user deployment/order
  for svc in billing user order; do
    kubectl -n "$NS" rollout status "deployment/$svc" --timeout=10m
  done
  kubectl -n "$NS" annotate secret shop-billing shop-credentials-restart-
fi

say "9. the edge: https://$HOST (api-gateway/chart)"
if [ -n "$TLS_ISSUER" ]; then
  tls_value="tls.clusterIssuer=$TLS_ISSUER"
else
  tls_value="tls.secretName=$TLS_SECRET"
fi
# The Ingresses of earlier installs (community ingress-nginx) would hold the host.
kubectl -n "$NS" delete ingress shop-api shop-login shop-register shop-internal-not-routed \
  --ignore-not-found
helm upgrade --install edge "$ROOT/api-gateway/chart" --namespace "$NS" --wait --timeout 5m \
  --set host="$HOST" --set "$tls_value" --set web.image.registry="$REGISTRY" --set web.image.tag="$TAG"

# Last, once every chart's own NetworkPolicies are in place, so the deny cuts nothing in use.
say "10. the namespace's network baseline: deny all ingress and egress but what each chart allows (charts/shop-namespace)"
api_addresses="$(kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes \
  -o jsonpath='{.items[*].endpoints[*].addresses[*]}' 2>/dev/null || true)"
api_ports="$(kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes \
  -o jsonpath='{.items[*].ports[*].port}' 2>/dev/null || true)"
if [ -n "$api_addresses" ] && [ -n "$api_ports" ]; then
  api_addresses="$(printf '%s' "$api_addresses" | tr -s ' ' '\n' | sort -u | paste -sd, -)"
  api_ports="$(printf '%s' "$api_ports" | tr -s ' ' '\n' | sort -u | paste -sd, -)"
  helm upgrade --install shop-namespace "$ROOT/charts/shop-namespace" --namespace "$NS" \
    --set "apiServer.addresses={$api_addresses}" --set "apiServer.ports={$api_ports}"
else
  say "   the API server's addresses are unknown (no EndpointSlice readable): its pods' egress to it is allowed to any address on 443 and 6443"
  helm upgrade --install shop-namespace "$ROOT/charts/shop-namespace" --namespace "$NS"
fi

say "11. monitoring: dashboards for Grafana's sidecar and the alert rules (kube-prometheus-stack)"
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

address="$(kubectl -n "$CONTROLLER_NAMESPACE" get service nginx-ingress-controller \
  -o jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}' \
  2>/dev/null || true)"
[ -n "$address" ] || address="(the NGINX Ingress Controller's load balancer: not assigned yet)"
say "done"
cat <<EOF
The shop:      https://$HOST/ (the storefront), https://$HOST/api/v1/...   (Swagger UI: https://$HOST/api/docs/)
Point DNS:     $HOST -> $address
Pods:          kubectl -n $NS get pods
EOF
