//! The `<prefix>/health` answer: 200 when every check passes, else 503 naming the failures.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ErrorBody;
use crate::http::Data;

/// A healthy service's report: every check is "ok".
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"status": "ok", "checks": {"database": "ok"}}))]
pub struct Health {
    pub status: String,
    /// Each dependency checked, and "ok" or what is wrong with it.
    pub checks: BTreeMap<String, String>,
}

/// Builds the health response from named check results.
pub fn respond(checks: &[(&str, Result<(), String>)]) -> Response {
    let mut report = BTreeMap::new();
    let mut failing = Vec::new();
    for (name, result) in checks {
        match result {
            Ok(()) => {
                report.insert((*name).to_owned(), "ok".to_owned());
            }
            Err(problem) => {
                tracing::warn!(check = name, problem, "health check failing");
                report.insert((*name).to_owned(), problem.clone());
                failing.push(*name);
            }
        }
    }
    if failing.is_empty() {
        let health = Health {
            status: "ok".to_owned(),
            checks: report,
        };
        (StatusCode::OK, axum::Json(Data { data: health })).into_response()
    } else {
        let body = ErrorBody {
            error: format!("unhealthy: {}", failing.join(", ")),
            code: "unavailable",
            details: serde_json::to_value(report).ok(),
        };
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}
