//! argon2id password hashes, computed off the async runtime, at most one per core at a time.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::domain::Password;

/// Runs `work` (an argon2 computation: CPU-bound, 19 MiB of memory) off the async runtime, at
/// most one per core at once. A burst of registrations or logins queues for the CPU instead of
/// running hundreds of hashes side by side, which only adds memory (19 MiB each), not speed.
/// Each runs on a thread of its own (starting one costs microseconds, a hash milliseconds):
/// the allocator hands a thread's memory back when the thread ends, where a pooled blocking
/// thread would keep its 19 MiB until it idles out ten seconds later.
async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    static PERMITS: OnceLock<Arc<tokio::sync::Semaphore>> = OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(tokio::sync::Semaphore::new(cores))
    });
    let permit = permits.clone().acquire_owned().await?;
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("argon2".to_owned())
        .spawn(move || {
            // Held until the hash is done, even when the request that asked for it went away.
            let _permit = permit;
            let _ = done.send(work());
        })?;
    result.await?
}

/// Hashes with argon2id and a random salt (PHC string format).
pub async fn hash(password: &Password) -> anyhow::Result<String> {
    let password = password.expose().to_owned();
    bounded(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await
}

/// Checks `password` against `stored`; with no stored hash, checks a dummy one so that
/// unknown logins take as long as wrong passwords.
pub async fn verify(password: &str, stored: Option<String>) -> anyhow::Result<bool> {
    let password = password.to_owned();
    bounded(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"dummy password for timing", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}
