//! Assembles a service's router with the shared layers and serves it until a shutdown signal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::error::{code, ApiError};
use crate::health::Liveness;
use crate::http::{RequestId, REQUEST_ID_HEADER};
use crate::metrics::Metrics;
use crate::telemetry::{self, TRACEPARENT};

/// The liveness probe's path under a service's prefix (documented by `crate::openapi`).
pub const LIVE_PATH: &str = "/health/live";

/// Largest request body any endpoint accepts (the gateway enforces the same limit).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Adds `<prefix>/health/live`, `/metrics`, JSON 404/405 answers, the body limit, the request
/// timeout and the request-id / logging / metrics middleware to a service's routes.
fn finish(
    routes: Router,
    prefix: &str,
    metrics: Arc<Metrics>,
    request_timeout: Duration,
    liveness: Liveness,
    draining: Arc<AtomicBool>,
) -> Router {
    let render = {
        let metrics = metrics.clone();
        move || async move { metrics.render() }
    };
    routes
        .route(
            &format!("{prefix}{LIVE_PATH}"),
            get(move || async move { liveness.respond() }),
        )
        .route("/metrics", get(render))
        .fallback(|| async { ApiError::NotFound("no such endpoint".to_owned()) })
        .method_not_allowed_fallback(|| async {
            ApiError::Domain {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: code::METHOD_NOT_ALLOWED,
                message: "method not allowed on this endpoint".to_owned(),
                details: None,
            }
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            Observer {
                metrics,
                request_timeout,
                draining,
            },
            observe,
        ))
        .layer(middleware::map_response(nosniff))
}

/// Every answer is what its `Content-Type` says: browsers must not guess another type.
async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// What `observe` needs: where to record, the request deadline, and whether the server is
/// draining (shutting down: every answer then closes its connection).
#[derive(Clone)]
struct Observer {
    metrics: Arc<Metrics>,
    request_timeout: Duration,
    draining: Arc<AtomicBool>,
}

/// Ends a request that takes longer than `limit` with a JSON 504 `outcome_unknown`. The limit is
/// well above every inner timeout (billing calls, database acquires), so it only catches the
/// truly stuck. Such a request may have been applied (not a 503, which says it was not), and the
/// message says to retry with the same Idempotency-Key or read the resource.
async fn deadline(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(limit_ms = limit.as_millis() as u64, "request timed out");
            ApiError::OutcomeUnknown(
                "the request timed out and may or may not have been applied; retry it with the same Idempotency-Key, or read the resource to find out".to_owned(),
            )
            .into_response()
        }
    }
}

