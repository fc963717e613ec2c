//! Login sessions and their single-use, rotating refresh tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

/// An opaque refresh token as handed to the client; only its hash is stored.
pub struct RefreshToken(pub String);

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// How long tokens and sessions last: a refresh token `refresh_token_ttl` after it is issued, a
/// session (and so every refresh token it issues) at most `session_lifetime` after its login,
/// however often it is refreshed.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub refresh_token_ttl: Duration,
    pub session_lifetime: Duration,
}

/// A new refresh token of `session_id`, or `None` when the session is gone (deleted by the
/// retention sweep meanwhile).
async fn issue_refresh_token(
    conn: &mut PgConnection,
    session_id: Uuid,
    lifetimes: Lifetimes,
) -> sqlx::Result<Option<RefreshToken>> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let inserted = sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) \
         SELECT $1, $2, least(now() + make_interval(secs => $3), \
                              s.created_at + make_interval(secs => $4)) \
         FROM sessions s WHERE s.id = $2",
        hash(&token),
        session_id,
        lifetimes.refresh_token_ttl.as_secs() as f64,
        lifetimes.session_lifetime.as_secs() as f64,
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok((inserted == 1).then_some(RefreshToken(token)))
}

/// Starts a session for a user who just logged in; returns its id and first refresh token.
pub async fn start(
    pool: &PgPool,
    user_id: Uuid,
    lifetimes: Lifetimes,
) -> sqlx::Result<(Uuid, RefreshToken)> {
    let mut tx = pool.begin().await?;
    let session_id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO sessions (id, user_id) VALUES ($1, $2)",
        session_id,
        user_id,
    )
    .execute(&mut *tx)
    .await?;
    let token = issue_refresh_token(&mut tx, session_id, lifetimes)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok((session_id, token))
}

/// What presenting a refresh token led to.
pub enum Rotation {
    /// The token was valid: here are the session's user and the next token.
    Rotated {
        user_id: Uuid,
        /// The user's roles now: a change applies from this refresh on.
        roles: Vec<String>,
        session_id: Uuid,
        token: RefreshToken,
    },
    /// Unknown, expired, or its session is over.
    Invalid,
    /// The token had already been used: the session is now revoked.
    Reused,
}

/// A refresh token just spent.
struct Spent {
    session_id: Uuid,
    expires_at: DateTime<Utc>,
}

/// Spends `presented` and issues its successor; a second use of any token revokes the session.
pub async fn rotate(
    pool: &PgPool,
    presented: &str,
    lifetimes: Lifetimes,
) -> sqlx::Result<Rotation> {
    let token_hash = hash(presented);
    let mut tx = pool.begin().await?;
    // The conditional update makes spending atomic: of two concurrent uses, one wins.
    let spent = sqlx::query_as!(
        Spent,
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL \
         RETURNING session_id, expires_at",
        &token_hash,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Spent {
        session_id,
        expires_at,
    }) = spent
    else {
        let revoked = sqlx::query!(
            "UPDATE sessions SET revoked_at = now() WHERE revoked_at IS NULL \
             AND id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1)",
            &token_hash,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let known = sqlx::query_scalar!(
            "SELECT session_id FROM refresh_tokens WHERE token_hash = $1",
            &token_hash,
        )
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        if let Some(session_id) = known {
            tracing::warn!(%session_id, revoked_now = revoked == 1, "refresh token reused, session revoked");
            return Ok(Rotation::Reused);
        }
        return Ok(Rotation::Invalid);
    };
    let session = sqlx::query!(
        "SELECT s.user_id, u.roles FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = $1 AND s.revoked_at IS NULL \
         AND s.created_at > now() - make_interval(secs => $2)",
        session_id,
        lifetimes.session_lifetime.as_secs() as f64,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (Some(session), true) = (session, expires_at > Utc::now()) else {
        tx.commit().await?;
        return Ok(Rotation::Invalid);
    };
    let Some(token) = issue_refresh_token(&mut tx, session_id, lifetimes).await? else {
        tx.commit().await?;
        return Ok(Rotation::Invalid);
    };
    tx.commit().await?;
    Ok(Rotation::Rotated {
        user_id: session.user_id,
        roles: session.roles,
        session_id,
        token,
    })
}

/// Revokes the session `presented` belongs to, if it is `user_id`'s.
pub async fn revoke(pool: &PgPool, user_id: Uuid, presented: &str) -> sqlx::Result<bool> {
    let revoked = sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = $2 AND revoked_at IS NULL \
         AND id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1)",
        hash(presented),
        user_id,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(revoked == 1)
}

/// How long a revoked session is kept (for the log's sake) before the sweep deletes it.
const REVOKED_KEPT: Duration = Duration::from_secs(24 * 3600);

/// Deletes what can no longer be used (the retention sweep): refresh tokens past their expiry,
/// used or not, and sessions revoked a day ago or past their lifetime, with their tokens. A
/// spent token is kept until it expires, so presenting it again still revokes its session.
pub async fn sweep(pool: &PgPool, session_lifetime: Duration) -> sqlx::Result<u64> {
    let tokens = sqlx::query!("DELETE FROM refresh_tokens WHERE expires_at < now()")
        .execute(pool)
        .await?
        .rows_affected();
    let sessions = sqlx::query!(
        "DELETE FROM sessions WHERE revoked_at < now() - make_interval(secs => $1) \
         OR created_at < now() - make_interval(secs => $2)",
        REVOKED_KEPT.as_secs() as f64,
        session_lifetime.as_secs() as f64,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(tokens + sessions)
}
