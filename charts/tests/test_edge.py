"""The edge (api-gateway/chart) on the F5 NGINX Ingress Controller 5.5.4, checked without a
cluster. No registry package ships that controller's CRDs (VirtualServer, Policy), so the fields
used are checked here against the controller's own validation rules (cited per test), and the
routes are resolved the way nginx matches locations to prove what is and is not public."""

import base64
import hashlib
import json
import re
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from custom_resources import validate
from edge import EXAMPLE, example, render

ROOT = Path(__file__).resolve().parents[2]
KUBE_VERSION = "1.33.0"
VARIANTS = {
    "given-secret": EXAMPLE,
    "cert-manager": {"host": "shop.example.org", "tls": {"secretName": "shop-tls", "clusterIssuer": "letsencrypt"}},
    "no-web": {"host": "shop.example.org", "web": {"enabled": False}},
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def docs(request):
    return render(VARIANTS[request.param])


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name)
    return found[0]


def virtual_server(docs):
    return one(docs, "VirtualServer")["spec"]


def resolve(spec, path):
    """The route nginx picks for `path`: an exact match (=) first, else the longest prefix."""
    routes = spec["routes"]
    exact = [r for r in routes if r["path"] == "=" + path]
    if exact:
        return exact[0]
    prefixes = [r for r in routes if not r["path"].startswith("=") and path.startswith(r["path"])]
    return max(prefixes, key=lambda r: len(r["path"]))


def upstream(route):
    """The upstream a route passes to: `pass`, or a `proxy` action's upstream."""
    action = route["action"]
    return action.get("pass") or action.get("proxy", {}).get("upstream")


def test_lint_is_clean():
    report = helm.lint(str(ROOT / "api-gateway" / "chart"), EXAMPLE, strict=True, kube_version=f"v{KUBE_VERSION}")
    errors = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", [])
    assert errors == []


def test_the_host_is_required():
    with pytest.raises(Exception, match="host"):
        render({})


def test_built_in_objects_match_the_kubernetes_schemas(docs):
    custom = [d for d in docs if d["apiVersion"].startswith("k8s.nginx.org/")]
    for doc in docs:
        if doc not in custom:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    # Said plainly: no package carries these schemas.
    assert set(validate(custom).values()) == {"no schema"}


# The controller's rules for the fields used (pkg/apis/configuration/validation, v5.5.4).
ESCAPED = re.compile(r'^([^"\\]|\\.)*$')            # common.go: escapedStringsFmt
RETURN_TYPE = re.compile(r'^([^;\{\}"\\]|\\.)*$')   # virtualserver.go: actionReturnTypeFmt
RATE = re.compile(r"^[1-9]\d*r/[sm]$")              # policy.go: rate
HEADER_NAME = re.compile(r"^[-A-Za-z0-9]+$")         # validation.IsHTTPHeaderName
HEADER_VALUE = re.compile(r'^([^"$\\]|\\[^$])*$')      # virtualserver.go: headerValueFmt


