//! User accounts: registration, the login lookup, profiles.

use common::error::OnConstraint;
use common::{ApiError, ApiResult};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::Login;

/// A validated registration, ready to store.
pub struct NewUser<'a> {
    pub id: Uuid,
    pub login: &'a Login,
    /// The PHC string of the password's hash.
    pub password_hash: &'a str,
    pub email: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
}

/// Stores a new user; a login taken regardless of case is a conflict.
pub async fn insert(pool: &PgPool, user: &NewUser<'_>) -> ApiResult<()> {
    sqlx::query!(
        "INSERT INTO users (id, login, password_hash, email, first_name, last_name) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        user.id,
        user.login.as_str(),
        user.password_hash,
        user.email,
        user.first_name,
        user.last_name,
    )
    .execute(pool)
    .await
    .on_constraint("users_login_key", login_taken_error)?;
    Ok(())
}

/// The answer to a registration whose login is taken.
pub fn login_taken_error() -> ApiError {
    ApiError::Conflict("login is already taken".to_owned())
}

/// Whether `login` is taken, regardless of case. Registration asks before it hashes the
/// password, so a taken login costs no argon2 work (the unique index still decides races).
pub async fn login_taken(pool: &PgPool, login: &Login) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE lower(login) = lower($1)) AS "taken!""#,
        login.as_str(),
    )
    .fetch_one(pool)
    .await
}

/// What a login is checked against.
pub struct Credentials {
    pub id: Uuid,
    pub password_hash: String,
}

/// The credentials of the user with `login`, compared regardless of case.
pub async fn find_for_login(pool: &PgPool, login: &str) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        "SELECT id, password_hash FROM users WHERE lower(login) = lower($1)",
        login,
    )
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "0f8e1f7c-3a3e-4a8b-9a57-2b8f4f0e9c01", "login": "alice", "email": "alice@example.com", "firstName": "Alice", "lastName": "Liddell"}))]
pub struct Profile {
    id: Uuid,
    login: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// The profile of user `id`, if the user exists.
pub async fn profile(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Profile>> {
    sqlx::query_as!(
        Profile,
        "SELECT id, login, email, first_name, last_name FROM users WHERE id = $1",
        id,
    )
    .fetch_optional(pool)
    .await
}

/// Changes to a profile: `None` leaves a field as it is.
pub struct ProfileChanges {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// Applies `changes` to user `id`'s profile and returns it, if the user exists.
pub async fn update_profile(
    pool: &PgPool,
    id: Uuid,
    changes: &ProfileChanges,
) -> sqlx::Result<Option<Profile>> {
    sqlx::query_as!(
        Profile,
        "UPDATE users SET email = COALESCE($2, email), first_name = COALESCE($3, first_name), \
         last_name = COALESCE($4, last_name), updated_at = now() WHERE id = $1 \
         RETURNING id, login, email, first_name, last_name",
        id,
        changes.email,
        changes.first_name,
        changes.last_name,
    )
    .fetch_optional(pool)
    .await
}
