mod auth;
mod health;
mod users;

use axum::routing::{get, post, put};
use axum::Router;

use crate::AppState;

/// Every user-service route, under the service's own prefix.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/users/health", get(health::health))
        .route("/api/v1/users/register", post(users::register))
        .route("/api/v1/users/me", get(users::me))
        .route("/api/v1/users/{id}", put(users::update_profile))
        .route("/api/v1/users/login", post(auth::login))
        .route("/api/v1/users/refresh", post(auth::refresh))
        .route("/api/v1/users/logout", post(auth::logout))
        .with_state(state)
}
