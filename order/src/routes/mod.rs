mod health;
mod orders;

use axum::routing::get;
use axum::Router;

use crate::AppState;

/// Every order route, under the service's own prefix.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/orders/health", get(health::health))
        .route(
            "/api/v1/orders",
            get(orders::list_orders).post(orders::create_order),
        )
        .route("/api/v1/orders/{id}", get(orders::get_order))
        .with_state(state)
}
