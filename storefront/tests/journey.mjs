// The storefront's journey in headless Chromium (Debian's package), driven as people would: by
// labels and roles. A visitor sees the catalogue with prices and what is left, and fills a cart
// before signing up (generated password); logs out and in; tops up 100.00 with a double click
// (it must count once); orders a cart of two products as one order; fails to buy one too dear;
// sees both notifications arrive; cancels the first order and gets the money back. An admin (a
// user the operator's command `scripts/admin.sh grant` made one) adds a product with one unit
// and changes its price; two buyers race for that last unit: one gets it, the other sees it out
// of stock; the admin restocks it, the second buyer gets one, the admin takes it off sale. A
// reload keeps the session; logging out ends it. axe-core checks each view at desktop and phone
// widths.
//
// Fails (exit 1, failures listed) on any failed step or check, any console error or page error,
// any request to another host than the gateway's, and any response with status >= 500.
//
//   GATEWAY_URL=http://127.0.0.1:8080 node storefront/tests/journey.mjs
//
// playwright-core and axe-core come from tools/package.json (scripts/tools.sh js installs them).
// CHROMIUM (default /usr/bin/chromium) is the browser; SCREENSHOTS (default .local/screenshots
// under the repo root) is where the screenshots go. The admin's role is granted with
// scripts/admin.sh against the local stack (the binaries of its make up).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { check, finish, launchChromium, require } from "../../tools/browser.mjs";

const axePath = require.resolve("axe-core/axe.min.js");

const base = (process.env.GATEWAY_URL || "http://127.0.0.1:8080").replace(/\/+$/, "");
const origin = new URL(base).origin;
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const shots = process.env.SCREENSHOTS ? resolve(process.env.SCREENSHOTS) : join(repoRoot, ".local/screenshots");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
// From the starter catalogue (order/catalogue/starter.json): 12.50 and 7.50, and 349.00.
const MUG = "Blue mug";
const TEA = "Green tea, 100 g";
const TOO_DEAR = "Espresso machine";

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
const adminLogin = `journey-admin-${suffix}`;
const adminPassword = `admin password ${randomBytes(6).toString("hex")}`;
const rivalLogin = `journey-rival-${suffix}`;
const TEAPOT = `Last teapot ${suffix}`;

await mkdir(shots, { recursive: true });
const browser = await launchChromium();
const offsite = new Set();

/**
 * A person's browser: its own context (storage, session) and page, watched for what fails the
 * run whatever step it happens in.
 */