def test_virtual_server_fields_pass_the_controllers_validation(docs):
    spec = virtual_server(docs)
    upstreams = {u["name"] for u in spec["upstreams"]}
    assert len(upstreams) == len(spec["upstreams"]), "upstream names are unique"
    paths = [r["path"] for r in spec["routes"]]
    assert len(paths) == len(set(paths)), "route paths are unique"
    policies = {d["metadata"]["name"] for d in docs if d["kind"] == "Policy"}
    for route in spec["routes"]:
        assert route["path"][0] in "/=", route["path"]
        action = route["action"]
        assert len(action) == 1, "one of pass, proxy, redirect, return"
        if "pass" in action:
            assert action["pass"] in upstreams
        if "proxy" in action:
            assert action["proxy"]["upstream"] in upstreams
            for header in action["proxy"].get("responseHeaders", {}).get("add", []):
                assert HEADER_NAME.match(header["name"]) and HEADER_VALUE.match(header["value"]), header
            assert set(action["proxy"]) <= {"upstream", "responseHeaders"}, "no rewrite, requests pass as they are"
        if "redirect" in action:
            assert action["redirect"]["code"] in (301, 302, 307, 308)
        if "return" in action:
            ret = action["return"]
            assert 400 <= ret["code"] <= 599 and ESCAPED.match(ret["body"]) and RETURN_TYPE.match(ret["type"])
            for header in ret.get("headers", []):
                assert HEADER_NAME.match(header["name"]) and HEADER_VALUE.match(header["value"]), header
        for page in route.get("errorPages", []):
            assert all(300 <= c <= 599 for c in page["codes"])
            assert ESCAPED.match(page["return"]["body"]) and RETURN_TYPE.match(page["return"]["type"])
            for header in page["return"].get("headers", []):
                # validateErrorPageHeader: an escaped string, no variable but ${upstream_status}.
                assert HEADER_NAME.match(header["name"]) and ESCAPED.match(header["value"]), header
                assert "$" not in header["value"].replace("${upstream_status}", ""), header
        for ref in route.get("policies", []):
            assert ref["name"] in policies
    assert spec["tls"]["redirect"]["code"] in (301, 302, 307, 308)
    for policy in (d for d in docs if d["kind"] == "Policy"):
        limit = policy["spec"]["rateLimit"]
        assert RATE.match(limit["rate"]) and limit["burst"] > 0


def test_the_host_and_tls_are_the_values(docs):
    spec = virtual_server(docs)
    assert spec["host"] in ("shop.example.com", "shop.example.org")
    assert spec["tls"]["secret"] == "shop-tls"
    assert spec["tls"]["redirect"]["enable"] is True, "plain HTTP goes to HTTPS"
    issuer = spec["tls"].get("cert-manager")
    assert issuer in (None, {"cluster-issuer": "letsencrypt"})


def json_body(escaped):
    return yaml.safe_load('"' + escaped + '"')


@pytest.mark.parametrize("path,service", [
    ("/api/v1/users/login", "user"), ("/api/v1/users/register", "user"), ("/api/v1/users/me", "user"),
    ("/api/v1/billing/account/my", "billing"), ("/api/v1/billing/account/deposit", "billing"),
    ("/api/v1/orders", "order"), ("/api/v1/orders/42", "order"),
    ("/api/v1/products", "order"), ("/api/v1/products/42/restock", "order"),
    ("/api/v1/notifications", "notification"), ("/api/v1/notifications/7", "notification"),
])
def test_the_public_api_reaches_its_service(docs, path, service):
    route = resolve(virtual_server(docs), path)
    assert upstream(route) == service
    pages = {c: p["return"] for p in route["errorPages"] for c in p["codes"]}
    assert set(pages) >= {413, 502, 503, 504}, "the controller's own errors are JSON"
    # 429 only where the edge itself limits: elsewhere a service's own 429 passes with its
    # Retry-After (an error page would replace both).
    assert (429 in pages) == (route["path"] in ("=/api/v1/users/login", "=/api/v1/users/register")), route["path"]
    assert pages[502]["code"] == 502 and json_body(pages[502]["body"]) and "outcome_unknown" in pages[504]["body"]
    # The 503 page replaces a service's own (a full password queue), so it says when to retry.
    assert {h["name"]: h["value"] for h in pages[503]["headers"]}["Retry-After"] == "1"


@pytest.mark.parametrize("path", [
    "/api/v1/billing/account", "/api/v1/billing/account/withdraw", "/api/v1/billing/account/refund",
    "/api/v1/billing/openapi.json", "/api/v1/users/openapi.json", "/api/v1/orders/openapi.json",
    "/api/v1/notifications/openapi.json", "/api/v1/users/health", "/api/v1/billing/health",
    "/api/v1/orders/health", "/api/v1/notifications/health", "/metrics", "/api/v1/usersX", "/admin", "/index.html",
    "/api/v1/productsX",
])
def test_no_internal_path_is_public(docs, path):
    route = resolve(virtual_server(docs), path)
    ret = route["action"].get("return")
    assert ret and ret["code"] == 404 and ret["type"] == "application/json", (path, route)
    # Valid JSON once nginx unescapes it.
    assert json.loads(json_body(ret["body"]))["code"] == "not_found"


