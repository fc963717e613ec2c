"""The Helm charts, checked without a cluster: each service chart is linted and rendered with
Helm 4's library (helm-python-sdk) with its default values and its production-like values, every
rendered manifest is validated against the Kubernetes schemas (kubernetes-validate) or, for a
custom resource, its operator's (custom_resources), and policy checks hold over what was
rendered."""

import re
import shutil
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from custom_resources import validate

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["user", "billing", "order", "notification"]
KUBE_VERSION = "1.33.0"
# Custom resources: validated against their operator's schemas (custom_resources).
CUSTOM_KINDS = {"ServiceMonitor"}


def chart_copy(service, tmp_path):
    """The service chart with the library chart vendored in, as `helm dependency build` does."""
    chart = tmp_path / service / "chart"
    shutil.copytree(ROOT / service / "chart", chart)
    (tmp_path / "charts").mkdir(exist_ok=True)
    if not (tmp_path / "charts" / "shop-service").exists():
        shutil.copytree(ROOT / "charts" / "shop-service", tmp_path / "charts" / "shop-service")
    helm.dependency_build(str(chart))
    return chart


def values_of(service, variant):
    """What `helm install` is given: the service's values.yaml (its defaults live in the
    library chart), plus the shared production overlay for the production variant."""
    values = yaml.safe_load((ROOT / service / "chart" / "values.yaml").read_text())
    if variant == "production":
        overlay = yaml.safe_load((ROOT / "charts" / "values-production.yaml").read_text())
        values = deep_merge(values, overlay)
    return values


def deep_merge(base, overlay):
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = deep_merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def render(chart, values, release):
    with helm.Chart.load(str(chart)) as loaded:
        manifests = loaded.render(values, name=release, namespace="shop", is_install=True)
    docs = []
    for text in manifests.values():
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


@pytest.fixture(scope="module", params=[(s, v) for s in SERVICES for v in ["default", "production"]],
                ids=lambda p: f"{p[0]}-{p[1]}")
def rendered(request, tmp_path_factory):
    service, variant = request.param
    chart = chart_copy(service, tmp_path_factory.mktemp(f"{service}-{variant}"))
    values = values_of(service, variant)
    report = helm.lint(str(chart), values, strict=True, kube_version=f"v{KUBE_VERSION}")
    errors = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", [])
    return {"service": service, "variant": variant, "docs": render(chart, values, service), "lint": errors}


def of_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def containers(doc):
    return doc["spec"]["template"]["spec"]["containers"]


def test_lint_is_clean(rendered):
    assert rendered["lint"] == []


def test_every_manifest_matches_the_kubernetes_schemas(rendered):
    custom = [d for d in rendered["docs"] if d["kind"] in CUSTOM_KINDS]
    for doc in rendered["docs"]:
        if doc not in custom:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    errors = validate(custom)
    assert len(errors) == len(custom) and all(e is None for e in errors.values()), errors


def test_the_expected_objects_are_rendered(rendered):
    kinds = sorted(d["kind"] for d in rendered["docs"])
    # The serving pods' NetworkPolicy and the migration Job's.
    expected = ["ConfigMap", "Deployment", "Job", "NetworkPolicy", "NetworkPolicy", "PodDisruptionBudget", "Service",
                "ServiceMonitor"]
    if rendered["service"] == "notification":
        expected += ["CronJob", "NetworkPolicy"]  # the template of redrive Jobs and their policy
    if rendered["variant"] == "production":
        expected.append("HorizontalPodAutoscaler")
    assert kinds == sorted(expected)