async function person(name) {
  // bypassCSP: axe is injected with addScriptTag, an inline script that the page's own
  // Content-Security-Policy (script-src 'self') would refuse.
  const context = await browser.newContext({ viewport: DESKTOP, bypassCSP: true });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const watched = { page, context, depositPosts: [], assetCaching: new Map() };
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.protocol === "data:" || url.protocol === "blob:" || url.protocol === "about:") return;
    if (url.origin !== origin) offsite.add(request.url());
    if (request.method() === "POST" && url.pathname === "/api/v1/billing/account/deposit") watched.depositPosts.push(request);
  });
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (response.status() >= 500) check(false, `${name}: ${response.request().method()} ${url.pathname} answered ${response.status()}`);
    if (url.origin === origin && url.pathname.startsWith("/assets/")) {
      watched.assetCaching.set(url.pathname, response.headers()["cache-control"] || "");
    }
  });
  page.on("pageerror", (error) => check(false, `${name}: page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    // Chromium logs every fetch answered 4xx as a console error. The journey meets 4xx on
    // purpose (the refused order is a 400, the lost race a 409); 5xx fail by the listener above.
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) return;
    check(false, `${name}: console error: ${message.text()}`);
  });
  return watched;
}

/** What a person's page offers, by role and label. */
function views(page) {
  const catalogueList = page.getByRole("list", { name: "Catalogue" });
  const cartList = page.getByRole("list", { name: "Your cart" });
  const orderList = page.getByRole("list", { name: "Your orders" });
  const adminList = page.getByRole("list", { name: "All products" });
  return {
    loginForm: page.getByRole("form", { name: "Log in" }),
    signupForm: page.getByRole("form", { name: "Sign up" }),
    balance: page.getByLabel("Balance", { exact: true }),
    unreadLink: page.getByRole("link", { name: /^Notifications/ }),
    product: (title) => catalogueList.getByRole("listitem")
      .filter({ has: page.getByRole("heading", { name: title, exact: true }) }),
    cartLine: (title) => cartList.getByRole("listitem").filter({ hasText: title }),
    cartStatus: page.locator("#cart-status"),
    orderItem: (title) => orderList.getByRole("listitem").filter({ hasText: title }),
    adminItem: (title) => adminList.getByRole("listitem")
      .filter({ has: page.getByRole("heading", { name: title, exact: true }) }),
    refreshCatalogue: page.getByRole("button", { name: "Refresh the catalogue" }),
  };
}

const stored = (page) => page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));

try {
  const buyer = await person("buyer");
  const { page } = buyer;
  const v = views(page);
  const balanceIs = (p, text, timeout) =>
    until(`the balance to show ${text}`, async () => (await views(p).balance.textContent())?.trim() === text, timeout);

  const shot = async (p, name, viewport = DESKTOP) => {
    await p.setViewportSize(viewport);
    const width = viewport === PHONE ? "phone" : "desktop";
    await p.screenshot({ path: join(shots, `storefront-${width}-${name}.png`), fullPage: true });
  };
  const axe = async (p, name) => {
    await p.addScriptTag({ path: axePath });
    const result = await p.evaluate(() => globalThis.axe.run(document, { resultTypes: ["violations"] }));
    const bad = result.violations.filter((x) => x.impact === "serious" || x.impact === "critical");
    const list = bad.map((x) => `${x.id} (${x.impact}) at ${x.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    check(bad.length === 0, `axe: no serious or critical violation on ${name}${list.length ? ": " + list.join("; ") : ""}`);
  };
  /** axe and a screenshot at both widths, ending at desktop width. */
  const audit = async (p, name, { runAxe = true } = {}) => {
    for (const viewport of [DESKTOP, PHONE]) {
      await p.setViewportSize(viewport);
      if (runAxe) await axe(p, `${name} at ${viewport.width}x${viewport.height}`);
      if (viewport === PHONE) {
        const width = await p.evaluate(() => document.documentElement.scrollWidth);
        check(width <= PHONE.width, `${name} fits a phone's width without sideways scrolling (${width}px)`);
      }
      await shot(p, name, viewport);
    }
    await p.setViewportSize(DESKTOP);
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
      await shot(page, `failed-${name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`).catch(() => undefined);
    }
  };

  /** Signs up on `p` with a generated password (shown once); returns it. */
  const signUpGenerated = async (p, who) => {
    const w = views(p);
    await w.signupForm.getByLabel("Login").fill(who);
    await w.signupForm.getByLabel("Generate a strong password for me").check();
    await w.signupForm.getByRole("button", { name: "Sign up" }).click();
    const shown = p.getByLabel("Your generated password");
    await shown.waitFor({ timeout: 20_000 });
    const password = await shown.inputValue();
    await p.getByRole("button", { name: "I have saved it" }).click();
    await p.getByText(`Signed in as ${who}`).waitFor();
    return password;
  };
  /** Tops up `amount` on `p`. */
  const topUp = async (p, amount) => {
    await p.getByLabel("Amount").fill(amount);
    await p.getByRole("button", { name: "Top up", exact: true }).click();
    await p.getByText(`Added ${amount}.`).waitFor();
  };
  /**
   * Shows `title` in `p`'s catalogue, with "Show more products" when it is not on the first page
   * (a catalogue that many products joined since, as a developer's after make bench).
   */
  const findProduct = async (p, title) => {
    const item = views(p).product(title);
    const more = p.getByRole("button", { name: "Show more products" });
    await until(`${title} in the catalogue`, async () => {
      if ((await item.count()) === 1) return true;
      if (await more.isVisible()) await more.click();
      return false;
    }, 20_000);
    return item;
  };
  /** Adds `quantity` of `title` to `p`'s cart. */
  const addToCart = async (p, title, quantity = 1) => {
    const item = await findProduct(p, title);
    await item.getByLabel(`Quantity of ${title}`).fill(String(quantity));
    await item.getByRole("button", { name: `Add to cart: ${title}` }).click();
    await item.getByText(/^In your cart/).waitFor();
  };
  /** Refreshes `p`'s catalogue until `title` shows `text` (or, with `text` null, is gone). */
  const catalogueShows = (p, title, text) => until(`the catalogue to show ${title}: ${text ?? "gone"}`, async () => {
    const w = views(p);
    await w.refreshCatalogue.click();
    await sleep(300);
    const item = w.product(title);
    if (text === null) return (await item.count()) === 0;
    return (await item.count()) === 1 && (await item.innerText()).includes(text);
  }, 20_000);
  let password = "";

  await step("the storefront loads at /, the catalogue first, for anyone", async () => {
    const response = await page.goto(`${base}/`);
    if (response.status() !== 200) throw new Error(`GET / answered ${response.status()}`);
    check(/no-cache/.test(response.headers()["cache-control"] || ""),
      `gateway: index.html is served with Cache-Control no-cache (got "${response.headers()["cache-control"] || ""}")`);
    for (const title of [MUG, TEA, TOO_DEAR]) {
      const text = await (await findProduct(page, title)).innerText();
      check(/\d+\.\d\d/.test(text) && /\d+ left/.test(text), `${title} shows its price and the units left ("${text.replace(/\s+/g, " ")}")`);
    }
    await v.loginForm.waitFor();
    await v.signupForm.waitFor();
    for (const [path, header] of buyer.assetCaching) {
      check(/immutable/.test(header) && /max-age=31536000/.test(header),
        `gateway: ${path} is cached for a year as immutable (got "${header}")`);
    }
    check(buyer.assetCaching.size >= 2, `the page loaded its hashed JS and CSS (${[...buyer.assetCaching.keys()].join(", ")})`);
    await audit(page, "1-catalogue-signed-out");
  });

  await step("a visitor fills the cart before signing in, and is asked to", async () => {
    await addToCart(page, MUG, 2);
    await v.cartLine(MUG).waitFor();
    check((await page.locator("#cart-total").textContent()) === "25.00", "the cart's total is 2 × 12.50");
    await page.getByRole("button", { name: "Log in to place your order" }).click();
    await v.cartStatus.getByText(/Log in or sign up to place your order/).waitFor();
  });

  await step("sign up with a generated password, shown once; the cart stays", async () => {
    await v.signupForm.getByLabel("Email (optional)").fill(email);
    await v.signupForm.getByLabel("Login").fill(login);
    await v.signupForm.getByLabel("Generate a strong password for me").check();
    await v.signupForm.getByRole("button", { name: "Sign up" }).click();
    const shown = page.getByLabel("Your generated password");
    await shown.waitFor({ timeout: 20_000 });
    password = await shown.inputValue();
    check(password.length >= 16, `the generated password is long (${password.length} characters)`);
    await page.getByRole("button", { name: "Copy password" }).waitFor();
    await page.getByText(`Signed in as ${login}`).waitFor();
    await shot(page, "2-generated-password");
    await page.getByRole("button", { name: "I have saved it" }).click();
    await until("the generated password to be gone", async () => (await shown.count()) === 0 || !(await shown.isVisible()));
    check(!(await stored(page)).includes(password), "the password is not kept in the browser's storage");
    await v.cartLine(MUG).waitFor();
    await page.getByRole("button", { name: "Place order" }).waitFor();
  });

  await step("log out: the cart goes with the session", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await v.loginForm.waitFor();
    await page.getByText("You are logged out.").waitFor();
    check(!/refresh/i.test(await stored(page)), "no refresh token is left in storage after logging out");
    check((await v.cartLine(MUG).count()) === 0, "the cart is empty after logging out");
  });

  await step("log in with the generated password", async () => {
    await v.loginForm.getByLabel("Login").fill(login);
    await v.loginForm.getByLabel("Password").fill(password);
    await v.loginForm.getByRole("button", { name: "Log in" }).click();
    await page.getByText(`Signed in as ${login}`).waitFor();
    await balanceIs(page, "0.00");
  });

  await step("top up 100.00 with a double click, counted once", async () => {
    await page.getByLabel("Amount").fill("100.00");
    await page.getByRole("button", { name: "Top up", exact: true }).dblclick();
    await balanceIs(page, "100.00");
    await page.getByText("Added 100.00.").waitFor();
    await sleep(1_500); // time for a second deposit, were there one
    check(buyer.depositPosts.length === 1, `the double click sent one deposit (sent ${buyer.depositPosts.length})`);
    await balanceIs(page, "100.00", 1_000);
    const keys = buyer.depositPosts.map((request) => request.headers()["idempotency-key"]);
    check(keys.every((key) => /^[0-9a-f-]{36}$/.test(key || "")), `the deposit carries an Idempotency-Key (${keys.join(", ")})`);
  });

  await step("a cart of two products becomes one order, priced by the shop", async () => {
    await addToCart(page, MUG, 2);
    await addToCart(page, TEA, 1);
    check((await page.locator("#cart-total").textContent()) === "32.50", "the cart's total is 2 × 12.50 + 7.50");
    await audit(page, "3-cart");
    await page.getByRole("button", { name: "Place order" }).click();
    await v.cartStatus.getByText(`Order placed: ${MUG} ×2, ${TEA} for 32.50.`).waitFor({ timeout: 20_000 });
    await balanceIs(page, "67.50");
    check((await v.cartLine(MUG).count()) === 0, "the cart is empty once ordered");
  });

  await step(`an order of "${TOO_DEAR}", which the balance does not cover, is refused`, async () => {
    await addToCart(page, TOO_DEAR, 1);
    await page.getByRole("button", { name: "Place order" }).click();
    await v.cartStatus.getByText(/not enough money/i).waitFor({ timeout: 20_000 });
    await balanceIs(page, "67.50");
    await v.cartLine(TOO_DEAR).getByRole("button", { name: `Remove ${TOO_DEAR} from the cart` }).click();
  });

  await step("both notifications arrive by themselves (2 unread), naming the lines", async () => {
    await until("the unread count to be 2", async () => /\b2 unread\b/.test(await v.unreadLink.innerText()), 60_000);
    const items = page.getByRole("list", { name: "Notifications" }).getByRole("listitem");
    check((await items.count()) === 2, `two notifications are listed (${await items.count()})`);
    const texts = (await items.allInnerTexts()).join(" | ");
    check(texts.includes(`${MUG} ×2`) && texts.includes("32.50"), `a notification names the lines and the total (${texts})`);
    await v.orderItem(`${MUG} ×2`).getByText("Created", { exact: true }).waitFor();
    await v.orderItem(TOO_DEAR).getByText(/^Rejected/).waitFor();
    check((await v.orderItem(TOO_DEAR).getByRole("button", { name: /^Cancel/ }).count()) === 0,
      "a rejected order offers no cancel button");
    await audit(page, "4-signed-in-with-orders");
  });

  await step("cancel the order and get 32.50 back", async () => {
    const title = `${MUG} ×2, ${TEA}`;
    await v.orderItem(title).getByRole("button", { name: `Cancel order ${title}` }).click();
    await v.orderItem(title).getByText("Cancelled", { exact: true }).waitFor({ timeout: 20_000 });
    await balanceIs(page, "100.00", 30_000);
  });

  // ---- The admin and the race for the last unit.
  const admin = await person("admin");
  const rival = await person("rival");
  const a = views(admin.page);

  await step("an admin, made one by the operator's command, adds a product with one unit", async () => {
    await admin.page.goto(`${base}/`);
    await a.signupForm.getByLabel("Login").fill(adminLogin);
    await a.signupForm.getByLabel("Choose my own password").check();
    await a.signupForm.getByLabel("Your password").fill(adminPassword);
    await a.signupForm.getByRole("button", { name: "Sign up" }).click();
    await admin.page.getByText(`Signed in as ${adminLogin}`).waitFor({ timeout: 20_000 });
    check(await admin.page.getByRole("heading", { name: "Catalogue admin" }).isHidden(), "a new user sees no admin section");
    await promisify(execFile)("bash", [join(repoRoot, "scripts/admin.sh"), "grant", adminLogin]);
    // The role applies from the next login or refresh: a reload refreshes the session.
    await admin.page.reload();
    await admin.page.getByRole("heading", { name: "Catalogue admin" }).waitFor({ timeout: 20_000 });
    const form = admin.page.getByRole("form", { name: "Add a product" });
    await form.getByLabel("Title").fill(TEAPOT);
    await form.getByLabel("Description (optional)").fill("Cast iron, 0.8 l: the very last one.");
    await form.getByLabel("Price").fill("20.00");
    await form.getByLabel("Units in stock").fill("1");
    await form.getByRole("button", { name: "Add product" }).click();
    await admin.page.getByText(`Added ${TEAPOT} at 20.00, 1 in stock.`).waitFor();
    const item = a.adminItem(TEAPOT);
    await item.getByLabel(`Price of ${TEAPOT}`).fill("24.00");
    await item.getByRole("button", { name: `Save price of ${TEAPOT}` }).click();
    await a.adminItem(TEAPOT).getByText(`Price of ${TEAPOT} is now 24.00.`).waitFor();
    await audit(admin.page, "5-admin");
  });

  let winner = null;
  let loser = null;
  await step("two buyers race for the last unit: one gets it, the other sees it out of stock", async () => {
    await rival.page.goto(`${base}/`);
    await signUpGenerated(rival.page, rivalLogin);
    await topUp(rival.page, "100.00");
    for (const p of [page, rival.page]) {
      await catalogueShows(p, TEAPOT, "1 left");
      await addToCart(p, TEAPOT, 1);
    }
    await Promise.all([page, rival.page].map((p) => p.getByRole("button", { name: "Place order" }).click()));
    const outcome = async (p) => {
      const status = views(p).cartStatus;
      await until("the order's outcome", async () => /Order placed|Not enough in stock/.test(await status.innerText()), 20_000);
      return (await status.innerText()).includes("Order placed") ? "won" : "lost";
    };
    const [first, second] = await Promise.all([outcome(page), outcome(rival.page)]);
    check([first, second].sort().join() === "lost,won", `exactly one buyer got the last unit (${first}, ${second})`);
    [winner, loser] = first === "won" ? [page, rival.page] : [rival.page, page];
    const l = views(loser);
    await l.cartStatus.getByText(`Not enough in stock (${TEAPOT}: none left). Nothing was ordered or charged.`).waitFor();
    await l.cartLine(TEAPOT).getByText("Out of stock: none left.").waitFor();
    await l.product(TEAPOT).getByText("Out of stock").waitFor();
    await views(winner).cartStatus.getByText(`Order placed: ${TEAPOT} for 24.00.`).waitFor();
    await audit(loser, "6-out-of-stock");
  });

  await step("the admin restocks it, the other buyer gets one, the admin takes it off sale", async () => {
    const item = a.adminItem(TEAPOT);
    await item.getByLabel(`Units to add to ${TEAPOT}`).fill("3");
    await item.getByRole("button", { name: `Restock ${TEAPOT}` }).click();
    await a.adminItem(TEAPOT).getByText(`Added 3: 3 of ${TEAPOT} left.`).waitFor();
    await catalogueShows(loser, TEAPOT, "3 left");
    await views(loser).cartLine(TEAPOT).getByRole("button", { name: `Remove ${TEAPOT} from the cart` }).click();
    await addToCart(loser, TEAPOT, 1);
    await loser.getByRole("button", { name: "Place order" }).click();
    await views(loser).cartStatus.getByText(`Order placed: ${TEAPOT} for 24.00.`).waitFor({ timeout: 20_000 });
    await a.adminItem(TEAPOT).getByRole("button", { name: `Take off sale: ${TEAPOT}` }).click();
    await a.adminItem(TEAPOT).getByText(`${TEAPOT} is off sale.`).waitFor();
    await catalogueShows(loser, TEAPOT, null);
  });

  await step("a reload keeps the session, without the password", async () => {
    await page.reload();
    await page.getByText(`Signed in as ${login}`).waitFor({ timeout: 20_000 });
    await v.orderItem(`${MUG} ×2`).getByText("Cancelled", { exact: true }).waitFor();
    check(!(await stored(page)).includes(password), "the password is still not in the browser's storage");
    await audit(page, "7-after-reload", { runAxe: false });
  });

  await step("log out, and stay logged out after a reload", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await v.loginForm.waitFor();
    await page.reload();
    await v.loginForm.waitFor();
    await sleep(1_000);
    check(!(await page.getByText(`Signed in as ${login}`).isVisible()), "nobody is signed in after the reload");
  });

  check(offsite.size === 0, `no request went to another host than ${origin}${offsite.size ? ": " + [...offsite].join(", ") : ""}`);
} finally {
  await browser.close();
}

console.log(`screenshots in ${shots}`);
finish();
