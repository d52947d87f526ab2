//! Background work on the injected clock: expiring packs (R-PACK-2), ending dead sessions and
//! charging periods that roll over while products are in use (R-SES-3/6), warning admins of
//! packs about to expire (R-NOT-1), forgetting sign-in attempts whose window has passed. Runs
//! every `job_interval`
//! of real time, and at once whenever the test clock is advanced, so that tests see the effects
//! of the time they skip without waiting.

use std::sync::Arc;
use std::time::Duration;

use jeton_core::Clock;
use jeton_store::Store;
use jeton_store::expiry::ExpirySweep;
use jeton_store::sessions::SessionSweep;
use tokio::sync::watch;

use crate::metrics::Metrics;

#[derive(Clone)]
pub struct Jobs {
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl Jobs {
    pub fn new(store: Store, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Jobs {
        Jobs {
            store,
            clock,
            metrics,
        }
    }

    /// One run of every job at the clock's current time.
    pub async fn run_once(&self) -> jeton_store::StoreResult<(ExpirySweep, SessionSweep)> {
        let now = self.clock.now();
        self.metrics.job_runs.inc();
        let failed = |what: &'static str| {
            move |e: &jeton_store::StoreError| {
                self.metrics.job_failures.inc();
                tracing::error!(error = %e, "{what} failed; it will run again");
            }
        };
        let expiry = self
            .store
            .expire_due(now)
            .await
            .inspect_err(failed("expiry sweep"))?;
        if expiry.tokens > 0 {
            self.metrics.count_tokens("expired", expiry.tokens);
        }
        let sessions = self
            .store
            .sweep_sessions(now)
            .await
            .inspect_err(failed("session sweep"))?;
        self.store
            .warn_expiring(now)
            .await
            .inspect_err(failed("expiry warnings"))?;
        self.store
            .forget_stale_sign_in_attempts(now)
            .await
            .inspect_err(failed("sign-in attempts clean-up"))?;
        if sessions.charged > 0 {
            self.metrics.count_tokens("charged", sessions.charged);
        }
        Ok((expiry, sessions))
    }

    /// Runs the jobs until `shutdown` turns true.
    pub async fn run_forever(self, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    // Failures are logged and counted inside; the next tick retries.
                    let _ = self.run_once().await;
                }
                _ = shutdown.changed() => break,
            }
        }
        tracing::info!("background jobs stopped");
    }
}
