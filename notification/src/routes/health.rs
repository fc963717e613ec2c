use axum::extract::State;
use axum::response::Response;
use common::error::ErrorBody;
use common::health::Health;
use common::http::Data;

use crate::AppState;

/// Whether the notification service can do its job: its database and the broker answer.
#[utoipa::path(get, path = "/api/v1/notifications/health", operation_id = "notificationHealth", tag = "notifications",
    responses(
        (status = 200, description = "Healthy", body = Data<Health>),
        (status = 503, description = "A dependency is failing; `details` names it", body = ErrorBody),
    ))]
pub async fn health(State(state): State<AppState>) -> Response {
    let (database, broker) = tokio::join!(
        common::db::ping(&state.db),
        events::kafka::ping(&state.producer, &state.topic)
    );
    common::health::respond(&[("database", database), ("broker", broker)])
}
