//! The shop as the fault suite sees it: customers calling through the gateway (or a service's
//! own port), the pieces it controls through `scripts/stack.sh`, and the databases it reads to
//! check that nothing was lost or doubled.

use common::error::code;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Longer than any service's own request deadline (`REQUEST_TIMEOUT_SECONDS`, 30 s): a request
/// that takes longer hangs, which the checks count.
pub const HANG: Duration = Duration::from_secs(35);

/// Each service, its path prefix and its port (as `scripts/lib.sh` has them).
pub const SERVICES: [(&str, &str, u16); 4] = [
    ("user", "users", 8081),
    ("billing", "billing", 8082),
    ("order", "orders", 8083),
    ("notification", "notifications", 8084),
];

pub struct Stack {
    pub gateway: String,
    /// An admin's access token (`SHOP_ADMIN_LOGIN`, `SHOP_ADMIN_PASSWORD`; scripts/faults.sh
    /// makes the admin), to add the products the scenarios buy.
    admin: String,
    /// The products the run added, whose stock the checks add up.
    products: std::sync::Mutex<Vec<Uuid>>,
    /// Instances of each service (`make up REPLICAS=n`): replica k of `order` is `order-k`.
    pub replicas: usize,
    pub http: reqwest::Client,
    root: PathBuf,
    pub order_db: PgPool,
    pub billing_db: PgPool,
    pub notification_db: PgPool,
}

#[derive(Clone)]
pub struct Customer {
    pub id: Uuid,
    pub token: String,
}

/// A service's base URL on its own port.
pub fn service_url(service: &str) -> String {
    let port = SERVICES
        .iter()
        .find(|(name, ..)| *name == service)
        .map_or(0, |(_, _, port)| *port);
    format!("http://127.0.0.1:{port}")
}

