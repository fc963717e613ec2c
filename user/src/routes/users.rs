use axum::extract::State;
use axum::http::StatusCode;
use common::auth::AuthUser;
use common::error::ErrorBody;
use common::http::{data, Data, Json, Path, RequestId};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{parse_name, Email, Login, Password};
use crate::users::{self, Profile, ProfileChanges};
use crate::{password, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"login": "alice", "password": "correct horse battery", "email": "alice@example.com", "firstName": "Alice", "lastName": "Liddell"}))]
pub struct RegisterRequest {
    /// 3 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit; unique regardless of case.
    #[schema(
        min_length = 3,
        max_length = 64,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$"
    )]
    login: String,
    /// 8 to 128 characters. Omit it and the service generates one, returned once.
    #[schema(min_length = 8, max_length = 128)]
    password: Option<String>,
    #[schema(max_length = 254, pattern = "^[^@\\s]+@[^@\\s.][^@\\s]*\\.[^@\\s.]+$")]
    email: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    first_name: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    last_name: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "0f8e1f7c-3a3e-4a8b-9a57-2b8f4f0e9c01", "login": "alice"}))]
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
    profile: ProfileChanges,
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
            profile: profile_fields(r.email, r.first_name, r.last_name)?,
        })
    }
}

/// The optional profile fields of a request, each parsed when present.
fn profile_fields(
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
) -> Result<ProfileChanges, ApiError> {
    Ok(ProfileChanges {
        email: email
            .as_deref()
            .map(Email::parse)
            .transpose()?
            .map(Email::into_inner),
        first_name: first_name
            .as_deref()
            .map(|n| parse_name("firstName", n))
            .transpose()?,
        last_name: last_name
            .as_deref()
            .map(|n| parse_name("lastName", n))
            .transpose()?,
    })
}

/// Registers a user, who then has a billing account with balance 0.
#[utoipa::path(post, path = "/api/v1/users/register", tag = "users",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; `password` only when generated", body = Data<Registered>),
        (status = 400, description = "Malformed body or an invalid field (named in `details`)", body = ErrorBody),
        (status = 409, description = "The login is taken", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address (the gateway's limit)", body = ErrorBody),
        (status = 503, description = "Too many passwords being hashed right now: retry after `Retry-After` seconds; nothing was stored", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    request_id: RequestId,
    Json(request): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<Data<Registered>>)> {
    let new = NewUser::try_from(request)?;
    let id = Uuid::new_v4();
    let taken = {
        let _timer = state.metrics.db_query.start("login_taken");
        users::login_taken(&state.db, &new.login).await?
    };
    let inserted = if taken {
        Err(users::login_taken_error())
    } else {
        state.metrics.registration_hashes.inc();
        let hash = password::hash(&new.password, state.password_queue_wait).await?;
        insert(&state, id, &new, &hash).await
    };
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

async fn insert(state: &AppState, id: Uuid, new: &NewUser, hash: &str) -> ApiResult<()> {
    let _timer = state.metrics.db_query.start("register");
    users::insert(
        &state.db,
        &users::NewUser {
            id,
            login: &new.login,
            password_hash: hash,
            email: new.profile.email.as_deref(),
            first_name: new.profile.first_name.as_deref(),
            last_name: new.profile.last_name.as_deref(),
        },
    )
    .await
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's profile", body = Data<Profile>),
        (status = 404, description = "The user no longer exists", body = ErrorBody),
    ))]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Data<Profile>>> {
    let profile = users::profile(&state.db, user.user_id).await?;
    profile
        .map(data)
        .ok_or_else(|| ApiError::NotFound("user not found".to_owned()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"email": "alice@example.org", "firstName": "Alice"}))]
pub struct UpdateProfileRequest {
    #[schema(max_length = 254, pattern = "^[^@\\s]+@[^@\\s.][^@\\s]*\\.[^@\\s.]+$")]
    email: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    first_name: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    last_name: Option<String>,
}

/// Updates the fields given (absent fields stay as they are); only the owner may.
#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "The updated profile", body = Data<Profile>),
        (status = 400, description = "Malformed body, id or field", body = ErrorBody),
        (status = 403, description = "Not the caller's own profile", body = ErrorBody),
        (status = 404, description = "The user no longer exists", body = ErrorBody),
    ))]
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
    let changes = profile_fields(request.email, request.first_name, request.last_name)?;
    let profile = users::update_profile(&state.db, id, &changes).await?;
    profile
        .map(data)
        .ok_or_else(|| ApiError::NotFound("user not found".to_owned()))
}
