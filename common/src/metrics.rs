//! The Prometheus registry of one service, with the HTTP metrics every service exports.

use std::sync::{Arc, OnceLock};

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use sqlx::PgPool;

/// One service's metrics; services register their own business metrics in `registry`.
pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub http_in_flight: IntGauge,
    /// Time of a database operation, by operation name (see `QueryTimes`).
    pub db_query_duration: HistogramVec,
    db_pool_connections: IntGaugeVec,
    db_pool: OnceLock<PgPool>,
}

impl Metrics {
    /// The `db_query_duration_seconds` histogram, for a service's own metrics.
    pub fn query_times(&self) -> QueryTimes {
        QueryTimes(self.db_query_duration.clone())
    }

    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )
        .expect("static metric definition");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request received to response ready",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route", "status"],
        )
        .expect("static metric definition");
        let http_in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being served")
            .expect("static metric definition");
        let db_query_duration = HistogramVec::new(
            HistogramOpts::new(
                "db_query_duration_seconds",
                "Time of a database operation (one or more statements), by operation",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["operation"],
        )
        .expect("static metric definition");
        let db_pool_connections = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections by state (idle, in_use, max)",
            ),
            &["state"],
        )
        .expect("static metric definition");
        let metrics = Self {
            registry,
            http_requests,
            http_duration,
            http_in_flight,
            db_query_duration,
            db_pool_connections,
            db_pool: OnceLock::new(),
        };
        metrics.register(Box::new(metrics.http_requests.clone()));
        metrics.register(Box::new(metrics.http_duration.clone()));
        metrics.register(Box::new(metrics.http_in_flight.clone()));
        metrics.register(Box::new(metrics.db_query_duration.clone()));
        metrics.register(Box::new(metrics.db_pool_connections.clone()));
        metrics
    }

    /// Registers a collector; names are fixed at compile time, so a clash is a programming error.
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        self.registry
            .register(collector)
            .expect("metric registered twice");
    }

    /// A service's registry, reporting `pool`'s connections as well.
    pub fn for_pool(pool: PgPool) -> Arc<Self> {
        let metrics = Self::new();
        let _ = metrics.db_pool.set(pool);
        Arc::new(metrics)
    }

    /// The text exposition of every registered metric.
    pub fn render(&self) -> Response {
        if let Some(pool) = self.db_pool.get() {
            let size = i64::from(pool.size());
            let idle = pool.num_idle() as i64;
            self.db_pool_connections
                .with_label_values(&["idle"])
                .set(idle);
            self.db_pool_connections
                .with_label_values(&["in_use"])
                .set(size - idle);
            self.db_pool_connections
                .with_label_values(&["max"])
                .set(i64::from(pool.options().get_max_connections()));
        }
        match TextEncoder::new().encode_to_string(&self.registry.gather()) {
            Ok(text) => ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
            Err(e) => crate::ApiError::Internal(e.into()).into_response(),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Times database operations into `db_query_duration_seconds`, by operation name.
#[derive(Clone)]
pub struct QueryTimes(HistogramVec);

impl QueryTimes {
    /// Starts timing `operation`; the time is recorded when the returned timer is dropped.
    pub fn start(&self, operation: &str) -> prometheus::HistogramTimer {
        self.0.with_label_values(&[operation]).start_timer()
    }
}
