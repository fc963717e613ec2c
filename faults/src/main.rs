//! `make faults`: stages the faults an operator meets (a crash, a restart, a slow dependency)
//! on the running local stack while customers buy, then checks, for the customers of each
//! scenario: every order is settled and charged its price if and only if created, else
//! nothing; every balance equals its ledger; every event has exactly one notification; nothing
//! is pending or unsent; no client was told "not done" (503) for something that happened; no
//! request hung and no answer broke the contract. One line per scenario, then `N passed, M
//! failed`. Every wait is bounded. `FAULTS_ONLY=name,name` runs some of them.

mod shop;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use futures::future::BoxFuture;

use shop::{burst, cancel, place, service_url, Customer, Stack, Totals, SERVICES};
use testkit::proxy::{Held, SlowProxy};

type Scenario = for<'a> fn(&'a Stack) -> BoxFuture<'a, anyhow::Result<String>>;

const SCENARIOS: &[(&str, Scenario)] = &[
    ("order-sigkill", |s| {
        Box::pin(crash_during_burst(s, "order"))
    }),
    ("billing-sigkill", |s| {
        Box::pin(crash_during_burst(s, "billing"))
    }),
    ("consumer-sigkill", |s| Box::pin(consumer_sigkill(s))),
    ("broker-freeze", |s| Box::pin(broker_freeze(s))),
    ("postgres-restart", |s| Box::pin(postgres_restart(s))),
    ("slow-billing", |s| Box::pin(slow_billing(s))),
    ("sigterm-each", |s| Box::pin(sigterm_each(s))),
    ("cancel-sigkill", |s| Box::pin(cancel_sigkill(s))),
];

/// The scenarios of a stack with replicas (`make up REPLICAS=2`): one instance of a service
/// fails while another serves. The ones above stage outages of a service's one instance.
const REPLICA_SCENARIOS: &[(&str, Scenario)] = &[
    ("replica-sigkill", |s| Box::pin(replica_sigkill(s))),
    ("replica-rolling-restart", |s| {
        Box::pin(replica_rolling_restart(s))
    }),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let stack = Stack::connect().await?;
    let only = std::env::var("FAULTS_ONLY").unwrap_or_default();
    let (mut passed, mut failed) = (0, 0);
    let scenarios = if stack.replicas > 1 {
        println!(
            "{} replicas of each service: the replica scenarios (one replica at a time fails)",
            stack.replicas
        );
        REPLICA_SCENARIOS
    } else {
        SCENARIOS
    };
    for (name, scenario) in scenarios {
        if !only.is_empty() && !only.split(',').any(|o| o == *name) {
            continue;
        }
        let started = Instant::now();
        let outcome = match stack.heal().await.and(stack.await_healthy().await) {
            Ok(()) => scenario(&stack).await,
            Err(e) => Err(e.context("the stack was not healthy before the scenario")),
        };
        let took = started.elapsed().as_secs();
        match outcome {
            Ok(line) => {
                passed += 1;
                println!("PASS {name} ({took} s): {line}");
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {name} ({took} s): {e:#}");
            }
        }
    }
    if let Err(e) = stack.retire_products().await {
        println!("the run's products stay on sale: {e:#}");
    }
    println!("{passed} passed, {failed} failed");
    ensure!(failed == 0, "{failed} fault scenarios failed");
    Ok(())
}

/// Customers read through the gateway (their profile, balance, orders and notifications) until
/// `done`: (requests answered, every answer or failure that was not a success). The gateway
/// retries a failed GET on another replica, so a replica that dies costs a reader nothing.
async fn read_until(
    stack: &Stack,
    who: &Customer,
    done: &std::sync::atomic::AtomicBool,
) -> (u64, Vec<String>) {
    let paths = [
        "/api/v1/users/me",
        "/api/v1/billing/account/my",
        "/api/v1/orders?limit=5",
        "/api/v1/notifications?limit=5",
    ];
    let (mut answered, mut failures) = (0, Vec::new());
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        for path in paths {
            let sent = stack
                .http
                .get(format!("{}{path}", stack.gateway))
                .bearer_auth(&who.token)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => answered += 1,
                Ok(r) => failures.push(format!("GET {path}: {}", r.status())),
                Err(e) => failures.push(format!("GET {path}: {e}")),
            }
        }
    }
    (answered, failures)
}