def test_login_and_registration_are_limited_per_client_with_429(docs):
    spec = virtual_server(docs)
    policies = {d["metadata"]["name"]: d["spec"]["rateLimit"] for d in docs if d["kind"] == "Policy"}
    for path, rate, burst in [("/api/v1/users/login", "10r/m", 5), ("/api/v1/users/register", "30r/m", 20)]:
        route = resolve(spec, path)
        assert route["path"] == "=" + path
        (ref,) = route["policies"]
        limit = policies[ref["name"]]
        assert (limit["rate"], limit["burst"], limit["rejectCode"]) == (rate, burst, 429)
        assert limit["key"] == "${binary_remote_addr}"
    # The same limits as the local gateway.
    conf = (ROOT / "api-gateway" / "nginx.conf.template").read_text()
    assert "limit_req zone=login burst=5 nodelay" in conf and "limit_req zone=register burst=20 nodelay" in conf
    assert "${LOGIN_RATE:-10r/m}" in (ROOT / "scripts" / "services.sh").read_text()


def test_the_local_gateway_routes_the_same_public_prefixes():
    conf = (ROOT / "api-gateway" / "nginx.conf.template").read_text()
    routed = dict(re.findall(r"location =? ?(/api/v1/[a-z]+)/? +\{ proxy_pass http://([a-z]+)_service; \}", conf))
    spec = virtual_server(render(EXAMPLE))
    for prefix, service in [("/api/v1/orders", "order"), ("/api/v1/products", "order"),
                            ("/api/v1/notifications", "notification")]:
        assert routed[prefix] == service, prefix
        assert upstream(resolve(spec, prefix)) == service, prefix


def test_error_bodies_are_the_local_gateways():
    conf = (ROOT / "api-gateway" / "nginx.conf.template").read_text()
    local = {code: body for code, body in re.findall(r"return (\d{3}) '(\{.*?\})\\n';", conf)}
    values = yaml.safe_load((ROOT / "api-gateway" / "chart" / "values.yaml").read_text())["errors"]
    for code, body in values.items():
        assert local[code] == body, code


def test_the_storefront_and_swagger_ui_are_served_and_only_the_controller_reaches_them():
    docs = render(EXAMPLE)
    spec = virtual_server(docs)
    for path in ["/", "/assets/app-0123abcd.js", "/api/docs/index.html"]:
        assert upstream(resolve(spec, path)) == "web", path
    assert resolve(spec, "/api/docs")["action"]["redirect"]["url"] == "/api/docs/"
    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "nginx-ingress"}}}]
    image = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "shop/web:0.1.0"


def test_without_the_web_image_the_page_is_the_json_404():
    spec = virtual_server(render(VARIANTS["no-web"]))
    for path in ["/", "/assets/app-0123abcd.js", "/api/docs/"]:
        assert resolve(spec, path)["action"]["return"]["code"] == 404, path


def test_the_web_image_serves_what_the_local_gateway_does_with_its_headers():
    web = (ROOT / "api-gateway" / "web.conf").read_text()
    local = (ROOT / "api-gateway" / "nginx.conf.template").read_text()
    for header in ['Cache-Control "no-cache"', 'Cache-Control "public, max-age=31536000, immutable"',
                   "X-Content-Type-Options nosniff"]:
        assert header in web and header in local, header
    csp = re.findall(r'Content-Security-Policy "([^"]+)"', web)
    assert csp and sorted(csp) == sorted(re.findall(r'Content-Security-Policy "([^"]+)"', local))
    # Location by location: the storefront's page and Swagger UI have the same headers in both.
    for where in ["= /", "/api/docs/", "= /api/docs/openapi.yaml"]:
        headers = [re.findall(r"add_header (?!X-Request-Id)(.*);", nginx_locations(conf)[where]) for conf in (web, local)]
        assert headers[0] == headers[1], where