/// Sets the request id, opens the request's span, runs the request within its deadline, logs
/// the outcome and records HTTP metrics (one middleware: every layer costs on every request).
async fn observe(State(observer): State<Observer>, mut req: Request, next: Next) -> Response {
    let Observer {
        metrics,
        request_timeout,
        draining,
    } = observer;
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    let header = HeaderValue::from_str(&request_id.0).unwrap_or(HeaderValue::from_static("-"));
    req.headers_mut().insert(REQUEST_ID_HEADER, header.clone());
    req.extensions_mut().insert(request_id.clone());

    // Route templates, never raw paths, so ids do not explode label cardinality.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = req.method().clone();
    // The span carries only the request id and the trace id (what ties a request's log lines
    // together across services); its fields are formatted on every request, logged or not.
    let traceparent = req.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
    let span = crate::traced_span!(
        "request",
        telemetry::Parent::of(traceparent),
        request_id = %request_id.0
    );

    metrics.http_in_flight.inc();
    let started = Instant::now();
    let mut response = deadline(request_timeout, req, next)
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    metrics.http_in_flight.dec();

    let status = response.status();
    if telemetry::exporting() {
        telemetry::describe_request(&span, method.as_str(), &route, status.as_u16());
    }
    let labels = [method.as_str(), route.as_str(), status.as_str()];
    metrics.http_requests.with_label_values(&labels).inc();
    metrics
        .http_duration
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
    // The gateway's access log has every request with its id, status and time; a service
    // logs its failures here and its state changes where they happen ("order placed"), and
    // its successful requests only at debug: a log line costs a fifth of a balance read.
    let latency_ms = elapsed.as_millis() as u64;
    let status_code = status.as_u16();
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(%method, %route, status = status_code, latency_ms, "request failed");
        } else if status.is_client_error() {
            tracing::info!(%method, %route, status = status_code, latency_ms, "request refused");
        } else {
            tracing::debug!(%method, %route, status = status_code, latency_ms, "request finished");
        }
    });
    response.headers_mut().insert(REQUEST_ID_HEADER, header);
    if draining.load(Ordering::Relaxed) {
        // The client learns with this answer that the connection ends, so it never writes
        // its next request onto a connection the server is about to close.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A service ready to run: its router bound to its port, and its background loops.
pub struct Server {
    listener: TcpListener,
    router: Router,
    background: Vec<(&'static str, Task)>,
    liveness: Liveness,
    draining: Arc<AtomicBool>,
    drain: Duration,
}

impl Server {
    /// Binds a service's `routes` (its API under `prefix`, e.g. `/api/v1/orders`) with the
    /// shared layers and routes of [`finish`] to `addr` (port 0 picks a free port, as tests do).
    pub async fn bind(
        addr: std::net::SocketAddr,
        prefix: &str,
        routes: Router,
        metrics: Arc<Metrics>,
        request_timeout: Duration,
    ) -> std::io::Result<Self> {
        let liveness = Liveness::default();
        let draining = Arc::new(AtomicBool::new(false));
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            router: finish(
                routes,
                prefix,
                metrics,
                request_timeout,
                liveness.clone(),
                draining.clone(),
            ),
            background: Vec::new(),
            liveness,
            draining,
            drain: Duration::ZERO,
        })
    }

    /// After the shutdown signal, keeps serving for `drain`, every answer closing its
    /// connection, before it stops accepting and closes the idle connections. Without it, a
    /// request a client has just written on an idle keep-alive connection can meet the
    /// server closing that connection and is lost unanswered (the client cannot tell whether
    /// it was applied). Clients that send a request during the drain get its answer.
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// Adds a loop that runs while the service serves and is stopped with it; it must be safe
    /// to stop anywhere (the relay, the settler and the consumer are). Should it end or panic
    /// before that, the service stops being live.
    pub fn with_background(
        mut self,
        name: &'static str,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.background.push((name, Box::pin(task)));
        self
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves and in-flight requests have finished.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let mut loops = Vec::new();
        for (name, task) in self.background {
            let running = tokio::spawn(task);
            loops.push(running.abort_handle());
            let liveness = self.liveness.clone();
            tokio::spawn(async move {
                match running.await {
                    Err(e) if e.is_cancelled() => {}
                    Err(e) => {
                        tracing::error!(task = name, error = %e, "background loop panicked");
                        liveness.stopped(name);
                    }
                    Ok(()) => {
                        tracing::error!(task = name, "background loop ended");
                        liveness.stopped(name);
                    }
                }
            });
        }
        let (draining, drain) = (self.draining, self.drain);
        let shutdown = async move {
            shutdown.await;
            if !drain.is_zero() {
                draining.store(true, Ordering::Relaxed);
                tracing::info!(
                    drain_ms = drain.as_millis() as u64,
                    "draining: serving on, every answer closes its connection"
                );
                tokio::time::sleep(drain).await;
            }
        };
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        for running in loops {
            running.abort();
        }
        served
    }
}

/// What every service binary does: `<binary> migrate` applies its migrations and exits (the
/// Kubernetes pre-install Job); otherwise it builds the service from its environment and
/// serves until SIGTERM or SIGINT. A failure is logged, as every log line is, and exits 1.
pub async fn main<F>(
    service: &'static str,
    migrator: &sqlx::migrate::Migrator,
    build: impl FnOnce() -> F,
) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<Server>>,
{
    let telemetry = crate::telemetry::init(service);
    let result = if std::env::args().nth(1).as_deref() == Some("migrate") {
        crate::db::migrate_command(migrator).await
    } else {
        serve(service, build).await
    };
    if let Err(e) = &result {
        // A log line like any other (JSON in a cluster), not the runtime's plain `Error: ...`:
        // why a pod could not start is read where its logs are. On stderr when RUST_LOG hides it.
        if tracing::enabled!(tracing::Level::ERROR) {
            tracing::error!("{service} stopped: {e:#}");
        } else {
            eprintln!("{service} stopped: {e:#}");
        }
    }
    // Blocks until the last spans are sent (when exporting): off the async workers.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    if result.is_err() {
        std::process::exit(1);
    }
    Ok(())
}

