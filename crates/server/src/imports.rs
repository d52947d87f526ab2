//! R-USR-5: the import worker. `POST /v1/teams/{team}/flex/import` only stores the parsed file
//! (`jeton_store::imports`); this worker applies it in the background, a chunk of lines per
//! transaction, so that an import of any size finishes and can be followed
//! (`GET …/flex/imports/{id}`) instead of running into the request timeout.
//!
//! * It wakes when a handler queued an import ([`Importer::queued`]), every few seconds of real
//!   time (imports queued on other servers, leases of dead servers that ran out), at start (so
//!   unfinished imports resume), and at every test-clock advance.
//! * It takes one chunk of each import in turn, so a large import does not hold up a small one
//!   queued after it.
//! * Claims are leases on the injected clock, like the mail sender's: several servers on one
//!   database share the imports, and one that dies leaves its import to another once the lease
//!   has passed. A worker that stops hands its imports back at once.
//! * An import whose team was closed meanwhile fails (`failed`, with the code); a database that
//!   does not answer is retried at the next wake-up.
//! * No email is sent: imported people get an invitation an admin may resend (R-USR-4).

use std::sync::Arc;
use std::time::Duration;

use jeton_core::{Clock, DomainError, ImportId};
use jeton_store::imports::{Chunk, Step};
use jeton_store::{Store, StoreError};
use tokio::sync::{Notify, watch};

use crate::error::INTERNAL_DETAIL;
use crate::keys::{new_key, new_secret};
use crate::metrics::Metrics;

/// Lines applied in one transaction: short enough that SQLite's single writer is never held
/// long (well under a second), large enough that the per-chunk work is small beside the lines'.
pub const CHUNK_LINES: usize = 500;
/// How long (on the clock) a claim keeps other servers away from an import; every chunk renews
/// it. A server that dies delays its import by at most this much.
pub const LEASE: chrono::Duration = chrono::Duration::minutes(2);
/// How often (real time) the worker looks for imports when nothing woke it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Most imports looked at in one pass.
const MAX_CLAIM: usize = 100;

/// One server's import worker. Cheap to clone: the background task, the test-clock advance and
/// tests share it, and its claim.
#[derive(Clone)]
pub struct Importer {
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// Marks this server's claims; random, so two servers never mistake each other's.
    claim: Arc<str>,
    wakeup: Arc<Notify>,
}

impl Importer {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Importer> {
        Ok(Importer {
            store,
            clock,
            metrics,
            claim: new_key("import-")?.into(),
            wakeup: Arc::new(Notify::new()),
        })
    }

    /// Call after an import was queued: the worker starts on it at once.
    pub fn queued(&self) {
        self.wakeup.notify_one();
    }

    /// Works until no import this server may take has lines left (or `stop` turns true): one
    /// chunk of each import in turn. Returns the chunks run. Imports held by another server's
    /// live lease are left alone.
    pub async fn drain(&self, stop: Option<&watch::Receiver<bool>>) -> anyhow::Result<usize> {
        let mut chunks = 0;
        loop {
            let ids = self
                .store
                .claimable_imports(&self.claim, self.clock.now(), MAX_CLAIM)
                .await?;
            let mut progressed = false;
            for id in ids {
                if stop.is_some_and(|s| *s.borrow()) {
                    return Ok(chunks);
                }
                if self.step(id).await? {
                    chunks += 1;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(chunks);
            }
        }
    }

    /// Runs one chunk of import `id`; whether anything was done.
    async fn step(&self, id: ImportId) -> anyhow::Result<bool> {
        // One secret per line, made before the transaction: imported people who have no
        // account yet get an invitation (not emailed).
        let secrets = (0..CHUNK_LINES)
            .map(|_| new_secret())
            .collect::<anyhow::Result<Vec<_>>>()?;
        let now = self.clock.now();
        let failure = match self
            .store
            .run_import_chunk(id, &self.claim, &secrets, now, LEASE)
            .await
        {
            Ok(Step::Applied(job, chunk)) => {
                tracing::debug!(
                    import = %id,
                    done = job.done,
                    total = job.total,
                    "import chunk applied"
                );
                self.count(chunk);
                return Ok(true);
            }
            Ok(Step::Finished(job, chunk)) => {
                self.count(chunk);
                tracing::info!(
                    import = %id,
                    team = job.team.0,
                    applied = job.applied,
                    unchanged = job.unchanged,
                    refused = job.refused,
                    "import done"
                );
                return Ok(true);
            }
            Ok(Step::NotClaimed) => return Ok(false),
            // A rule that no retry will change: the team was closed (merged) meanwhile.
            Err(StoreError::Domain(e)) if !matches!(e, DomainError::Corrupt { .. }) => {
                tracing::warn!(import = %id, error = %e, "import stopped");
                (e.code().as_str(), e.to_string())
            }
            // A database that does not answer: the next wake-up tries again.
            Err(e @ (StoreError::Database(_) | StoreError::Migration(_))) => return Err(e.into()),
            // A broken invariant (a stored line that no longer parses, say): retrying would fail
            // the same way. The admin sees an opaque reason; the log has the cause.
            Err(e) => {
                tracing::error!(import = %id, error = ?e, "import failed");
                ("internal", INTERNAL_DETAIL.to_owned())
            }
        };
        // False: another server took the import over meanwhile, and will find the same.
        let failed = self
            .store
            .fail_import(id, &self.claim, failure.0, &failure.1, now)
            .await?;
        if failed {
            self.metrics.import_failures.inc();
        }
        Ok(failed)
    }

    fn count(&self, chunk: Chunk) {
        for (outcome, lines) in [
            ("applied", chunk.applied),
            ("unchanged", chunk.unchanged),
            ("refused", chunk.refused),
        ] {
            if lines > 0 {
                self.metrics.count_import_lines(outcome, lines);
            }
        }
    }

    /// Imports until `stop` turns true; then hands back what this server holds.
    pub async fn run(self, poll: Duration, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(poll.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Err(e) = self.drain(Some(&stop)).await {
                self.metrics.import_errors.inc();
                tracing::error!(error = %e, "cannot work on imports; will try again");
            }
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = self.wakeup.notified() => {}
                _ = ticker.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
        }
        match self.store.release_imports(&self.claim).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(imports = n, "handed unfinished imports back"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand imports back; they resume when the lease ends")
            }
        }
        tracing::info!("import worker stopped");
    }
}
