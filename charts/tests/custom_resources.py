"""Validation of custom resources (Strimzi, CloudNativePG, prometheus-operator) against their
operators' schemas, through the @kubernetes-models npm packages: Strimzi 1.0.0's CRDs (1.0.1,
the pinned release, did not change them) and CloudNativePG 1.29.0's API (1.29.2 only added
optional fields). Two passes:

- their JSON-schema validators (validate-custom-resources.mjs): types, enums, required fields.
  CRD schemas let unknown fields through (the API server drops them), so a misspelt field
  would pass unnoticed; hence
- their TypeScript types: each object is written as an object literal of the model's type and
  compiled by tsc, whose excess-property check names any field the schema does not have
  ("'synchronus' does not exist ... Did you mean 'synchronous'?")."""

import json
import re
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULES = HERE.parents[1] / "tools" / "node_modules"
PACKAGES = {
    "kafka.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
    "postgresql.cnpg.io": "@kubernetes-models/cloudnative-pg",
    "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
}


def validate(docs):
    """{(kind, name): error or None} for each custom resource; 'no schema' where no package
    covers its group."""
    out = subprocess.run(["node", str(HERE / "validate-custom-resources.mjs")], input=json.dumps(docs),
                         capture_output=True, text=True, check=True).stdout
    results = {(r["kind"], r["name"]): r["error"] for r in json.loads(out)}
    for key, error in unknown_fields(docs).items():
        results[key] = f"{results[key]}; {error}" if results[key] else error
    return results


def unknown_fields(docs):
    """{(kind, name): tsc's errors} for the objects with a field their type does not have."""
    typed = [d for d in docs if d["apiVersion"].split("/")[0] in PACKAGES]
    if not typed:
        return {}
    lines = []
    for i, doc in enumerate(typed):
        group, version = doc["apiVersion"].split("/")
        module = f"{PACKAGES[group]}/{group}/{version}/{doc['kind']}"
        lines.append(f'import type {{ I{doc["kind"]} as T{i} }} from "{module}";')
    first = len(lines) + 1
    for i, doc in enumerate(typed):
        lines.append(f"export const o{i}: T{i} = {json.dumps(doc)};")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "node_modules").symlink_to(MODULES)
        source = Path(tmp) / "resources.ts"
        source.write_text("\n".join(lines) + "\n")
        result = subprocess.run(
            [str(MODULES / ".bin" / "tsc"), "--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext",
             "--moduleResolution", "nodenext", "--target", "es2022", str(source)],
            capture_output=True, text=True, cwd=tmp)
    errors = {}
    for line, message in re.findall(r"resources\.ts\((\d+),\d+\): error (.*)", result.stdout):
        index = int(line) - first
        if not 0 <= index < len(typed):
            raise AssertionError(f"tsc: {message}")
        doc = typed[index]
        key = (doc["kind"], doc["metadata"]["name"])
        errors[key] = f"{errors[key]}; {message}" if key in errors else message
    if result.returncode != 0 and not errors:
        raise AssertionError(f"tsc failed: {result.stdout}{result.stderr}")
    return errors