/// Orders (8 customers, one after another each) and reads through the gateway while `fault`
/// runs, reads going on until it is done; then the usual checks. Returns the figures, the
/// reads answered, the failed reads and the 5xx answers the order clients saw.
async fn under_load_with_replicas<F>(
    stack: &Stack,
    fault: F,
) -> anyhow::Result<(Totals, u64, Vec<String>, u32)>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    ensure!(stack.replicas > 1, "needs two replicas: make up REPLICAS=2");
    let customers = stack.customers(8, 1_000_000).await?;
    let readers = stack.customers(4, 1).await?;
    let mug = stack.product(100, 1_000_000).await?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let orders = async {
        let placements = burst(&stack.http, &stack.gateway, &customers, 200, mug).await;
        (placements, Instant::now())
    };
    let reads = futures::future::join_all(readers.iter().map(|who| read_until(stack, who, &done)));
    let fault = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let began = Instant::now();
        let outcome = fault.await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        outcome.map(|()| began)
    };
    let ((placements, orders_ended), reads, fault) = tokio::join!(orders, reads, fault);
    let began = fault?;
    ensure!(
        began < orders_ended,
        "the fault began after the orders had ended: it proved nothing"
    );
    let (mut answered, mut failures) = (0, Vec::new());
    for (n, f) in reads {
        answered += n;
        failures.extend(f);
    }
    let server_errors = placements.iter().map(|p| p.server_errors).sum();
    let totals = stack
        .check(&customers, &placements, Duration::from_secs(150))
        .await?;
    Ok((totals, answered, failures, server_errors))
}

/// SIGKILL one replica of each service in turn under load (replica 1 of user and order,
/// replica 2 of billing and notification), each started again a second later: no read sees a
/// failure (the gateway retries it on the other replica), orders whose replica died answer 502
/// outcome_unknown at worst and are repeated with their key; money and events exact. The killed
/// consumer's partitions come back to the group: on a real Kafka by the rebalance its session
/// expiry starts; on the local broker, which drops the member without one, by the consumers'
/// own check (watch_assignment in notification/src/consumer.rs).
async fn replica_sigkill(stack: &Stack) -> anyhow::Result<String> {
    let victims = ["user", "billing-2", "order", "notification-2"];
    let (totals, reads, failures, server_errors) = under_load_with_replicas(stack, async {
        for victim in victims {
            stack.ctl("kill", victim).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            stack.ctl("start", victim).await?;
        }
        Ok(())
    })
    .await?;
    ensure!(
        failures.is_empty(),
        "{} of the reads failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    Ok(format!(
        "killed {}: {reads} reads, none failed; {server_errors} order attempts answered 5xx (repeated with their key); {}",
        victims.join(", "),
        figures(&totals)
    ))
}

