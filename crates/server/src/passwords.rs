//! Password hashing with argon2id (default parameters: 19 MiB of memory per hash), off the async
//! threads, through a bounded number of slots.
//!
//! Every sign-in, invitation acceptance and new password runs argon2, and each run holds its
//! 19 MiB until it ends. Unbounded, 200 concurrent sign-ins with random addresses (which dodge the
//! per-address limit) took a server to 5 GB. So a hash needs a [`Slot`]: at most one per core run
//! at once (more would not finish sooner on a CPU-bound job), a bounded queue waits for one, and
//! anything beyond the queue is told at once to come back (503 `busy`, `Retry-After`). Hashes run
//! on as many threads of their own as there are slots, not on the shared blocking pool: the
//! allocator keeps a freed 19 MiB block in the arena of the thread that used it, so hashes spread
//! over the blocking pool's many threads left up to one such block behind per thread (a peak of
//! 515 MiB under 500 concurrent attempts with 2 slots). Memory for hashing is thereby about
//! `slots × 19 MiB`, whatever the load.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use jeton_core::Password;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::metrics::Metrics;
use prometheus_client::metrics::gauge::Gauge;

/// Requests that may wait for a slot, per slot. A hash takes tens of milliseconds, so the last
/// in the queue waits well under a second.
const QUEUE_PER_SLOT: usize = 16;
/// Longest wait for a slot before giving up with 503: a bound even if hashing became slow.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// What a caller turned away is told to wait, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The hashing slots of one server.
#[derive(Clone)]
pub struct Passwords(Arc<Inner>);

/// A hash or check to run on one of the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

struct Inner {
    slots: Arc<Semaphore>,
    /// To the hashing threads; they end when the last `Passwords` is dropped.
    jobs: std::sync::mpsc::Sender<Job>,
    queue_limit: usize,
    waiting: AtomicUsize,
    /// Hashes running right now, and the most ever seen at once.
    running: Gauge,
    peak: Gauge,
}

impl Passwords {
    /// `slots` hashes at once (at least one), shown in `metrics`.
    pub fn new(slots: usize, metrics: &Metrics) -> Passwords {
        let size = slots.max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..size {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("jeton-argon2-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take a job, not while it runs.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                // Fewer threads only means fewer hashes at once; the slots still bound memory.
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Passwords(Arc::new(Inner {
            jobs,
            slots: Arc::new(Semaphore::new(size)),
            queue_limit: size * QUEUE_PER_SLOT,
            waiting: AtomicUsize::new(0),
            running: metrics.password_hashes.clone(),
            peak: metrics.password_hashes_peak.clone(),
        }))
    }

    /// One slot per core of this machine.
    pub fn per_core(metrics: &Metrics) -> Passwords {
        Passwords::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
            metrics,
        )
    }

    /// A slot to hash in: at once if one is free, after a short wait in a bounded queue, or
    /// 503 `busy` when the queue is full.
    pub async fn slot(&self) -> Result<Slot, ApiError> {
        let inner = &self.0;
        if let Ok(permit) = inner.slots.clone().try_acquire_owned() {
            return Ok(Slot {
                _permit: permit,
                passwords: self.clone(),
            });
        }
        let queued = Queued::join(inner);
        if queued.1 > inner.queue_limit {
            return Err(busy());
        }
        match tokio::time::timeout(MAX_WAIT, inner.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot {
                _permit: permit,
                passwords: self.clone(),
            }),
            // Timed out, or the semaphore was closed (never done): come back later.
            _ => Err(busy()),
        }
    }
}

fn busy() -> ApiError {
    ApiError::Busy {
        detail: "the server is checking too many passwords at once; try again in a moment".into(),
        retry_after: RETRY_AFTER_SECS,
    }
}

/// A place in the queue, left when dropped (also when the waiting request is cancelled).
struct Queued<'a>(&'a Inner, usize);

impl<'a> Queued<'a> {
    fn join(inner: &'a Inner) -> Queued<'a> {
        let before = inner.waiting.fetch_add(1, Ordering::AcqRel);
        Queued(inner, before + 1)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The right to run one argon2 hash or check; the slot frees when it is dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    passwords: Passwords,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("password hashing: {e}"))
}

impl Slot {
    /// Runs `work` on a hashing thread, counted as one running hash.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let (running, peak) = (
            self.passwords.0.running.clone(),
            self.passwords.0.peak.clone(),
        );
        let job: Job = Box::new(move || {
            let now = running.inc() + 1;
            peak.inner().fetch_max(now, Ordering::AcqRel);
            let out = work();
            running.dec();
            // The caller may have gone (a closed connection): nothing to tell then.
            let _ = done.send(out);
        });
        self.passwords
            .0
            .jobs
            .send(job)
            .map_err(|_| internal("the hashing threads have stopped"))?;
        answer.await.map_err(internal)
    }

    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let password = password.expose().to_owned();
        self.run(move || hash_blocking(password.as_bytes()).map_err(internal))
            .await?
    }

    /// Whether `password` matches the stored hash. With no hash (no such user, or no password
    /// yet) a dummy hash is checked anyway, so that the answer takes as long whether the account
    /// exists.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let password = password.to_owned();
        let stored = stored.map(str::to_owned);
        self.run(move || verify_blocking(&password, stored))
            .await
            .unwrap_or(false)
    }
}