impl Stack {
    pub async fn connect() -> anyhow::Result<Self> {
        let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
        let pool = |url: String| async move {
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(30))
                .connect(&url)
                .await
        };
        let root: PathBuf = env("ROOT")?.into();
        let replicas = std::fs::read_to_string(root.join(".local/run/replicas"))
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(1);
        let http = reqwest::Client::builder().timeout(HANG).build()?;
        let gateway = env("GATEWAY_URL")?;
        let credentials =
            json!({ "login": env("SHOP_ADMIN_LOGIN")?, "password": env("SHOP_ADMIN_PASSWORD")? });
        let tokens = http
            .post(format!("{gateway}/api/v1/users/login"))
            .json(&credentials)
            .send()
            .await?
            .json::<Value>()
            .await?;
        let admin = tokens["data"]["accessToken"]
            .as_str()
            .with_context(|| format!("the admin's login answered {tokens}"))?
            .to_owned();
        Ok(Self {
            gateway,
            admin,
            products: std::sync::Mutex::default(),
            replicas,
            http,
            root: env("ROOT")?.into(),
            order_db: pool(env("ORDER_DATABASE_URL")?).await?,
            billing_db: pool(env("BILLING_DATABASE_URL")?).await?,
            notification_db: pool(env("NOTIFICATION_DATABASE_URL")?).await?,
        })
    }

    /// `scripts/stack.sh <action> <piece>` with extra environment.
    fn command(&self, action: &str, piece: &str, env: &[(&str, &str)]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("bash");
        command
            .arg(self.root.join("scripts/stack.sh"))
            .args([action, piece])
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null());
        command
    }

    pub async fn ctl_with(
        &self,
        action: &str,
        piece: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let status = self.command(action, piece, env).status().await?;
        ensure!(
            status.success(),
            "stack.sh {action} {piece} failed: {status}"
        );
        Ok(())
    }

    pub async fn ctl(&self, action: &str, piece: &str) -> anyhow::Result<()> {
        self.ctl_with(action, piece, &[]).await
    }

    /// `scripts/stack.sh <action> <piece>` as a future that owns what it needs (to spawn).
    pub fn ctl_command(
        &self,
        action: &str,
        piece: &str,
    ) -> impl std::future::Future<Output = std::io::Result<std::process::ExitStatus>> + 'static
    {
        let mut command = self.command(action, piece, &[]);
        async move { command.status().await }
    }

    /// The pid of a running service, as supervisord knows it (`scripts/stack.sh pid`).
    pub fn pid(&self, service: &str) -> anyhow::Result<String> {
        let output = std::process::Command::new("bash")
            .arg(self.root.join("scripts/stack.sh"))
            .args(["pid", service])
            .output()?;
        let pid = String::from_utf8(output.stdout)?.trim().to_owned();
        ensure!(
            output.status.success() && pid.parse::<u32>().is_ok_and(|pid| pid > 0),
            "{service} is not running"
        );
        Ok(pid)
    }

    /// Sends `signal` (TERM, KILL) to a service's process itself; returns the pid.
    pub async fn signal(&self, service: &str, signal: &str) -> anyhow::Result<String> {
        let pid = self.pid(service)?;
        self.signal_pid(&pid, signal).await?;
        Ok(pid)
    }

    /// Sends `signal` to a process whose pid was asked for beforehand (asking supervisord takes
    /// a few hundred milliseconds, longer than some moments a scenario aims at last).
    pub async fn signal_pid(&self, pid: &str, signal: &str) -> anyhow::Result<()> {
        let status = tokio::process::Command::new("kill")
            .args([&format!("-{signal}"), pid])
            .status()
            .await?;
        ensure!(status.success(), "kill -{signal} {pid} failed");
        Ok(())
    }

    /// Waits (at most 15 s) until the process `pid` of `service` is gone.
    pub async fn await_exit(&self, service: &str, pid: &str) -> anyhow::Result<()> {
        let gone = Instant::now() + Duration::from_secs(15);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            ensure!(Instant::now() < gone, "{service} (pid {pid}) did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Starts every service that does not answer its liveness probe (a scenario that failed
    /// half-way may leave one stopped), so the next scenario starts from a whole stack.
    pub async fn heal(&self) -> anyhow::Result<()> {
        for (name, url) in self.instances("health/live") {
            let live = self
                .http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if !live {
                self.ctl("start", &name).await?;
            }
        }
        Ok(())
    }

    /// (name, URL of `<prefix>/<path>`) of every instance of every service: replica k of
    /// `order` is `order-k`, on the port + 100 x (k - 1), as `scripts/lib.sh` has them.
    fn instances(&self, path: &str) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for k in 1..=self.replicas {
            for (service, prefix, port) in SERVICES {
                let name = if k == 1 {
                    service.to_owned()
                } else {
                    format!("{service}-{k}")
                };
                let port = usize::from(port) + 100 * (k - 1);
                all.push((
                    name,
                    format!("http://127.0.0.1:{port}/api/v1/{prefix}/{path}"),
                ));
            }
        }
        all
    }

    /// Waits (at most a minute) until every service's readiness says 200 "ok".
    pub async fn await_healthy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        for (service, url) in self.instances("health") {
            loop {
                let body = match self.http.get(&url).send().await {
                    Ok(r) => r.json::<Value>().await.unwrap_or_default(),
                    Err(_) => Value::Null,
                };
                if body["data"]["status"] == "ok" {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("{service} is not healthy after a minute: {body}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// Adds a product priced `price` with `stock` units, for a scenario to buy.
    pub async fn product(&self, price: i64, stock: i64) -> anyhow::Result<Uuid> {
        let title = format!("Faults mug {}", Uuid::new_v4().simple());
        let product = json!({ "title": title, "price": price, "stock": stock });
        let added = self
            .post("/api/v1/products", Some(&self.admin), None, &product)
            .await?;
        let id: Uuid = added["data"]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .context("adding a product answered no id")?;
        if let Ok(mut products) = self.products.lock() {
            products.push(id);
        }
        Ok(id)
    }

    /// Takes the products the run added off sale, so that they do not crowd the shop's first
    /// page (products are never deleted). The admin's token is fresh enough: a run takes
    /// minutes, the token lives 15.
    pub async fn retire_products(&self) -> anyhow::Result<()> {
        let products = self.products.lock().map(|p| p.clone()).unwrap_or_default();
        for id in products {
            let response = self
                .http
                .patch(format!("{}/api/v1/products/{id}", self.gateway))
                .bearer_auth(&self.admin)
                .json(&json!({ "active": false }))
                .send()
                .await?;
            ensure!(
                response.status().is_success(),
                "taking product {id} off sale answered {}",
                response.status()
            );
        }
        Ok(())
    }

    /// `count` new customers with `deposit` each, registered and funded through the gateway,
    /// 8 at a time (more at once would exceed the gateway's registration burst even with its
    /// rate lifted).
    pub async fn customers(&self, count: usize, deposit: i64) -> anyhow::Result<Vec<Customer>> {
        let mut all = Vec::with_capacity(count);
        while all.len() < count {
            let chunk = (all.len()..count.min(all.len() + 8)).map(|_| self.customer(deposit));
            all.extend(futures::future::try_join_all(chunk).await?);
        }
        Ok(all)
    }

    async fn customer(&self, deposit: i64) -> anyhow::Result<Customer> {
        let login = format!("faults{}", Uuid::new_v4().simple());
        let credentials = json!({ "login": login, "password": "faults password 1" });
        let registered = self
            .post("/api/v1/users/register", None, None, &credentials)
            .await?;
        let id = registered["data"]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .context("register answered no id")?;
        let tokens = self
            .post("/api/v1/users/login", None, None, &credentials)
            .await?;
        let token = tokens["data"]["accessToken"]
            .as_str()
            .context("login answered no token")?
            .to_owned();
        self.post(
            "/api/v1/billing/account/deposit",
            Some(&token),
            Some(&Uuid::new_v4().to_string()),
            &json!({ "amount": deposit }),
        )
        .await?;
        Ok(Customer { id, token })
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.post(format!("{}{path}", self.gateway)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        ensure!(status.is_success(), "POST {path} answered {status}: {body}");
        Ok(body)
    }
}

/// How a customer's order placement ended, as the client saw it.
#[derive(Debug, Default)]
pub struct Placement {
    pub user: Uuid,
    /// The key of the attempt that got a definite answer.
    pub key: String,
    /// 201, 202, 400 (insufficient funds) or 409 (out of stock); `None` if the client gave up.
    pub answer: Option<u16>,
    /// Keys whose every attempt was answered 503 "unavailable" (known not to have happened): no
    /// order may exist for them.
    pub refused_keys: Vec<String>,
    /// Answers that break the contract (an HTML page, a 500, …).
    pub violations: Vec<String>,
    /// Requests that took longer than any deadline.
    pub hung: u32,
    /// Attempts repeated with the same key (outcome unknown: 502/504 or no answer).
    pub retries: u32,
    /// Answers with a 5xx status (each attempt's).
    pub server_errors: u32,
}

/// One attempt of a client's request, as the client sees it.
enum Attempt {
    /// An answer: its status, text and JSON body (`Null` when the text is not JSON).
    Answered {
        status: u16,
        text: String,
        body: Value,
    },
    /// No answer. `hung`: it took longer than any deadline; `sent`: it may have reached the
    /// service (anything but a refused connection).
    Unanswered { hung: bool, sent: bool },
}

async fn attempt(request: reqwest::RequestBuilder) -> Attempt {
    let started = Instant::now();
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            Attempt::Answered { status, text, body }
        }
        Err(e) => Attempt::Unanswered {
            hung: e.is_timeout() || started.elapsed() >= HANG,
            sent: !e.is_connect(),
        },
    }
}

/// Places one order of a unit of `product` the way a careful client does: repeats it with the same
/// `Idempotency-Key` while the outcome is unknown (no answer, 502, 504, 429). A 503 says this
/// attempt did not happen: the first attempt of a key answered 503 is given up for a new key,
/// but once an attempt's outcome was unknown the key is kept to the end. Gives up after
/// `patience`.
pub async fn place(
    http: &reqwest::Client,
    base: &str,
    who: &Customer,
    product: Uuid,
    patience: Duration,
) -> Placement {
    let give_up = Instant::now() + patience;
    let mut placement = Placement {
        user: who.id,
        key: Uuid::new_v4().to_string(),
        ..Placement::default()
    };
    let mut uncertain = false;
    while Instant::now() < give_up {
        let request = http
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&who.token)
            .header("Idempotency-Key", &placement.key)
            .json(&json!({ "items": [{ "productId": product, "quantity": 1 }] }));
        let (status, text, body) = match attempt(request).await {
            Attempt::Answered { status, text, body } => (status, text, body),
            Attempt::Unanswered { hung, sent } => {
                placement.hung += u32::from(hung);
                // Refused before it was sent changes nothing; anything else may have.
                uncertain |= sent;
                placement.retries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !body.is_object() {
            placement
                .violations
                .push(format!("{status} with a body that is not JSON: {text:.80}"));
        }
        placement.server_errors += u32::from(status >= 500);
        match (status, body["code"].as_str()) {
            (201 | 202, _)
            | (400, Some(code::INSUFFICIENT_FUNDS))
            | (409, Some(code::OUT_OF_STOCK)) => {
                placement.answer = Some(status);
                return placement;
            }
            (503, Some("unavailable")) if !uncertain => {
                placement.refused_keys.push(placement.key.clone());
                placement.key = Uuid::new_v4().to_string();
            }
            (503, Some("unavailable")) | (429, _) => placement.retries += 1,
            (502 | 504, Some("outcome_unknown")) => {
                uncertain = true;
                placement.retries += 1;
            }
            _ => placement
                .violations
                .push(format!("unexpected {status}: {text:.120}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    placement
}

/// How a cancel ended, as the client saw it.
#[derive(Debug, Default)]
pub struct Cancellation {
    pub order: Uuid,
    /// 200 or 202 (the order is cancelled); `None` if the client gave up.
    pub answer: Option<u16>,
    /// Answers that break the contract.
    pub violations: Vec<String>,
    pub hung: u32,
    /// Attempts repeated with the same key (outcome unknown or unavailable).
    pub retries: u32,
}

/// Cancels one order the way a careful client does: with an `Idempotency-Key`, repeated with
/// that same key until a definite answer (200 or 202 with the order cancelled), so that a
/// repeat of a cancel that did happen replays it instead of answering 409.
pub async fn cancel(
    http: &reqwest::Client,
    base: &str,
    who: &Customer,
    order: Uuid,
    patience: Duration,
) -> Cancellation {
    let give_up = Instant::now() + patience;
    let key = Uuid::new_v4().to_string();
    let mut cancellation = Cancellation {
        order,
        ..Cancellation::default()
    };
    while Instant::now() < give_up {
        let request = http
            .post(format!("{base}/api/v1/orders/{order}/cancel"))
            .bearer_auth(&who.token)
            .header("Idempotency-Key", &key);
        let (status, text, body) = match attempt(request).await {
            Attempt::Answered { status, text, body } => (status, text, body),
            Attempt::Unanswered { hung, .. } => {
                cancellation.hung += u32::from(hung);
                cancellation.retries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match (status, body["code"].as_str()) {
            (200 | 202, _) if body["data"]["status"] == "cancelled" => {
                cancellation.answer = Some(status);
                return cancellation;
            }
            (503, Some("unavailable")) | (502 | 504, Some("outcome_unknown")) | (429, _) => {
                cancellation.retries += 1
            }
            _ => cancellation
                .violations
                .push(format!("cancel answered {status}: {text:.120}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancellation
}

/// Each customer places `per_customer` orders of one unit of `product` one after another
/// (their events stay in order per customer), all customers at once, through `base`.
pub async fn burst(
    http: &reqwest::Client,
    base: &str,
    customers: &[Customer],
    per_customer: usize,
    product: Uuid,
) -> Vec<Placement> {
    let runs = customers.iter().map(|who| async move {
        let mut placed = Vec::with_capacity(per_customer);
        for _ in 0..per_customer {
            placed.push(place(http, base, who, product, Duration::from_secs(90)).await);
        }
        placed
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// What the checks counted.
#[derive(Debug, Default)]
pub struct Totals {
    pub orders: usize,
    /// Placements answered 409 out_of_stock (nothing stored).
    pub out_of_stock: usize,
    pub created: usize,
    pub rejected: usize,
    pub cancelled: usize,
    pub events: usize,
    pub notifications: usize,
    pub retries: u32,
    pub refused: usize,
}

impl Stack {
    /// Waits (at most `limit`) until the customers' orders are all settled, every event is
    /// published and every notification stored, then checks the invariants; `Err` lists every
    /// broken one.
    pub async fn check(
        &self,
        customers: &[Customer],
        placements: &[Placement],
        limit: Duration,
    ) -> anyhow::Result<Totals> {
        let users: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
        let deadline = Instant::now() + limit;
        loop {
            match self.backlog(&users).await {
                Ok(None) => break,
                Ok(Some(what)) if Instant::now() > deadline => {
                    bail!("not recovered after {limit:?}: {what}")
                }
                Err(e) if Instant::now() > deadline => bail!("not recovered: {e:#}"),
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        // Late duplicates would show up within this.
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.invariants(&users, placements).await
    }

    /// `None` once nothing of these users waits any more, else what still does.
    async fn backlog(&self, users: &[Uuid]) -> anyhow::Result<Option<String>> {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE user_id = ANY($1) \
             AND (status = 'pending' OR refund_state = 'due')",
        )
        .bind(users)
        .fetch_one(&self.order_db)
        .await?;
        let unsent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL",
        )
        .fetch_one(&self.order_db)
        .await?;
        let events = self.event_ids(users).await?.len();
        let notes: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id = ANY($1)")
                .bind(users)
                .fetch_one(&self.notification_db)
                .await?;
        if pending == 0 && unsent == 0 && notes as usize >= events {
            return Ok(None);
        }
        Ok(Some(format!(
            "{pending} orders pending or awaiting their refund, {unsent} events unsent, \
             {notes} of {events} notifications"
        )))
    }

    async fn event_ids(&self, users: &[Uuid]) -> anyhow::Result<Vec<Uuid>> {
        let keys: Vec<String> = users.iter().map(Uuid::to_string).collect();
        Ok(
            sqlx::query_scalar("SELECT event_id FROM outbox WHERE key = ANY($1)")
                .bind(&keys)
                .fetch_all(&self.order_db)
                .await?,
        )
    }

    /// Every invariant over these users' orders, money, events and answers; `Err` lists every
    /// broken one.
    async fn invariants(&self, users: &[Uuid], placements: &[Placement]) -> anyhow::Result<Totals> {
        let orders: Vec<StoredOrder> = sqlx::query_as(
            "SELECT id, user_id, price, status, idempotency_key FROM orders WHERE user_id = ANY($1)",
        )
        .bind(users)
        .fetch_all(&self.order_db)
        .await?;
        let mut totals = Totals {
            orders: orders.len(),
            ..Totals::default()
        };
        let mut broken = self.money_per_order(users, &orders, &mut totals).await?;
        broken.extend(self.balances_equal_ledgers(users).await?);
        broken.extend(self.one_notification_per_event(users, &mut totals).await?);
        broken.extend(what_clients_were_told(&orders, placements, &mut totals));
        broken.extend(self.units_and_prices(users).await?);
        if broken.is_empty() {
            return Ok(totals);
        }
        broken.sort();
        broken.dedup();
        bail!("{}", broken.join("; "))
    }

    /// Charged - refunded = price if and only if an order is created, else 0; no charge for an
    /// unknown order; no order left pending. Counts the orders by status.
    async fn money_per_order(
        &self,
        users: &[Uuid],
        orders: &[StoredOrder],
        totals: &mut Totals,
    ) -> anyhow::Result<Vec<String>> {
        let mut broken = Vec::new();
        let kept = billing::audit::kept_by_order(&self.billing_db, users).await?;
        for StoredOrder {
            id, price, status, ..
        } in orders
        {
            let charged = kept.get(id).copied().unwrap_or(0);
            let expected = if status == "created" { *price } else { 0 };
            match status.as_str() {
                "created" => totals.created += 1,
                "rejected" => totals.rejected += 1,
                "cancelled" => totals.cancelled += 1,
                other => broken.push(format!("order {id} is still {other}")),
            }
            if charged != expected {
                broken.push(format!(
                    "order {id} is {status} and keeps {charged} of its price"
                ));
            }
        }
        let known: HashSet<Uuid> = orders.iter().map(|o| o.id).collect();
        for order_id in kept.keys().filter(|id| !known.contains(id)) {
            broken.push(format!(
                "a charge for order {order_id}, which does not exist"
            ));
        }
        Ok(broken)
    }

    /// Every balance is the sum of its account's ledger.
    async fn balances_equal_ledgers(&self, users: &[Uuid]) -> anyhow::Result<Vec<String>> {
        let unbalanced = billing::audit::unbalanced_accounts(&self.billing_db, users).await?;
        Ok(unbalanced
            .into_iter()
            .map(|a| {
                format!(
                    "user {}: balance {}, ledger sum {}",
                    a.user_id, a.balance, a.ledger_sum
                )
            })
            .collect())
    }

    /// One notification per event, none without one. Counts both.
    async fn one_notification_per_event(
        &self,
        users: &[Uuid],
        totals: &mut Totals,
    ) -> anyhow::Result<Vec<String>> {
        let mut broken = Vec::new();
        let events = self.event_ids(users).await?;
        let notes: Vec<Uuid> =
            sqlx::query_scalar("SELECT event_id FROM notifications WHERE user_id = ANY($1)")
                .bind(users)
                .fetch_all(&self.notification_db)
                .await?;
        totals.events = events.len();
        totals.notifications = notes.len();
        let noted: HashSet<Uuid> = notes.iter().copied().collect();
        if noted.len() != notes.len() {
            broken.push("an event was notified twice".to_owned());
        }
        let sent: HashSet<Uuid> = events.iter().copied().collect();
        if sent != noted {
            broken.push(format!(
                "{} events without their notification, {} notifications without an event",
                sent.difference(&noted).count(),
                noted.difference(&sent).count()
            ));
        }
        Ok(broken)
    }

    /// Units: every product the run added adds up (available plus what its pending and created
    /// orders hold is every unit it ever had), and every order costs its lines.
    async fn units_and_prices(&self, users: &[Uuid]) -> anyhow::Result<Vec<String>> {
        let mut broken = Vec::new();
        let products = self.products.lock().map(|p| p.clone()).unwrap_or_default();
        for m in order::catalogue::stock_mismatches(&self.order_db, Some(&products)).await? {
            broken.push(format!(
                "product {}: {} available and {} held by orders, of {} units",
                m.product_id, m.available, m.held, m.stocked
            ));
        }
        for id in order::orders::mispriced(&self.order_db, users).await? {
            broken.push(format!("order {id} does not cost the sum of its lines"));
        }
        Ok(broken)
    }
}

/// An order as the order service stored it.
#[derive(sqlx::FromRow)]
struct StoredOrder {
    id: Uuid,
    user_id: Uuid,
    price: i64,
    status: String,
    idempotency_key: Option<String>,
}

/// What the clients were told holds: a placement's answer matches the order stored under its
/// key, a 503 left no order, nothing hung or broke the contract. Counts retries, refusals and
/// out-of-stock answers.
fn what_clients_were_told(
    orders: &[StoredOrder],
    placements: &[Placement],
    totals: &mut Totals,
) -> Vec<String> {
    let mut broken = Vec::new();
    let by_key: HashMap<(Uuid, &str), &str> = orders
        .iter()
        .filter_map(|o| {
            let key = o.idempotency_key.as_deref()?;
            Some(((o.user_id, key), o.status.as_str()))
        })
        .collect();
    for placement in placements {
        totals.retries += placement.retries;
        totals.refused += placement.refused_keys.len();
        broken.extend(placement.violations.iter().cloned());
        if placement.hung > 0 {
            broken.push(format!("{} requests hung past {HANG:?}", placement.hung));
        }
        for key in &placement.refused_keys {
            if let Some(status) = by_key.get(&(placement.user, key.as_str())) {
                broken.push(format!("a 503 was answered for an order that is {status}"));
            }
        }
        let stored = by_key
            .get(&(placement.user, placement.key.as_str()))
            .copied();
        match (placement.answer, stored) {
            (None, _) => broken.push("a client gave up placing an order".to_owned()),
            (Some(201), Some("created" | "cancelled"))
            | (Some(400), Some("rejected"))
            | (Some(202), Some(_)) => {}
            (Some(409), None) => totals.out_of_stock += 1,
            (Some(answer), stored) => {
                broken.push(format!("answered {answer}, the order is {stored:?}"))
            }
        }
    }
    broken
}
