"""make image-check, once the images are built (scripts/image-check.sh): every image run as its
chart runs it, against this machine's Postgres and broker, and each service chart played by
`podman kube play`.

For each service the chart is rendered (Helm 4's library, as charts/tests do) and the operators'
Secrets are made up with the names the chart reads. Then:
- the migration Job's command, user, env and limits, as a container: exits 0;
- the Deployment's container, with the Deployment's user, read-only root, dropped capabilities,
  no privilege escalation, memory and CPU limits, env (ConfigMap and Secrets), mounts (the
  Secrets' files as the pod gets them, /tmp an emptyDir) and probes: the probes answer 200, a
  shopper's journey through all four succeeds, every log line is JSON, and SIGTERM drains and
  exits 0;
- the web image as the edge chart runs it: the storefront and Swagger UI with their headers;
- `podman kube play` of each service chart's rendered ConfigMap, Deployment and Secrets: the pod
  answers its probes, runs as the chart's user with the chart's mounts.

The one change to what the charts give: order and notification speak plaintext to the local
broker (the cluster's Kafka is SASL_SSL with SCRAM through Strimzi; tansu has neither).
Prints one summary line per image; exits 1 if any check failed.
"""

import base64
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "charts" / "tests"))
from test_charts import chart_copy, render, values_of  # noqa: E402

SERVICES = ["user", "billing", "order", "notification"]
WEB_PORT = 8080
KAFKA = os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092")
PG = os.environ["IMAGE_CHECK_PG"]  # postgres://user:password@host:port (no database)
TAG = os.environ["IMAGE_TAG"]
KEYS = ROOT / ".local" / "keys"
PREFIX = "imagecheck"
MAX_IMAGE_MB = 40


def podman(*args, check=True, capture=True, timeout=180):
    result = subprocess.run(["podman", *args], capture_output=capture, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def http(url, method="GET", body=None, token=None, timeout=5):
    """(status, headers, body) of one request; a refused connection is status 0."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}, b""


class Checks:
    """The checks of one image: each passes or fails with what was seen."""

    def __init__(self, image):
        self.image = image
        self.passed = []
        self.failed = []

    def check(self, what, ok, seen=""):
        (self.passed if ok else self.failed).append(what)
        mark = "ok  " if ok else "FAIL"
        print(f"  [{mark}] {self.image}: {what}" + (f" ({seen})" if seen and not ok else ""), flush=True)
        return ok


# --- What the operators would create, with the names the charts read.

def operator_secrets(service):
    """The Secrets a cluster holds for a service: its database login (CloudNativePG's
    <service>-db-app, key uri), its own Secret (JWT keys, service credentials), and for Kafka
    clients their KafkaUser's password and the cluster CA (Strimzi)."""
    public, private = (KEYS / "jwt-public.pem").read_text(), (KEYS / "jwt-private.pem").read_text()
    user_token = (KEYS / "service-token-user").read_text().strip()
    order_token = (KEYS / "service-token-order").read_text().strip()
    own = {"JWT_PUBLIC_KEY": public}
    if service == "user":
        own |= {"JWT_PRIVATE_KEY": private, "SERVICE_TOKEN": user_token}
    if service == "order":
        own["SERVICE_TOKEN"] = order_token
    if service == "billing":
        own |= {"USER_SERVICE_TOKEN": user_token, "ORDER_SERVICE_TOKEN": order_token}
    secrets = {
        f"{service}-db-app": {"uri": f"{PG}/{PREFIX}_{service}?sslmode=disable"},
        f"shop-{service}": own,
    }
    if service in ("order", "notification"):
        secrets[service] = {"password": "local-broker-has-no-sasl"}
        secrets["shop-cluster-ca-cert"] = {"ca.crt": Path("/etc/ssl/certs/ca-certificates.crt").read_text()}
    return secrets


def rendered(service, tmp):
    values = values_of(service, "default")
    if values.get("kafka", {}).get("enabled"):
        values["kafka"]["bootstrapServers"] = KAFKA
    docs = render(chart_copy(service, tmp), values, service)
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


def local_env(env):
    """The one change: the local broker speaks plaintext."""
    if "KAFKA_SECURITY_PROTOCOL" in env:
        env["KAFKA_SECURITY_PROTOCOL"] = "plaintext"
    return env


def container_env(container, configmaps, secrets):
    env = {}
    for source in container.get("envFrom", []):
        env |= configmaps[source["configMapRef"]["name"]]
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return local_env(env)


def env_flags(env):
    """podman's flags for an environment."""
    return [flag for key, value in env.items() for flag in ("-e", f"{key}={value}")]


def security_flags(pod_spec, container):
    """podman's flags for a pod's and its container's securityContext and resources."""
    pod_sc, sc = pod_spec.get("securityContext", {}), container.get("securityContext", {})
    user, group = sc.get("runAsUser", pod_sc.get("runAsUser")), sc.get("runAsGroup", pod_sc.get("runAsGroup"))
    flags = ["--user", f"{user}:{group}"]
    if "fsGroup" in pod_sc:
        flags += ["--group-add", str(pod_sc["fsGroup"])]
    if sc.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    for cap in sc.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", cap]
    if sc.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        flags += ["--memory", limits["memory"].replace("Mi", "m").replace("Gi", "g")]
    if "cpu" in limits:
        cpu = limits["cpu"]
        flags += ["--cpus", str(int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu))]
    return flags, (user, group)


