//! What an operator alerts on, read from the database at each scrape of `/metrics`: the figures
//! are the database's, the same from every server sharing it, not one process's counters.

use crate::backend::Store;
use crate::error::StoreResult;

/// The state of the whole installation, now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    /// Product sessions not ended (signed out, swept or stopped).
    pub open_sessions: i64,
    /// Emails waiting in the outbox to be sent (or sent again).
    pub emails_pending: i64,
    /// Emails given up on after their last attempt, until someone retries them.
    pub emails_failed: i64,
    /// Open teams whose available tokens are below their low-balance threshold (R-NOT-1: the
    /// flag the low-balance alert sets when the team falls below and clears when it is above).
    pub teams_low: i64,
}

impl Store {
    pub async fn gauges(&self) -> StoreResult<Gauges> {
        let mut conn = self.read_conn().await?;
        // One statement, so the four figures are of one moment.
        let (open_sessions, emails_pending, emails_failed, teams_low): (i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL), \
                        (SELECT COUNT(*) FROM outbox WHERE status = 'pending'), \
                        (SELECT COUNT(*) FROM outbox WHERE status = 'failed'), \
                        (SELECT COUNT(*) FROM teams WHERE closed_at IS NULL AND low_alerted = 1)",
            )
            .fetch_one(&mut conn)
            .await?;
        Ok(Gauges {
            open_sessions,
            emails_pending,
            emails_failed,
            teams_low,
        })
    }
}

/// How this process's team batches of sign-ins and sign-outs ran since it started
/// (`crate::session_batch`): requests ÷ batches is the mean batch size, which grows with a team's
/// load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchCounts {
    pub batches: u64,
    pub requests: u64,
    /// Requests run again one at a time after their batch failed as a whole.
    pub retried_alone: u64,
}

impl Store {
    pub fn batch_counts(&self) -> BatchCounts {
        self.batches.counts()
    }
}
