use chrono::{DateTime, Utc};
use jeton_core::TeamId;

use crate::Store;
use crate::error::StoreResult;
use crate::ledger::{self, lock_team};
use crate::time::to_db;

/// What one expiry sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpirySweep {
    pub teams: usize,
    pub packs: usize,
    pub tokens: u64,
}

/// Teams handled per round of a sweep; a sweep runs rounds until nothing is due.
const SWEEP_BATCH: i64 = 200;
/// A sweep stops after this many rounds and continues at the next tick, so that one sweep never
/// runs unbounded (TIGER_STYLE: a limit on everything).
const SWEEP_MAX_ROUNDS: usize = 50;

impl Store {
    /// R-PACK-2: writes `expired` events for every pack that expired by `now` with tokens left,
    /// one transaction per team. Safe to run from several server processes at once: each team is
    /// locked, and a pack already expired is not due any more.
    pub async fn expire_due(&self, now: DateTime<Utc>) -> StoreResult<ExpirySweep> {
        let mut sweep = ExpirySweep::default();
        for _ in 0..SWEEP_MAX_ROUNDS {
            let teams: Vec<i64> = sqlx::query_scalar(
                "SELECT DISTINCT team_id FROM packs WHERE remaining > 0 AND expires_at <= $1 \
                 ORDER BY team_id LIMIT $2",
            )
            .bind(to_db(now))
            .bind(SWEEP_BATCH)
            .fetch_all(self.pool())
            .await?;
            if teams.is_empty() {
                break;
            }
            for team in teams {
                let mut w = self.begin_write().await?;
                lock_team(&mut w.tx, TeamId(team)).await?;
                let expired = ledger::expire_team(&mut w.tx, TeamId(team), now).await?;
                w.commit().await?;
                sweep.teams += 1;
                sweep.packs += expired.len();
                sweep.tokens += expired.iter().map(|e| e.tokens.get()).sum::<u64>();
            }
        }
        if sweep.packs > 0 {
            tracing::info!(
                teams = sweep.teams,
                packs = sweep.packs,
                tokens = sweep.tokens,
                "packs expired"
            );
        }
        Ok(sweep)
    }
}
