//! argon2id password hashes, computed off the async runtime, at most one per core at a time,
//! in memory that goes back to the system two seconds after the last hash.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::domain::Password;

/// The 1 KiB blocks reserved for one hash: 32 MiB, the size from which glibc's malloc always
/// maps memory of its own and unmaps it when freed (`DEFAULT_MMAP_THRESHOLD_MAX` on 64-bit,
/// mallopt(3)). argon2's own 19 MiB allocation is below it, and after the first free glibc
/// raises its threshold and keeps such blocks in per-thread arenas: 100 registrations left the
/// service at 160 MB. Only the 19 MiB argon2 writes to become resident; the rest of the
/// reservation is never touched.
const RESERVED_BLOCKS: usize = 32 * 1024;

/// How long hash memory is kept for the next hash once hashing stops.
const KEEP_IDLE_MEMORY: Duration = Duration::from_secs(2);

/// Hash memory between hashes: kept while hashes follow each other (faulting 19 MiB of fresh
/// pages in costs about a third of a hash), handed back to the system after `KEEP_IDLE_MEMORY`
/// without one.
struct Scratch {
    free: Mutex<(Vec<Vec<Block>>, Instant)>,
}

impl Scratch {
    fn get() -> &'static Scratch {
        static SCRATCH: OnceLock<Scratch> = OnceLock::new();
        SCRATCH.get_or_init(|| {
            // The reaper: a plain thread, so hashing needs no runtime of its own.
            let _ = std::thread::Builder::new()
                .name("argon2-memory".to_owned())
                .spawn(|| loop {
                    std::thread::sleep(KEEP_IDLE_MEMORY);
                    if let Ok(mut free) = Scratch::get().free.lock() {
                        if free.1.elapsed() >= KEEP_IDLE_MEMORY {
                            free.0.clear();
                        }
                    }
                });
            Scratch {
                free: Mutex::new((Vec::new(), Instant::now())),
            }
        })
    }

    fn take(&self, blocks: usize) -> Vec<Block> {
        let mut memory = self
            .free
            .lock()
            .ok()
            .and_then(|mut free| free.0.pop())
            .unwrap_or_else(|| Vec::with_capacity(blocks.max(RESERVED_BLOCKS)));
        memory.clear();
        memory.resize(blocks, Block::default());
        memory
    }

    fn put_back(&self, memory: Vec<Block>) {
        if let Ok(mut free) = self.free.lock() {
            free.0.push(memory);
            free.1 = Instant::now();
        }
    }
}

/// How long a login or registration waits for a hashing slot before it is refused (503 with
/// `Retry-After`), by default (`PASSWORD_QUEUE_WAIT_MS`). A hash takes tens of milliseconds a
/// core, so the queue holds at most about this long's worth of hashes: under a flood the
/// requests that get in are answered well within any deadline, and the rest are refused after
/// at most this wait instead of piling up behind it.
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);

/// Why no hash came out.
#[derive(Debug)]
pub enum HashError {
    /// Every slot stayed taken for `QUEUE_WAIT`: nothing was computed.
    Busy,
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for HashError {
    fn from(err: anyhow::Error) -> Self {
        Self::Failed(err)
    }
}

impl From<HashError> for common::ApiError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => Self::Busy {
                message: "too many logins and registrations right now, try again shortly"
                    .to_owned(),
                retry_after: 1,
            },
            HashError::Failed(err) => Self::Internal(err),
        }
    }
}

/// Runs `work` (an argon2 computation: CPU-bound) on the blocking pool, at most one per core
/// at once: a burst of registrations or logins queues for the CPU instead of running hundreds
/// of hashes side by side, which only adds memory (19 MiB each), not speed. The queue is
/// bounded by time: a request that gets no slot within `wait` is `Busy`.
async fn bounded<T: Send + 'static>(
    wait: Duration,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, HashError> {
    static PERMITS: OnceLock<Arc<tokio::sync::Semaphore>> = OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(tokio::sync::Semaphore::new(cores))
    });
    let permit = match tokio::time::timeout(wait, permits.clone().acquire_owned()).await {
        Ok(permit) => permit.map_err(anyhow::Error::from)?,
        Err(_) => return Err(HashError::Busy),
    };
    let hashed = tokio::task::spawn_blocking(move || {
        // Held until the hash is done, even when the request that asked for it went away.
        let _permit = permit;
        work()
    })
    .await
    .map_err(anyhow::Error::from)?;
    Ok(hashed?)
}

