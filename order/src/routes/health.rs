use axum::extract::State;
use axum::response::Response;
use common::error::ErrorBody;
use common::health::{Health, Need};
use common::http::Data;

use crate::AppState;

/// Readiness: the order service can take orders while its database answers; with the broker
/// down, or the outbox relay failing, it is "degraded" (the outbox holds the events until they
/// can be published).
#[utoipa::path(get, path = "/api/v1/orders/health", operation_id = "orderHealth", tag = "orders",
    responses(
        (status = 200, description = "Ready: `status` is \"ok\", or \"degraded\" while a dependency it catches up with by itself (the broker, the outbox relay) is failing", body = Data<Health>),
        (status = 503, description = "Not ready: its database is failing; `details` names each check", body = ErrorBody),
    ))]
pub async fn health(State(state): State<AppState>) -> Response {
    let (database, broker) = tokio::join!(
        common::db::ping(&state.db),
        events::kafka::ping(&state.producer, &state.topic)
    );
    common::health::respond(&[
        ("database", Need::Required, database),
        ("broker", Need::Degradable, broker),
        ("outbox relay", Need::Degradable, state.relay.check()),
    ])
}
