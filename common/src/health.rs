//! The `<prefix>/health` answer: 200 when every check passes, else 503 naming the failures.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// Builds the health response from named check results.
pub fn respond(checks: &[(&str, Result<(), String>)]) -> Response {
    let mut report = Map::new();
    let mut failing = Vec::new();
    for (name, result) in checks {
        match result {
            Ok(()) => {
                report.insert((*name).to_owned(), Value::from("ok"));
            }
            Err(problem) => {
                tracing::warn!(check = name, problem, "health check failing");
                report.insert((*name).to_owned(), Value::from(problem.as_str()));
                failing.push(*name);
            }
        }
    }
    if failing.is_empty() {
        (
            StatusCode::OK,
            axum::Json(json!({ "data": { "status": "ok", "checks": report } })),
        )
            .into_response()
    } else {
        let body = json!({
            "error": format!("unhealthy: {}", failing.join(", ")),
            "code": "unavailable",
            "details": report,
        });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}
