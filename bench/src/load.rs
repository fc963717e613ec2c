//! The load generator: plain HTTP/1.1 keep-alive connections, one task per connection,
//! latencies in HDR histograms.
//!
//! Two ways to drive a scenario:
//! - `Load::Closed`: every connection sends its next request as soon as the last one answered,
//!   which finds the maximum throughput;
//! - `Load::Rate(r)`: requests are due on a fixed schedule (r per second in all, spread over the
//!   connections) and each latency is measured from the moment its request was due, not from
//!   when it was sent, so a stall is charged to every request it delayed (coordinated omission
//!   corrected, as wrk2 does).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Where requests go: `http://host:port`, without TLS (the local gateway).
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
}

impl Target {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .context("only http:// URLs are supported")?;
        let host = rest.trim_end_matches('/').to_owned();
        let (name, port) = host.rsplit_once(':').unwrap_or((host.as_str(), "80"));
        let name = if name == "localhost" {
            "127.0.0.1"
        } else {
            name
        };
        let addr = format!("{name}:{port}")
            .parse()
            .with_context(|| format!("{url}: host must be an IP address or localhost"))?;
        Ok(Self { addr, host })
    }
}

/// One request to send, and the status that counts as success.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub token: Option<Arc<str>>,
    pub body: Option<Bytes>,
    pub idempotency_key: Option<String>,
    pub expect: u16,
}

impl Call {
    pub fn get(path: impl Into<String>, token: Option<Arc<str>>) -> Self {
        Self {
            method: "GET",
            path: path.into(),
            token,
            body: None,
            idempotency_key: None,
            expect: 200,
        }
    }

    pub fn post(path: impl Into<String>, token: Option<Arc<str>>, body: serde_json::Value) -> Self {
        Self {
            method: "POST",
            path: path.into(),
            token,
            body: Some(Bytes::from(body.to_string())),
            idempotency_key: None,
            expect: 200,
        }
    }

    pub fn expect(mut self, status: u16) -> Self {
        self.expect = status;
        self
    }

    pub fn with_key(mut self, key: String) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}

/// An HTTP/1.1 keep-alive connection, optionally from a chosen loopback source address (the
/// gateway limits logins per client address, and real clients have addresses of their own).
/// Requests are written and responses parsed here directly (httparse), one task per connection
/// and no channel in between, so the generator costs less CPU than the servers it measures.
pub struct Conn {
    target: Target,
    source: Option<IpAddr>,
    stream: Option<TcpStream>,
    out: Vec<u8>,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(target: Target, source: Option<IpAddr>) -> Self {
        Self {
            target,
            source,
            stream: None,
            out: Vec::with_capacity(1024),
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    async fn connect(&self) -> anyhow::Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = self.source {
            socket.bind(SocketAddr::new(source, 0))?;
        }
        let stream = socket.connect(self.target.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    fn render(&mut self, call: &Call) {
        use std::io::Write as _;
        let out = &mut self.out;
        out.clear();
        let _ = write!(
            out,
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            call.method, call.path, self.target.host
        );
        if let Some(token) = &call.token {
            let _ = write!(out, "Authorization: Bearer {token}\r\n");
        }
        if let Some(key) = &call.idempotency_key {
            let _ = write!(out, "Idempotency-Key: {key}\r\n");
        }
        match &call.body {
            Some(body) => {
                let _ = write!(
                    out,
                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                out.extend_from_slice(body);
            }
            None => out.extend_from_slice(b"\r\n"),
        }
    }

    /// Sends `call`, reconnecting when the server closed the connection; the status and body.
    pub async fn send(&mut self, call: &Call) -> anyhow::Result<(u16, Bytes)> {
        self.render(call);
        let reused = self.stream.is_some();
        match self.exchange().await {
            Ok(answer) => Ok(answer),
            // A kept-alive connection the server has closed in the meantime: once more, anew.
            Err(_) if reused => {
                self.stream = None;
                self.exchange().await
            }
            Err(e) => Err(e),
        }
    }

    async fn exchange(&mut self) -> anyhow::Result<(u16, Bytes)> {
        let mut stream = match self.stream.take() {
            Some(stream) => stream,
            None => self.connect().await?,
        };
        stream.write_all(&self.out).await?;
        self.buf.clear();
        let (status, header_len, body_len, close) = loop {
            if stream.read_buf(&mut self.buf).await? == 0 {
                bail!("connection closed before the response");
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = response.parse(&self.buf)? {
                let mut body_len = None;
                let mut close = false;
                for h in response.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        body_len = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse().ok());
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        close = h.value.eq_ignore_ascii_case(b"close");
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        bail!("chunked responses are not supported by the load generator");
                    }
                }
                break (
                    response.code.unwrap_or(0),
                    len,
                    body_len.unwrap_or(0),
                    close,
                );
            }
        };
        while self.buf.len() < header_len + body_len {
            if stream.read_buf(&mut self.buf).await? == 0 {
                bail!("connection closed in the middle of the body");
            }
        }
        let body = Bytes::copy_from_slice(&self.buf[header_len..header_len + body_len]);
        if !close {
            self.stream = Some(stream);
        }
        Ok((status, body))
    }
}

fn histogram() -> Histogram<u64> {
    // Microseconds, from 1 µs to 60 s, three significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds")
}

/// What one scenario measured.
#[derive(Clone)]
pub struct Stats {
    pub latency: Histogram<u64>,
    /// Per second of the run: requests finished and their latencies.
    pub timeline: Vec<Histogram<u64>>,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub unexpected: u64,
    pub elapsed: Duration,
    /// A few examples of what went wrong, for the report.
    pub error_samples: Vec<String>,
}

impl Stats {
    pub fn new() -> Self {
        Self {
            latency: histogram(),
            timeline: Vec::new(),
            statuses: BTreeMap::new(),
            transport_errors: 0,
            unexpected: 0,
            elapsed: Duration::ZERO,
            error_samples: Vec::new(),
        }
    }

    pub fn record(&mut self, at: Duration, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, 60_000_000);
        let _ = self.latency.record(micros);
        let second = at.as_secs() as usize;
        while self.timeline.len() <= second {
            self.timeline.push(histogram());
        }
        let _ = self.timeline[second].record(micros);
    }

    pub fn note_error(&mut self, what: String) {
        if self.error_samples.len() < 5 {
            self.error_samples.push(what);
        }
    }

    pub fn merge(&mut self, other: &Stats) {
        let _ = self.latency.add(&other.latency);
        while self.timeline.len() < other.timeline.len() {
            self.timeline.push(histogram());
        }
        for (mine, theirs) in self.timeline.iter_mut().zip(&other.timeline) {
            let _ = mine.add(theirs);
        }
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.unexpected += other.unexpected;
        for sample in &other.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(sample.clone());
            }
        }
    }

    pub fn requests(&self) -> u64 {
        self.latency.len()
    }

    pub fn errors(&self) -> u64 {
        self.transport_errors + self.unexpected
    }

    pub fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A latency percentile in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// How a scenario drives its connections.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    Closed,
    Rate(f64),
}

