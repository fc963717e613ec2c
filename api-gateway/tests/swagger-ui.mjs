// Browser check of the gateway's Swagger UI in headless Chromium (Debian's package): the page
// loads with no request leaving the machine, under a Content-Security-Policy that refuses nothing
// it needs and forbids framing it, lists the shop's operations, and "Try it out" on the user
// service's health endpoint gets 200. Exits non-zero on any failure.
import { check, finish, launchChromium } from "../../tools/browser.mjs";

const base = process.env.GATEWAY_URL || "http://127.0.0.1:8080";
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  const offsite = [];
  // The page runs under its Content-Security-Policy: anything it refuses shows here.
  const refused = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) refused.push(message.text());
  });
  page.on("request", (request) => {
    const { hostname } = new URL(request.url());
    if (!["127.0.0.1", "localhost", "[::1]"].includes(hostname)) offsite.push(request.url());
  });

  const response = await page.goto(`${base}/api/docs/`);
  check(response.status() === 200, `GET /api/docs/ answers 200 (got ${response.status()})`);
  const headers = response.headers();
  check(/frame-ancestors 'none'/.test(headers["content-security-policy"] || "") && headers["x-frame-options"] === "DENY",
    "the page has a Content-Security-Policy and may not be framed");
  await page.waitForSelector(".opblock", { timeout: 20000 });
  const operations = await page.locator(".opblock").count();
  check(operations >= 14, `the page lists the shop's operations (${operations} shown)`);
  const title = await page.locator(".info .title").innerText();
  check(title.includes("Shop API"), `the title is the shop's ("${title.split("\n")[0]}")`);

  const health = page.locator("#operations-users-userHealth");
  await health.locator(".opblock-summary").click();
  await health.getByRole("button", { name: "Try it out" }).click();
  await health.getByRole("button", { name: "Execute" }).click();
  const status = health.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: 10000 });
  const code = (await status.innerText()).trim();
  check(code === "200", `"Try it out" on GET /api/v1/users/health returns 200 (got ${code})`);

  check(refused.length === 0, `the Content-Security-Policy refused nothing${refused.length ? ": " + refused.join("; ") : ""}`);
  check(offsite.length === 0, `no request left the machine${offsite.length ? ": " + offsite.join(", ") : ""}`);
  await page.screenshot({ path: process.env.SCREENSHOT || "/dev/null" }).catch(() => {});
} finally {
  await browser.close();
}

finish();
