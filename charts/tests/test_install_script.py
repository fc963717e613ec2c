"""scripts/k8s-install.sh, the deploy entry point, without a cluster: shellcheck, no construct
bash 3.2 lacks, and whole runs against stand-ins for kubectl, helm and make that answer like a
cluster would and record every call, so the order, the waits, the parameters and the refusals
are checked."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "k8s-install.sh"

FAKE = r"""#!/usr/bin/env bash
# A stand-in: records the call, answers as a cluster with FAKE_* settings would.
echo "$(basename "$0") $*" >>"$FAKE_LOG"
[ "$1" = -n ] && shift 2
case "$(basename "$0") $1 $2" in
  "kubectl get --raw") printf '{\n  "major": "1",\n  "minor": "%s",\n  "gitVersion": "v1.%s.2"\n}\n' "$FAKE_MINOR" "$FAKE_MINOR" ;;
  "kubectl get crd")
    case " $FAKE_MISSING " in *" $3 "*) exit 1 ;; esac
    echo "v1beta2 v1" ;;
  "kubectl get apiservice") [ -n "$FAKE_NO_METRICS" ] || echo True ;;
  "kubectl get clusterissuer") ;;
  "kubectl get service") echo 203.0.113.7 ;;
  "kubectl get secret")
    [ -n "$FAKE_SECRETS" ] || exit 1
    # FAKE_RESTART_PENDING: an earlier run renewed the credentials and stopped before restarting.
    case "$*" in *shop-credentials-restart*) printf %s "$FAKE_RESTART_PENDING"; exit 0 ;; esac
    key="$(printf %s "$*" | sed -n 's/.*jsonpath={.data.\([A-Z_]*\)}.*/\1/p')"
    [ -n "$key" ] || exit 0
    # FAKE_SECRETS=old: the shared SERVICE_TOKEN of earlier installs, no per-caller credentials.
    case "$FAKE_SECRETS $key" in "old USER_SERVICE_TOKEN" | "old ORDER_SERVICE_TOKEN") exit 0 ;; esac
    printf 'kept %s of %s' "$key" "$3" | base64 | tr -d '\n' ;;
  "kubectl create secret")
    # What the Secret would hold: name, then key=value per --from-file (tab separated).
    line="$4"
    for arg in "$@"; do
      case "$arg" in --from-file=*) spec="${arg#--from-file=}"; line="$line	${spec%%=*}=$(tr '\n' '~' <"${spec#*=}")" ;; esac
    done
    echo "$line" >>"$FAKE_LOG.secrets" ;;
  "kubectl get endpointslices")
    case "$*" in *ports*) printf %s "$FAKE_API_PORTS" ;; *) printf %s "$FAKE_API_ADDRESSES" ;; esac ;;
  "kubectl get ingressclass") printf %s "$FAKE_CLASS_CONTROLLER" ;;
  "kubectl get deployment")
    case "$*" in
      *STRIMZI_NAMESPACE*) printf %s "$FAKE_STRIMZI_WATCH" ;;
      *strimzi-cluster-operator*) printf %s "$FAKE_STRIMZI_NS" ;;
      *cloudnative-pg*) printf %s "$FAKE_CNPG_NS" ;;
    esac ;;
  "kubectl create namespace") echo "kind: Namespace" ;;
  "kubectl create configmap") echo "kind: ConfigMap" ;;
  "kubectl label --local"|"kubectl annotate --local") cat ;;
  "kubectl apply -f"|"kubectl replace -f"|"kubectl create -f") [ "$3" = - ] && cat >/dev/null ;;
