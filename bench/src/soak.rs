//! `make soak`: orders at half the measured order capacity for a long run (10 minutes by
//! default), sampling every few seconds what grows when something leaks: each service's RSS and
//! open sockets (every replica), the outbox backlog and the consumer lag. Writes
//! `.local/soak/report.md` (the summary: first minute against last minute of each series) and
//! `report.html` (the same with a chart of each series over time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::load::{self, Load, MakeCall, Target};
use crate::system::{rss_mib, Processes, SERVICES};

/// One sample of every series, `at` seconds into the run.
struct Sample {
    at: f64,
    values: BTreeMap<String, f64>,
}

/// Open sockets of a process (its fds that are sockets: connections, listeners).
fn sockets(pid: u32) -> Option<f64> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let n = fds
        .flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count();
    Some(n as f64)
}

/// The sum of the `name` series of a Prometheus text page at `http://addr/metrics`.
fn metric_sum(addr: &str, name: &str) -> Option<f64> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

async fn sample(
    processes: &Processes,
    order_db: &mut PgConnection,
    started: Instant,
) -> anyhow::Result<Sample> {
    let mut values = BTreeMap::new();
    let mut replica = BTreeMap::<&str, usize>::new();
    for (service, pid) in &processes.services {
        let k = replica.entry(service).or_insert(0);
        *k += 1;
        let name = if *k == 1 {
            (*service).to_owned()
        } else {
            format!("{service}-{k}")
        };
        values.insert(format!("RSS MiB: {name}"), rss_mib(*pid).unwrap_or(0.0));
        values.insert(
            format!("open sockets: {name}"),
            sockets(*pid).unwrap_or(0.0),
        );
    }
    let backlog: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(&mut *order_db)
        .await?;
    values.insert("outbox backlog (unsent events)".to_owned(), backlog as f64);
    let notification = SERVICES
        .iter()
        .position(|s| *s == "notification")
        .expect("notification is a service");
    let mut lag = 0.0;
    for k in 0..processes.replicas {
        let port = 8081 + notification + 100 * k;
        lag += metric_sum(
            &format!("127.0.0.1:{port}"),
            "notification_consumer_lag_messages",
        )
        .unwrap_or(0.0);
    }
    values.insert("consumer lag (messages)".to_owned(), lag);
    Ok(Sample {
        at: started.elapsed().as_secs_f64(),
        values,
    })
}

/// A series' mean over the samples in `[from, to)` seconds.
fn mean(samples: &[Sample], series: &str, from: f64, to: f64) -> f64 {
    let window: Vec<f64> = samples
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .filter_map(|s| s.values.get(series).copied())
        .collect();
    window.iter().sum::<f64>() / (window.len().max(1) as f64)
}

/// Whether a series stayed flat: its last minute's mean is within 20% (or a small absolute
/// slack, for series near zero) of its first minute's.
fn flat(series: &str, first: f64, last: f64) -> bool {
    let slack = if series.starts_with("RSS") {
        4.0
    } else if series.starts_with("open sockets") {
        8.0
    } else {
        50.0
    };
    last <= first * 1.2 + slack
}

/// An SVG line chart of one series.
fn chart(samples: &[Sample], series: &str) -> String {
    let (w, h) = (560.0, 140.0);
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.at, *s.values.get(series)?)))
        .collect();
    let t_max = points.last().map_or(1.0, |p| p.0).max(1.0);
    let v_max = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let path: Vec<String> = points
        .iter()
        .map(|(t, v)| {
            format!(
                "{:.1},{:.1}",
                40.0 + t / t_max * (w - 50.0),
                h - 20.0 - v / v_max * (h - 30.0)
            )
        })
        .collect();
    format!(
        "<figure><figcaption>{series}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{series} over time\">\
         <line x1=\"40\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#555\"/>\
         <line x1=\"40\" y1=\"10\" x2=\"40\" y2=\"{y0}\" stroke=\"#555\"/>\
         <text x=\"2\" y=\"16\" font-size=\"10\">{v_max:.0}</text>\
         <text x=\"2\" y=\"{y0}\" font-size=\"10\">0</text>\
         <text x=\"{x1}\" y=\"{h}\" font-size=\"10\" text-anchor=\"end\">{t_max:.0} s</text>\
         <polyline fill=\"none\" stroke=\"#0b5cad\" stroke-width=\"1.5\" points=\"{}\"/></svg></figure>",
        path.join(" "),
        y0 = h - 20.0,
        x1 = w - 10.0,
    )
}

