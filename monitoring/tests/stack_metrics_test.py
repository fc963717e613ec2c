"""Every metric a dashboard panel or an alert reads is really exported: run by `make test`
against the running stack after traffic went through it (SHOP_METRICS_URLS lists the services'
/metrics endpoints)."""

import os
import re
import urllib.request

from promql import SYNTHETIC, expressions, metric_names


def scraped_names():
    urls = os.environ.get("SHOP_METRICS_URLS", "").split(",")
    assert urls != [""], "SHOP_METRICS_URLS must list the services' /metrics URLs (make test sets it)"
    names = set()
    for url in urls:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        for line in text.splitlines():
            if line and not line.startswith("#"):
                names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def test_every_metric_the_dashboards_and_alerts_use_is_exported():
    exported = scraped_names()
    missing = {}
    for where, expr in expressions():
        for name in metric_names(expr) - SYNTHETIC - exported:
            missing.setdefault(name, []).append(where)
    assert not missing, "used but not exported: " + "; ".join(f"{n} ({', '.join(w[:2])})" for n, w in sorted(missing.items()))


def test_http_metrics_are_labelled_by_route_template_never_raw_path():
    for url in os.environ["SHOP_METRICS_URLS"].split(","):
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        routes = set(re.findall(r'route="([^"]*)"', text))
        assert routes, url
        for route in routes:
            assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", route), f"raw id in route label: {route}"


def test_the_local_prometheus_scrapes_every_service_and_loaded_the_alerts():
    import json
    import time

    base = os.environ.get("PROMETHEUS_URL")
    assert base, "PROMETHEUS_URL must point at the local Prometheus (make test starts it)"
    deadline = time.time() + 30
    while True:
        result = json.load(urllib.request.urlopen(f"{base}/api/v1/query?query=up", timeout=5))["data"]["result"]
        up = {r["metric"]["job"]: r["value"][1] for r in result}
        if up == {"user": "1", "billing": "1", "order": "1", "notification": "1"} or time.time() > deadline:
            break
        time.sleep(1)
    assert up == {"user": "1", "billing": "1", "order": "1", "notification": "1"}
    groups = json.load(urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5))["data"]["groups"]
    alerts = {r["name"] for g in groups for r in g["rules"]}
    assert {"ShopServiceDown", "ShopOutboxBacklog", "ShopConsumerLag", "ShopDeadLetters"} <= alerts
