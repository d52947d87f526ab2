//! PostgreSQL connections for the point reads of every request (the caller's key, the session, the
//! product), kept by the store instead of sqlx's pool. sqlx 0.8 sends a round trip on every
//! connection it takes back into its pool (it pings it), which doubled the round trips of a point
//! read: a quiet heartbeat's two reads were four. A reader goes back to the idle list as it is.
//! One idle for longer than `ConnectOptions::liveness_check_after`, or one on which a statement
//! failed, is checked with a round trip before it is used again, and replaced if the check fails
//! (the database ended the connection, or the network did).
//! At most half of the store's connections are readers; a read beyond them takes the pool's.
//!
//! A read cancelled half-way (its request dropped) leaves its answer unread; sqlx's PostgreSQL
//! connection reads what is left before its next statement.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions as _, Connection as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A reader open this long is closed instead of reused, as sqlx's pool retires its connections:
/// a long-lived PostgreSQL backend keeps the caches it grew.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

pub(crate) struct PostgresReaders {
    options: AnyConnectOptions,
    check_after: Duration,
    /// How long opening a reader may take (the pool's acquire timeout).
    connect_timeout: Duration,
    /// Idle readers.
    idle: Mutex<Vec<Idle>>,
    /// One permit per reader that may be in use.
    open: Arc<Semaphore>,
    /// How many may be open at once.
    most: usize,
}

impl PostgresReaders {
    pub(crate) fn new(
        options: AnyConnectOptions,
        most: usize,
        check_after: Duration,
        connect_timeout: Duration,
    ) -> Arc<PostgresReaders> {
        Arc::new(PostgresReaders {
            options,
            check_after,
            connect_timeout,
            idle: Mutex::new(Vec::new()),
            open: Arc::new(Semaphore::new(most)),
            most,
        })
    }

    /// A reader, or `None` when as many as may be open are in use (the caller reads on the pool).
    pub(crate) async fn take(self: &Arc<Self>) -> Result<Option<PostgresReader>, sqlx::Error> {
        let Ok(permit) = self.open.clone().try_acquire_owned() else {
            return Ok(None);
        };
        loop {
            let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some(Idle {
                mut conn,
                opened,
                used,
                failed,
            }) = idle
            else {
                break;
            };
            if opened.elapsed() > MAX_LIFETIME {
                let _ = conn.close().await;
                continue;
            }
            let trusted = !failed && used.elapsed() <= self.check_after;
            if trusted || conn.ping().await.is_ok() {
                return Ok(Some(self.reader(conn, opened, permit)));
            }
            // Dropped by the database (a restart, an administrator): try the next, or open one.
        }
        let conn = tokio::time::timeout(self.connect_timeout, self.options.connect())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        Ok(Some(self.reader(conn, Instant::now(), permit)))
    }

    fn reader(
        self: &Arc<Self>,
        conn: AnyConnection,
        opened: Instant,
        permit: OwnedSemaphorePermit,
    ) -> PostgresReader {
        PostgresReader {
            readers: self.clone(),
            conn: Some(conn),
            opened,
            failed: Arc::new(AtomicBool::new(false)),
            _permit: permit,
        }
    }

    /// Closes the idle readers (the store is closing).
    pub(crate) async fn close(&self) {
        let idle = match self.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut *idle),
            Err(_) => Vec::new(),
        };
        for Idle { conn, .. } in idle {
            let _ = conn.close().await;
        }
    }
}

struct Idle {
    conn: AnyConnection,
    opened: Instant,
    /// When it was last used.
    used: Instant,
    /// Whether a statement failed on it then.
    failed: bool,
}

/// A reader taken from [`PostgresReaders`]; it goes back when dropped.
pub(crate) struct PostgresReader {
    readers: Arc<PostgresReaders>,
    conn: Option<AnyConnection>,
    opened: Instant,
    /// Set when a statement on it fails: it is checked before it is used again.
    failed: Arc<AtomicBool>,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for PostgresReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresReader").finish_non_exhaustive()
    }
}

impl PostgresReader {
    /// The connection, and the flag to raise ([`failed`]) if a statement on it fails.
    pub(crate) fn parts(&mut self) -> Result<(&mut AnyConnection, Arc<AtomicBool>), sqlx::Error> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| sqlx::Error::Protocol("a reader used after it went back".into()))?;
        Ok((conn, self.failed.clone()))
    }
}

/// Marks a reader's statement as failed: whatever the error, the connection is checked before
/// it serves another read.
pub(crate) fn failed(flag: &AtomicBool) {
    flag.store(true, Ordering::Relaxed);
}

impl Drop for PostgresReader {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if let Ok(mut idle) = self.readers.idle.lock()
            && idle.len() < self.readers.most
        {
            idle.push(Idle {
                conn,
                opened: self.opened,
                used: Instant::now(),
                failed: self.failed.load(Ordering::Relaxed),
            });
        }
    }
}
