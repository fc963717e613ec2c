"""Validation of custom resources (Strimzi, CloudNativePG, prometheus-operator) against the schemas of their pinned versions, through the @kubernetes-models npm
packages (validate-custom-resources.mjs)."""

import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def validate(docs):
    """{(kind, name): error or None} for each custom resource; 'no schema' where no package
    covers its group."""
    out = subprocess.run(["node", str(HERE / "validate-custom-resources.mjs")], input=json.dumps(docs),
                         capture_output=True, text=True, check=True).stdout
    return {(r["kind"], r["name"]): r["error"] for r in json.loads(out)}
