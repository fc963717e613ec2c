mod health;
mod notifications;

use axum::routing::get;
use axum::Router;

use crate::AppState;

/// Every notification route, under the service's own prefix.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/notifications/health", get(health::health))
        .route(
            "/api/v1/notifications",
            get(notifications::list_notifications),
        )
        .with_state(state)
}