thread_local! {
    /// A hashing thread's argon2 memory, allocated once and used for every hash it runs. Left to
    /// the allocator, each 19 MiB block was freed into the thread's arena, where fragmentation
    /// kept it and the next hash often took a fresh one: resident memory grew to hundreds of MiB
    /// under a flood with two threads.
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs argon2 with `params` on this thread's reused memory.
fn argon2_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    MEMORY.with_borrow_mut(|memory| {
        let blocks = argon2.params().block_count();
        if memory.len() != blocks {
            // Only when a stored hash has other parameters than the last one (never, with the
            // defaults everywhere); shrinking gives memory back.
            *memory = vec![Block::default(); blocks];
        }
        argon2.hash_password_into_with_memory(password, salt, out, memory.as_mut_slice())
    })
}

/// A new PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for `password`, with the default
/// parameters and a random 16-byte salt.
fn hash_blocking(password: &[u8]) -> Result<String, String> {
    let argon2 = Argon2::default();
    let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon2, password, &salt, &mut out).map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` gives the stored PHC string's hash, computed with its own algorithm,
/// version and parameters.
fn matches(password: &[u8], stored: &str) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(phc.algorithm.as_str()),
        Params::try_from(&phc),
    ) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2_into(&argon2, password, salt.as_ref(), &mut out).is_err() {
        return false;
    }
    // Output's equality is constant-time.
    Output::new(&out).is_ok_and(|computed| &computed == expected)
}

fn verify_blocking(password: &str, stored: Option<String>) -> bool {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let (stored, real) = match stored {
        Some(s) => (s, true),
        None => match DUMMY.get_or_init(|| hash_blocking(b"no account has this password").ok()) {
            Some(d) => (d.clone(), false),
            None => return false,
        },
    };
    matches(password.as_bytes(), &stored) && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_by_salt() {
        let passwords = Passwords::new(1, &Metrics::new());
        let slot = passwords.slot().await.unwrap();
        let p = Password::parse("correct horse battery").unwrap();
        let a = slot.hash(&p).await.unwrap();
        let b = slot.hash(&p).await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(slot.verify("correct horse battery", Some(&a)).await);
        assert!(!slot.verify("wrong horse battery", Some(&a)).await);
        assert!(!slot.verify("correct horse battery", None).await);
        assert!(!slot.verify("x", Some("not a hash")).await);
    }

    /// Hashes stored before the hashing threads reused their memory were made by argon2's own
    /// `PasswordHasher`: they must still verify, and ours must verify with argon2's verifier.
    #[test]
    fn hashes_are_argon2s_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
        assert!(matches(b"correct horse battery", &theirs));
        assert!(!matches(b"correct horse batterx", &theirs));
        let ours = hash_blocking(b"correct horse battery").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert_eq!(
            Argon2::default().verify_password(b"correct horse battery", &parsed),
            Ok(())
        );
        // Other parameters (a hash made elsewhere with less memory) verify too, in a buffer of
        // their own size.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert!(matches(b"pw", &small));
        assert!(
            matches(b"correct horse battery", &ours),
            "and back to the defaults"
        );
        assert!(!matches(b"pw", "$argon2id$v=19$m=19456,t=2,p=1$bad"));
        assert!(!matches(b"pw", "$scrypt$ln=4,r=8,p=1$c2FsdA$aGFzaA"));
    }

    #[tokio::test]
    async fn past_the_queue_callers_are_turned_away_at_once() {
        let passwords = Passwords::new(1, &Metrics::new());
        let _held = passwords.slot().await.unwrap();
        // Fill the queue with waiters that never get the slot while it is held.
        let mut waiters = Vec::new();
        for _ in 0..QUEUE_PER_SLOT {
            let p = passwords.clone();
            waiters.push(tokio::spawn(async move { p.slot().await.map(|_| ()) }));
        }
        while passwords.0.waiting.load(Ordering::Acquire) < QUEUE_PER_SLOT {
            tokio::task::yield_now().await;
        }
        match passwords.slot().await {
            Err(ApiError::Busy { retry_after, .. }) => assert_eq!(retry_after, RETRY_AFTER_SECS),
            Err(e) => panic!("expected busy, got {e:?}"),
            Ok(_) => panic!("a slot past the queue"),
        }
        drop(_held);
        for w in waiters {
            w.await
                .unwrap()
                .expect("every queued caller gets the slot in turn");
        }
        assert_eq!(passwords.0.waiting.load(Ordering::Acquire), 0);
    }
}
