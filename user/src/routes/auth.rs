use axum::extract::State;
use axum::http::StatusCode;
use common::auth::AuthUser;
use common::error::{code, ErrorBody};
use common::http::{data, Data, Json};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::sessions::{self, RefreshToken, Rotation};
use crate::{attempts, password, users, AppState};

/// The client's address as the gateway saw it (`X-Real-IP`, which the gateway sets and the
/// services are reachable only through it); `None` on a direct call.
pub struct ClientAddress(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get("x-real-ip")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
                .map(|ip| ip.to_string()),
        ))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"login": "alice", "password": "correct horse battery"}))]
pub struct LoginRequest {
    login: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    /// Short-lived JWT for `Authorization: Bearer`.
    access_token: String,
    /// Opaque, single use: exchange it at /refresh for a new pair.
    refresh_token: String,
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
}

fn bad_credentials() -> ApiError {
    ApiError::Unauthorized("invalid login or password".to_owned())
}

fn tokens(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    roles: &[String],
    refresh: RefreshToken,
) -> ApiResult<Json<Data<Tokens>>> {
    let access = state
        .issuer
        .issue(user_id, session_id, &users::known_roles(roles))?;
    Ok(data(Tokens {
        access_token: access.token,
        refresh_token: refresh.0,
        token_type: "Bearer",
        expires_in: access.expires_in,
    }))
}

/// Logs in: the same 401 for an unknown login and a wrong password. The gateway limits attempts
/// per client address, and the service per login: after 5 attempts in a row that did not
/// succeed, each makes the next wait 1, 2, 4 … up to 30 seconds (429 with `Retry-After`; the
/// same for logins that do not exist). 503 with `Retry-After` when too many passwords are being
/// checked at once.
#[utoipa::path(post, path = "/api/v1/users/login", tag = "users",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A new session's tokens", body = Data<Tokens>),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong login or password", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or at this login: retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked right now: retry after `Retry-After` seconds; nothing was checked", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Json(request): Json<LoginRequest>,
) -> ApiResult<Json<Data<Tokens>>> {
    let counted = match attempts::begin(&state.db, &request.login).await? {
        Ok(()) => true,
        // The owner, from where they logged in before, is not held back by guesses from
        // elsewhere (and is not counted).
        Err(_)
            if attempts::known_address(&state.db, &request.login, address.as_deref()).await? =>
        {
            false
        }
        Err(wait) => {
            state
                .metrics
                .logins
                .with_label_values(&[code::RATE_LIMITED])
                .inc();
            return Err(ApiError::RateLimited {
                message: "too many failed attempts at this login, wait before trying again"
                    .to_owned(),
                retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            });
        }
    };
    // Only the lookup is timed: argon2 verification below is CPU, not database, time.
    let timer = state.metrics.db_query.start("find_user");
    let found = users::find_for_login(&state.db, &request.login).await?;
    timer.observe_duration();
    let (user, stored) = found.map_or((None, None), |found| {
        (Some((found.id, found.roles)), Some(found.password_hash))
    });
    let verified =
        match password::verify(&request.password, stored, state.password_queue_wait).await {
            Ok(verified) => verified,
            Err(err) => {
                if matches!(err, password::HashError::Busy) {
                    state.metrics.logins.with_label_values(&["busy"]).inc();
                    // No password was checked: the attempt does not count against the login.
                    if counted {
                        attempts::uncount(&state.db, &request.login).await?;
                    }
                }
                return Err(err.into());
            }
        };
    let Some((user_id, roles)) = user.filter(|_| verified) else {
        state.metrics.logins.with_label_values(&["failed"]).inc();
        return Err(bad_credentials());
    };
    attempts::succeeded(&state.db, &request.login, user_id, address.as_deref()).await?;
    let (session_id, refresh) = sessions::start(&state.db, user_id, state.lifetimes).await?;
    state.metrics.logins.with_label_values(&["succeeded"]).inc();
    tracing::info!(%user_id, %session_id, "user logged in");
    tokens(&state, user_id, session_id, &roles, refresh)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"refreshToken": "q3J5Zk1y3QnWl8Yt7bq4xv6oZp2m9Tq0cH8sR1uV5wA"}))]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Spends the refresh token and returns a new pair. Presenting a spent token again revokes the
/// whole session.
#[utoipa::path(post, path = "/api/v1/users/refresh", tag = "users",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = Data<Tokens>),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Unknown, expired, revoked or already used refresh token", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    Json(request): Json<RefreshRequest>,
) -> ApiResult<Json<Data<Tokens>>> {
    match sessions::rotate(&state.db, &request.refresh_token, state.lifetimes).await? {
        Rotation::Rotated {
            user_id,
            roles,
            session_id,
            token,
        } => tokens(&state, user_id, session_id, &roles, token),
        Rotation::Invalid => Err(ApiError::Unauthorized(
            "invalid or expired refresh token".to_owned(),
        )),
        Rotation::Reused => Err(ApiError::Unauthorized(
            "refresh token already used: the session has been revoked, log in again".to_owned(),
        )),
    }
}

/// Revokes the session of the given refresh token (idempotent).
#[utoipa::path(post, path = "/api/v1/users/logout", tag = "users",
    security(("bearer" = [])),
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "The session is over"),
        (status = 400, description = "Malformed body", body = ErrorBody),
    ))]
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