def secret_files(volume, secrets, directory, fs_group):
    """A secret volume's files as the kubelet writes them: each item at its path, with the
    volume's defaultMode, owned by root and the pod's fsGroup."""
    directory.mkdir(parents=True)
    data = secrets[volume["secret"]["secretName"]]
    for item in volume["secret"]["items"]:
        path = directory / item["path"]
        path.write_text(data[item["key"]])
        os.chown(path, 0, fs_group)
        path.chmod(volume["secret"].get("defaultMode", 0o644))
    directory.chmod(0o755)
    return directory


def mount_flags(pod_spec, container, secrets, workdir, fs_group):
    """The container's volumes as the kubelet gives them: a secret volume's items as files
    (defaultMode, group fsGroup), an emptyDir as a tmpfs."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    flags = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "secret" in volume:
            directory = secret_files(volume, secrets, workdir / mount["name"], fs_group)
            flags += ["-v", f"{directory}:{mount['mountPath']}:ro"]
        elif "emptyDir" in volume:
            flags += ["--tmpfs", f"{mount['mountPath']}:rw,size=16m,mode=1777"]
    return flags


def json_object(line):
    """The JSON object a log line is, or None."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def json_log_lines(name):
    """A container's log lines, and those that are not a JSON object."""
    logs = podman("logs", name, check=False)
    lines = [line for line in (logs.stdout + logs.stderr).splitlines() if line.strip()]
    return lines, [line for line in lines if json_object(line) is None]


def processes(name):
    """Each process in the container as the kernel sees it (/proc on the host): uid, gid, its
    bounding and permitted capability sets, and no_new_privs. A process the chart runs has
    (uid, gid, 0, 0, 1): all capabilities dropped (an empty bounding set, so none can be gained)
    and privilege escalation off."""
    top = podman("top", name, "hpid", check=False).stdout.split()[1:]
    found = []
    for pid in top:
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        found.append((int(status["Uid"].split()[1]), int(status["Gid"].split()[1]), int(status["CapBnd"], 16),
                      int(status["CapPrm"], 16), int(status["NoNewPrivs"])))
    return found


