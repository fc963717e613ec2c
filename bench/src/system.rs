//! What the machine can do and what each process spent: the ceilings (pgbench, wrk), CPU seconds
//! and memory per process from /proc, and Postgres' own counters.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use sqlx::{Connection, PgConnection};

/// The processes whose CPU time a run accounts for, by group name.
pub const GROUPS: [&str; 8] = [
    "user",
    "billing",
    "order",
    "notification",
    "postgres",
    "nginx",
    "tansu",
    "bench",
];

fn clock_ticks_per_second() -> f64 {
    // Linux reports /proc CPU times in USER_HZ, which is 100 on every architecture it runs on.
    100.0
}

/// The pid of each running program of the local stack's supervisord (scripts/supervisord.conf,
/// from the run directory .local/run), by program name, from
/// `supervisorctl status` (`user-2   RUNNING   pid 1234, uptime 0:01:02`).
fn supervised_pids(run_dir: &Path) -> BTreeMap<String, u32> {
    let status = Command::new("supervisorctl")
        .arg("-c")
        .arg(run_dir.join("../../scripts/supervisord.conf"))
        .arg("status")
        .output();
    let Ok(status) = status else {
        return BTreeMap::new();
    };
    String::from_utf8_lossy(&status.stdout)
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [name, "RUNNING", "pid", pid, ..] => {
                    Some((name.to_owned(), pid.trim_end_matches(',').parse().ok()?))
                }
                _ => None,
            },
        )
        .collect()
}

fn comm(pid: u32) -> Option<String> {
    Some(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()?
            .trim()
            .to_owned(),
    )
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; the fields after it are fixed.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks_per_second())
}

/// Resident memory of a process, in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The local stack's processes: services (every replica) and the broker as supervisord runs
/// them, Postgres and nginx by name (all their processes: backends, workers).
pub struct Processes {
    /// (service, pid) of each replica: `user`, then `user-2` ... when there are more.
    pub services: Vec<(&'static str, u32)>,
    /// Replicas of each service.
    pub replicas: usize,
    broker: Option<u32>,
}

pub const SERVICES: [&str; 4] = ["user", "billing", "order", "notification"];

impl Processes {
    pub fn find(run_dir: &Path) -> Self {
        let replicas: usize = std::fs::read_to_string(run_dir.join("replicas"))
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(1);
        let pids = supervised_pids(run_dir);
        let mut services = Vec::new();
        for k in 1..=replicas {
            for name in SERVICES {
                let program = if k == 1 {
                    name.to_owned()
                } else {
                    format!("{name}-{k}")
                };
                if let Some(pid) = pids.get(&program) {
                    services.push((name, *pid));
                }
            }
        }
        Self {
            services,
            replicas,
            broker: pids.get("tansu").copied(),
        }
    }

    /// CPU seconds used so far, per group.
    pub fn cpu(&self) -> BTreeMap<&'static str, f64> {
        let mut total: BTreeMap<&'static str, f64> = GROUPS.iter().map(|g| (*g, 0.0)).collect();
        for (name, pid) in &self.services {
            *total.entry(name).or_default() += cpu_seconds(*pid).unwrap_or(0.0);
        }
        if let Some(pid) = self.broker {
            *total.entry("tansu").or_default() += cpu_seconds(pid).unwrap_or(0.0);
        }
        *total.entry("bench").or_default() += cpu_seconds(std::process::id()).unwrap_or(0.0);
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                let group = match comm(pid).as_deref() {
                    Some("postgres") => "postgres",
                    Some("nginx") => "nginx",
                    _ => continue,
                };
                *total.entry(group).or_default() += cpu_seconds(pid).unwrap_or(0.0);
            }
        }
        total
    }

    /// Resident memory of each service, in MiB (of its largest replica).
    pub fn rss(&self) -> BTreeMap<&'static str, f64> {
        let mut rss = BTreeMap::new();
        for (name, pid) in &self.services {
            if let Some(mib) = rss_mib(*pid) {
                let largest = rss.entry(*name).or_insert(0.0);
                *largest = f64::max(*largest, mib);
            }
        }
        rss
    }
}