/// Makes the next call of connection `worker`, its `seq`-th.
pub type MakeCall = Arc<dyn Fn(usize, u64) -> Call + Send + Sync>;
/// Sees each successful response (its call, body, and when it arrived), e.g. to track orders.
pub type OnSuccess = Arc<dyn Fn(&Call, &Bytes, Instant) + Send + Sync>;

/// Runs a scenario for `duration` over `connections` connections; with `own_addresses`, each
/// connection comes from a loopback address of its own, as distinct clients would.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    target: &Target,
    connections: usize,
    own_addresses: bool,
    duration: Duration,
    load: Load,
    make_call: MakeCall,
    on_success: Option<OnSuccess>,
) -> Stats {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(connections);
    for worker in 0..connections {
        let target = target.clone();
        let make_call = make_call.clone();
        let on_success = on_success.clone();
        workers.push(tokio::spawn(async move {
            let source = own_addresses.then(|| {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    127,
                    2,
                    (worker / 250) as u8,
                    (worker % 250) as u8 + 1,
                ))
            });
            let mut conn = Conn::new(target, source);
            let mut stats = Stats::new();
            let mut seq = 0u64;
            loop {
                let due = match load {
                    Load::Closed => Instant::now(),
                    Load::Rate(rate) => {
                        let slot = worker as f64 + seq as f64 * connections as f64;
                        started + Duration::from_secs_f64(slot / rate)
                    }
                };
                if due >= deadline {
                    break;
                }
                if matches!(load, Load::Rate(_)) {
                    // (Not in closed mode: the timer rounds up to the next millisecond.)
                    tokio::time::sleep_until(due.into()).await;
                }
                let call = make_call(worker, seq);
                seq += 1;
                match conn.send(&call).await {
                    Ok((status, body)) => {
                        let now = Instant::now();
                        stats.record(now - started, now - due);
                        *stats.statuses.entry(status).or_default() += 1;
                        if status == call.expect {
                            if let Some(hook) = &on_success {
                                hook(&call, &body, now);
                            }
                        } else {
                            stats.unexpected += 1;
                            stats.note_error(format!(
                                "{} {} -> {status} {}",
                                call.method,
                                call.path,
                                String::from_utf8_lossy(&body[..body.len().min(200)])
                            ));
                        }
                    }
                    Err(e) => {
                        stats.transport_errors += 1;
                        stats.note_error(format!("{} {}: {e:#}", call.method, call.path));
                        // Do not spin on a refused connection.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            stats
        }));
    }
    let mut total = Stats::new();
    for worker in workers {
        if let Ok(stats) = worker.await {
            total.merge(&stats);
        }
    }
    total.elapsed = started.elapsed();
    total
}
