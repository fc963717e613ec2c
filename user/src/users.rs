//! User accounts: registration, the login lookup, profiles.

use common::auth::Role;
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

/// What a login is checked against, and the roles its tokens then carry.
pub struct Credentials {
    pub id: Uuid,
    pub password_hash: String,
    pub roles: Vec<String>,
}

/// The credentials of the user with `login`, compared regardless of case.
pub async fn find_for_login(pool: &PgPool, login: &str) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        "SELECT id, password_hash, roles FROM users WHERE lower(login) = lower($1)",
        login,
    )
    .fetch_optional(pool)
    .await
}

/// The roles among `stored` that this version knows (the schema allows no other).
pub fn known_roles(stored: &[String]) -> Vec<Role> {
    stored.iter().filter_map(|r| Role::parse(r)).collect()
}

/// Gives `login`'s user `role` (`grant`) or takes it away; `None` when no user has that login.
/// Returns the user's roles afterwards.
pub async fn set_role(
    pool: &PgPool,
    login: &str,
    role: Role,
    grant: bool,
) -> sqlx::Result<Option<Vec<String>>> {
    sqlx::query_scalar!(
        "UPDATE users SET roles = CASE WHEN $3 THEN array_append(array_remove(roles, $2), $2) \
                                       ELSE array_remove(roles, $2) END, \
                          updated_at = now() \
         WHERE lower(login) = lower($1) RETURNING roles",
        login,
        role.as_str(),
        grant,
    )
    .fetch_optional(pool)
    .await
}

/// (login, roles) of every user who holds a role, by login.
pub async fn with_roles(pool: &PgPool) -> sqlx::Result<Vec<(String, Vec<String>)>> {
    let rows = sqlx::query!(
        "SELECT login, roles FROM users WHERE cardinality(roles) > 0 ORDER BY lower(login)"
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.login, r.roles)).collect())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "0f8e1f7c-3a3e-4a8b-9a57-2b8f4f0e9c01", "login": "alice", "email": "alice@example.com", "firstName": "Alice", "lastName": "Liddell", "roles": []}))]
pub struct Profile {
    id: Uuid,
    login: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    /// `[]`, or `["admin"]` for a user who runs the catalogue. An operator grants it; the
    /// access token carries it from the next login or refresh.
    #[schema(example = json!([]))]
    roles: Vec<String>,
}

/// The profile of user `id`, if the user exists.
pub async fn profile(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Profile>> {
    sqlx::query_as!(
        Profile,
        "SELECT id, login, email, first_name, last_name, roles FROM users WHERE id = $1",
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
         RETURNING id, login, email, first_name, last_name, roles",
        id,
        changes.email,
        changes.first_name,
        changes.last_name,
    )
    .fetch_optional(pool)
    .await
}