def wait_for(url, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _, _ = http(url)
        if status == 200:
            return 200
        time.sleep(0.5)
    return http(url)[0]


def probe_url(port, probe):
    return f"http://127.0.0.1:{port}{probe['httpGet']['path']}"


def run_service(service, checks, workdir):
    """The migration Job, then the Deployment's container, detached. Returns the container's
    name, its liveness URL and the pod's grace period."""
    docs = rendered(service, workdir / "chart")
    secrets = operator_secrets(service)
    configmaps = {c["metadata"]["name"]: c["data"] for c in docs["ConfigMap"]}
    image = f"shop/{service}:{TAG}"

    (job,) = docs["Job"]
    job_pod = job["spec"]["template"]["spec"]
    (migrate,) = job_pod["containers"]
    flags, _ = security_flags(job_pod, migrate)
    env = container_env(migrate, configmaps, secrets)
    result = podman("run", "--rm", "--network", "host", *flags, *env_flags(env), image, *migrate.get("args", []),
                    check=False)
    checks.check("the migration Job's command exits 0", result.returncode == 0,
                 (result.stdout + result.stderr)[-400:])

    (deployment,) = docs["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    flags, (user, group) = security_flags(pod, container)
    mounts = mount_flags(pod, container, secrets, workdir / "volumes", pod["securityContext"]["fsGroup"])
    env = container_env(container, configmaps, secrets)
    # A pod that cannot start says why in a log line like the others, and exits 1.
    broken = env_flags({key: value for key, value in env.items() if key != "DATABASE_URL"})
    result = podman("run", "--rm", "--network", "host", *flags, *mounts, *broken, image, check=False)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    records = [record for record in map(json_object, lines) if record is not None]
    checks.check("without DATABASE_URL it exits 1 with the reason as a JSON log line",
                 result.returncode == 1 and len(records) == len(lines)
                 and any(r.get("level") == "ERROR" and "DATABASE_URL" in r.get("message", "") for r in records),
                 f"exit {result.returncode}: {lines[-2:]}")

    name = f"{PREFIX}-{service}"
    podman("rm", "-f", name, check=False)
    # host network: the local Postgres and broker listen on loopback. billing is the chart's
    # BILLING_URL host, the Kubernetes Service name.
    podman("run", "-d", "--name", name, "--network", "host", "--add-host", "billing:127.0.0.1",
           *flags, *mounts, *env_flags(env), image)
    port = int(env["PORT"])
    startup = wait_for(probe_url(port, container["startupProbe"]), 60)
    checks.check("the startup probe answers 200", startup == 200, f"status {startup}")
    for probe in ("readinessProbe", "livenessProbe"):
        status = wait_for(probe_url(port, container[probe]), 20)
        checks.check(f"the {probe.removesuffix('Probe')} probe answers 200", status == 200, f"status {status}")
    inspect = json.loads(podman("inspect", name).stdout)[0]
    running = processes(name)
    checks.check(f"runs as uid {user}, gid {group}, all capabilities dropped, no privilege escalation",
                 running and all(p == (user, group, 0, 0, 1) for p in running), f"{running}")
    checks.check("its root filesystem is read-only", inspect["HostConfig"]["ReadonlyRootfs"] is True)
    return name, probe_url(port, container["livenessProbe"]), pod["terminationGracePeriodSeconds"]


def journey(results):
    """A shopper through the four containers: register (user opens the account in billing with
    its credential), log in, read the balance, the catalogue and the notifications."""
    checks = results["user"]
    login = f"imagecheck-{uuid.uuid4().hex[:10]}"
    password = "an image check's password 1"
    status, _, body = http("http://127.0.0.1:8081/api/v1/users/register", "POST",
                           {"login": login, "password": password}, timeout=20)
    checks.check("register through the user image answers 201", status == 201, f"{status} {body[:200]!r}")
    status, _, body = http("http://127.0.0.1:8081/api/v1/users/login", "POST",
                           {"login": login, "password": password}, timeout=20)
    token = json.loads(body)["data"]["accessToken"] if status == 200 else None
    checks.check("login answers 200 with a token signed by the mounted key", token is not None, f"{status}")
    reads = {
        "billing": "http://127.0.0.1:8082/api/v1/billing/account/my",
        "order": "http://127.0.0.1:8083/api/v1/products",
        "notification": "http://127.0.0.1:8084/api/v1/notifications",
    }
    for service, url in reads.items():
        status, _, body = http(url, token=token)
        results[service].check(f"a signed-in read answers 200 ({url.split('/api/v1')[1]})", status == 200,
                               f"{status} {body[:200]!r}")


def stop(name, url, grace, checks):
    """SIGTERM, as the kubelet sends it: the service drains and exits 0 within the grace."""
    started = time.monotonic()
    podman("kill", "--signal", "TERM", name, check=False)
    # During the drain (SHUTDOWN_DRAIN_MS, 1 s) the service still answers, closing each
    # connection as it does, while the endpoints drop the pod.
    status, _, _ = http(url)
    checks.check("a request during the drain after SIGTERM is answered", status != 0, "connection refused")
    try:
        code = podman("wait", name, check=False, timeout=grace + 30).stdout.strip()
    except subprocess.TimeoutExpired:
        code = "none (still running)"
    seconds = time.monotonic() - started
    checks.check(f"SIGTERM drains and exits 0 within the grace of {grace} s",
                 code == "0" and seconds <= grace, f"exit {code} after {seconds:.1f} s")
    lines, bad = json_log_lines(name)
    checks.check("every log line is a JSON object", lines and not bad, f"{len(bad)} of {len(lines)}: {bad[:2]}")
    podman("rm", "-f", name, check=False)


def check_web(checks, workdir):
    """The web image with the edge chart's securityContext and limits."""
    chart = yaml.safe_load_all((ROOT / "api-gateway" / "ingress.yaml").read_text())
    (deployment,) = [d for d in chart if d and d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-web")]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    flags, (user, group) = security_flags(pod, container)
    mounts = mount_flags(pod, container, {}, workdir / "web-volumes", 0)
    name = f"{PREFIX}-web"
    podman("rm", "-f", name, check=False)
    podman("run", "-d", "--name", name, "--network", "host", *flags, *mounts, f"shop/web:{TAG}")
    status = wait_for(f"http://127.0.0.1:{WEB_PORT}/", 20)
    checks.check("the probe path / answers 200", status == 200, f"status {status}")
    answers = []

    def get(path):
        answer = http(f"http://127.0.0.1:{WEB_PORT}{path}")
        answers.append((path, answer[1]))
        return answer

    status, headers, body = get("/")
    checks.check("/ is the storefront, revalidated at every load, with its CSP",
                 b"<html" in body.lower() and headers.get("Cache-Control") == "no-cache"
                 and "frame-ancestors 'none'" in (headers.get("Content-Security-Policy") or ""),
                 f"{status} {dict(headers)}")
    asset = next((part.split('"')[0] for part in body.decode().split('src="/assets/')[1:]), None)
    status, headers, _ = get(f"/assets/{asset}") if asset else (0, {}, b"")
    checks.check("a hashed asset is cached for a year",
                 status == 200 and "immutable" in (headers.get("Cache-Control") or ""), f"{status} {asset}")
    status, headers, body = get("/api/docs/")
    checks.check("Swagger UI at /api/docs/ with X-Frame-Options DENY and its CSP",
                 status == 200 and headers.get("X-Frame-Options") == "DENY"
                 and "sha256-" in (headers.get("Content-Security-Policy") or ""), f"{status}")
    status, headers, body = get("/api/docs/openapi.yaml")
    checks.check("the merged OpenAPI document is served", status == 200 and b"openapi:" in body, f"{status}")
    status, _, _ = get("/elsewhere")
    checks.check("another path is 404", status == 404, f"{status}")
    missing = [path for path, headers in answers if headers.get("X-Content-Type-Options") != "nosniff"]
    checks.check("every answer above has X-Content-Type-Options: nosniff", not missing, f"{missing}")
    running = processes(name)
    checks.check(f"nginx's processes run as uid {user}, gid {group}, all capabilities dropped, no privilege escalation",
                 len(running) >= 2 and all(p == (user, group, 0, 0, 1) for p in running), f"{running}")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    started = time.monotonic()
    podman("stop", "--time", str(grace), name)
    code = podman("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip()
    checks.check("its stop signal (SIGQUIT) ends nginx gracefully with exit 0", code == "0",
                 f"exit {code} after {time.monotonic() - started:.1f} s")
    podman("rm", "-f", name, check=False)


def podman_secret(name, data):
    """A Kubernetes Secret as podman 4.3's kube play reads one: a podman secret whose value is a
    JSON object of base64 values (a Secret object in the played YAML is stored in a shape its
    env lookup cannot read, podman#16269, fixed in 4.4)."""
    podman("secret", "rm", name, check=False)
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    result = subprocess.run(["podman", "secret", "create", name, "-"], input=json.dumps(encoded),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"podman secret create {name}: {result.stderr.strip()}")


def kube_play(service, checks, workdir):
    """`podman kube play` of the chart's ConfigMap and Deployment (one replica), with the
    operators' Secrets as podman secrets, on the host network (hostNetwork).

    What podman 4.3 cannot play as Kubernetes would, and how the check gets around it:
    - a Secret used both for env and as a volume: 4.3 reads a Secret's podman secret as a JSON
      object of base64 values for env (podman#16269, #16623) but as a Secret object for a volume
      (and crashes on a secret volume without `optional`, podman#16636); all fixed in 4.4. The
      Secrets are podman secrets in the env's shape, and the played Deployment gets each secret
      volume's files through a hostPath volume laid out as the kubelet lays them out (items,
      defaultMode, fsGroup);
    - on the host's network (hostNetwork, as the local Postgres and broker listen on loopback)
      it turns each containerPort into a host port mapping and refuses it: the played container
      lists no ports (informational in Kubernetes) and its probes name the port by number;
    - probes become podman healthchecks, which need systemd's timers (none here): the check
      asks the probe paths itself; startupProbe, preStop and terminationGracePeriodSeconds are
      not played."""
    docs = rendered(service, workdir / "kube-chart")
    (deployment,) = docs["Deployment"]
    deployment = copy.deepcopy(deployment)
    deployment["spec"]["replicas"] = 1
    pod = deployment["spec"]["template"]["spec"]
    pod["hostNetwork"] = True
    # podman 4.3 plays an emptyDir as a named volume of the same name: one of the check's own.
    for volume in pod["volumes"]:
        if "emptyDir" in volume:
            for container in pod["containers"]:
                for mount in container["volumeMounts"]:
                    if mount["name"] == volume["name"]:
                        mount["name"] = f"{PREFIX}-{service}-{volume['name']}"
            volume["name"] = f"{PREFIX}-{service}-{volume['name']}"
    for container in pod["containers"]:
        ports = {port["name"]: port["containerPort"] for port in container.pop("ports", [])}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = container.get(probe, {}).get("httpGet", {})
            get["port"] = ports.get(get.get("port"), get.get("port"))
    secrets = operator_secrets(service)
    for volume in pod["volumes"]:
        if "secret" in volume:
            files = secret_files(volume, secrets, workdir / "kube-volumes" / volume["name"],
                                 pod["securityContext"]["fsGroup"])
            volume.pop("secret")
            volume["hostPath"] = {"path": str(files), "type": "Directory"}
    configmaps = copy.deepcopy(docs["ConfigMap"])
    for configmap in configmaps:
        local_env(configmap["data"])
    manifest = workdir / f"{service}-kube.yaml"
    manifest.write_text(yaml.safe_dump_all(configmaps + [deployment]))
    # podman 4.3 keeps a played pod's named volumes after `kube down`: fresh ones each time.
    volumes = [v["name"] for v in pod["volumes"] if "emptyDir" in v]

    def clean():
        podman("kube", "down", str(manifest), check=False)
        for volume in volumes:
            podman("volume", "rm", "--force", volume, check=False)
        for name in secrets:
            podman("secret", "rm", name, check=False)

    clean()
    for name, data in secrets.items():
        podman_secret(name, data)
    result = podman("kube", "play", "--replace", str(manifest), check=False)
    try:
        if not checks.check("podman kube play starts the chart's pod", result.returncode == 0,
                            result.stderr.strip()[-400:]):
            return
        (container,) = pod["containers"]
        port = int(docs["ConfigMap"][0]["data"]["PORT"])
        status = wait_for(probe_url(port, container["readinessProbe"]), 60)
        checks.check("the played pod's readiness probe answers 200", status == 200, f"status {status}")
        status = wait_for(probe_url(port, container["livenessProbe"]), 10)
        checks.check("the played pod's liveness probe answers 200", status == 200, f"status {status}")
        ps = json.loads(podman("ps", "-a", "--format", "json").stdout or "[]")
        played = [c for c in ps if not c.get("IsInfra") and c["Image"].endswith(f"shop/{service}:{TAG}")]
        if not checks.check("the played container runs the service's image", len(played) == 1, f"{len(played)}"):
            return
        name = played[0]["Names"][0]
        inspect = json.loads(podman("inspect", name).stdout)[0]
        mounts = {m["Destination"] for m in inspect["Mounts"]}
        wanted = {m["mountPath"] for m in container["volumeMounts"]}
        checks.check("the pod has the chart's mounts", wanted <= mounts, f"{sorted(mounts)} of {sorted(wanted)}")
        running = processes(name)
        checks.check("the pod runs as the chart's 10001:10001, all capabilities dropped, no privilege escalation",
                     running and all(p == (10001, 10001, 0, 0, 1) for p in running), f"{running}")
        checks.check("the pod's root filesystem is read-only", inspect["HostConfig"]["ReadonlyRootfs"] is True)
        lines, bad = json_log_lines(name)
        checks.check("the played pod logs JSON lines", lines and not bad, f"{len(bad)} of {len(lines)}: {bad[:2]}")
    finally:
        clean()


def image_contents(image, path, workdir):
    """A file of an image, read without running it."""
    container = podman("create", image).stdout.strip()
    try:
        target = workdir / f"{container}-{Path(path).name}"
        podman("cp", f"{container}:{path}", str(target))
        return target.read_text()
    finally:
        podman("rm", "-f", container, check=False)


def check_image(image, checks, workdir):
    """What an image is, whatever runs it: small, and trusting Debian's CAs only (not those
    this machine adds, which the build stages trust)."""
    size = int(podman("image", "inspect", image, "--format", "{{.Size}}").stdout.strip())
    checks.check(f"the image is under {MAX_IMAGE_MB} MB", size < MAX_IMAGE_MB * 1_000_000, f"{size / 1e6:.1f} MB")
    if image.startswith("shop/web"):
        return size
    bundle = image_contents(image, "/etc/ssl/certs/ca-certificates.crt", workdir).replace("\n", "")
    extra = [cert for cert in Path("/usr/local/share/ca-certificates").glob("*.crt")
             if "".join(cert.read_text().split("-----")[2].split()) in bundle]
    checks.check("its CA bundle holds none of the CAs this machine adds to Debian's", not extra, f"{extra}")
    return size


def main():
    with tempfile.TemporaryDirectory(prefix="image-check-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)
        results = {service: Checks(f"shop/{service}:{TAG}") for service in SERVICES}
        results["web"] = Checks(f"shop/web:{TAG}")

        def step(checks, what, *args):
            """One step: an error in the check itself is a failure of that image, not the end."""
            try:
                return what(*args)
            except Exception as error:  # noqa: BLE001 - reported as a failed check
                checks.check(f"{what.__name__} ran to its end", False, f"{type(error).__name__}: {error}")
                return None

        sizes = {}
        try:
            sizes = {name: step(checks, check_image, checks.image, checks, workdir) for name, checks in results.items()}
            print("== each service image, as its chart runs it", flush=True)
            running = {service: step(results[service], run_service, service, results[service], workdir / service)
                       for service in SERVICES}
            print("== a shopper's journey through the four images", flush=True)
            journey(results)
            print("== SIGTERM", flush=True)
            for service in SERVICES:
                if running[service]:
                    step(results[service], stop, *running[service], results[service])
            print("== the charts, played by podman kube play", flush=True)
            for service in SERVICES:
                step(results[service], kube_play, service, results[service], workdir / service)
            print("== the web image", flush=True)
            step(results["web"], check_web, results["web"], workdir)
        finally:
            for name in podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split():
                if name.startswith(PREFIX):
                    podman("rm", "-f", name, check=False)

    print("\n== summary", flush=True)
    failed = False
    for name, result in results.items():
        verdict = "passed" if not result.failed else f"FAILED: {'; '.join(result.failed)}"
        size = f"{sizes[name] / 1e6:.1f} MB" if sizes.get(name) else "?"
        print(f"{result.image:<28} {size:>8}  {len(result.passed) + len(result.failed)} checks {verdict}")
        failed |= bool(result.failed)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
