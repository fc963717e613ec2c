//! The per-login limit on password attempts: a login may be tried `FREE_ATTEMPTS` times in a
//! row without delay; from then on each attempt that does not succeed makes the next one wait
//! 1, 2, 4 … seconds, never more than `MAX_DELAY`. During the wait an attempt is answered 429
//! with `Retry-After` and no password is checked. A successful login clears the count; 15
//! quiet minutes forget it.
//!
//! An attempt is counted when it starts, before its password is checked, so a burst of guesses
//! sent at once cannot slip past the count. Logins that do not exist are counted the same way,
//! so the answers never tell whether a login exists. An attacker can at most keep a login
//! waiting `MAX_DELAY` at a time, and only by spending one guess per wait.

use std::time::Duration;

use sqlx::PgPool;

/// Attempts a login gets before the delays start.
pub const FREE_ATTEMPTS: i32 = 5;
/// The longest wait an attempt can impose on the next.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// How long a login's count is kept without attempts.
pub const QUIET_RESET: Duration = Duration::from_secs(15 * 60);

fn key(login: &str) -> String {
    login.trim().to_lowercase()
}

/// Counts an attempt at `login`, or says how long it must wait (then nothing is counted).
pub async fn begin(db: &PgPool, login: &str) -> sqlx::Result<Result<(), Duration>> {
    // One statement: the row is locked while it is read and updated, so concurrent attempts
    // are counted one after the other. A blocked attempt leaves the row as it was, which is how
    // it is told apart: a counted one sets `last_attempt_at` to this transaction's `now()`.
    let row = sqlx::query!(
        r#"INSERT INTO login_attempts AS a (login_key, attempts, last_attempt_at)
           VALUES ($1, 1, now())
           ON CONFLICT (login_key) DO UPDATE SET
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
           RETURNING last_attempt_at < now() AS "blocked!",
                     GREATEST(EXTRACT(EPOCH FROM blocked_until - now()), 0)::float8 AS "wait""#,
        key(login),
        FREE_ATTEMPTS,
        QUIET_RESET.as_secs_f64(),
        MAX_DELAY.as_secs_f64(),
    )
    .fetch_one(db)
    .await?;
    if row.blocked {
        let wait = Duration::from_secs_f64(row.wait.unwrap_or(1.0));
        return Ok(Err(wait));
    }
    Ok(Ok(()))
}

/// A successful login: its count starts again.
pub async fn succeeded(db: &PgPool, login: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM login_attempts WHERE login_key = $1",
        key(login)
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes the counts of logins not tried for `QUIET_RESET` (the retention sweep).
pub async fn sweep(db: &PgPool) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "DELETE FROM login_attempts WHERE last_attempt_at < now() - make_interval(secs => $1)",
        QUIET_RESET.as_secs_f64(),
    )
    .execute(db)
    .await?
    .rows_affected())
}
