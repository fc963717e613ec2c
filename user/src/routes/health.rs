use axum::extract::State;
use axum::response::Response;
use common::error::ErrorBody;
use common::health::{Health, Need};
use common::http::Data;

use crate::AppState;

/// Whether the user service can do its job: its database answers.
#[utoipa::path(get, path = "/api/v1/users/health", operation_id = "userHealth", tag = "users",
    responses(
        (status = 200, description = "Ready", body = Data<Health>),
        (status = 503, description = "Not ready: its database is failing; `details` names each check", body = ErrorBody),
    ))]
pub async fn health(State(state): State<AppState>) -> Response {
    common::health::respond(&[(
        "database",
        Need::Required,
        common::db::ping(&state.db).await,
    )])
}
