//! `make login-flood`: does a genuine login stay fast while a crowd floods the login?
//!
//! Through the gateway with its per-address limits in place: first genuine logins alone, then
//! the same while `addresses` flood clients, each from a loopback address of its own (so the
//! per-address limit holds each one back only so far), try made-up logins and passwords, each
//! a password check for the user service. Prints the genuine logins' outcomes and latency in
//! both phases, and what the flood was answered.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use hdrhistogram::Histogram;
use serde_json::json;

use crate::load::{Call, Conn, Target};

/// How often each flood client tries (the gateway lets it 10 a minute after a burst of 5).
const FLOOD_EVERY: Duration = Duration::from_secs(2);
/// How often a genuine login is made (each from an address of its own, as distinct users).
const GENUINE_EVERY: Duration = Duration::from_millis(250);

/// Genuine logins of one phase: latency of each answer, and answers by status.
struct Genuine {
    latency: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
}

impl Genuine {
    fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn line(&self, phase: &str) -> String {
        let total: u64 = self.statuses.values().sum();
        let ok = self.statuses.get(&200).copied().unwrap_or(0);
        format!(
            "| {phase} | {total} | {ok} ({:.0}%) | {:.1} | {:.1} | {:.1} | {:?} |",
            ok as f64 * 100.0 / total.max(1) as f64,
            self.ms(0.5),
            self.ms(0.99),
            self.ms(1.0),
            self.statuses
        )
    }
}

/// The loopback address of genuine login `n` (127.5.x.y) or flood client `n` (127.6.x.y).
fn address(block: u8, n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        block,
        (n / 250 % 250) as u8,
        (n % 250) as u8 + 1,
    ))
}

async fn genuine_logins(
    gateway: &Target,
    credentials: &serde_json::Value,
    seconds: u64,
    first: usize,
) -> anyhow::Result<Genuine> {
    let mut genuine = Genuine {
        latency: Histogram::new(3)?,
        statuses: BTreeMap::new(),
    };
    let call = Call::post("/api/v1/users/login", None, credentials.clone());
    let mut tick = tokio::time::interval(GENUINE_EVERY);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut n = first;
    while Instant::now() < end {
        tick.tick().await;
        let mut conn = Conn::new(gateway.clone(), Some(address(5, n)));
        n += 1;
        let started = Instant::now();
        let status = conn.send(&call).await.map_or(0, |(status, _)| status);
        let _ = genuine
            .latency
            .record((started.elapsed().as_micros() as u64).max(1));
        *genuine.statuses.entry(status).or_default() += 1;
    }
    Ok(genuine)
}

pub async fn run(gateway: Target, seconds: u64, addresses: usize) -> anyhow::Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let credentials =
        json!({ "login": format!("genuine{run}"), "password": format!("genuine password {run}") });
    let mut conn = Conn::new(gateway.clone(), Some(address(5, 60_000)));
    let (status, body) = conn
        .send(&Call::post(
            "/api/v1/users/register",
            None,
            credentials.clone(),
        ))
        .await?;
    if status != 201 {
        bail!(
            "registering the genuine user answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    println!("genuine logins alone for {seconds} s ...");
    let alone = genuine_logins(&gateway, &credentials, seconds, 0).await?;

    println!("genuine logins while {addresses} addresses flood the login for {seconds} s ...");
    let stop = Arc::new(AtomicBool::new(false));
    let flood_statuses = Arc::new(Mutex::new(BTreeMap::<u16, u64>::new()));
    let flood: Vec<_> = (0..addresses)
        .map(|i| {
            let (gateway, stop, statuses) = (gateway.clone(), stop.clone(), flood_statuses.clone());
            let run = run.clone();
            tokio::spawn(async move {
                let mut conn = Conn::new(gateway, Some(address(6, i)));
                // Spread the clients' first tries over one period, as a crowd's would be.
                tokio::time::sleep(FLOOD_EVERY * i as u32 / addresses.max(1) as u32).await;
                let mut tick = tokio::time::interval(FLOOD_EVERY);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let guess =
                        json!({ "login": format!("flood{run}c{i}n{n}"), "password": "a guess" });
                    n += 1;
                    let call = Call::post("/api/v1/users/login", None, guess);
                    let status = conn.send(&call).await.map_or(0, |(status, _)| status);
                    *statuses
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(status)
                        .or_default() += 1;
                }
            })
        })
        .collect();
    // The flood builds up for a period before the genuine logins are measured.
    tokio::time::sleep(FLOOD_EVERY).await;
    let flooded = genuine_logins(&gateway, &credentials, seconds, 10_000).await?;
    stop.store(true, Ordering::Relaxed);
    for client in flood {
        let _ = client.await;
    }
    let flood_statuses = flood_statuses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();

    println!();
    println!("| genuine logins | made | 200 | p50 ms | p99 ms | max ms | answers by status |");
    println!("|---|---|---|---|---|---|---|");
    println!("{}", alone.line("alone"));
    println!(
        "{}",
        flooded.line(&format!("under a flood from {addresses} addresses"))
    );
    let total: u64 = flood_statuses.values().sum();
    println!();
    println!(
        "flood: {total} attempts in {:.0} s, answers by status {flood_statuses:?} \
         (401: password checked; 429: the gateway's per-address limit; 503: the password queue \
         stayed full for its whole wait)",
        (seconds as f64) + FLOOD_EVERY.as_secs_f64()
    );
    let ok_share = |g: &Genuine| {
        g.statuses.get(&200).copied().unwrap_or(0) as f64 * 100.0
            / g.statuses.values().sum::<u64>().max(1) as f64
    };
    let refused = flood_statuses.get(&429).copied().unwrap_or(0)
        + flood_statuses.get(&503).copied().unwrap_or(0);
    let met = |ok: bool| if ok { "yes" } else { "NO" };
    println!();
    println!("| target | measured | met |");
    println!("|---|---|---|");
    println!(
        "| a genuine login under the flood answers within the password queue's wait (1 s) and a hash: p99 under 1500 ms | {:.0} ms | {} |",
        flooded.ms(0.99),
        met(flooded.ms(0.99) < 1500.0)
    );
    println!(
        "| most genuine logins under the flood get in (at least 75%; a refused one retries after 1 s) | {:.0}% | {} |",
        ok_share(&flooded),
        met(ok_share(&flooded) >= 75.0)
    );
    println!(
        "| the flood is refused (429 or 503), not queued | {refused} of {total} | {} |",
        met(refused > 0)
    );
    Ok(())
}
