//! `<prefix>/health` (readiness: can the service serve its API?) and `<prefix>/health/live`
//! (liveness: do its background loops still run?).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{code, ErrorBody};
use crate::http::Data;

/// A ready service's report: "ok", or "degraded" while a dependency it catches up with by
/// itself is failing (the broker: the outbox and the consumer resume when it is back).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"status": "degraded", "checks": {"database": "ok", "broker": "unreachable"}}))]
pub struct Health {
    /// "ok" or "degraded".
    pub status: String,
    /// Each dependency checked, and "ok" or what is wrong with it.
    pub checks: BTreeMap<String, String>,
}

/// What a failing check means for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Without it the service cannot serve its API: 503, out of the load balancer.
    Required,
    /// The service serves without it and catches up later: 200 "degraded".
    Degradable,
}

/// Builds the readiness response from named check results.
pub fn respond(checks: &[(&str, Need, Result<(), String>)]) -> Response {
    let mut report = BTreeMap::new();
    let mut failing = Vec::new();
    let mut degraded = false;
    for (name, need, result) in checks {
        match result {
            Ok(()) => {
                report.insert((*name).to_owned(), "ok".to_owned());
            }
            Err(problem) => {
                tracing::warn!(check = name, problem, "health check failing");
                report.insert((*name).to_owned(), problem.clone());
                match need {
                    Need::Required => failing.push(*name),
                    Need::Degradable => degraded = true,
                }
            }
        }
    }
    if failing.is_empty() {
        let health = Health {
            status: if degraded { "degraded" } else { "ok" }.to_owned(),
            checks: report,
        };
        (StatusCode::OK, axum::Json(Data { data: health })).into_response()
    } else {
        let body = ErrorBody {
            error: format!("unhealthy: {}", failing.join(", ")),
            code: code::UNAVAILABLE,
            details: serde_json::to_value(report).ok(),
        };
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

/// Whether the service's background loops (outbox relay, settler, consumer) still run. A loop
/// that ended or panicked makes `/health/live` answer 503, so that the orchestrator restarts
/// the process; dependency outages never do (the loops retry those themselves).
#[derive(Debug, Clone, Default)]
pub struct Liveness(Arc<Mutex<Vec<String>>>);

impl Liveness {
    /// Records that the background loop `name` is no longer running.
    pub fn stopped(&self, name: &str) {
        if let Ok(mut stopped) = self.0.lock() {
            stopped.push(name.to_owned());
        }
    }

    /// 200 while every loop runs, else 503 naming the loops that stopped.
    pub fn respond(&self) -> Response {
        let stopped = self.0.lock().map(|s| s.clone()).unwrap_or_default();
        if stopped.is_empty() {
            // The shape `crate::openapi` documents for this route.
            let live = serde_json::json!({"data": {"status": "ok"}});
            return (StatusCode::OK, axum::Json(live)).into_response();
        }
        let body = ErrorBody {
            error: format!("background loop stopped: {}", stopped.join(", ")),
            code: code::UNAVAILABLE,
            details: None,
        };
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}
