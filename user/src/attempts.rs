//! The per-login limit on password attempts: a login may be tried `FREE_ATTEMPTS` times in a
//! row without delay; from then on each attempt that does not succeed makes the next one wait
//! 1, 2, 4 … seconds, never more than `MAX_DELAY`. During the wait an attempt is answered 429
//! with `Retry-After` and no password is checked. A successful login clears the count; 15
//! quiet minutes forget it.
//!
//! An attempt is counted when it starts, before its password is checked, so a burst of guesses
//! sent at once cannot slip past the count. Logins that do not exist are counted the same way,
//! so the answers never tell whether a login exists.
//!
//! Guessing cannot lock the owner out: an attempt from an address the user logged in from
//! successfully in the last `KNOWN_FOR` goes through the wait (see `known_address`).

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

/// Attempts a login gets before the delays start: the next one (the sixth) is still checked
/// and starts the first wait.
pub const FREE_ATTEMPTS: i32 = 5;
/// The longest wait an attempt can impose on the next.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// How long a login's count is kept without attempts.
pub const QUIET_RESET: Duration = Duration::from_secs(15 * 60);
/// How long an address a user logged in from stays known.
pub const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Logins longer than this are counted by their first characters (the row stays small).
const KEY_CHARS: usize = 128;

fn key(login: &str) -> String {
    login
        .trim()
        .to_lowercase()
        .chars()
        .take(KEY_CHARS)
        .collect()
}

/// Counts an attempt at `login`, or says how long it must wait (then nothing is counted).
pub async fn begin(db: &PgPool, login: &str) -> sqlx::Result<Result<(), Duration>> {
    // One statement: the row is locked while it is read and updated, so concurrent attempts
    // are counted one after the other; `refused` records which branch this one took.
    let row = sqlx::query!(
        r#"INSERT INTO login_attempts AS a (login_key, attempts, last_attempt_at, refused)
           VALUES ($1, 1, now(), false)
           ON CONFLICT (login_key) DO UPDATE SET
               refused = coalesce(a.blocked_until > now(), false),
               attempts = CASE
                   WHEN a.blocked_until > now() THEN a.attempts
                   WHEN a.last_attempt_at < now() - make_interval(secs => $3) THEN 1
                   ELSE a.attempts + 1 END,
               last_attempt_at = CASE WHEN a.blocked_until > now() THEN a.last_attempt_at
                   ELSE now() END,
               blocked_until = CASE
                   WHEN a.blocked_until > now() THEN a.blocked_until
                   WHEN a.last_attempt_at < now() - make_interval(secs => $3) THEN NULL
                   WHEN a.attempts + 1 > $2 THEN now() + make_interval(secs =>
                       least(power(2, least(a.attempts - $2, 16))::float8, $4))
                   ELSE NULL END
           RETURNING refused,
                     GREATEST(EXTRACT(EPOCH FROM blocked_until - now()), 0)::float8 AS "wait""#,
        key(login),
        FREE_ATTEMPTS,
        QUIET_RESET.as_secs_f64(),
        MAX_DELAY.as_secs_f64(),
    )
    .fetch_one(db)
    .await?;
    if row.refused {
        let wait = Duration::from_secs_f64(row.wait.unwrap_or(1.0).max(0.001));
        return Ok(Err(wait));
    }
    Ok(Ok(()))
}

/// Takes back an attempt whose password was never checked (the hash queue was full).
pub async fn uncount(db: &PgPool, login: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE login_attempts SET attempts = greatest(attempts - 1, 0) WHERE login_key = $1",
        key(login),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Whether the user with `login` logged in successfully from `address` within `KNOWN_FOR`
/// (never, without an address).
pub async fn known_address(db: &PgPool, login: &str, address: Option<&str>) -> sqlx::Result<bool> {
    let Some(address) = address else {
        return Ok(false);
    };
    sqlx::query_scalar!(
        r#"SELECT EXISTS (
               SELECT 1 FROM login_addresses la JOIN users u ON u.id = la.user_id
               WHERE lower(u.login) = lower($1) AND la.address = $2
                 AND la.last_success_at > now() - make_interval(secs => $3)) AS "known!""#,
        login.trim(),
        address,
        KNOWN_FOR.as_secs_f64(),
    )
    .fetch_one(db)
    .await
}

/// A successful login: its count starts again, and the address becomes known for the user.
pub async fn succeeded(
    db: &PgPool,
    login: &str,
    user_id: Uuid,
    address: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM login_attempts WHERE login_key = $1",
        key(login)
    )
    .execute(db)
    .await?;
    if let Some(address) = address {
        sqlx::query!(
            "INSERT INTO login_addresses (user_id, address) VALUES ($1, $2) \
             ON CONFLICT (user_id, address) DO UPDATE SET last_success_at = now()",
            user_id,
            address,
        )
        .execute(db)
        .await?;
    }
    Ok(())
}

/// Deletes the counts of logins not tried for `QUIET_RESET` and addresses not used for
/// `KNOWN_FOR` (the retention sweep).
pub async fn sweep(db: &PgPool) -> sqlx::Result<u64> {
    let attempts = sqlx::query!(
        "DELETE FROM login_attempts WHERE last_attempt_at < now() - make_interval(secs => $1)",
        QUIET_RESET.as_secs_f64(),
    )
    .execute(db)
    .await?
    .rows_affected();
    let addresses = sqlx::query!(
        "DELETE FROM login_addresses WHERE last_success_at < now() - make_interval(secs => $1)",
        KNOWN_FOR.as_secs_f64(),
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(attempts + addresses)
}