def nginx_locations(conf):
    """{location: its block's text} of an nginx configuration (each block up to the first line
    that is only its closing brace)."""
    one_line = r"location ([^{\n]+)\{([^\n]*)\}[ \t]*$"
    block = r"location ([^{\n]+)\{[ \t]*\n(.*?)\n\s*\}"
    return {m.group(1).strip(): m.group(2) for m in re.finditer(f"{one_line}|{block}", conf, re.S | re.M)
            for m in [re.match(one_line, m.group(0), re.M) or re.match(block, m.group(0), re.S)]}


@pytest.mark.parametrize("conf", ["nginx.conf.template", "web.conf"])
def test_swagger_ui_runs_only_its_own_files_and_never_in_a_frame(conf):
    """Swagger UI shares the origin where the storefront keeps its refresh token: a page that
    framed it, or a script it was made to load, would run there."""
    locations = nginx_locations((ROOT / "api-gateway" / conf).read_text())
    for where in ["/api/docs/", "= /api/docs/openapi.yaml"]:
        block = locations[where]
        assert "add_header X-Frame-Options DENY always;" in block, where
        (csp,) = re.findall(r'add_header Content-Security-Policy "([^"]+)" always;', block)
        directives = dict((d.split(" ", 1) + [""])[:2] for d in csp.split("; "))
        assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
        assert "script-src" not in directives, "scripts from the page's own files only"
        assert "unsafe" not in csp and "http" not in csp, "no inline code, no other host"
        # Inline styles only by hash: those the Swagger UI bundles insert themselves.
        style = directives.get("style-src", "'self'").split(" ")
        assert style[0] == "'self'" and set(style[1:]) == swagger_ui_inline_style_hashes(), style
        assert "add_header X-Content-Type-Options nosniff always;" in block, where
        if conf == "nginx.conf.template":
            # add_header in a location drops the server's: the request id must be repeated.
            assert "add_header X-Request-Id $req_id always;" in block, where


def swagger_ui_inline_style_hashes():
    """The CSP hash of each <style> element swagger-ui-dist's bundles render (React
    createElement("style", null, "<css>")), such as the top bar logo's."""
    dist = ROOT / "tools" / "node_modules" / "swagger-ui-dist"
    styles = set()
    for bundle in ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"]:
        styles |= set(re.findall(r'createElement\("style",null,"((?:[^"\\]|\\.)*)"\)', (dist / bundle).read_text()))
    return {"'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'" for css in styles}