/// A rolling restart under load: each replica of each service in turn is stopped with
/// SIGTERM and started again, the next only once it is healthy. Nobody sees a 5xx or a failed
/// request: a stopping replica answers what it has, and the gateway sends the rest to the other.
async fn replica_rolling_restart(stack: &Stack) -> anyhow::Result<String> {
    let mut restarted = Vec::new();
    for (service, ..) in SERVICES {
        for k in 1..=stack.replicas {
            restarted.push(if k == 1 {
                service.to_owned()
            } else {
                format!("{service}-{k}")
            });
        }
    }
    let (totals, reads, failures, server_errors) = under_load_with_replicas(stack, async {
        for instance in &restarted {
            stack.ctl("restart", instance).await?;
        }
        Ok(())
    })
    .await?;
    ensure!(
        failures.is_empty() && server_errors == 0,
        "{} reads failed ({:?}) and {server_errors} order attempts answered 5xx",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    ensure!(
        totals.retries == 0,
        "{} orders had to be repeated",
        totals.retries
    );
    Ok(format!(
        "restarted {} one after another: {reads} reads and every order answered at once, no 5xx; {}",
        restarted.len(),
        figures(&totals)
    ))
}

/// The order, money and event figures of a checked scenario.
fn figures(t: &Totals) -> String {
    let cancelled = if t.cancelled > 0 {
        format!(", {} cancelled", t.cancelled)
    } else {
        String::new()
    };
    let out_of_stock = if t.out_of_stock > 0 {
        format!(", {} refused out of stock", t.out_of_stock)
    } else {
        String::new()
    };
    format!(
        "{} orders ({} created, {} rejected{cancelled}{out_of_stock}), {} repeats with the same \
         key, {} refused with 503; {} events, {} notifications; units add up",
        t.orders, t.created, t.rejected, t.retries, t.refused, t.events, t.notifications
    )
}

/// Customers cancel every order they placed, all at once, while billing is SIGKILLed and then
/// order (each restarted a second later): every order ends cancelled with all its money back
/// (the refunds billing missed are settled later), each cancel answered 200 or 202 (clients
/// repeat with the same key), one OrderCancelled notification each.
async fn cancel_sigkill(stack: &Stack) -> anyhow::Result<String> {
    let customers = stack.customers(6, 6_000).await?;
    let mug = stack.product(100, 1_000_000).await?;
    let placements = burst(&stack.http, &stack.gateway, &customers, 40, mug).await;
    let mut orders = Vec::new();
    for who in &customers {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT id FROM orders WHERE user_id = $1 AND status IN ('created', 'pending')",
        )
        .bind(who.id)
        .fetch_all(&stack.order_db)
        .await?;
        orders.extend(ids.into_iter().map(|id| (who.clone(), id)));
    }
    // 10 clients, each cancelling its share one after another with a pause between: the
    // cancels outlast the start of the fault.
    let share = orders.len().div_ceil(10);
    let load = async {
        let runs = orders.chunks(share).map(|chunk| async move {
            let mut done = Vec::with_capacity(chunk.len());
            for (who, id) in chunk {
                let patience = Duration::from_secs(90);
                done.push(cancel(&stack.http, &stack.gateway, who, *id, patience).await);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            done
        });
        let cancels: Vec<_> = futures::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect();
        (cancels, Instant::now())
    };
    let fault = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let billing_killed = Instant::now();
        stack.ctl("kill", "billing").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        stack.ctl("start", "billing").await?;
        let order_killed = Instant::now();
        stack.ctl("kill", "order").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        stack.ctl("start", "order").await?;
        anyhow::Ok([billing_killed, order_killed])
    };
    let ((cancels, cancels_ended), fault) = tokio::join!(load, fault);
    ensure!(
        fault?.iter().all(|began| *began < cancels_ended),
        "a fault began after the cancels had ended: it proved nothing"
    );
    let mut broken = Vec::new();
    let (mut retries, mut accepted) = (0, 0);
    for c in &cancels {
        retries += c.retries;
        accepted += usize::from(c.answer == Some(202));
        broken.extend(c.violations.iter().cloned());
        if c.answer.is_none() {
            broken.push(format!("a client gave up cancelling order {}", c.order));
        }
        if c.hung > 0 {
            broken.push(format!("{} cancel requests hung", c.hung));
        }
    }
    ensure!(broken.is_empty(), "{}", broken.join("; "));
    let totals = stack
        .check(&customers, &placements, Duration::from_secs(150))
        .await?;
    ensure!(
        totals.cancelled == orders.len(),
        "{} of {} orders cancelled",
        totals.cancelled,
        orders.len()
    );
    Ok(format!(
        "{} cancels ({accepted} answered 202, {retries} repeats with the same key); {}",
        cancels.len(),
        figures(&totals)
    ))
}

