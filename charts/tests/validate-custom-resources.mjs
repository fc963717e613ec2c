// Validates custom resources against the schemas of the operators' pinned versions, as shipped
// by the @kubernetes-models npm packages (tools/package.json). Reads a JSON array of objects on
// stdin; prints a JSON array with one entry per object: {kind, name, error} where error is null
// when the object is valid, and "no schema" for a group no package here covers.
//
//   Strimzi 1.0.x     @kubernetes-models/strimzi-kafka-operator 1.0.1 (CRDs of Strimzi 1.0.0)
//   CloudNativePG     @kubernetes-models/cloudnative-pg 2.0.0 (API of CloudNativePG 1.29.0)
//   prometheus-operator @kubernetes-models/prometheus-operator 6.0.0 (ServiceMonitor, PodMonitor)
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

// The packages live in tools/node_modules (scripts/tools.sh js installs them).
const MODULES = fileURLToPath(new URL("../../tools/node_modules/", import.meta.url));

const PACKAGES = {
  "kafka.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
  "postgresql.cnpg.io": "@kubernetes-models/cloudnative-pg",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

const docs = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const doc of docs) {
  const [group, version] = doc.apiVersion.split("/");
  const name = doc.metadata?.name;
  const pkg = PACKAGES[group];
  if (!pkg) {
    results.push({ kind: doc.kind, name, error: "no schema" });
    continue;
  }
  const models = await import(pathToFileURL(`${MODULES}${pkg}/${group}/${version}/index.js`));
  const Model = models[doc.kind];
  if (!Model) {
    results.push({ kind: doc.kind, name, error: `no ${doc.kind} in ${pkg} ${group}/${version}` });
    continue;
  }
  try {
    new Model(doc).validate();
    results.push({ kind: doc.kind, name, error: null });
  } catch (e) {
    results.push({ kind: doc.kind, name, error: String(e.message ?? e) });
  }
}
process.stdout.write(JSON.stringify(results));
