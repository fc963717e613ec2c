//! The shop's side of the benchmark: funded customers with tokens, and the calls of each
//! scenario.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::load::{Call, Conn, Target};

/// A registered, logged-in and funded customer.
#[derive(Clone)]
pub struct Customer {
    pub login: String,
    pub password: String,
    pub token: Arc<str>,
}

/// Every customer's own loopback address, as distinct clients have (the gateway limits logins
/// per address).
pub fn source_of(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        1,
        (index / 250) as u8,
        (index % 250) as u8 + 1,
    ))
}

async fn expect(conn: &mut Conn, call: &Call) -> anyhow::Result<Value> {
    let (status, body) = conn.send(call).await?;
    if status != call.expect {
        bail!(
            "{} {} answered {status}: {}",
            call.method,
            call.path,
            String::from_utf8_lossy(&body)
        );
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Registers, logs in and funds customer `index` of run `run`.
async fn customer(target: &Target, run: &str, index: usize) -> anyhow::Result<Customer> {
    let mut conn = Conn::new(target.clone(), Some(source_of(index)));
    let login = format!("bench{run}u{index}");
    let password = format!("bench password {run} {index}");
    let credentials = json!({ "login": login, "password": password });
    expect(
        &mut conn,
        &Call::post("/api/v1/users/register", None, credentials.clone()).expect(201),
    )
    .await?;
    let tokens = expect(
        &mut conn,
        &Call::post("/api/v1/users/login", None, credentials),
    )
    .await?;
    let token: Arc<str> = tokens["data"]["accessToken"]
        .as_str()
        .context("login answered without an access token")?
        .into();
    expect(
        &mut conn,
        &Call::post(
            "/api/v1/billing/account/deposit",
            Some(token.clone()),
            json!({ "amount": 1_000_000_000 }),
        )
        .with_key(format!("bench-fund-{run}-{index}")),
    )
    .await?;
    Ok(Customer {
        login,
        password,
        token,
    })
}

/// `count` new customers, each with 1 000 000 000 minor units, set up 8 at a time.
pub async fn customers(target: &Target, run: &str, count: usize) -> anyhow::Result<Vec<Customer>> {
    let mut all = Vec::with_capacity(count);
    for chunk_start in (0..count).step_by(8) {
        let chunk: Vec<_> = (chunk_start..(chunk_start + 8).min(count))
            .map(|i| {
                let target = target.clone();
                let run = run.to_owned();
                tokio::spawn(async move { customer(&target, &run, i).await })
            })
            .collect();
        for task in chunk {
            all.push(task.await??);
        }
    }
    Ok(all)
}

pub fn balance(customer: &Customer) -> Call {
    Call::get("/api/v1/billing/account/my", Some(customer.token.clone()))
}

pub fn deposit(customer: &Customer) -> Call {
    Call::post(
        "/api/v1/billing/account/deposit",
        Some(customer.token.clone()),
        json!({ "amount": 1 }),
    )
    .with_key(uuid::Uuid::new_v4().to_string())
}

/// The catalogue the order scenarios buy from, filled by an admin of the run: `products`, and
/// one `hot` product that every customer of the hot-product scenario buys.
pub struct Catalogue {
    pub products: Vec<String>,
    pub hot: String,
}

/// Logs in as the admin (`SHOP_ADMIN_LOGIN`, `SHOP_ADMIN_PASSWORD`: scripts/bench.sh makes one)
/// and adds `count` products and a hot one, each priced 1 to 100 with a million units.
pub async fn catalogue(
    target: &Target,
    admin: &(String, String),
    run: &str,
    count: usize,
) -> anyhow::Result<Catalogue> {
    let mut conn = Conn::new(target.clone(), None);
    let token = admin_token(&mut conn, admin).await?;
    let mut ids = Vec::with_capacity(count + 1);
    for i in 0..=count {
        let product = json!({
            "title": format!("Bench product {run} {i}"),
            "description": "A product of make bench.",
            "price": 1 + i % 100,
            "stock": 1_000_000,
        });
        let added = expect(
            &mut conn,
            &Call::post("/api/v1/products", Some(token.clone()), product).expect(201),
        )
        .await?;
        ids.push(
            added["data"]["id"]
                .as_str()
                .context("a product without an id")?
                .to_owned(),
        );
    }
    let hot = ids.pop().context("no product")?;
    Ok(Catalogue { products: ids, hot })
}

async fn admin_token(conn: &mut Conn, admin: &(String, String)) -> anyhow::Result<Arc<str>> {
    let credentials = json!({ "login": admin.0, "password": admin.1 });
    let tokens = expect(conn, &Call::post("/api/v1/users/login", None, credentials))
        .await
        .context("logging in as the bench's admin")?;
    Ok(tokens["data"]["accessToken"]
        .as_str()
        .context("login answered without an access token")?
        .into())
}

/// Takes the run's products off sale once it is done with them, so that they do not crowd the
/// shop's first page (products are never deleted).
pub async fn retire(
    target: &Target,
    admin: &(String, String),
    catalogue: &Catalogue,
) -> anyhow::Result<()> {
    let mut conn = Conn::new(target.clone(), None);
    let token = admin_token(&mut conn, admin).await?;
    for id in catalogue.products.iter().chain([&catalogue.hot]) {
        let call = Call {
            method: "PATCH",
            ..Call::post(
                format!("/api/v1/products/{id}"),
                Some(token.clone()),
                json!({ "active": false }),
            )
        };
        expect(&mut conn, &call).await?;
    }
    Ok(())
}

/// An order of 1 to 3 distinct products of the catalogue, one unit each, varying with `seq`.
pub fn order(catalogue: &Catalogue, customer: &Customer, seq: u64) -> Call {
    let n = catalogue.products.len() as u64;
    // A cheap mix of seq (no two lines of one order the same product: steps of 1 to 3 < n).
    let first = seq.wrapping_mul(2_654_435_761) % n;
    let items: Vec<Value> = (0..1 + seq % 3)
        .map(|line| {
            let id = &catalogue.products[((first + line * (1 + seq % 7)) % n) as usize];
            json!({ "productId": id, "quantity": 1 })
        })
        .collect();
    order_items(customer, items)
}

/// An order of one unit of the hot product.
pub fn hot_order(catalogue: &Catalogue, customer: &Customer) -> Call {
    order_items(
        customer,
        vec![json!({ "productId": catalogue.hot, "quantity": 1 })],
    )
}

fn order_items(customer: &Customer, items: Vec<Value>) -> Call {
    Call::post(
        "/api/v1/orders",
        Some(customer.token.clone()),
        json!({ "items": items }),
    )
    .expect(201)
}

/// The first page of the catalogue, as a visitor reads it (no token).
pub fn products() -> Call {
    Call::get("/api/v1/products", None)
}

pub fn login(customer: &Customer) -> Call {
    Call::post(
        "/api/v1/users/login",
        None,
        json!({ "login": customer.login, "password": customer.password }),
    )
}

/// Order → notification delays seen from outside: after an order's 201, its owner polls the
/// notification list every 5 ms until the order shows up there.
#[derive(Clone)]
pub struct DelayTracker {
    target: Target,
    pub delays: Arc<Mutex<Histogram<u64>>>,
    pub missing: Arc<Mutex<u64>>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl DelayTracker {
    pub fn new(target: &Target) -> Self {
        Self {
            target: target.clone(),
            delays: Arc::new(Mutex::new(
                Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds"),
            )),
            missing: Arc::new(Mutex::new(0)),
            tasks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Starts watching for the notification of the order in `body` (an order's 201 answer).
    pub fn track(&self, token: Arc<str>, body: &Bytes, answered: Instant) {
        let Some(order_id) = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["data"]["id"].as_str().map(str::to_owned))
        else {
            return;
        };
        let this = self.clone();
        let task = tokio::spawn(async move {
            let mut conn = Conn::new(this.target.clone(), None);
            let poll = Call::get("/api/v1/notifications?limit=20", Some(token));
            let give_up = answered + Duration::from_secs(10);
            while Instant::now() < give_up {
                if let Ok((200, list)) = conn.send(&poll).await {
                    if contains(&list, order_id.as_bytes()) {
                        let micros = answered.elapsed().as_micros() as u64;
                        if let Ok(mut delays) = this.delays.lock() {
                            let _ = delays.record(micros.clamp(1, 60_000_000));
                        }
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if let Ok(mut missing) = this.missing.lock() {
                *missing += 1;
            }
        });
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(task);
        }
    }

    /// Waits until every tracked order's notification was seen or given up on.
    pub async fn finish(&self) {
        let tasks = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for task in tasks {
            let _ = task.await;
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
