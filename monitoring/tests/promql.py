"""Where the dashboards and alerts read metrics: every PromQL expression, and the metric names
in it."""

import json
import re
from pathlib import Path

import yaml

MONITORING = Path(__file__).resolve().parents[1]
FUNCTIONS = {
    "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "delta", "histogram_quantile",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "abs", "clamp_min", "clamp_max", "topk", "bottomk", "vector", "scalar", "time",
}
# Series Prometheus makes itself rather than scraping them from a service.
SYNTHETIC = {"up"}


def dashboards():
    return {p.name: json.loads(p.read_text()) for p in sorted((MONITORING / "dashboards").glob("*.json"))}


def expressions():
    """(where, expr) for every dashboard target and alert rule."""
    found = []
    for name, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{name}: {panel['title']}", target["expr"]))
    rules = yaml.safe_load((MONITORING / "rules" / "shop.rules.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            found.append((f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]))
    return found


def metric_names(expr):
    """The metric names a PromQL expression reads."""
    stripped = re.sub(r'"[^"]*"', "", expr)
    stripped = re.sub(r"\{[^}]*\}", " ", stripped)
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", stripped)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped))
    return {n for n in names if n not in FUNCTIONS and not re.fullmatch(r"\d+\w*", n)}
