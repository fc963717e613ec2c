use axum::extract::State;
use axum::response::Response;

use crate::AppState;

pub async fn health(State(state): State<AppState>) -> Response {
    let (database, broker) = tokio::join!(
        common::db::ping(&state.db),
        common::kafka::ping(&state.producer, &state.topic)
    );
    common::health::respond(&[("database", database), ("broker", broker)])
}
