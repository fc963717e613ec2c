//! `make bench`: measures, in one run, the machine's ceilings (Postgres one-row commits with
//! pgbench, nginx proxying to a trivial upstream, argon2id hashes per second) and the shop's
//! scenarios through the gateway, and prints them side by side with the targets.
//! `scripts/bench.sh` brings the stack and the trivial upstream up and calls this.

mod flood;
mod load;
mod report;
mod scenarios;
mod shop;
mod soak;
mod system;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;

use load::{Call, Load, MakeCall, OnSuccess, Stats, Target};
use report::{Check, Report, Row};
use scenarios::{outcome, Ceiling, Drives, Id, Outcome, Scenario, GOALS, PRODUCTS};
use shop::{Catalogue, Customer, DelayTracker};
use system::Processes;

struct Options {
    gateway: String,
    ceiling: String,
    pg_admin: String,
    run_dir: PathBuf,
    out: PathBuf,
    seconds: u64,
    users: usize,
    connections: usize,
    smoke: bool,
    /// `make soak`: only the soak, this many seconds long.
    soak: Option<u64>,
    /// An admin's login and password, to fill the catalogue (`SHOP_ADMIN_LOGIN`,
    /// `SHOP_ADMIN_PASSWORD`; scripts/bench.sh makes the admin).
    admin: (String, String),
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let mut options = Self {
            gateway: "http://127.0.0.1:8080".to_owned(),
            ceiling: "http://127.0.0.1:8090/".to_owned(),
            pg_admin: "postgres://shop:shop@127.0.0.1:5432/postgres".to_owned(),
            run_dir: PathBuf::from(".local/run"),
            out: PathBuf::from(".local/bench"),
            seconds: 15,
            users: 100,
            connections: 32,
            smoke: false,
            soak: None,
            admin: (
                std::env::var("SHOP_ADMIN_LOGIN").context("SHOP_ADMIN_LOGIN is not set")?,
                std::env::var("SHOP_ADMIN_PASSWORD").context("SHOP_ADMIN_PASSWORD is not set")?,
            ),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--smoke" {
                options.smoke = true;
                options.seconds = 2;
                // Enough that at half the order rate a customer's newest 20 notifications (the
                // page the tracker polls) still hold the one it waits for: with 10, a slow
                // delivery let newer ones push it off, and it counted as never seen.
                options.users = 50;
                continue;
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--gateway" => options.gateway = value,
                "--ceiling" => options.ceiling = value,
                "--pg-admin" => options.pg_admin = value,
                "--run-dir" => options.run_dir = value.into(),
                "--out" => options.out = value.into(),
                "--seconds" => options.seconds = value.parse()?,
                "--users" => options.users = value.parse()?,
                "--connections" => options.connections = value.parse()?,
                "--soak" => options.soak = Some(value.parse()?),
                _ => bail!(
                    "unknown flag {flag}; flags: --gateway --ceiling --pg-admin --run-dir --out \
                     --seconds --users --connections --smoke --soak"
                ),
            }
        }
        Ok(options)
    }
}

