mod accounts;
mod health;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

/// Every billing route, under the service's own prefix.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/billing/health", get(health::health))
        .route("/api/v1/billing/account/my", get(accounts::my_account))
        .route("/api/v1/billing/account/deposit", post(accounts::deposit))
        .route("/api/v1/billing/account", post(accounts::create_account))
        .route("/api/v1/billing/account/withdraw", post(accounts::withdraw))
        .with_state(state)
}
