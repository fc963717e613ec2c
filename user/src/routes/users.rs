use axum::extract::State;
use axum::http::StatusCode;
use common::auth::AuthUser;
use common::error::OnConstraint;
use common::http::{data, Data, Json, Path, RequestId};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use uuid::Uuid;

use crate::domain::{parse_name, Email, Login, Password};
use crate::{password, AppState};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    login: String,
    password: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    id: Uuid,
    login: String,
    /// Present only when the service generated the password: the one time it is shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

struct NewUser {
    login: Login,
    password: Password,
    generated: bool,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

impl TryFrom<RegisterRequest> for NewUser {
    type Error = ApiError;

    fn try_from(r: RegisterRequest) -> Result<Self, ApiError> {
        let (password, generated) = match r.password.as_deref() {
            Some(raw) => (Password::parse(raw)?, false),
            None => (Password::generate(), true),
        };
        Ok(Self {
            login: Login::parse(&r.login)?,
            password,
            generated,
            email: r
                .email
                .as_deref()
                .map(Email::parse)
                .transpose()?
                .map(Email::into_inner),
            first_name: r
                .first_name
                .as_deref()
                .map(|n| parse_name("firstName", n))
                .transpose()?,
            last_name: r
                .last_name
                .as_deref()
                .map(|n| parse_name("lastName", n))
                .transpose()?,
        })
    }
}

/// `POST /register`: creates the user, then makes sure billing has their account.
pub async fn register(
    State(state): State<AppState>,
    request_id: RequestId,
    Json(request): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<Data<Registered>>)> {
    let new = NewUser::try_from(request)?;
    let id = Uuid::new_v4();
    let hash = password::hash(&new.password).await?;
    let inserted = sqlx::query(
        "INSERT INTO users (id, login, password_hash, email, first_name, last_name) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(new.login.as_str())
    .bind(&hash)
    .bind(&new.email)
    .bind(&new.first_name)
    .bind(&new.last_name)
    .execute(&state.db)
    .await
    .on_constraint("users_login_key", || {
        ApiError::Conflict("login is already taken".to_owned())
    });
    if let Err(e) = inserted {
        state
            .metrics
            .registrations
            .with_label_values(&["rejected"])
            .inc();
        return Err(e);
    }
    // Billing also creates the account on first use, so an outage here delays, never loses it.
    if let Err(e) = state.billing.ensure_account(id, &request_id).await {
        tracing::warn!(user_id = %id, error = format!("{e:#}"), "billing account not created yet");
    }
    state
        .metrics
        .registrations
        .with_label_values(&["created"])
        .inc();
    tracing::info!(user_id = %id, "user registered");
    Ok((
        StatusCode::CREATED,
        data(Registered {
            id,
            login: new.login.as_str().to_owned(),
            password: new.generated.then(|| new.password.expose().to_owned()),
        }),
    ))
}

#[derive(Debug, Serialize, FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    id: Uuid,
    login: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// `GET /me`: the caller's profile.
pub async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Data<Profile>>> {
    let profile: Option<Profile> =
        sqlx::query_as("SELECT id, login, email, first_name, last_name FROM users WHERE id = $1")
            .bind(user.user_id)
            .fetch_optional(&state.db)
            .await?;
    profile
        .map(data)
        .ok_or_else(|| ApiError::NotFound("user not found".to_owned()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProfileRequest {
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// `PUT /{id}`: updates the fields given; only the owner may.
pub async fn update_profile(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(request): Json<UpdateProfileRequest>,
) -> ApiResult<Json<Data<Profile>>> {
    if id != user.user_id {
        return Err(ApiError::Forbidden(
            "you can only change your own profile".to_owned(),
        ));
    }
    let email = request
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()?
        .map(Email::into_inner);
    let first_name = request
        .first_name
        .as_deref()
        .map(|n| parse_name("firstName", n))
        .transpose()?;
    let last_name = request
        .last_name
        .as_deref()
        .map(|n| parse_name("lastName", n))
        .transpose()?;
    let profile: Option<Profile> = sqlx::query_as(
        "UPDATE users SET email = COALESCE($2, email), first_name = COALESCE($3, first_name), \
         last_name = COALESCE($4, last_name), updated_at = now() WHERE id = $1 \
         RETURNING id, login, email, first_name, last_name",
    )
    .bind(id)
    .bind(email)
    .bind(first_name)
    .bind(last_name)
    .fetch_optional(&state.db)
    .await?;
    profile
        .map(data)
        .ok_or_else(|| ApiError::NotFound("user not found".to_owned()))
}