/// argon2id hashes per second with the user service's parameters, on every core.
fn argon2_ceiling(seconds: f64) -> f64 {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let salt = SaltString::from_b64("YmVuY2hzYWx0YmVuY2hzYWx0").expect("valid salt");
                let mut n = 0u64;
                while started.elapsed().as_secs_f64() < seconds {
                    let _ = argon2::Argon2::default().hash_password(b"bench password", &salt);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().filter_map(|h| h.join().ok()).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

struct Bench {
    options: Options,
    gateway: Target,
    /// The nginx in front of a trivial upstream (`--ceiling`).
    ceiling_target: Target,
    processes: Processes,
    customers: Arc<Vec<Customer>>,
    catalogue: Arc<Catalogue>,
    report: Report,
    /// The ceilings measured so far.
    ceilings: BTreeMap<Ceiling, f64>,
    /// The services' peak memory, sampled once the order load has started.
    peak_rss: Option<(PeakRss, tokio::task::JoinHandle<()>)>,
}

/// What a scenario asks of customer `i` at its `seq`-th call.
type CustomerCall = Arc<dyn Fn(&Customer, u64) -> Call + Send + Sync>;

impl Bench {
    fn duration(&self) -> Duration {
        Duration::from_secs(self.options.seconds)
    }

    /// Runs one load and makes its row, with the CPU each process spent per request.
    async fn measure(
        &self,
        name: &str,
        load: Load,
        connections: usize,
        own_addresses: bool,
        make_call: MakeCall,
        on_success: Option<OnSuccess>,
    ) -> Row {
        println!("  {name} ...");
        let cpu_before = self.processes.cpu();
        let stats: Stats = load::run(
            &self.gateway,
            connections,
            own_addresses,
            self.duration(),
            load,
            make_call,
            on_success,
        )
        .await;
        let cpu = system::cpu_delta(&cpu_before, &self.processes.cpu());
        let mut row = Row::from_stats(name, &stats);
        let requests = stats.requests().max(1) as f64;
        row.cpu_ms_per_request = cpu
            .into_iter()
            .map(|(group, seconds)| (group.to_owned(), seconds * 1000.0 / requests))
            .collect();
        row
    }

    /// Runs `scenario` (after the ceiling it is compared to, when that is not measured yet) and
    /// adds its row.
    async fn run(&mut self, scenario: &Scenario, earlier: &[Outcome]) -> anyhow::Result<Outcome> {
        let ceiling = match scenario.ceiling {
            Some(ceiling) => Some((ceiling, self.ceiling(ceiling).await?)),
            None => None,
        };
        if scenario.peak_rss_from_here && self.peak_rss.is_none() {
            self.peak_rss = Some(rss_sampler(&self.processes));
        }
        let pg_before = if scenario.counts_postgres {
            Some(system::pg_counters(&self.options.pg_admin).await?)
        } else {
            None
        };
        let rate = scenario
            .rate(earlier)
            .map_err(|id| anyhow!("{} runs before {id:?}, which paces it", scenario.name))?;
        let connections = scenario.connections(self.options.connections, rate);
        let name = scenario.title(rate);
        let tracker = scenario
            .delays
            .map(|name| (name, DelayTracker::new(&self.gateway)));
        let on_success = tracker
            .as_ref()
            .map(|(_, tracker)| track(tracker, rate.unwrap_or(1.0)));
        let mut row = self
            .measure(
                &name,
                rate.map_or(Load::Closed, Load::Rate),
                connections,
                scenario.own_addresses,
                self.calls(scenario.drives),
                on_success,
            )
            .await;
        row.ceiling = ceiling.map(|(ceiling, value)| (ceiling.name().to_owned(), value));
        self.report.rows.push(row.clone());
        let postgres = match pg_before {
            Some(before) => {
                // Statistics reach Postgres's counters up to a second after a transaction.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let after = system::pg_counters(&self.options.pg_admin).await?;
                Some(after.minus(&before))
            }
            None => None,
        };
        let delays = match tracker {
            Some((name, tracker)) => {
                tracker.finish().await;
                delay_row(name, &tracker)
            }
            None => None,
        };
        Ok(Outcome {
            id: scenario.id,
            ceiling: scenario.ceiling,
            row,
            rate,
            delays,
            postgres,
        })
    }

    /// A ceiling's figure, measured (with its row) the first time a scenario asks for it.
    async fn ceiling(&mut self, ceiling: Ceiling) -> anyhow::Result<f64> {
        if let Some(value) = self.ceilings.get(&ceiling) {
            return Ok(*value);
        }
        let value = match ceiling {
            Ceiling::Nginx => self.nginx_ceiling().await?,
            Ceiling::Postgres => {
                println!("  Postgres one-row commits (pgbench, 16 clients) ...");
                let seconds = self.options.seconds;
                let pg_tps = system::pgbench(&self.options.pg_admin, 16, seconds).await?;
                self.report.rows.push(Row::figure(
                    "ceiling: Postgres one-row commit (pgbench, 16 clients)",
                    (pg_tps * seconds as f64) as u64,
                    pg_tps,
                ));
                pg_tps
            }
            Ceiling::Argon2 => {
                println!("  argon2id hashes per second ...");
                argon2_ceiling((self.options.seconds as f64 / 3.0).max(1.0))
            }
        };
        self.ceilings.insert(ceiling, value);
        Ok(value)
    }

    /// nginx proxying to a trivial upstream, with this load generator, and with wrk when it is
    /// installed: that the load generator reaches wrk's figure is a target of its own.
    async fn nginx_ceiling(&mut self) -> anyhow::Result<f64> {
        println!("  nginx proxying to a trivial upstream ...");
        let options = &self.options;
        let connections = options.connections;
        let ceiling_path = format!("/{}", options.ceiling.splitn(4, '/').nth(3).unwrap_or(""));
        let trivial = load::run(
            &self.ceiling_target,
            connections,
            false,
            self.duration(),
            Load::Closed,
            Arc::new(move |_, _| Call::get(ceiling_path.clone(), None)),
            None,
        )
        .await;
        let mut nginx_row =
            Row::from_stats("ceiling: nginx proxying to a trivial upstream", &trivial);
        let wrk = system::wrk(&options.ceiling, connections, options.seconds);
        let nginx_ceiling = trivial.rate().max(wrk.unwrap_or(0.0));
        if let Some(wrk) = wrk {
            nginx_row.ceiling = Some(("wrk on the same upstream".to_owned(), wrk));
        }
        self.report.rows.push(nginx_row);
        if trivial.errors() > 0 || trivial.requests() == 0 {
            bail!(
                "the trivial upstream at {} did not answer",
                self.options.ceiling
            );
        }
        match wrk {
            Some(wrk) => {
                let share = trivial.rate() / wrk;
                self.check(
                    "the load generator is not the bottleneck: it reaches the nginx ceiling that wrk measures (>= 90%)",
                    format!("{:.0} vs wrk {:.0} req/s ({:.0}%)", trivial.rate(), wrk, share * 100.0),
                    share >= 0.9,
                );
            }
            None => self.fact(
                "load generator check",
                "wrk is not installed; the nginx ceiling is this load generator's own".to_owned(),
            ),
        }
        Ok(nginx_ceiling)
    }

    /// The calls of what a scenario drives.
    fn calls(&self, drives: Drives) -> MakeCall {
        let catalogue = self.catalogue.clone();
        match drives {
            Drives::Balance => self.per_customer(Arc::new(|c, _| shop::balance(c))),
            Drives::Catalogue => self.per_customer(Arc::new(|_, _| shop::products())),
            Drives::Deposit => self.per_customer(Arc::new(|c, _| shop::deposit(c))),
            Drives::Orders => self.per_customer(Arc::new(move |customer, seq| {
                shop::order(&catalogue, customer, seq)
            })),
            Drives::OneCustomersOrders => {
                // Each connection's own sequence: the connections order the same products at once.
                let hot = self.customers[0].clone();
                Arc::new(move |_, seq| shop::order(&catalogue, &hot, seq))
            }
            Drives::HotProduct => {
                self.per_customer(Arc::new(move |c, _| shop::hot_order(&catalogue, c)))
            }
            Drives::Login => self.per_customer(Arc::new(|c, _| shop::login(c))),
        }
    }

    /// Calls for customer `i`, spread so that every connection visits every customer.
    fn per_customer(&self, call: CustomerCall) -> MakeCall {
        let customers = self.customers.clone();
        let connections = self.options.connections as u64;
        Arc::new(move |worker, seq| {
            let n = worker as u64 + seq * connections;
            call(&customers[n as usize % customers.len()], n)
        })
    }

    fn check(&mut self, target: &str, measured: String, met: bool) {
        self.report.checks.push(Check {
            target: target.to_owned(),
            measured,
            met,
        });
    }

    fn fact(&mut self, name: &str, value: String) {
        self.report.facts.push((name.to_owned(), value));
    }
}

/// Tracks the notification of every order `tracker` is handed, or of about 20 a second at a
/// higher `rate`, so that polling does not add much load of its own.
fn track(tracker: &DelayTracker, rate: f64) -> OnSuccess {
    let every = (rate / 20.0).ceil().max(1.0) as u64;
    let tracker = tracker.clone();
    let counter = std::sync::atomic::AtomicU64::new(0);
    Arc::new(move |call: &Call, body: &Bytes, at: Instant| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let (true, Some(token)) = (n.is_multiple_of(every), &call.token) {
            tracker.track(token.clone(), body, at);
        }
    })
}

/// The order → notification delays a tracker saw, as a row named `name`.
fn delay_row(name: &str, tracker: &DelayTracker) -> Option<Row> {
    let delays = tracker.delays.lock().map(|h| h.clone()).ok()?;
    let missing = tracker.missing.lock().map(|m| *m).unwrap_or(0);
    Some(Row {
        p50_ms: delays.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: delays.value_at_quantile(0.99) as f64 / 1000.0,
        errors: missing,
        ..Row::figure(name, delays.len(), 0.0)
    })
}

/// Each service's highest resident memory seen so far, in MiB.
type PeakRss = Arc<Mutex<BTreeMap<&'static str, f64>>>;

/// Samples the services' resident memory every 200 ms and keeps each one's maximum (over its
/// replicas).
fn rss_sampler(processes: &Processes) -> (PeakRss, tokio::task::JoinHandle<()>) {
    let peak = Arc::new(Mutex::new(BTreeMap::new()));
    let services = processes.services.clone();
    let shared = peak.clone();
    let task = tokio::spawn(async move {
        loop {
            for (name, pid) in &services {
                if let (Some(rss), Ok(mut peak)) = (system::rss_mib(*pid), shared.lock()) {
                    let entry = peak.entry(*name).or_insert(0.0);
                    *entry = f64::max(*entry, rss);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (peak, task)
}

fn fmt_rss(rss: &BTreeMap<&'static str, f64>) -> String {
    rss.iter()
        .map(|(name, mib)| format!("{name} {mib:.1} MiB"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `make login-flood`: bench --login-flood SECONDS ADDRESSES GATEWAY
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, seconds, addresses, gateway] = args.as_slice() {
        if flag == "--login-flood" {
            let gateway = Target::parse(gateway)?;
            return flood::run(gateway, seconds.parse()?, addresses.parse()?).await;
        }
    }
    let mut bench = Bench::new(Options::parse()?)?;
    bench.set_up().await?;
    if let Some(soak_seconds) = bench.options.soak {
        return soak(&bench, soak_seconds).await;
    }
    bench.idle_rss().await;
    println!("scenarios through the gateway ({})", bench.options.gateway);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for scenario in scenarios::scenarios(bench.options.users) {
        let outcome = bench.run(&scenario, &outcomes).await?;
        outcomes.push(outcome);
    }
    // Order → notification delays, as rows of their own after the scenarios.
    let delays = outcomes.iter().filter_map(|o| o.delays.clone());
    bench.report.rows.extend(delays);
    let checks = GOALS.iter().filter_map(|goal| goal.check(&outcomes));
    bench.report.checks.extend(checks);
    bench.peak_rss_check();
    bench.facts(&outcomes);
    bench.finish().await
}

impl Bench {
    fn new(options: Options) -> anyhow::Result<Self> {
        let gateway = Target::parse(&options.gateway)?;
        let ceiling_target = Target::parse(&options.ceiling)?;
        let processes = Processes::find(&options.run_dir);
        if processes.services.len() != 4 * processes.replicas {
            bail!(
                "the four services must run under the stack's supervisord, {} replica(s) each; start the stack with make up",
                processes.replicas
            );
        }
        let title = format!(
            "make bench{}: {} replica(s) of each service, {} s per scenario, {} connections, {} customers",
            if options.smoke { " (smoke)" } else { "" },
            processes.replicas,
            options.seconds,
            options.connections,
            options.users
        );
        Ok(Self {
            gateway,
            ceiling_target,
            processes,
            customers: Arc::new(Vec::new()),
            catalogue: Arc::new(Catalogue {
                products: Vec::new(),
                hot: String::new(),
            }),
            report: Report {
                title,
                ..Report::default()
            },
            options,
            ceilings: BTreeMap::new(),
            peak_rss: None,
        })
    }

    /// The run's funded customers and its catalogue, through the gateway.
    async fn set_up(&mut self) -> anyhow::Result<()> {
        println!(
            "setting up {} funded customers through the gateway ...",
            self.options.users
        );
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        self.customers = Arc::new(shop::customers(&self.gateway, &run, self.options.users).await?);
        println!("adding a catalogue of {PRODUCTS} products and a hot one ...");
        self.catalogue =
            Arc::new(shop::catalogue(&self.gateway, &self.options.admin, &run, PRODUCTS).await?);
        Ok(())
    }

    /// Idle: five seconds without a request (the user service keeps argon2's memory for two
    /// seconds after the last hash, for the next one).
    async fn idle_rss(&mut self) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle = self.processes.rss();
        let idle_max = idle.values().copied().fold(0.0, f64::max);
        self.check(
            &format!(
                "idle RSS of every service < 30 MiB (after {} registrations)",
                self.options.users
            ),
            fmt_rss(&idle),
            idle_max < 30.0,
        );
    }

    fn peak_rss_check(&mut self) {
        let peak = match self.peak_rss.take() {
            Some((peak, sampler)) => {
                sampler.abort();
                peak.lock().map(|p| p.clone()).unwrap_or_default()
            }
            None => BTreeMap::new(),
        };
        let peak_max = peak.values().copied().fold(0.0, f64::max);
        self.check(
            "RSS of every service < 80 MiB under the order load",
            fmt_rss(&peak),
            peak_max < 80.0 && !peak.is_empty(),
        );
    }

    /// The figures besides the targets: Postgres's work per order, logins against the argon2id
    /// ceiling, memory after the run.
    fn facts(&mut self, outcomes: &[Outcome]) {
        if let Some((orders, pg)) = outcomes
            .iter()
            .find_map(|o| o.postgres.map(|pg| (&o.row, pg)))
        {
            let per_order = orders.requests.max(1) as f64;
            self.fact(
                "Postgres per order (order scenario)",
                format!(
                    "{:.2} write transactions, {:.2} commits (read-only included), {}",
                    pg.write_transactions / per_order,
                    pg.commits / per_order,
                    match pg.statements {
                        Some(s) => format!("{:.2} statements", s / per_order),
                        None => "statements not counted (pg_stat_statements not loaded)".to_owned(),
                    }
                ),
            );
        }
        let argon2 = self.ceilings.get(&Ceiling::Argon2).copied();
        if let (Some(login), Some(argon2_rate)) = (outcome(outcomes, Id::Login), argon2) {
            self.fact(
                "login",
                format!(
                    "{:.0} logins/s against {:.0} argon2id hashes/s measured in-process ({:.0}%)",
                    login.row.rate,
                    argon2_rate,
                    login.row.rate / argon2_rate * 100.0
                ),
            );
        }
        let after = self.processes.rss();
        self.fact("RSS after the run", fmt_rss(&after));
    }

    /// Takes the run's products off sale, prints and writes the report, and fails the run when
    /// a scenario could not have been measured.
    async fn finish(self) -> anyhow::Result<()> {
        shop::retire(&self.gateway, &self.options.admin, &self.catalogue).await?;
        let markdown = self.report.markdown();
        println!("\n{markdown}");
        self.report.write(&self.options.out)?;
        println!(
            "report: {0}/report.md, {0}/report.html, {0}/report.json",
            self.options.out.display()
        );
        // What fails a run is what could not have been measured: a scenario that did not run or
        // answered errors. Timings never fail it (CI runs the smoke on a shared machine).
        let broken: Vec<String> = self
            .report
            .rows
            .iter()
            .filter(|r| r.requests == 0 || r.errors > 0)
            .map(|r| {
                format!(
                    "{} ({} requests, {} errors)",
                    r.scenario, r.requests, r.errors
                )
            })
            .collect();
        if !broken.is_empty() {
            bail!("scenarios that did not run cleanly: {}", broken.join("; "));
        }
        Ok(())
    }
}

/// `make soak`: the order capacity of this stack now, then half of it for the whole soak.
async fn soak(bench: &Bench, soak_seconds: u64) -> anyhow::Result<()> {
    let connections = bench.options.connections;
    let capacity = bench
        .measure(
            "order capacity (POST /orders, closed loop)",
            Load::Closed,
            connections,
            false,
            bench.calls(Drives::Orders),
            None,
        )
        .await;
    let rate = (capacity.rate / 2.0).max(1.0);
    println!(
        "  capacity {:.0} orders/s; soaking at {rate:.0}/s for {soak_seconds} s ...",
        capacity.rate
    );
    let base = bench
        .options
        .pg_admin
        .rsplit_once('/')
        .map_or(bench.options.pg_admin.as_str(), |(b, _)| b);
    let summary = soak::run(
        &bench.gateway,
        &bench.processes,
        &format!("{base}/shop_order"),
        rate,
        connections.max((rate / 50.0).ceil() as usize),
        Duration::from_secs(soak_seconds),
        Duration::from_secs(5),
        bench.calls(Drives::Orders),
        &bench.options.out,
    )
    .await?;
    shop::retire(&bench.gateway, &bench.options.admin, &bench.catalogue).await?;
    println!("{summary}");
    println!(
        "report: {}/report.md, report.html (charts), samples.csv",
        bench.options.out.display()
    );
    Ok(())
}
