use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jeton_core::{Clock, ManualClock};
use jeton_store::Store;

use crate::jobs::Jobs;
use crate::metrics::Metrics;

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
}

impl AppState {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        test_clock: Option<Arc<ManualClock>>,
        operator_key_hash: String,
    ) -> AppState {
        let metrics = Metrics::new();
        let jobs = Jobs::new(store.clone(), clock.clone(), metrics.clone());
        AppState(Arc::new(Inner {
            store,
            clock,
            test_clock,
            operator_key_hash,
            metrics,
            jobs,
        }))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