def test_swagger_ui_needs_nothing_the_policy_refuses():
    """The page swagger-ui-dist ships: no inline script or style, only its own files."""
    index = (ROOT / "tools" / "node_modules" / "swagger-ui-dist" / "index.html").read_text()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", index, re.S)
    assert scripts and all('src="./' in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in index and "style=" not in index and "on" + "load=" not in index
    assert not re.search(r"(src|href)=\"(https?:)?//", index), "nothing from another host"
    initializer = (ROOT / "api-gateway" / "swagger-initializer.js").read_text()
    assert "http" not in initializer.replace("validatorUrl: null", ""), "no online validator or CDN"


def retry_after(rate):
    n, unit = re.fullmatch(r"(\d+)r/([sm])", rate).groups()
    return 1 if unit == "s" else -(-60 // int(n))


def test_every_429_of_the_edge_says_when_to_retry():
    spec = virtual_server(render(EXAMPLE))
    values = yaml.safe_load((ROOT / "api-gateway" / "chart" / "values.yaml").read_text())["limits"]
    for name, path in [("login", "/api/v1/users/login"), ("register", "/api/v1/users/register")]:
        route = resolve(spec, path)
        (page,) = [p["return"] for p in route["errorPages"] if 429 in p["codes"]]
        headers = {h["name"]: h["value"] for h in page["headers"]}
        assert headers["Retry-After"] == str(retry_after(values[name]["rate"])), name
    # Another rate gives its own.
    other = render({**EXAMPLE, "limits": {"login": {"rate": "7r/m", "burst": 1}, "register": {"rate": "2r/s", "burst": 1}}})
    pages = {r["path"]: {h["name"]: h["value"] for p in r["errorPages"] if 429 in p["codes"] for h in p["return"]["headers"]}
             for r in virtual_server(other)["routes"] if "errorPages" in r}
    assert pages["=/api/v1/users/login"]["Retry-After"] == "9" and pages["=/api/v1/users/register"]["Retry-After"] == "1"


@pytest.mark.parametrize("rate", ["1r/m", "7r/m", "10r/m", "11r/m", "12r/m", "19r/m", "20r/m", "30r/m", "59r/m",
                                  "60r/m", "600r/m", "1r/s", "1000000r/s"])
def test_the_local_gateways_429_says_when_to_retry(rate):
    """The local map of rates to Retry-After gives ceil(60/N) for N r/m (nginx picks the first
    matching regex in order)."""
    conf = (ROOT / "api-gateway" / "nginx.conf.template").read_text()
    block = re.search(r"map \$shop_limit_rate \$retry_after \{(.*?)\}", conf, re.S).group(1)
    entries = re.findall(r"^\s*(\S+)\s+(\d+);", block, re.M)
    got = next((int(v) for k, v in entries if k.startswith("~") and re.search(k[1:], rate)),
               int(dict(entries)["default"]))
    assert got == retry_after(rate)
    assert "add_header Retry-After $retry_after always;" in nginx_locations(conf)["@rate_limited"]
    assert re.search(r"/api/v1/users/login\s+\"__LOGIN_RATE__\";", conf)
    assert re.search(r"/api/v1/users/register\s+\"__REGISTER_RATE__\";", conf)


def test_hsts_on_every_https_answer_of_the_edge_and_never_on_plain_http():
    spec = virtual_server(render(EXAMPLE))
    hsts = yaml.safe_load((ROOT / "api-gateway" / "chart" / "values.yaml").read_text())["hsts"]
    assert re.fullmatch(r"max-age=(\d+)", hsts) and int(hsts.split("=")[1]) >= 31536000
    assert spec["tls"]["redirect"]["enable"] is True, "HTTP is redirected before any route"
    for route in spec["routes"]:
        action = route["action"]
        if "redirect" in action:
            continue
        if "return" in action:
            headers = action["return"]["headers"]
        else:
            assert "pass" not in action, route["path"]
            headers = [h for h in action["proxy"]["responseHeaders"]["add"] if h["always"]]
        assert {"name": "Strict-Transport-Security", "value": hsts} in [
            {"name": h["name"], "value": h["value"]} for h in headers], route["path"]
        for page in route.get("errorPages", []):
            assert {"name": "Strict-Transport-Security", "value": hsts} in page["return"]["headers"], route["path"]
    # Not on the API's other headers: X-Content-Type-Options is the services' own.
    assert "X-Content-Type-Options" not in yaml.safe_dump(spec)
    # The local gateway is plain HTTP: no HSTS there.
    assert "Strict-Transport-Security" not in (ROOT / "api-gateway" / "nginx.conf.template").read_text()
    # Without hsts the routes pass plainly.
    plain = virtual_server(render({**EXAMPLE, "hsts": ""}))
    assert "Strict-Transport-Security" not in yaml.safe_dump(plain)
    assert upstream(resolve(plain, "/api/v1/orders")) == "order"


def test_the_controller_keeps_the_client_address_and_runs_no_snippets():
    values = yaml.safe_load((ROOT / "api-gateway" / "controller-values.yaml").read_text())["controller"]
    assert values["service"]["externalTrafficPolicy"] == "Local"
    assert values["enableCustomResources"] is True and values["enableSnippets"] is False
    assert values["enableCertManager"] is True
    assert values["ingressClass"]["name"] == yaml.safe_load((ROOT / "api-gateway" / "chart" / "values.yaml").read_text())["ingressClassName"]


def test_the_example_manifest_is_current():
    assert (ROOT / "api-gateway" / "ingress.yaml").read_text() == example(), \
        "regenerate: .local/venv/bin/python charts/tests/edge.py > api-gateway/ingress.yaml"
