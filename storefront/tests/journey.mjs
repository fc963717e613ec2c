// The storefront's journey in headless Chromium (Debian's package), driven as a person would:
// by labels and roles. Sign up with a generated password, log out, log in with it, top up
// 100.00 with a double click (it must count once), buy a product, fail to buy one too dear,
// see both notifications arrive, cancel the first order and get the money back, reload and
// still be signed in, log out. Runs axe-core on the signed-in page at desktop and phone widths.
//
// Fails (exit 1, failures listed) on any failed step or check, any console error or page error,
// any request to another host than the gateway's, and any response with status >= 500.
//
//   GATEWAY_URL=http://127.0.0.1:8080 node storefront/tests/journey.mjs
//
// playwright-core and axe-core come from tools/package.json (scripts/tools.sh js installs them).
// CHROMIUM (default /usr/bin/chromium) is the browser; SCREENSHOTS (default .local/screenshots
// under the repo root) is where the screenshots go.
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { check, finish, launchChromium, require } from "../../tools/browser.mjs";

const axePath = require.resolve("axe-core/axe.min.js");

const base = (process.env.GATEWAY_URL || "http://127.0.0.1:8080").replace(/\/+$/, "");
const origin = new URL(base).origin;
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const shots = process.env.SCREENSHOTS ? resolve(process.env.SCREENSHOTS) : join(repoRoot, ".local/screenshots");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
// The two catalogue products the journey buys (src/catalogue.ts): 12.50, and 349.00 > 100.00.
const AFFORDABLE = { title: "Blue mug", price: "12.50" };
const TOO_DEAR = { title: "Espresso machine" };

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** Polls `probe` until it returns something truthy; throws after `timeout` ms. */
async function until(what, probe, timeout = 15_000) {
  const end = Date.now() + timeout;
  let last = "";
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = `: ${String(error.message).split("\n")[0]}`;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}${last}`);
    await sleep(250);
  }
}

const suffix = `${Date.now().toString(36)}${randomBytes(4).toString("hex")}`;
const login = `journey-${suffix}`;
const email = `journey-${suffix}@example.com`;

await mkdir(shots, { recursive: true });
const browser = await launchChromium();

try {
  // bypassCSP: axe is injected with addScriptTag, an inline script that the page's own
  // Content-Security-Policy (script-src 'self') would refuse.
  const context = await browser.newContext({ viewport: DESKTOP, bypassCSP: true });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);

  // ---- What fails the run whatever step it happens in.
  const offsite = new Set();
  const depositPosts = [];
  const assetCaching = new Map();
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.protocol === "data:" || url.protocol === "blob:" || url.protocol === "about:") return;
    if (url.origin !== origin) offsite.add(request.url());
    if (request.method() === "POST" && url.pathname === "/api/v1/billing/account/deposit") depositPosts.push(request);
  });
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (response.status() >= 500) check(false, `${response.request().method()} ${url.pathname} answered ${response.status()}`);
    if (url.origin === origin && url.pathname.startsWith("/assets/")) {
      assetCaching.set(url.pathname, response.headers()["cache-control"] || "");
    }
  });
  page.on("pageerror", (error) => check(false, `page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    // Chromium logs every fetch answered 4xx as a console error. The journey meets 4xx on
    // purpose (the refused order is a 400 by contract); 5xx are failures by the listener above.
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) return;
    check(false, `console error: ${message.text()}`);
  });

  const shot = async (name, viewport = DESKTOP) => {
    await page.setViewportSize(viewport);
    const width = viewport === PHONE ? "phone" : "desktop";
    await page.screenshot({ path: join(shots, `storefront-${width}-${name}.png`), fullPage: true });
  };
  const axe = async (name) => {
    await page.addScriptTag({ path: axePath });
    const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ["violations"] }));
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    const list = bad.map((v) => `${v.id} (${v.impact}) at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    check(bad.length === 0, `axe: no serious or critical violation on ${name}${list.length ? ": " + list.join("; ") : ""}`);
  };
  /** axe and a screenshot at both widths, ending at desktop width. */
  const audit = async (name, { runAxe = true } = {}) => {
    for (const viewport of [DESKTOP, PHONE]) {
      await page.setViewportSize(viewport);
      if (runAxe) await axe(`${name} at ${viewport.width}x${viewport.height}`);
      if (viewport === PHONE) {
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        check(width <= PHONE.width, `${name} fits a phone's width without sideways scrolling (${width}px)`);
      }
      await shot(name, viewport);
    }
    await page.setViewportSize(DESKTOP);
  };

  let broken = false;
  const step = async (name, body) => {
    if (broken) return console.log(`skip ${name}`);
    try {
      await body();
      check(true, name);
    } catch (error) {
      broken = true; // later steps build on this one
      check(false, `${name}: ${String(error.message).split("\n")[0]}`);
      await shot(`failed-${name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`).catch(() => undefined);
    }
  };

  const loginForm = page.getByRole("form", { name: "Log in" });
  const signupForm = page.getByRole("form", { name: "Sign up" });
  const balance = page.getByLabel("Balance", { exact: true });
  const signedInAs = page.getByText(`Signed in as ${login}`);
  const unreadLink = page.getByRole("link", { name: /^Notifications/ });
  const orderList = page.getByRole("list", { name: "Your orders" });
  const orderItem = (title) => orderList.getByRole("listitem").filter({ hasText: title });
  const productItem = (title) => page.getByRole("list", { name: "Catalogue" }).getByRole("listitem")
    .filter({ has: page.getByRole("heading", { name: title, exact: true }) });
  const balanceIs = (text, timeout) =>
    until(`the balance to show ${text}`, async () => (await balance.textContent())?.trim() === text, timeout);
  const stored = () => page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
  let password = "";

  await step("the storefront loads at /", async () => {
    const response = await page.goto(`${base}/`);
    if (response.status() !== 200) throw new Error(`GET / answered ${response.status()}`);
    check(/no-cache/.test(response.headers()["cache-control"] || ""),
      `gateway: index.html is served with Cache-Control no-cache (got "${response.headers()["cache-control"] || ""}")`);
    await loginForm.waitFor();
    await signupForm.waitFor();
    for (const [path, header] of assetCaching) {
      check(/immutable/.test(header) && /max-age=31536000/.test(header),
        `gateway: ${path} is cached for a year as immutable (got "${header}")`);
    }
    check(assetCaching.size >= 2, `the page loaded its hashed JS and CSS (${[...assetCaching.keys()].join(", ")})`);
    await audit("1-signed-out");
  });

  await step("sign up with a generated password, shown once", async () => {
    await signupForm.getByLabel("Login").fill(login);
    await signupForm.getByLabel("Email (optional)").fill(email);
    await signupForm.getByLabel("Generate a strong password for me").check();
    await signupForm.getByRole("button", { name: "Sign up" }).click();
    const shown = page.getByLabel("Your generated password");
    await shown.waitFor({ timeout: 20_000 });
    password = await shown.inputValue();
    check(password.length >= 16, `the generated password is long (${password.length} characters)`);
    await page.getByRole("button", { name: "Copy password" }).waitFor();
    await signedInAs.waitFor();
    await shot("2-generated-password");
    await page.getByRole("button", { name: "I have saved it" }).click();
    await until("the generated password to be gone", async () => (await shown.count()) === 0 || !(await shown.isVisible()));
    check(!(await stored()).includes(password), "the password is not kept in the browser's storage");
  });

  await step("log out", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await loginForm.waitFor();
    await page.getByText("You are logged out.").waitFor();
    check(!/refresh/i.test(await stored()), "no refresh token is left in storage after logging out");
  });

  await step("log in with the generated password", async () => {
    await loginForm.getByLabel("Login").fill(login);
    await loginForm.getByLabel("Password").fill(password);
    await loginForm.getByRole("button", { name: "Log in" }).click();
    await signedInAs.waitFor();
    await balanceIs("0.00");
  });

  await step("top up 100.00 with a double click, counted once", async () => {
    await page.getByLabel("Amount").fill("100.00");
    await page.getByRole("button", { name: "Top up", exact: true }).dblclick();
    await balanceIs("100.00");
    await page.getByText("Added 100.00.").waitFor();
    await sleep(1_500); // time for a second deposit, were there one
    check(depositPosts.length === 1, `the double click sent one deposit (sent ${depositPosts.length})`);
    await balanceIs("100.00", 1_000);
    const keys = depositPosts.map((request) => request.headers()["idempotency-key"]);
    check(keys.every((key) => /^[0-9a-f-]{36}$/.test(key || "")), `the deposit carries an Idempotency-Key (${keys.join(", ")})`);
  });

  await step(`buy "${AFFORDABLE.title}", which the balance covers`, async () => {
    await page.getByRole("button", { name: `Buy ${AFFORDABLE.title}` }).click();
    await productItem(AFFORDABLE.title).getByText(/^Order placed/).waitFor({ timeout: 20_000 });
    await balanceIs("87.50");
  });

  await step(`buy "${TOO_DEAR.title}", which it does not, and see the refusal`, async () => {
    await page.getByRole("button", { name: `Buy ${TOO_DEAR.title}` }).click();
    await productItem(TOO_DEAR.title).getByText(/not enough money/i).waitFor({ timeout: 20_000 });
    await balanceIs("87.50");
  });

  await step("both notifications arrive by themselves (2 unread)", async () => {
    await until("the unread count to be 2", async () => /\b2 unread\b/.test(await unreadLink.innerText()), 60_000);
    const items = page.getByRole("list", { name: "Notifications" }).getByRole("listitem");
    check((await items.count()) === 2, `two notifications are listed (${await items.count()})`);
    await orderItem(AFFORDABLE.title).getByText("Created", { exact: true }).waitFor();
    await orderItem(TOO_DEAR.title).getByText(/^Rejected/).waitFor();
    check((await orderItem(TOO_DEAR.title).getByRole("button", { name: /^Cancel/ }).count()) === 0,
      "a rejected order offers no cancel button");
    await audit("3-signed-in-with-orders");
  });

  await step(`cancel "${AFFORDABLE.title}" and get 100.00 back`, async () => {
    await orderItem(AFFORDABLE.title).getByRole("button", { name: `Cancel order ${AFFORDABLE.title}` }).click();
    await orderItem(AFFORDABLE.title).getByText("Cancelled", { exact: true }).waitFor({ timeout: 20_000 });
    await balanceIs("100.00", 30_000);
    await shot("4-after-cancel");
  });

  await step("a reload keeps the session, without the password", async () => {
    await page.reload();
    await signedInAs.waitFor({ timeout: 20_000 });
    await balanceIs("100.00");
    await orderItem(AFFORDABLE.title).getByText("Cancelled", { exact: true }).waitFor();
    check(!(await stored()).includes(password), "the password is still not in the browser's storage");
    await audit("5-after-reload", { runAxe: false });
  });

  await step("log out, and stay logged out after a reload", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await loginForm.waitFor();
    await page.reload();
    await loginForm.waitFor();
    await sleep(1_000);
    check(!(await signedInAs.isVisible()), "nobody is signed in after the reload");
  });

  check(offsite.size === 0, `no request went to another host than ${origin}${offsite.size ? ": " + [...offsite].join(", ") : ""}`);
  await context.close();
} finally {
  await browser.close();
}

console.log(`screenshots in ${shots}`);
finish();
