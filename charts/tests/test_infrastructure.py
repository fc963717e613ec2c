"""Kafka (Strimzi) and one Postgres per service (CloudNativePG), as kafka/ and
<service>/database/ hold them: every object validated (built-in kinds against the Kubernetes
schemas, custom resources against the operators' pinned schemas), plus the policies the shop
relies on: only TLS with a login per service, least-privilege ACLs, a NetworkPolicy in front of
each, durable replication, pinned images."""

import copy
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from custom_resources import validate

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["user", "billing", "order", "notification"]
KUBE_VERSION = "1.33.0"


def load(*paths):
    docs = []
    for path in paths:
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


KAFKA = load(*sorted((ROOT / "kafka").glob("*.yaml")))
DATABASES = {s: load(*sorted((ROOT / s / "database").glob("*.yaml"))) for s in SERVICES}


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


@pytest.mark.parametrize("where", ["kafka"] + SERVICES)
def test_every_object_matches_its_schema(where):
    docs = KAFKA if where == "kafka" else DATABASES[where]
    custom = [d for d in docs if "." in d["apiVersion"].split("/")[0] and not d["apiVersion"].startswith("networking.k8s.io")]
    for doc in docs:
        if doc not in custom:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    errors = validate(custom)
    assert len(errors) == len(custom)
    assert all(error is None for error in errors.values()), errors


def test_the_validator_rejects_what_the_operator_would():
    topic = copy.deepcopy(one(KAFKA, "KafkaTopic", "order-events"))
    topic["spec"]["partitions"] = "six"
    cluster = copy.deepcopy(one(DATABASES["order"], "Cluster"))
    cluster["spec"]["instances"] = "three"
    errors = validate([topic, cluster])
    assert "partitions must be integer" in errors[("KafkaTopic", "order-events")]
    assert "instances must be integer" in errors[("Cluster", "order-db")]


def test_a_misspelt_field_is_caught():
    kafka = copy.deepcopy(one(KAFKA, "Kafka", "shop"))
    kafka["spec"]["kafka"]["listeners"][0]["authentcation"] = {"type": "scram-sha-512"}
    cluster = copy.deepcopy(one(DATABASES["billing"], "Cluster"))
    cluster["spec"]["postgresql"]["synchronus"] = cluster["spec"]["postgresql"].pop("synchronous")
    errors = validate([kafka, cluster, one(KAFKA, "KafkaTopic", "order-events")])
    assert re.search(r"authentcation\W+ does not exist", errors[("Kafka", "shop")])
    assert re.search(r"synchronus\W+ does not exist", errors[("Cluster", "billing-db")])
    assert errors[("KafkaTopic", "order-events")] is None


def test_kafka_is_kraft_with_three_nodes_that_survive_one_loss():
    pool = one(KAFKA, "KafkaNodePool")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "shop"
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["spec"]["replicas"] >= 3
    assert all(v["type"] == "persistent-claim" and v["deleteClaim"] is False for v in pool["spec"]["storage"]["volumes"])
    config = one(KAFKA, "Kafka", "shop")["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] == 2 and config["default.replication.factor"] == 3
    assert config["auto.create.topics.enable"] is False


def test_kafka_listens_only_with_tls_and_a_login_and_only_to_order_and_notification():
    kafka = one(KAFKA, "Kafka", "shop")["spec"]["kafka"]
    assert kafka["authorization"]["type"] == "simple"
    for listener in kafka["listeners"]:
        assert listener["tls"] is True, listener["name"]
        assert listener["authentication"]["type"] == "scram-sha-512", listener["name"]
        (peer,) = listener["networkPolicyPeers"]
        (expr,) = peer["podSelector"]["matchExpressions"]
        assert expr["key"] == "app.kubernetes.io/name" and expr["operator"] == "In"
        assert sorted(expr["values"]) == ["notification", "order"]


def test_the_topics_are_provisioned_replicated():
    topics = {d["metadata"]["name"]: d["spec"] for d in KAFKA if d["kind"] == "KafkaTopic"}
    assert set(topics) == {"order-events", "order-events.dlq"}
    assert all(t["replicas"] >= 3 and t["config"]["min.insync.replicas"] == 2 for t in topics.values())


def acls(user):
    return {(a["resource"]["type"], a["resource"]["name"], op)
            for a in one(KAFKA, "KafkaUser", user)["spec"]["authorization"]["acls"] for op in a["operations"]}


def test_only_order_writes_order_events_and_notification_only_reads_them():
    users = {d["metadata"]["name"] for d in KAFKA if d["kind"] == "KafkaUser"}
    assert users == {"order", "notification", "notification-redrive"}
    for user in users:
        spec = one(KAFKA, "KafkaUser", user)["spec"]
        assert spec["authentication"]["type"] == "scram-sha-512"
        assert all(a["resource"]["patternType"] == "literal" for a in spec["authorization"]["acls"])
    assert acls("order") == {("topic", "order-events", "Write"), ("topic", "order-events", "Describe")}
    assert acls("notification") == {
        ("topic", "order-events", "Read"), ("topic", "order-events", "Describe"), ("group", "notification", "Read"),
        ("topic", "order-events.dlq", "Write"), ("topic", "order-events.dlq", "Describe")}
    # The operator's redrive reads the dead letters and republishes them; it joins no group.
    assert acls("notification-redrive") == {
        ("topic", "order-events.dlq", "Read"), ("topic", "order-events.dlq", "Describe"),
        ("group", "notification-redrive", "Describe"),
        ("topic", "order-events", "Write"), ("topic", "order-events", "Describe")}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_own_replicated_postgres(service):
    cluster = one(DATABASES[service], "Cluster", f"{service}-db")["spec"]
    assert cluster["bootstrap"]["initdb"] == {"database": f"shop_{service}", "owner": f"shop_{service}"}
    assert cluster["instances"] >= 3
    sync = cluster["postgresql"]["synchronous"]
    assert sync["number"] >= 1 and sync["dataDurability"] == "required", "a commit is on two servers"
    image = cluster["imageName"]
    assert image.startswith("ghcr.io/cloudnative-pg/postgresql:") and image.split(":")[1][0].isdigit(), image
    assert "password" not in yaml.safe_dump(cluster).lower(), "the operator generates the login"


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_service_reaches_its_postgres(service):
    policy = one(DATABASES[service], "NetworkPolicy", f"{service}-db")["spec"]
    assert policy["podSelector"]["matchLabels"] == {"cnpg.io/cluster": f"{service}-db"}
    client_rules = [r for r in policy["ingress"]
                    if any("podSelector" in p and "app.kubernetes.io/name" in p["podSelector"]["matchLabels"] for p in r["from"])]
    (rule,) = client_rules
    assert [p["podSelector"]["matchLabels"] for p in rule["from"]] == [{"app.kubernetes.io/name": service}]
    assert [p["port"] for p in rule["ports"]] == [5432]
    # No rule lets any pod of the namespace in.
    assert all(p != {"podSelector": {}} for r in policy["ingress"] for p in r["from"])
