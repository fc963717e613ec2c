//! The per-user limit on signed-in commands (orders, cancels, deposits, restocks): a token
//! bucket per user, kept in each replica's memory.
//!
//! Per replica, not shared: with n replicas behind the gateway a user gets at most n times
//! the limit, which still bounds a loop, and a command pays no extra database round trip.
//! Memory stays bounded: a user's entry is dropped once their bucket is full again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::auth::{AuthUser, TokenVerifier};
use crate::config::{self, ConfigError};
use crate::error::ApiError;

/// How many commands a user may send: `burst` at once, then one every `interval`.
#[derive(Debug)]
pub struct CommandLimit {
    interval: Duration,
    burst: u32,
    /// Per user: the time at which their bucket is full again (GCRA's theoretical arrival time).
    full_at: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_user: HashMap<Uuid, Instant>,
    /// The map's size and the time at the last sweep of full buckets. The next sweep waits for
    /// the size to double or for a whole burst's time to pass, so sweeping costs O(1) per
    /// command on average and what is left holds only users active in that time.
    swept_len: usize,
    swept_at: Option<Instant>,
}

impl CommandLimit {
    /// `per_minute` commands a minute on average, `burst` at once.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            interval: Duration::from_secs(60) / per_minute.max(1),
            burst: burst.max(1),
            full_at: Mutex::new(Buckets::default()),
        }
    }

    /// `COMMAND_LIMIT_PER_MINUTE` (default 60) and `COMMAND_LIMIT_BURST` (default 20): far above
    /// what a person does, far below what a loop does.
    pub fn from_env() -> Result<Self, ConfigError> {
        let per_minute: u32 = config::or("COMMAND_LIMIT_PER_MINUTE", 60)?;
        let burst: u32 = config::or("COMMAND_LIMIT_BURST", 20)?;
        if per_minute == 0 || burst == 0 {
            return Err(ConfigError {
                name: "COMMAND_LIMIT_PER_MINUTE/COMMAND_LIMIT_BURST".to_owned(),
                problem: "must be at least 1".to_owned(),
            });
        }
        Ok(Self::new(per_minute, burst))
    }

    /// Takes one command from `user`'s bucket at `now`, or says how long until one is there.
    fn take(&self, user: Uuid, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.full_at.lock().unwrap_or_else(|e| e.into_inner());
        let tolerance = self.interval * self.burst;
        let full_at = buckets.by_user.get(&user).copied().unwrap_or(now).max(now);
        let next = full_at + self.interval;
        if next - now > tolerance {
            return Err(next - now - tolerance);
        }
        buckets.by_user.insert(user, next);
        let len = buckets.by_user.len();
        let due = buckets.swept_at.is_none_or(|at| now >= at + tolerance);
        if len >= 1024 && (len >= 2 * buckets.swept_len || due) {
            buckets.by_user.retain(|_, full_at| *full_at > now);
            buckets.swept_len = buckets.by_user.len();
            buckets.swept_at = Some(now);
        }
        Ok(())
    }

    /// A 429 with `Retry-After` when `user` is over the limit.
    pub fn check(&self, user: Uuid) -> Result<(), ApiError> {
        self.take(user, Instant::now()).map_err(|wait| {
            tracing::warn!(user_id = %user, "command refused: over the per-user limit");
            ApiError::RateLimited {
                message: "too many commands, slow down".to_owned(),
                // Whole seconds, rounded up, so the client's retry finds a command waiting.
                retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}

/// A signed-in user whose command is within their limit: the extractor of every limited
/// command's handler (it checks the token first, so the limit counts only real users).
#[derive(Debug, Clone, Copy)]
pub struct LimitedUser(pub AuthUser);

impl<S> FromRequestParts<S> for LimitedUser
where
    std::sync::Arc<TokenVerifier>: FromRef<S>,
    std::sync::Arc<CommandLimit>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        std::sync::Arc::<CommandLimit>::from_ref(state).check(user.user_id)?;
        Ok(Self(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_per_interval() {
        let limit = CommandLimit::new(60, 3);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limit.take(alice, start).is_ok());
        }
        let wait = limit
            .take(alice, start)
            .expect_err("the fourth at once is over");
        assert_eq!(wait, Duration::from_secs(1));
        // Another user is not affected.
        assert!(limit.take(bob, start).is_ok());
        // One interval later exactly one more passes.
        let later = start + Duration::from_secs(1);
        assert!(limit.take(alice, later).is_ok());
        assert!(limit.take(alice, later).is_err());
        // After a quiet spell the whole burst is back.
        let quiet = later + Duration::from_secs(10);
        for _ in 0..3 {
            assert!(limit.take(alice, quiet).is_ok());
        }
        assert!(limit.take(alice, quiet).is_err());
    }

    #[test]
    fn refusals_answer_429_with_retry_after_in_whole_seconds() {
        let limit = CommandLimit::new(2, 1);
        let user = Uuid::new_v4();
        assert!(limit.check(user).is_ok());
        match limit.check(user) {
            Err(ApiError::RateLimited { retry_after, .. }) => {
                assert!((29..=30).contains(&retry_after), "{retry_after}");
            }
            other => panic!("expected a 429, got {other:?}"),
        }
    }

    #[test]
    fn full_buckets_are_swept_so_memory_stays_bounded() {
        let limit = CommandLimit::new(600, 5);
        let start = Instant::now();
        for _ in 0..5000 {
            limit.take(Uuid::new_v4(), start).expect("first command");
        }
        // A second later every one of those buckets is full again; new users sweep them out.
        let later = start + Duration::from_secs(1);
        for _ in 0..2000 {
            limit.take(Uuid::new_v4(), later).expect("first command");
        }
        let len = limit.full_at.lock().expect("lock").by_user.len();
        assert!(len <= 2000, "{len} entries kept");
    }
}
