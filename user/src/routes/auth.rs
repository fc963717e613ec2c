use axum::extract::State;
use axum::http::StatusCode;
use common::auth::AuthUser;
use common::http::{data, Data, Json};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::sessions::{self, RefreshToken, Rotation};
use crate::{password, AppState};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    login: String,
    password: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
}

fn bad_credentials() -> ApiError {
    ApiError::Unauthorized("invalid login or password".to_owned())
}

fn tokens(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    refresh: RefreshToken,
) -> ApiResult<Json<Data<Tokens>>> {
    let access = state.issuer.issue(user_id, session_id)?;
    Ok(data(Tokens {
        access_token: access.token,
        refresh_token: refresh.0,
        token_type: "Bearer",
        expires_in: access.expires_in,
    }))
}

/// `POST /login`: the same 401 for an unknown login and a wrong password.
pub async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> ApiResult<Json<Data<Tokens>>> {
    let found: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE lower(login) = lower($1)")
            .bind(&request.login)
            .fetch_optional(&state.db)
            .await?;
    let (user_id, stored) = found.map_or((None, None), |(id, hash)| (Some(id), Some(hash)));
    let verified = password::verify(&request.password, stored).await?;
    let Some(user_id) = user_id.filter(|_| verified) else {
        state.metrics.logins.with_label_values(&["failed"]).inc();
        return Err(bad_credentials());
    };
    let (session_id, refresh) =
        sessions::start(&state.db, user_id, state.refresh_token_ttl).await?;
    state.metrics.logins.with_label_values(&["succeeded"]).inc();
    tracing::info!(%user_id, %session_id, "user logged in");
    tokens(&state, user_id, session_id, refresh)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    refresh_token: String,
}

/// `POST /refresh`: spends the refresh token and returns a new pair.
pub async fn refresh(
    State(state): State<AppState>,
    Json(request): Json<RefreshRequest>,
) -> ApiResult<Json<Data<Tokens>>> {
    match sessions::rotate(&state.db, &request.refresh_token, state.refresh_token_ttl).await? {
        Rotation::Rotated {
            user_id,
            session_id,
            token,
        } => tokens(&state, user_id, session_id, token),
        Rotation::Invalid => Err(ApiError::Unauthorized(
            "invalid or expired refresh token".to_owned(),
        )),
        Rotation::Reused => Err(ApiError::Unauthorized(
            "refresh token already used: the session has been revoked, log in again".to_owned(),
        )),
    }
}

/// `POST /logout`: revokes the session of the given refresh token (idempotent).
pub async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
    Json(request): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    if sessions::revoke(&state.db, user.user_id, &request.refresh_token).await? {
        tracing::info!(user_id = %user.user_id, "session revoked by logout");
    }
    Ok(StatusCode::NO_CONTENT)
}