/// CPU seconds spent between two readings, per group.
pub fn cpu_delta(
    before: &BTreeMap<&'static str, f64>,
    after: &BTreeMap<&'static str, f64>,
) -> BTreeMap<&'static str, f64> {
    after
        .iter()
        .map(|(group, t)| (*group, (t - before.get(group).unwrap_or(&0.0)).max(0.0)))
        .collect()
}

/// Postgres' one-row commit rate: pgbench, `clients` clients, each transaction one INSERT of
/// one row, on a scratch database. Returns transactions per second.
pub async fn pgbench(admin_url: &str, clients: u32, seconds: u64) -> anyhow::Result<f64> {
    // The scratch database is made once and kept (emptied after each run): dropping a
    // database makes Postgres checkpoint at once, and the full-page writes that follow a
    // checkpoint would slow the first second of the next scenario.
    let scratch = replace_database(admin_url, "bench_scratch");
    let mut admin = PgConnection::connect(admin_url).await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'bench_scratch')",
    )
    .fetch_one(&mut admin)
    .await?;
    if !exists {
        sqlx::query("CREATE DATABASE bench_scratch")
            .execute(&mut admin)
            .await?;
    }
    let mut db = PgConnection::connect(&scratch).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS one_row (id bigserial PRIMARY KEY, v int NOT NULL)")
        .execute(&mut db)
        .await?;
    sqlx::query("TRUNCATE one_row").execute(&mut db).await?;
    let script = std::env::temp_dir().join(format!("bench-one-row-{}.sql", std::process::id()));
    std::fs::write(&script, "INSERT INTO one_row (v) VALUES (1);\n")?;
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", &clients.to_string()])
        .args(["-j", "2", "-T", &seconds.to_string(), "-f"])
        .arg(&script)
        .arg(&scratch)
        .output()
        .context("running pgbench (Debian package postgresql-client)")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| {
            format!(
                "pgbench printed no tps: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    sqlx::query("TRUNCATE one_row").execute(&mut db).await?;
    Ok(tps)
}

fn replace_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => url.to_owned(),
    }
}

/// wrk's rate against `url` (the cross-check that this load generator is not the bottleneck).
pub fn wrk(url: &str, connections: usize, seconds: u64) -> Option<f64> {
    let output = Command::new("wrk")
        .args(["-t", "2", "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), url])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Postgres counters summed over the shop's databases.
#[derive(Clone, Copy, Debug, Default)]
pub struct PgCounters {
    /// Committed transactions, read-only ones included.
    pub commits: f64,
    /// Transactions that wrote (took a transaction id), cluster-wide.
    pub write_transactions: f64,
    /// Statements executed (pg_stat_statements), when the extension is loaded.
    pub statements: Option<f64>,
}

impl PgCounters {
    pub fn minus(&self, before: &PgCounters) -> PgCounters {
        PgCounters {
            commits: self.commits - before.commits,
            write_transactions: self.write_transactions - before.write_transactions,
            statements: self.statements.zip(before.statements).map(|(a, b)| a - b),
        }
    }
}

const SHOP_DATABASES: &str = "('shop_user', 'shop_billing', 'shop_order', 'shop_notification')";

pub async fn pg_counters(admin_url: &str) -> anyhow::Result<PgCounters> {
    let mut db = PgConnection::connect(admin_url).await?;
    // Statistics reach the shared counters at most a second after a transaction ends.
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut db)
        .await?;
    let commits: f64 = sqlx::query_scalar(&format!(
        "SELECT COALESCE(sum(xact_commit), 0)::float8 FROM pg_stat_database WHERE datname IN {SHOP_DATABASES}"
    ))
    .fetch_one(&mut db)
    .await?;
    let write_transactions: f64 =
        sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::float8")
            .fetch_one(&mut db)
            .await?;
    let statements: Option<f64> = sqlx::query_scalar(&format!(
        "SELECT sum(s.calls)::float8 FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
         WHERE d.datname IN {SHOP_DATABASES}"
    ))
    .fetch_one(&mut db)
    .await
    .ok()
    .flatten();
    Ok(PgCounters {
        commits,
        write_transactions,
        statements,
    })
}