esac
exit 0
"""


@pytest.fixture
def cluster(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ["kubectl", "helm", "make", "docker", "npm"]:
        path = bin_dir / tool
        path.write_text(FAKE)
        path.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_LOG": str(log), "FAKE_MINOR": "33", "FAKE_MISSING": "",
           "FAKE_NO_METRICS": "", "FAKE_SECRETS": "", "FAKE_CLASS_CONTROLLER": "nginx.org/ingress-controller",
           "FAKE_STRIMZI_NS": "strimzi", "FAKE_STRIMZI_WATCH": "*", "FAKE_CNPG_NS": "cnpg-system", "HOME": str(tmp_path),
           "FAKE_API_ADDRESSES": "172.18.0.2 172.18.0.3", "FAKE_API_PORTS": "6443 6443",
           "FAKE_RESTART_PENDING": ""}

    def run(*args, **overrides):
        result = subprocess.run(["bash", str(SCRIPT), *args], env={**env, **overrides}, capture_output=True,
                                text=True, timeout=60)
        calls = log.read_text().splitlines() if log.exists() else []
        return result, calls
    return run


def secrets_written(tmp_path):
    """{secret name: {key: value}} of every `kubectl create secret` of the run."""
    path = tmp_path / "calls.log.secrets"
    out = {}
    for line in (path.read_text().splitlines() if path.exists() else []):
        name, *pairs = line.split("\t")
        out[name] = dict(pair.split("=", 1) for pair in pairs)
    return out


ARGS = ["--registry", "ghcr.io/acme", "--host", "shop.acme.org", "--tls-issuer", "letsencrypt"]


def index(calls, pattern):
    found = [i for i, c in enumerate(calls) if re.search(pattern, c)]
    assert found, f"no call matches {pattern!r}"
    return found[0]


def test_shellcheck_is_clean():
    if not shutil.which("shellcheck"):
        pytest.fail("shellcheck is not installed (scripts/test.sh installs Debian's shellcheck)")
    subprocess.run(["shellcheck", "--shell=bash", str(SCRIPT)], check=True)


BASH4 = {
    r"declare -A|local -A|typeset -A": "associative arrays (bash 4)",
    r"\bmapfile\b|\breadarray\b": "mapfile (bash 4)",
    r"\$\{[A-Za-z_]+(,,|\^\^)": "case conversion (bash 4)",
    r"\[\[ -v ": "[[ -v (bash 4.2)",
    r"&>>|\|&": "&>> and |& (bash 4)",
    r"\$\{[A-Za-z_]+\[@\]\}": "a bare array expansion, an error when empty under set -u before bash 4.4",
    r"\bcoproc\b|\bdeclare -n\b|\blocal -n\b": "coproc, namerefs (bash 4)",
    r"\$\{[A-Za-z_]+:-?\d+\}|\$\{[A-Za-z_]+: *-\d": "negative offsets (bash 4.2)",
}


def test_no_construct_bash_3_2_lacks():
    code = "\n".join(line for line in SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#"))
    for pattern, what in BASH4.items():
        assert not re.search(pattern, code), what


def test_a_whole_install_runs_in_order_and_waits_for_each_step(cluster):
    result, calls = cluster(*ARGS)
    assert result.returncode == 0, result.stderr
    steps = [
        r"^kubectl get --raw /version",
        r"^kubectl get crd kafkas.kafka.strimzi.io",
        r"^kubectl get deployment -A --field-selector metadata.name=strimzi-cluster-operator",
        r"^kubectl get ingressclass nginx",
        r"^kubectl get apiservice v1beta1.metrics.k8s.io",
        r"^make -C .* images REGISTRY=ghcr.io/acme TAG=0\.1\.0-[0-9a-f]{12}(-dirty)? PLATFORM=linux/amd64 PUSH=1",
        r"^kubectl create namespace shop",
        r"^kubectl -n shop apply -f .*/kafka/",
        r"^kubectl -n shop wait kafka/shop --for=condition=Ready",
        r"^kubectl -n shop wait kafkauser --all --for=condition=Ready",
        r"^kubectl -n shop apply -f .*/user/database/",
        r"^kubectl -n shop wait clusters.postgresql.cnpg.io/notification-db --for=condition=Ready",
        r"^kubectl -n shop create secret generic shop-user .*JWT_PRIVATE_KEY",
        r"^helm upgrade --install nginx-ingress oci://ghcr.io/nginx/charts/nginx-ingress --version 2.6.4 .*controller-values.yaml$",
        r"^kubectl -n nginx-ingress rollout status deployment/nginx-ingress-controller",
        r"^helm upgrade --install user .*/user/chart --namespace shop --wait .*--set image.registry=ghcr.io/acme --set image.tag=0\.1\.0-[0-9a-f]{12}",
        r"^helm upgrade --install notification .*/notification/chart",
        r"^kubectl -n shop delete ingress shop-api .*--ignore-not-found",
        r"^helm upgrade --install edge .*/api-gateway/chart --namespace shop --wait .*--set host=shop.acme.org --set tls.clusterIssuer=letsencrypt --set web.image.registry=ghcr.io/acme --set web.image.tag=0\.1\.0-",
        # The default deny last, when every chart's own policies are in place.
        r"^helm upgrade --install shop-namespace .*/charts/shop-namespace --namespace shop --set apiServer.addresses=\{172.18.0.2,172.18.0.3\} --set apiServer.ports=\{6443\}$",
        r"^kubectl -n shop create configmap dashboard-",
    ]
    positions = [index(calls, s) for s in steps]
    assert positions == sorted(positions), list(zip(steps, positions))
    # Only user signs tokens.
    assert not any(re.search(r"create secret generic shop-(billing|order|notification) .*PRIVATE", c) for c in calls)
    assert "https://shop.acme.org/api/docs/" in result.stdout and "203.0.113.7" in result.stdout


def test_a_given_tls_secret_and_the_production_values(cluster):
    result, calls = cluster("--registry", "r.example", "--host", "h.example", "--tls-secret", "my-cert",
                            "--production", "--no-push", "--namespace", "shop2", "--tag", "1.2.3")
    assert result.returncode == 0, result.stderr
    assert not any(c.startswith("make ") for c in calls), "--no-push builds nothing"
    index(calls, r"^helm upgrade --install billing .*--set image.tag=1.2.3 ")
    assert not any("clusterissuer" in c for c in calls)
    index(calls, r"^helm upgrade --install order .* --namespace shop2 .*values-production.yaml")
    index(calls, r"^helm upgrade --install edge .*--set tls.secretName=my-cert")


@pytest.mark.parametrize("overrides,message", [
    ({"FAKE_MINOR": "29"}, "Kubernetes 1.29: the charts need 1.30"),
    ({"FAKE_MISSING": "kafkas.kafka.strimzi.io"}, "strimzi-kafka-operator --version 1.0.1"),
    ({"FAKE_MISSING": "clusters.postgresql.cnpg.io"}, "operator 1.29.2"),
    ({"FAKE_MISSING": "certificates.cert-manager.io"}, "cert-manager"),
    ({"FAKE_NO_METRICS": "1"}, "metrics-server"),
    ({"FAKE_STRIMZI_NS": ""}, "no Deployment strimzi-cluster-operator"),
    ({"FAKE_STRIMZI_WATCH": "strimzi"}, "does not watch shop: reinstall it with --set watchAnyNamespace=true"),
    ({"FAKE_CNPG_NS": "operators"}, "cnpg-system (found: operators)"),
    ({"FAKE_CLASS_CONTROLLER": "k8s.io/ingress-nginx"}, "belongs to k8s.io/ingress-nginx"),
])
def test_a_missing_prerequisite_stops_before_anything_changes(cluster, overrides, message):
    result, calls = cluster(*ARGS, **overrides)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    changing = [c for c in calls if re.search(r" (apply|create|upgrade|install|wait)\b|^make ", c)]
    assert changing == []


def test_a_second_run_keeps_the_secrets(cluster):
    result, calls = cluster(*ARGS, FAKE_SECRETS="new")
    assert result.returncode == 0, result.stderr
    assert not any("create secret" in c for c in calls), "existing keys and credentials are kept"
    assert not any("rollout restart" in c for c in calls)
    index(calls, r"^kubectl -n shop get secret shop-user -o jsonpath=\{.data.JWT_PRIVATE_KEY\}")


def test_each_calling_service_gets_its_own_credential_and_billing_knows_each(cluster, tmp_path):
    result, _ = cluster(*ARGS)
    assert result.returncode == 0, result.stderr
    secrets = secrets_written(tmp_path)
    assert {name: sorted(keys) for name, keys in secrets.items()} == {
        "shop-user": ["JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY", "SERVICE_TOKEN"],
        "shop-order": ["JWT_PUBLIC_KEY", "SERVICE_TOKEN"],
        "shop-billing": ["JWT_PUBLIC_KEY", "ORDER_SERVICE_TOKEN", "USER_SERVICE_TOKEN"],
        "shop-notification": ["JWT_PUBLIC_KEY"],
    }
    user, order = secrets["shop-user"]["SERVICE_TOKEN"], secrets["shop-order"]["SERVICE_TOKEN"]
    assert secrets["shop-billing"]["USER_SERVICE_TOKEN"] == user
    assert secrets["shop-billing"]["ORDER_SERVICE_TOKEN"] == order
    assert user != order
    assert all(re.fullmatch(r"[0-9a-f]{64}~", t) for t in (user, order)), "openssl rand -hex 32 each"
    assert len({s["JWT_PUBLIC_KEY"] for s in secrets.values()}) == 1, "one key pair for all"
    assert "BEGIN PRIVATE KEY" in secrets["shop-user"]["JWT_PRIVATE_KEY"]


def test_the_old_shared_credential_is_replaced_and_the_key_pair_kept(cluster, tmp_path):
    result, calls = cluster(*ARGS, FAKE_SECRETS="old")
    assert result.returncode == 0, result.stderr
    assert "old shared SERVICE_TOKEN: replacing it with a new credential per calling service" in result.stdout
    secrets = secrets_written(tmp_path)
    assert sorted(secrets) == ["shop-billing", "shop-notification", "shop-order", "shop-user"]
    assert secrets["shop-user"]["JWT_PRIVATE_KEY"] == "kept JWT_PRIVATE_KEY of shop-user"
    assert {s["JWT_PUBLIC_KEY"] for s in secrets.values()} == {"kept JWT_PUBLIC_KEY of shop-user"}
    assert "SERVICE_TOKEN" not in secrets["shop-billing"] and "SERVICE_TOKEN" not in secrets["shop-notification"]
    assert secrets["shop-billing"]["USER_SERVICE_TOKEN"] == secrets["shop-user"]["SERVICE_TOKEN"]
    assert secrets["shop-billing"]["ORDER_SERVICE_TOKEN"] == secrets["shop-order"]["SERVICE_TOKEN"]
    # Replaced whole (replace drops the old key; apply would keep it), marked as awaiting the
    # restart, then the pods restart to read them and the mark goes.
    index(calls, r"^kubectl -n shop create secret generic shop-user .*--dry-run=client -o yaml")
    assert index(calls, r"^kubectl -n shop replace -f -$") \
        < index(calls, r"^kubectl -n shop annotate secret shop-billing shop-credentials-restart=pending --overwrite") \
        < index(calls, r"^helm upgrade --install user ") \
        < index(calls, r"^kubectl -n shop rollout restart deployment/billing deployment/user deployment/order") \
        < index(calls, r"^kubectl -n shop annotate secret shop-billing shop-credentials-restart-$") \
        < index(calls, r"^helm upgrade --install edge ")
    assert sum(bool(re.search(r"^kubectl -n shop replace -f -$", c)) for c in calls) == 4, "each Secret whole"


def test_a_run_that_stopped_before_the_restart_restarts_next_time(cluster, tmp_path):
    # The Secrets are already per service, but the earlier run never restarted the pods.
    result, calls = cluster(*ARGS, FAKE_SECRETS="new", FAKE_RESTART_PENDING="pending")
    assert result.returncode == 0, result.stderr
    assert not any("shop-credentials-restart=pending" in c for c in calls), "nothing renewed"
    index(calls, r"^kubectl -n shop rollout restart deployment/billing deployment/user deployment/order")
    index(calls, r"^kubectl -n shop annotate secret shop-billing shop-credentials-restart-$")
    # And without the mark, nothing restarts.
    (tmp_path / "calls.log").unlink()
    result, calls = cluster(*ARGS, FAKE_SECRETS="new")
    assert result.returncode == 0, result.stderr
    assert not any("rollout restart" in c for c in calls)


def test_without_the_api_servers_addresses_the_baseline_still_installs(cluster):
    result, calls = cluster(*ARGS, FAKE_API_ADDRESSES="")
    assert result.returncode == 0, result.stderr
    index(calls, r"^helm upgrade --install shop-namespace .*/charts/shop-namespace --namespace shop$")
    assert "the API server's addresses are unknown" in result.stdout


def test_a_watch_list_naming_the_namespace_is_enough(cluster):
    result, _ = cluster(*ARGS, FAKE_STRIMZI_WATCH="kafka,shop")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args,message", [
    (["--host", "h", "--tls-issuer", "i"], "--registry is required"),
    (["--registry", "r", "--tls-issuer", "i"], "--host is required"),
    (["--registry", "r", "--host", "h"], "--tls-issuer"),
    (["--registry", "r", "--host", "h", "--tls-issuer", "i", "--tls-secret", "s"], "not both"),
    (["--registry", "r", "--host", "h", "--tls-issuer", "i", "--colour"], "unknown option --colour"),
])
def test_wrong_parameters_are_refused_with_a_reason(cluster, args, message):
    result, calls = cluster(*args)
    assert result.returncode != 0 and message in result.stderr
    assert calls == []