/// What a service binary does for an operator's subcommand (`notification redrive`, `user
/// admin`, ...): logs as the service does, runs `command`, and on failure prints the message,
/// not a backtrace, and exits 1.
pub async fn command<F>(service: &'static str, command: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let telemetry = crate::telemetry::init(service);
    let result = command.await;
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn serve<F>(service: &str, build: impl FnOnce() -> F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<Server>>,
{
    // After SIGTERM, serve on for this long, closing each connection as it answers (see
    // `Server::with_drain`); the Kubernetes grace period allows for it.
    let drain_ms: u64 = crate::config::or("SHUTDOWN_DRAIN_MS", 1000)?;
    let app = build().await?.with_drain(Duration::from_millis(drain_ms));
    tracing::info!(service, addr = %app.local_addr(), "service listening");
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `routes` under the prefix `/api/v1/test` on a free port.
    async fn bind(routes: Router, request_timeout: Duration) -> Server {
        let addr = "127.0.0.1:0".parse().expect("addr");
        Server::bind(
            addr,
            "/api/v1/test",
            routes,
            Arc::new(Metrics::new()),
            request_timeout,
        )
        .await
        .expect("bind")
    }

    #[tokio::test]
    async fn shutdown_lets_in_flight_requests_finish() {
        let slow = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }),
        );
        let server = bind(slow, Duration::from_secs(5)).await;
        let url = format!("http://{}/slow", server.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        let request = tokio::spawn(async move { reqwest::get(url).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).expect("signal shutdown");
        let response = request
            .await
            .expect("join")
            .expect("the in-flight request is answered");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.expect("body"), "done");
        serving.await.expect("join").expect("clean shutdown");
    }

    #[tokio::test]
    async fn after_the_signal_a_draining_server_answers_and_closes_each_connection_then_stops() {
        let hello = Router::new().route("/hello", get(|| async { "hello" }));
        let server = bind(hello, Duration::from_secs(5))
            .await
            .with_drain(Duration::from_millis(800));
        let url = format!("http://{}/hello", server.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        // One client, so its connection is kept alive between requests.
        let http = reqwest::Client::new();
        let before = http
            .get(&url)
            .send()
            .await
            .expect("served before the signal");
        assert!(before.headers().get(CONNECTION).is_none());
        stop.send(()).expect("signal shutdown");
        tokio::time::sleep(Duration::from_millis(100)).await;

        // Draining: the idle connection was not cut, the request on it is answered, and the
        // answer tells the client to close it.
        let during = http
            .get(&url)
            .send()
            .await
            .expect("answered while draining");
        assert_eq!(during.status(), StatusCode::OK);
        assert_eq!(during.headers()[CONNECTION], "close");
        assert_eq!(during.text().await.expect("body"), "hello");

        serving.await.expect("join").expect("clean shutdown");
        let after = http.get(&url).send().await;
        assert!(
            after.as_ref().is_err_and(reqwest::Error::is_connect),
            "after the drain nothing listens: {after:?}"
        );
    }

    #[tokio::test]
    async fn a_request_past_the_deadline_gets_a_json_504_outcome_unknown() {
        let stuck = Router::new().route(
            "/stuck",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "never"
            }),
        );
        let server = bind(stuck, Duration::from_millis(200)).await;
        let url = format!("http://{}/stuck", server.local_addr());
        tokio::spawn(server.run_until(std::future::pending()));
        let response = reqwest::get(url).await.expect("request");
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["code"], code::OUTCOME_UNKNOWN);
    }

    #[tokio::test]
    async fn a_background_loop_that_ends_makes_the_service_not_live() {
        let (end, ended) = tokio::sync::oneshot::channel::<()>();
        let server = bind(Router::new(), Duration::from_secs(5))
            .await
            .with_background("worker", async move {
                let _ = ended.await;
            });
        let url = format!("http://{}/api/v1/test/health/live", server.local_addr());
        tokio::spawn(server.run_until(std::future::pending()));
        let live = reqwest::get(&url).await.expect("live");
        assert_eq!(live.status(), StatusCode::OK);
        let body: serde_json::Value = live.json().await.expect("json");
        assert_eq!(body["data"]["status"], "ok");

        end.send(()).expect("end the loop");
        let mut answer = None;
        for _ in 0..50 {
            let response = reqwest::get(&url).await.expect("live");
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                answer = Some(response.json::<serde_json::Value>().await.expect("json"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let body = answer.expect("not live within a second of the loop ending");
        assert_eq!(body["code"], code::UNAVAILABLE);
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("worker")),
            "{body}"
        );
    }
}
