// What the browser checks share (api-gateway/tests/swagger-ui.mjs, storefront/tests/journey.mjs):
// Debian's Chromium (CHROMIUM, default /usr/bin/chromium) through playwright-core from this
// folder's packages, and a tally of named checks that ends the process with its verdict.
import { createRequire } from "node:module";

export const require = createRequire(new URL("./package.json", import.meta.url));
const { chromium } = require("playwright-core");

/** Headless Chromium that reaches nothing beyond what its pages ask for. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

const failures = [];
let checks = 0;

/** Records one check: prints it, and remembers it when it failed. */
export function check(ok, what) {
  checks += 1;
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
}

/** Prints the failures and the tally, and exits non-zero when any check failed. */
export function finish() {
  if (failures.length) {
    console.log("\nFailures:");
    for (const failure of failures) console.log(`  - ${failure}`);
  }
  console.log(`${checks - failures.length} passed, ${failures.length} failed`);
  process.exit(failures.length ? 1 : 0);
}