/// Customers who can afford 25 orders of 100.
async fn buyers(stack: &Stack, count: usize) -> anyhow::Result<Vec<Customer>> {
    stack.customers(count, 2_500).await
}

/// Runs `fault` 300 ms into a burst of 8 customers × 100 orders of a product with 500 units
/// through the gateway, then checks; fails unless the fault began before the burst ended. Four
/// customers can afford 50 orders, four all 100: money runs out (rejected orders give their
/// units back) and so do the units (orders refused out of stock).
async fn during_burst<F>(stack: &Stack, fault: F) -> anyhow::Result<Totals>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut customers = stack.customers(4, 5_000).await?;
    customers.extend(stack.customers(4, 10_000).await?);
    let mug = stack.product(100, 500).await?;
    let load = async {
        let placements = burst(&stack.http, &stack.gateway, &customers, 100, mug).await;
        (placements, Instant::now())
    };
    let fault = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let began = Instant::now();
        fault.await.map(|()| began)
    };
    let ((placements, burst_ended), fault) = tokio::join!(load, fault);
    let began = fault?;
    ensure!(
        began < burst_ended,
        "the fault began after the burst had ended: it proved nothing"
    );
    stack
        .check(&customers, &placements, Duration::from_secs(150))
        .await
}

/// SIGKILL a service mid-burst and start it again a second later; clients repeat what got no
/// answer with the same key.
async fn crash_during_burst(stack: &Stack, service: &str) -> anyhow::Result<String> {
    let totals = during_burst(stack, async {
        stack.ctl("kill", service).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        stack.ctl("start", service).await
    })
    .await?;
    Ok(figures(&totals))
}

/// The broker hangs (SIGSTOP) for 8 s mid-burst, then goes on: orders are still taken, their
/// events wait in the outbox and in flight, and every event arrives once. (Shorter than the
/// consumer's 10 s session: a longer hang makes the local broker evict every member at once,
/// which can leave its group without a leader for good; see the README, "The local broker".)
async fn broker_freeze(stack: &Stack) -> anyhow::Result<String> {
    let totals = during_burst(stack, async {
        stack.ctl("pause", "kafka").await?;
        tokio::time::sleep(Duration::from_secs(8)).await;
        stack.ctl("resume", "kafka").await
    })
    .await?;
    Ok(figures(&totals))
}

/// Postgres restarts under load: the services recover without being restarted themselves.
async fn postgres_restart(stack: &Stack) -> anyhow::Result<String> {
    let pids = service_pids(stack)?;
    let totals = during_burst(stack, stack.ctl("restart", "postgres")).await?;
    stack.await_healthy().await?;
    ensure!(
        service_pids(stack)? == pids,
        "a service was restarted: pids {pids:?} became {:?}",
        service_pids(stack)?
    );
    Ok(format!("{}; no service restarted", figures(&totals)))
}

fn service_pids(stack: &Stack) -> anyhow::Result<Vec<String>> {
    SERVICES.iter().map(|(s, ..)| stack.pid(s)).collect()
}

