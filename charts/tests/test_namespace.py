"""The namespace's network baseline (charts/shop-namespace): a default deny of ingress and egress
for every pod, and the allowances of the pods no shop chart makes (CloudNativePG's, Strimzi's,
cert-manager's solvers), checked against the manifests that make those pods."""

import shutil
import tempfile
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shop-namespace"
KUBE_VERSION = "1.33.0"


def render(values):
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "chart"
        shutil.copytree(CHART, chart)
        with helm.Chart.load(str(chart)) as loaded:
            manifests = loaded.render(values, name="shop-namespace", namespace="shop", is_install=True)
    return {d["metadata"]["name"]: d for text in manifests.values() for d in yaml.safe_load_all(text) if d}


@pytest.fixture(scope="module", params=[{}, {"apiServer": {"addresses": ["10.0.0.1", "fd00::1"]}}],
                ids=["any-api-address", "api-addresses"])
def policies(request):
    return render(request.param)


def test_lint_is_clean():
    report = helm.lint(str(CHART), {}, strict=True, kube_version=f"v{KUBE_VERSION}")
    errors = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", [])
    assert errors == []


def test_every_policy_matches_the_kubernetes_schemas(policies):
    for doc in policies.values():
        assert doc["kind"] == "NetworkPolicy"
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_every_pod_of_the_namespace_is_denied_both_ways_by_default(policies):
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny


def egress_ports(policy):
    return [sorted((p["protocol"], p.get("port")) for p in rule.get("ports", [])) for rule in policy["spec"]["egress"]]


def test_the_databases_reach_dns_the_api_server_and_each_other(policies):
    policy = policies["databases-egress"]
    assert policy["spec"]["podSelector"] == {"matchExpressions": [{"key": "cnpg.io/cluster", "operator": "Exists"}]}
    # Every Cluster's instances carry that label (their own policies select cnpg.io/cluster=<name>).
    for service in ["user", "billing", "order", "notification"]:
        docs = [d for d in yaml.safe_load_all((ROOT / service / "database" / "cluster.yaml").read_text()) if d]
        db_policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
        assert list(db_policy["spec"]["podSelector"]["matchLabels"]) == ["cnpg.io/cluster"]
    assert [("TCP", 53), ("UDP", 53)] in egress_ports(policy)
    assert [("TCP", 443), ("TCP", 6443)] in egress_ports(policy)
    assert [("TCP", 5432), ("TCP", 8000)] in egress_ports(policy)


def test_the_api_server_is_its_addresses_when_known(policies):
    rule = next(r for r in policies["databases-egress"]["spec"]["egress"] if r["ports"][0]["port"] == 443)
    if "to" in rule:
        assert rule["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}, {"ipBlock": {"cidr": "fd00::1/128"}}]


def test_kafka_reaches_itself_and_is_scraped(policies):
    kafka = next(d for d in yaml.safe_load_all((ROOT / "kafka" / "kafka.yaml").read_text()) if d and d["kind"] == "Kafka")
    name = kafka["metadata"]["name"]
    egress = policies["kafka-egress"]["spec"]
    assert egress["podSelector"] == {"matchLabels": {"strimzi.io/cluster": name}}
    assert {"to": [{"podSelector": {"matchLabels": {"strimzi.io/cluster": name}}}]} in egress["egress"]
    monitor = yaml.safe_load((ROOT / "kafka" / "podmonitor.yaml").read_text())
    metrics = policies["kafka-metrics"]["spec"]
    assert metrics["podSelector"]["matchLabels"] == monitor["spec"]["selector"]["matchLabels"]
    (rule,) = metrics["ingress"]
    assert rule["ports"][0]["port"] == monitor["spec"]["podMetricsEndpoints"][0]["port"]


def test_the_controller_reaches_the_acme_solvers():
    spec = render({})["acme-http01-solver"]["spec"]
    assert spec["podSelector"]["matchLabels"] == {"acme.cert-manager.io/http01-solver": "true"}
    controller = yaml.safe_load((ROOT / "api-gateway" / "chart" / "values.yaml").read_text())["controllerNamespace"]
    assert spec["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": controller}}}]
