use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use jeton_core::{Clock, ManualClock};
use jeton_store::Store;
use tokio::sync::Notify;

use crate::imports::Importer;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::passwords::Passwords;

/// What every handler and job shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Present only with `--test-clock`: the same clock as `clock`, which tests may move.
    pub test_clock: Option<Arc<ManualClock>>,
    pub operator_key_hash: String,
    pub metrics: Arc<Metrics>,
    pub jobs: Jobs,
    /// Applies queued CSV imports in the background (R-USR-5).
    pub importer: Importer,
    /// Base of links in emails (invitation accept links), without a trailing slash.
    pub public_url: String,
    /// Wakes the mail sender when a change has queued an email, so it goes out at once.
    pub mail_wakeup: Arc<Notify>,
    /// Signs offline leases (R-SES-7).
    pub lease_key: Arc<SigningKey>,
    /// The bounded slots every password hash and check runs in.
    pub passwords: Passwords,
}

impl AppState {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        test_clock: Option<Arc<ManualClock>>,
        operator_key_hash: String,
        public_url: String,
        lease_key: SigningKey,
    ) -> anyhow::Result<AppState> {
        let metrics = Metrics::new();
        let jobs = Jobs::new(store.clone(), clock.clone(), metrics.clone());
        let importer = Importer::new(store.clone(), clock.clone(), metrics.clone())?;
        Ok(AppState(Arc::new(Inner {
            store,
            clock,
            test_clock,
            operator_key_hash,
            passwords: Passwords::per_core(&metrics),
            metrics,
            jobs,
            importer,
            public_url,
            mail_wakeup: Arc::new(Notify::new()),
            lease_key: Arc::new(lease_key),
        })))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The email a people change queues, with links to this server's public address.
    pub fn compose_mail(&self, facts: &jeton_store::flex::MailFacts) -> jeton_core::mail::Message {
        crate::emails::compose(&self.public_url, facts)
    }

    /// Call after a change that queued email has committed.
    pub fn mail_queued(&self) {
        self.mail_wakeup.notify_one();
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