/// SIGKILL the notification consumer while it works through a backlog (the kill must land
/// mid-stream: some of the backlog stored, not all), start it again: every event is notified
/// exactly once.
async fn consumer_sigkill(stack: &Stack) -> anyhow::Result<String> {
    let customers = stack.customers(40, 1_000_000).await?;
    let mug = stack.product(100, 1_000_000).await?;
    stack.ctl("stop", "notification").await?;
    let placements = burst(&stack.http, &stack.gateway, &customers, 30, mug).await;
    let users: Vec<_> = customers.iter().map(|c| c.id).collect();
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM notifications WHERE user_id = ANY($1)")
            .bind(&users)
            .fetch_one(&stack.notification_db)
            .await
            .unwrap_or(0)
    };
    let total = placements.len() as i64;
    // Started in the background: the kill lands while it works through the backlog, which
    // may be before its start has been confirmed.
    let starting = tokio::spawn(stack.ctl_command("start", "notification"));
    let give_up = Instant::now() + Duration::from_secs(30);
    while stored().await == 0 && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Its process found from /proc at once: asking supervisord takes about 0.3 s, in which the
    // consumer can work through the whole backlog (it did in CI: 1200 of 1200 stored).
    let pid = process_running(&std::env::current_exe()?.with_file_name("notification"))
        .context("the notification service's process")?;
    stack.signal_pid(&pid, "KILL").await?;
    stack.await_exit("notification", &pid).await?;
    let at_kill = stored().await;
    ensure!(
        at_kill > 0 && at_kill < total,
        "the kill did not land mid-stream: {at_kill} of {total} notifications stored"
    );
    stack.ctl("start", "notification").await?;
    // The first start's wait for health ends with the second one's.
    let _ = starting.await;
    let totals = stack
        .check(&customers, &placements, Duration::from_secs(150))
        .await?;
    // Killed again while idle and started at once: the restarted member rejoins a group that
    // still lists the dead one (which the local broker can settle without giving it a
    // partition); orders placed right after are all notified.
    stack.ctl("kill", "notification").await?;
    stack.ctl("start", "notification").await?;
    let idle = buyers(stack, 8).await?;
    let after = burst(&stack.http, &stack.gateway, &idle, 5, mug).await;
    let started = Instant::now();
    let again = stack.check(&idle, &after, Duration::from_secs(150)).await?;
    Ok(format!(
        "killed mid-stream with {at_kill} of {total} notifications stored: {}; killed idle and \
         restarted: {} notifications of {} events within {} s",
        figures(&totals),
        again.notifications,
        again.events,
        started.elapsed().as_secs()
    ))
}

/// Billing answers later than order waits (through a proxy that holds its answers back): the
/// orders go pending, and once billing is fast again each settles exactly once.
async fn slow_billing(stack: &Stack) -> anyhow::Result<String> {
    let proxy = SlowProxy::start(
        "127.0.0.1:8082".parse()?,
        Duration::from_secs(5),
        Held::Answers,
    )
    .await?;
    let url = format!("http://{}", proxy.addr);
    stack
        .ctl_with("restart", "order", &[("ORDER_BILLING_URL", &url)])
        .await?;
    let outcome = async {
        let customers = buyers(stack, 4).await?;
        let mug = stack.product(100, 1_000_000).await?;
        let placements = burst(&stack.http, &stack.gateway, &customers, 3, mug).await;
        let pending = placements.iter().filter(|p| p.answer == Some(202)).count();
        proxy.set_delay(Duration::ZERO);
        let totals = stack
            .check(&customers, &placements, Duration::from_secs(150))
            .await?;
        ensure!(pending > 0, "no order went pending behind the slow billing");
        Ok(format!(
            "{pending} of {} orders answered 202 pending; {}",
            placements.len(),
            figures(&totals)
        ))
    }
    .await;
    // Whatever happened, order talks to billing directly again.
    stack.ctl("restart", "order").await?;
    outcome
}

/// SIGTERM each service (and start it again) while clients call it on its own port: every
/// request it had received when the signal came is answered, none cut off.
async fn sigterm_each(stack: &Stack) -> anyhow::Result<String> {
    let customers = buyers(stack, 8).await?;
    let mug = stack.product(1, 1_000_000).await?;
    let mut lines = Vec::new();
    let mut all_placements = Vec::new();
    for service in ["user", "billing", "order", "notification"] {
        let (in_flight, answered, placements) =
            sigterm_one(stack, service, &customers, mug).await?;
        lines.push(format!(
            "{service}: {in_flight} in flight at SIGTERM all answered, {answered} answered in all"
        ));
        all_placements.extend(placements);
    }
    let totals = stack
        .check(&customers, &all_placements, Duration::from_secs(150))
        .await?;
    Ok(format!("{}; {}", lines.join(", "), figures(&totals)))
}