/// The argon2 output for `password` and `salt` with `argon`'s parameters, computed in memory
/// of its own (see `RESERVED_BLOCKS`).
fn compute(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: Salt<'_>,
) -> anyhow::Result<Output> {
    let mut salt_buffer = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buffer)
        .map_err(|e| anyhow::anyhow!("password salt: {e}"))?;
    let scratch = Scratch::get();
    let mut memory = scratch.take(params.block_count());
    let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(length, |out| {
        Ok(argon.hash_password_into_with_memory(password, salt, out, &mut memory)?)
    });
    scratch.put_back(memory);
    output.map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// argon2id with the library's default (OWASP) parameters and a random salt, as a PHC string.
fn hash_now(password: &[u8]) -> anyhow::Result<String> {
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let output = compute(&argon, &params, password, salt.as_salt())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored` (any argon2 variant and parameters).
fn matches(password: &[u8], stored: &str) -> anyhow::Result<bool> {
    let parsed =
        PasswordHash::new(stored).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| anyhow::anyhow!("{e}"))?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        anyhow::bail!("stored hash has no salt or output");
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    // `Output`'s equality is constant-time.
    Ok(compute(&argon, &params, password, salt)? == expected)
}

/// Hashes with argon2id and a random salt (PHC string format).
pub async fn hash(password: &Password, wait: Duration) -> Result<String, HashError> {
    let password = password.expose().to_owned();
    bounded(wait, move || hash_now(password.as_bytes())).await
}

/// Checks `password` against `stored`; with no stored hash, checks a dummy one so that
/// unknown logins take as long as wrong passwords.
pub async fn verify(
    password: &str,
    stored: Option<String>,
    wait: Duration,
) -> Result<bool, HashError> {
    let password = password.to_owned();
    bounded(wait, move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        Ok(matches(password.as_bytes(), &stored)? && known)
    })
    .await
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now(b"dummy password for timing").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_that_gets_no_hashing_slot_in_time_is_refused_not_queued() {
        // Every slot taken by work that outlasts the queue's wait...
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let mut holders = Vec::new();
        for _ in 0..cores {
            let held = held.clone();
            holders.push(tokio::spawn(bounded(QUEUE_WAIT, move || {
                let _ = held
                    .lock()
                    .expect("lock")
                    .recv_timeout(Duration::from_secs(10));
                Ok(())
            })));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        // ...so the next request waits `QUEUE_WAIT` and is refused, having computed nothing.
        let refused = bounded(QUEUE_WAIT, || Ok(())).await;
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        // Once a slot frees up, requests are served again.
        for _ in 0..cores {
            release.send(()).expect("release");
        }
        for holder in holders {
            holder.await.expect("join").expect("held work");
        }
        assert!(bounded(QUEUE_WAIT, || Ok(())).await.is_ok());
    }

    #[test]
    fn a_hash_verifies_with_its_password_only() {
        let stored = hash_now(b"correct horse battery").expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(matches(b"correct horse battery", &stored).expect("verify"));
        assert!(!matches(b"correct horse batterY", &stored).expect("verify"));
    }

    #[test]
    fn hashes_are_the_argon2_crates_own_format_both_ways() {
        // Ours verifies with the library's verifier...
        let ours = hash_now(b"s3cret password").expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC");
        assert!(Argon2::default()
            .verify_password(b"s3cret password", &parsed)
            .is_ok());
        // ...and hashes the library made (every stored password so far) verify with ours.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"s3cret password", &salt)
            .expect("hash")
            .to_string();
        assert!(matches(b"s3cret password", &theirs).expect("verify"));
        assert!(!matches(b"another password", &theirs).expect("verify"));
    }
}
