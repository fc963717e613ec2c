use axum::extract::State;
use axum::response::Response;

use crate::AppState;

pub async fn health(State(state): State<AppState>) -> Response {
    common::health::respond(&[("database", common::db::ping(&state.db).await)])
}
