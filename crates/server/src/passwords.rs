//! Password hashing with argon2id (default parameters: 19 MiB of memory per hash), off the async
//! threads, through a bounded number of slots.
//!
//! Every sign-in, invitation acceptance and new password runs argon2, and each run holds its
//! 19 MiB until it ends. Unbounded, 200 concurrent sign-ins with random addresses (which dodge the
//! per-address limit) took a server to 5 GB. So a hash needs a [`Slot`]: at most one per core run
//! at once (more would not finish sooner on a CPU-bound job), a bounded queue waits for one, and
//! anything beyond the queue is told at once to come back (503 `busy`, `Retry-After`). Memory for
//! hashing is thereby at most `slots × 19 MiB`, whatever the load.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
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

struct Inner {
    slots: Arc<Semaphore>,
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
        Passwords(Arc::new(Inner {
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
    /// Runs `work` on a blocking thread, counted as one running hash.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let passwords = self.passwords.clone();
        tokio::task::spawn_blocking(move || {
            let inner = &passwords.0;
            let now = inner.running.inc() + 1;
            inner.peak.inner().fetch_max(now, Ordering::AcqRel);
            let out = work();
            inner.running.dec();
            out
        })
        .await
        .map_err(internal)
    }

    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let password = password.expose().to_owned();
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(internal)
        })
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

fn verify_blocking(password: &str, stored: Option<String>) -> bool {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let (stored, real) = match stored {
        Some(s) => (s, true),
        None => {
            let dummy = DUMMY.get_or_init(|| {
                Argon2::default()
                    .hash_password(b"no account has this password")
                    .map(|h| h.to_string())
                    .ok()
            });
            match dummy {
                Some(d) => (d.clone(), false),
                None => return false,
            }
        }
    };
    let Ok(parsed) = PasswordHash::new(&stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && real
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