/// (requests in flight at the signal, requests answered, order placements) for one service.
async fn sigterm_one(
    stack: &Stack,
    service: &str,
    customers: &[Customer],
    product: uuid::Uuid,
) -> anyhow::Result<(usize, usize, Vec<shop::Placement>)> {
    let base = service_url(service);
    // When `kill -TERM` was about to run.
    let signalled = std::sync::Mutex::new(None::<Instant>);
    let stop_at = Instant::now() + Duration::from_secs(4);
    let worker = |who: Customer| {
        let (base, signalled) = (&base, &signalled);
        async move {
            let http = reqwest::Client::builder().timeout(shop::HANG).build()?;
            let (mut in_flight, mut answered, mut placements) = (0, 0, Vec::new());
            while Instant::now() < stop_at {
                let started = Instant::now();
                let (ok, what) = if service == "order" {
                    let p = place(&http, base, &who, product, Duration::from_secs(30)).await;
                    // Answered at the first attempt: not cut off, not refused.
                    let ok = p.answer.is_some()
                        && p.violations.is_empty()
                        && p.retries == 0
                        && p.refused_keys.is_empty();
                    let what = format!("{:?}", p.violations);
                    placements.push(p);
                    (ok, what)
                } else {
                    let path = match service {
                        "user" => "/api/v1/users/me",
                        "billing" => "/api/v1/billing/account/my",
                        _ => "/api/v1/notifications",
                    };
                    match http
                        .get(format!("{base}{path}"))
                        .bearer_auth(&who.token)
                        .send()
                        .await
                    {
                        Ok(r) => (r.status().is_success(), format!("answered {}", r.status())),
                        // Refused: the service was not listening (stopped, not yet started).
                        Err(e) if e.is_connect() => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                        Err(e) => (false, format!("{e}")),
                    }
                };
                let finished = Instant::now();
                let signal = *signalled.lock().expect("lock");
                // Every request sent before `kill` ran must be answered; those still running
                // then are the ones in flight at the signal.
                let sent_before = signal.is_none_or(|before| started < before);
                let was_in_flight =
                    signal.is_some_and(|before| started < before && finished > before);
                if was_in_flight {
                    in_flight += 1;
                }
                if ok {
                    answered += 1;
                } else if sent_before {
                    anyhow::bail!(
                        "{service}: a request {} the signal failed: {what}",
                        if was_in_flight {
                            "in flight at"
                        } else {
                            "sent before"
                        }
                    );
                }
            }
            anyhow::Ok((in_flight, answered, placements))
        }
    };
    let load = futures::future::try_join_all(customers.iter().cloned().map(worker));
    let fault = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        *signalled.lock().expect("lock") = Some(Instant::now());
        let pid = stack.signal(service, "TERM").await?;
        stack.await_exit(service, &pid).await?;
        stack.ctl("start", service).await
    };
    let (results, fault) = tokio::join!(load, fault);
    fault?;
    let mut totals = (0, 0, Vec::new());
    for (in_flight, answered, placements) in results? {
        totals.0 += in_flight;
        totals.1 += answered;
        totals.2.extend(placements);
    }
    // The signal landed while requests were being served, or the scenario proved nothing.
    ensure!(
        totals.0 > 0,
        "{service}: no request was in flight at the signal"
    );
    Ok(totals)
}

/// The pid of the one process running `binary` (by `/proc/<pid>/exe`), if any.
fn process_running(binary: &std::path::Path) -> Option<String> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            (std::fs::read_link(format!("/proc/{pid}/exe")).ok()? == binary)
                .then(|| pid.to_string())
        })
}