def test_the_library_defaults_fill_in_what_a_service_leaves_out(rendered):
    (deployment,) = of_kind(rendered["docs"], "Deployment")
    (pdb,) = of_kind(rendered["docs"], "PodDisruptionBudget")
    image = containers(deployment)[0]["image"]
    service = rendered["service"]
    if rendered["variant"] == "default":
        assert image == f"shop/{service}:0.1.0"
        assert deployment["spec"]["replicas"] == 2
        assert pdb["spec"]["minAvailable"] == 1
        assert containers(deployment)[0]["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    else:
        assert image == f"registry.example.com/shop/{service}:0.1.0"
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
        assert pdb["spec"]["minAvailable"] == 1
        assert containers(deployment)[0]["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}


def test_service_monitor_scrapes_metrics(rendered):
    (monitor,) = of_kind(rendered["docs"], "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == rendered["service"]


def test_every_container_has_probes_limits_and_a_restricted_context(rendered):
    for doc in of_kind(rendered["docs"], "Deployment") + of_kind(rendered["docs"], "Job"):
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            if doc["kind"] == "Deployment":
                prefix = {"user": "/api/v1/users", "billing": "/api/v1/billing", "order": "/api/v1/orders",
                          "notification": "/api/v1/notifications"}[rendered["service"]]
                assert c["readinessProbe"]["httpGet"]["path"] == f"{prefix}/health"
                assert c["livenessProbe"]["httpGet"]["path"] == f"{prefix}/health/live"
            limits = c["resources"]["limits"]
            assert limits.get("cpu") and limits.get("memory"), c["name"]
            assert c["resources"]["requests"]
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            image = c["image"]
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), image


def test_no_secret_value_in_a_configmap(rendered):
    sensitive_key = re.compile(r"PASSWORD|SECRET|TOKEN$|PRIVATE_KEY$|DATABASE_URL", re.I)
    for cm in of_kind(rendered["docs"], "ConfigMap"):
        for key, value in cm["data"].items():
            assert not sensitive_key.search(key), key
            assert "-----BEGIN" not in value, key
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{key} carries credentials"
    for doc in of_kind(rendered["docs"], "Deployment"):
        env = {e["name"]: e for e in containers(doc)[0].get("env", [])}
        assert "secretKeyRef" in env["DATABASE_URL"]["valueFrom"]


def test_migrations_run_once_per_release_before_the_pods(rendered):
    (job,) = of_kind(rendered["docs"], "Job")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert sorted(hooks) == ["pre-install", "pre-upgrade"]
    assert job["spec"]["parallelism"] == 1 and job["spec"]["completions"] == 1
    assert containers(job)[0]["args"] == ["migrate"]
    (cm,) = of_kind(rendered["docs"], "ConfigMap")
    assert cm["data"]["RUN_MIGRATIONS"] == "false", "pods must not migrate themselves"


def test_graceful_shutdown_fits_the_grace_period(rendered):
    (deployment,) = of_kind(rendered["docs"], "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    pause = containers(deployment)[0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    request_timeout = 30
    assert pod["terminationGracePeriodSeconds"] > pause + request_timeout


def test_a_node_drain_always_leaves_a_pod_serving(rendered):
    """At least two pods, spread over nodes; the budget lets a drain evict one while another
    serves (never zero: a drain would hang) and a rollout never takes one away first."""
    (deployment,) = of_kind(rendered["docs"], "Deployment")
    (budget,) = of_kind(rendered["docs"], "PodDisruptionBudget")
    hpa = of_kind(rendered["docs"], "HorizontalPodAutoscaler")
    fewest = hpa[0]["spec"]["minReplicas"] if hpa else deployment["spec"]["replicas"]
    assert fewest >= 2
    assert 1 <= budget["spec"]["minAvailable"] < fewest
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    by_key = {c["topologyKey"]: c for c in spread}
    assert by_key["kubernetes.io/hostname"]["maxSkew"] == 1
    for constraint in spread:
        assert constraint["labelSelector"]["matchLabels"] == budget["spec"]["selector"]["matchLabels"]


def policy_named(docs, name):
    (policy,) = [d for d in of_kind(docs, "NetworkPolicy") if d["metadata"]["name"] == name]
    return policy


def test_only_user_and_order_may_call_billing_directly(rendered):
    policy = policy_named(rendered["docs"], rendered["service"])
    peers = policy["spec"]["ingress"][0]["from"]
    pods = sorted(p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in peers if "podSelector" in p)
    assert pods == (["order", "user"] if rendered["service"] == "billing" else [])


def test_an_unpinned_image_tag_is_refused(tmp_path):
    chart = chart_copy("user", tmp_path)
    values = values_of("user", "default")
    values.setdefault("image", {})["tag"] = "latest"
    with pytest.raises(helm.HelmError if hasattr(helm, "HelmError") else Exception):
        render(chart, values, "user")


def database_of(service):
    docs = [d for d in yaml.safe_load_all((ROOT / service / "database" / "cluster.yaml").read_text()) if d]
    (cluster,) = [d for d in docs if d["kind"] == "Cluster"]
    return cluster


def env_of(doc):
    return {e["name"]: e for e in containers(doc)[0].get("env", [])}


def test_the_service_logs_in_with_what_its_database_operator_keeps(rendered):
    cluster = database_of(rendered["service"])
    for doc in of_kind(rendered["docs"], "Deployment") + of_kind(rendered["docs"], "Job"):
        ref = env_of(doc)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        # CloudNativePG keeps the owner's login in <cluster>-app, key uri.
        assert ref == {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}, doc["kind"]


def test_pool_size_times_the_most_replicas_fits_the_database(rendered):
    """The connection budget: every pod the HPA may run holds a full pool, the migration Job one
    connection more, and the operator, replication and superuser keep a reserve."""
    (deployment,) = of_kind(rendered["docs"], "Deployment")
    (cm,) = of_kind(rendered["docs"], "ConfigMap")
    hpa = of_kind(rendered["docs"], "HorizontalPodAutoscaler")
    most_replicas = hpa[0]["spec"]["maxReplicas"] if hpa else deployment["spec"]["replicas"]
    # Rolling updates add a pod (maxSurge) beside the most the HPA runs.
    most_pods = most_replicas + deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    pool = int(cm["data"]["DATABASE_MAX_CONNECTIONS"])
    max_connections = int(database_of(rendered["service"])["spec"]["postgresql"]["parameters"]["max_connections"])
    reserve = 3 + 10  # superuser_reserved_connections, plus the operator's and the standbys'
    assert pool * most_pods + 1 + reserve <= max_connections, (pool, most_pods, max_connections)


def kafka_docs():
    docs = []
    for path in sorted((ROOT / "kafka").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def test_kafka_clients_log_in_as_their_own_user_over_tls(rendered):
    (deployment,) = of_kind(rendered["docs"], "Deployment")
    (cm,) = of_kind(rendered["docs"], "ConfigMap")
    service = rendered["service"]
    if service not in ("order", "notification"):
        assert not any(k.startswith("KAFKA") for k in cm["data"]), "no Kafka for " + service
        return
    kafka = next(d for d in kafka_docs() if d["kind"] == "Kafka")
    cluster = kafka["metadata"]["name"]
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    users = {d["metadata"]["name"] for d in kafka_docs() if d["kind"] == "KafkaUser"}
    assert cm["data"]["KAFKA_BROKERS"] == f"{cluster}-kafka-bootstrap:{listener['port']}"
    assert cm["data"]["KAFKA_SECURITY_PROTOCOL"] == "sasl_ssl"
    assert cm["data"]["KAFKA_SASL_MECHANISM"] == listener["authentication"]["type"].upper()
    assert cm["data"]["KAFKA_SASL_USERNAME"] == service and service in users
    assert cm["data"]["KAFKA_CREATE_TOPICS"] == "false"
    # The password from the Secret Strimzi's user operator keeps for that KafkaUser.
    assert env_of(deployment)["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": service, "key": "password"}
    # The cluster CA Strimzi publishes, mounted where KAFKA_SSL_CA_LOCATION points.
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["kafka-ca"]["secret"]["secretName"] == f"{cluster}-cluster-ca-cert"
    mount = next(m for m in containers(deployment)[0]["volumeMounts"] if m["name"] == "kafka-ca")
    assert cm["data"]["KAFKA_SSL_CA_LOCATION"] == mount["mountPath"] + "/ca.crt"


def test_a_slow_start_waiting_for_the_database_is_not_killed(rendered):
    (deployment,) = of_kind(rendered["docs"], "Deployment")
    startup = containers(deployment)[0]["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert startup["httpGet"]["path"].endswith("/health/live")


def test_the_service_and_its_budget_count_serving_pods_only(rendered):
    """A Service selecting a Job's pod (migrate, redrive) would send it requests it does not
    listen for, and a PodDisruptionBudget would count it as serving."""
    (service,) = of_kind(rendered["docs"], "Service")
    (deployment,) = of_kind(rendered["docs"], "Deployment")
    (budget,) = of_kind(rendered["docs"], "PodDisruptionBudget")
    jobs = [j["spec"]["template"] for j in of_kind(rendered["docs"], "Job")]
    jobs += [c["spec"]["jobTemplate"]["spec"]["template"] for c in of_kind(rendered["docs"], "CronJob")]
    assert jobs
    for selector in [service["spec"]["selector"], budget["spec"]["selector"]["matchLabels"]]:
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        for pod in jobs:
            assert not selector.items() <= pod["metadata"]["labels"].items()


def test_redrive_jobs_are_made_on_demand_with_their_own_kafka_login(tmp_path):
    chart = chart_copy("notification", tmp_path)
    values = deep_merge(values_of("notification", "production"), {"redrive": {"args": ["--newer-than", "2h"]}})
    docs = render(chart, values, "notification")
    report = helm.lint(str(chart), values, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert not report.get("errors"), report
    (cron,) = of_kind(docs, "CronJob")
    kubernetes_validate.validate(cron, KUBE_VERSION, strict=True)
    assert cron["metadata"]["name"] == "notification-redrive"
    assert cron["spec"]["suspend"] is True, "it never runs by itself"
    assert "annotations" not in cron["metadata"], "not a helm hook: a redrive never fails a release"
    job = cron["spec"]["jobTemplate"]
    assert job["spec"]["backoffLimit"] == 0
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["redrive", "--newer-than", "2h"]
    env = {e["name"]: e for e in container["env"]}
    users = {d["metadata"]["name"] for d in kafka_docs() if d["kind"] == "KafkaUser"}
    user = env["KAFKA_SASL_USERNAME"]["value"]
    assert user == "notification-redrive" and user in users
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": user, "key": "password"}
    assert "secretKeyRef" in env["DATABASE_URL"]["valueFrom"]
    assert container["envFrom"] == [{"configMapRef": {"name": "notification"}}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "notification", "Kafka's network policy admits it"
    # By default the Jobs only list.
    (cron,) = of_kind(render(chart, values_of("notification", "production"), "notification"), "CronJob")
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["redrive"]


# What each service needs to reach, and nothing more (issue 27): its Postgres, Kafka for the two
# that use it, billing for its two callers; DNS for all.
CALLS = {"user": ["billing"], "order": ["billing"], "billing": [], "notification": []}
KAFKA_CLIENTS = {"order", "notification"}


def destinations(policy):
    """Each egress rule as (what it selects, sorted (protocol, port)); a rule without `to` or
    `ports`, or with an ipBlock, would open more than a named destination and is refused."""
    out = []
    for rule in policy["spec"].get("egress", []):
        assert rule.get("to") and rule.get("ports"), f"an open egress rule: {rule}"
        (peer,) = rule["to"]
        assert "ipBlock" not in peer, rule
        ns = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name", "")
        pods = tuple(sorted(peer.get("podSelector", {}).get("matchLabels", {}).items()))
        out.append(((ns, pods), sorted((p["protocol"], p["port"]) for p in rule["ports"])))
    return sorted(out)


def expected_destinations(service, database_cluster=None, kafka=True, calls=True):
    dns = (("kube-system", (("k8s-app", "kube-dns"),)), [("TCP", 53), ("UDP", 53)])
    db = (("", (("cnpg.io/cluster", database_cluster or database_of(service)["metadata"]["name"]),)), [("TCP", 5432)])
    want = [dns, db]
    if kafka and service in KAFKA_CLIENTS:
        cluster = next(d for d in kafka_docs() if d["kind"] == "Kafka")
        (listener,) = cluster["spec"]["kafka"]["listeners"]
        want.append((("", (("strimzi.io/cluster", cluster["metadata"]["name"]), ("strimzi.io/kind", "Kafka"))),
                     [("TCP", listener["port"])]))
    for callee in CALLS[service] if calls else []:
        port = yaml.safe_load((ROOT / callee / "chart" / "values.yaml").read_text())["service"]["port"]
        want.append((("", (("app.kubernetes.io/name", callee),)), [("TCP", port)]))
    return sorted(want)


def test_the_pods_reach_only_what_the_service_needs(rendered):
    service = rendered["service"]
    policy = policy_named(rendered["docs"], service)
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert destinations(policy) == expected_destinations(service)


def test_the_egress_selectors_match_the_pods_they_mean():
    """The labels the egress rules select are those the operators put on the pods: CloudNativePG
    labels each instance cnpg.io/cluster=<Cluster> (the databases' own policies and PodMonitors
    select it), Strimzi labels the brokers strimzi.io/cluster=<Kafka>, strimzi.io/kind=Kafka (the
    broker PodMonitor selects it); billing's pods are app.kubernetes.io/name=billing."""
    for service in SERVICES:
        docs = [d for d in yaml.safe_load_all((ROOT / service / "database" / "cluster.yaml").read_text()) if d]
        monitor = next(d for d in docs if d["kind"] == "PodMonitor")
        assert monitor["spec"]["selector"]["matchLabels"] == {"cnpg.io/cluster": f"{service}-db"}
    monitor = next(d for d in kafka_docs() if d["kind"] == "PodMonitor")
    kafka = next(d for d in kafka_docs() if d["kind"] == "Kafka")
    assert monitor["spec"]["selector"]["matchLabels"] == {"strimzi.io/cluster": kafka["metadata"]["name"],
                                                          "strimzi.io/kind": "Kafka"}


def test_whom_a_service_calls_lets_it_in():
    """Both ends agree: a service calls billing only if billing's policy admits it, and the
    database and Kafka policies admit the services whose egress names them."""
    billing = yaml.safe_load((ROOT / "billing" / "chart" / "values.yaml").read_text())
    callers = sorted(s for s, callees in CALLS.items() if "billing" in callees)
    assert sorted(billing["networkPolicy"]["allowFrom"]) == callers
    for service in callers:
        values = yaml.safe_load((ROOT / service / "chart" / "values.yaml").read_text())
        assert values["config"]["BILLING_URL"].endswith(":8082")
    kafka = next(d for d in kafka_docs() if d["kind"] == "Kafka")
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    (peer,) = listener["networkPolicyPeers"]
    assert sorted(peer["podSelector"]["matchExpressions"][0]["values"]) == sorted(KAFKA_CLIENTS)


def test_the_migration_job_reaches_its_database_before_the_release_exists(rendered):
    """A hook before the Job's own (weight 0): on a first install into a namespace that already
    denies all, the Job still reaches DNS and its Postgres, and nothing else."""
    service = rendered["service"]
    policy = policy_named(rendered["docs"], f"{service}-migrate")
    (job,) = of_kind(rendered["docs"], "Job")
    annotations = policy["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == job["metadata"]["annotations"]["helm.sh/hook"]
    assert int(annotations["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert "hook-succeeded" not in annotations["helm.sh/hook-delete-policy"], "it must outlive the Job's start"
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"] and "ingress" not in policy["spec"]
    assert destinations(policy) == expected_destinations(service, kafka=False, calls=False)


def test_redrive_jobs_reach_their_database_and_kafka_only(tmp_path):
    chart = chart_copy("notification", tmp_path)
    docs = render(chart, values_of("notification", "default"), "notification")
    policy = policy_named(docs, "notification-redrive")
    (cron,) = of_kind(docs, "CronJob")
    labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert "ingress" not in policy["spec"]
    assert destinations(policy) == expected_destinations("notification")


def test_an_otlp_collector_is_reached_on_its_endpoints_port(tmp_path):
    chart = chart_copy("order", tmp_path)
    values = deep_merge(values_of("order", "production"), {
        "config": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability.svc:4318"},
        "networkPolicy": {"otlpCollector": {"namespace": "observability",
                                            "podLabels": {"app.kubernetes.io/name": "otel-collector"}}}})
    policy = policy_named(render(chart, values, "order"), "order")
    extra = [d for d in destinations(policy) if d not in expected_destinations("order")]
    assert extra == [(("observability", (("app.kubernetes.io/name", "otel-collector"),)), [("TCP", 4318)])]
    # Without the collector's namespace the chart says what is missing rather than render a
    # policy that silently drops the spans.
    values["networkPolicy"]["otlpCollector"]["namespace"] = ""
    with pytest.raises(Exception, match="otlpCollector.namespace"):
        render(chart, values, "order")


def test_each_service_gets_only_its_own_credentials(rendered):
    """Issue 27: one credential per calling service. user and order read their own SERVICE_TOKEN
    (the X-Service-Token they send); billing reads its callers' credentials, by caller, and no
    SERVICE_TOKEN; notification calls nobody and gets none."""
    (deployment,) = of_kind(rendered["docs"], "Deployment")
    service = rendered["service"]
    secret_env = {name: e["valueFrom"]["secretKeyRef"] for name, e in env_of(deployment).items()
                  if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == f"shop-{service}"}
    want = {"user": ["SERVICE_TOKEN"], "order": ["SERVICE_TOKEN"], "notification": [],
            "billing": ["ORDER_SERVICE_TOKEN", "USER_SERVICE_TOKEN"]}[service]
    assert sorted(secret_env) == want
    assert all(ref["key"] == name for name, ref in secret_env.items())