/// Runs the soak: `rate` orders per second over `connections` for `duration`, sampling every
/// `every`; writes the report into `out` and returns its summary (markdown).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    gateway: &Target,
    processes: &Processes,
    order_db_url: &str,
    rate: f64,
    connections: usize,
    duration: Duration,
    every: Duration,
    make_call: MakeCall,
    out: &Path,
) -> anyhow::Result<String> {
    let mut order_db = PgConnection::connect(order_db_url).await?;
    let started = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let load = load::run(
        gateway,
        connections,
        false,
        duration,
        Load::Rate(rate),
        make_call,
        None,
    );
    let sampling = async {
        while started.elapsed() < duration {
            let s = sample(processes, &mut order_db, started).await?;
            samples.lock().expect("samples").push(s);
            tokio::time::sleep(every).await;
        }
        anyhow::Ok(())
    };
    let (stats, sampled) = tokio::join!(load, sampling);
    sampled?;
    let samples = std::mem::take(&mut *samples.lock().expect("samples"));
    let secs = duration.as_secs_f64();
    let series: Vec<String> = samples
        .first()
        .map(|s| s.values.keys().cloned().collect())
        .unwrap_or_default();

    let autovacuum: String = sqlx::query_scalar("SHOW autovacuum")
        .fetch_one(&mut order_db)
        .await?;
    let mut md = format!(
        "# make soak: {} replica(s) of each service, {:.0} orders/s for {:.0} s\n\n\
         {} orders placed ({:.0}/s), {} errors, p50 {:.1} ms, p99 {:.1} ms; {} samples, one every {} s; \
         Postgres autovacuum {autovacuum}.\n\n\
         | series | first minute (mean) | last minute (mean) | max | flat |\n|---|---:|---:|---:|---|\n",
        processes.replicas,
        rate,
        secs,
        stats.requests(),
        stats.rate(),
        stats.errors(),
        stats.latency.value_at_quantile(0.5) as f64 / 1000.0,
        stats.latency.value_at_quantile(0.99) as f64 / 1000.0,
        samples.len(),
        every.as_secs(),
    );
    let mut all_flat = true;
    for name in &series {
        let first = mean(&samples, name, 0.0, 60.0);
        let last = mean(&samples, name, secs - 60.0, secs + 1.0);
        let max = samples
            .iter()
            .filter_map(|s| s.values.get(name).copied())
            .fold(0.0, f64::max);
        let is_flat = flat(name, first, last);
        all_flat &= is_flat;
        let _ = writeln!(
            md,
            "| {name} | {first:.1} | {last:.1} | {max:.1} | {} |",
            if is_flat { "yes" } else { "**no**" }
        );
    }
    let _ = writeln!(
        md,
        "\nEvery series flat (last minute within 20% of the first, plus a small slack): {}",
        if all_flat { "yes" } else { "**no**" }
    );
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("report.md"), &md)?;
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>make soak</title>\
         <style>body{font-family:sans-serif;max-width:70em;margin:1em auto}figure{display:inline-block;margin:.5em}\
         figcaption{font-size:.9em}</style></head><body>",
    );
    let _ = write!(
        html,
        "<pre>{}</pre>",
        md.replace('&', "&amp;").replace('<', "&lt;")
    );
    for name in &series {
        html.push_str(&chart(&samples, name));
    }
    html.push_str("</body></html>");
    std::fs::write(out.join("report.html"), html)?;
    let mut csv = format!("seconds,{}\n", series.join(","));
    for s in &samples {
        let row: Vec<String> = series
            .iter()
            .map(|n| format!("{:.2}", s.values.get(n).copied().unwrap_or(0.0)))
            .collect();
        let _ = writeln!(csv, "{:.1},{}", s.at, row.join(","));
    }
    std::fs::write(out.join("samples.csv"), csv)?;
    Ok(md)
}
