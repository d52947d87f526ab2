use chrono::{DateTime, Utc};
use jeton_core::ledger::{Actor, Cause, CauseKind, EventKind};
use jeton_core::pack::{BalanceSummary, consumption_order, expiry_for, summarize};
use jeton_core::{IdempotencyKey, PackId, TeamId, Tokens};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::idempotency;
use crate::ledger::{
    self, NewEvent, PACK_COLUMNS, PackRow, check_pack_room, lock_team, require_open,
};
use crate::time::to_db;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pack {
    pub id: PackId,
    pub team_id: TeamId,
    pub tokens: Tokens,
    pub remaining: Tokens,
    pub purchased_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl PackRow {
    pub(crate) fn pack(&self) -> StoreResult<Pack> {
        let s = self.state()?;
        Ok(Pack {
            id: s.id,
            team_id: self.team_id,
            tokens: s.tokens,
            remaining: s.remaining,
            purchased_at: s.purchased_at,
            expires_at: s.expires_at,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub pack: Pack,
    /// True when this answers a retried request: the pack was created the first time.
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub team: TeamId,
    pub summary: BalanceSummary,
    /// The team's low-balance threshold the summary was judged by (R-REP-1).
    pub low_percent: u8,
    /// Active packs in consumption order: the first is the next to pay.
    pub packs: Vec<Pack>,
}

const PURCHASE_SCOPE: &str = "purchase";

impl Store {
    /// R-PACK-1: a purchase creates a pack valid one calendar year. With an idempotency key, a
    /// retry of the same purchase returns the first pack and credits nothing.
    pub async fn purchase(
        &self,
        team: TeamId,
        tokens: Tokens,
        actor: Actor,
        now: DateTime<Utc>,
        key: Option<&IdempotencyKey>,
    ) -> StoreResult<Purchase> {
        let fingerprint = format!("purchase of {tokens} tokens");
        let mut w = self.begin_write().await?;
        let team_row = lock_team(&mut w.tx, team).await?;
        if let Some(key) = key
            && let Some(first) = idempotency::recall(&mut w.tx, team, PURCHASE_SCOPE, key).await?
        {
            let response = idempotency::replay(first, &fingerprint, key)?;
            let pack: Pack = serde_json::from_str(&response)
                .map_err(|e| StoreError::corrupt(format!("stored purchase answer: {e}")))?;
            return Ok(Purchase {
                pack,
                replayed: true,
            });
        }
        require_open(&team_row)?;
        ledger::expire_team(&mut w.tx, team, now).await?;
        let live = ledger::usable_packs(&mut w.tx, team, now).await?.len();
        check_pack_room(live, 1)?;

        let expires_at = expiry_for(now);
        let sql = format!(
            "INSERT INTO packs (team_id, origin, tokens, remaining, purchased_at, expires_at) \
             VALUES ($1, 'purchase', $2, $2, $3, $4) RETURNING {PACK_COLUMNS}"
        );
        let row = sqlx::query_as::<_, PackRow>(&sql)
            .bind(team.0)
            .bind(tokens.as_i64())
            .bind(to_db(now))
            .bind(to_db(expires_at))
            .fetch_one(&mut w.tx)
            .await?;
        let pack = row.pack()?;
        ledger::insert_event(
            &mut w.tx,
            NewEvent {
                team,
                pack: pack.id,
                kind: EventKind::Purchased,
                amount: EventKind::Purchased.signed(tokens, true),
                at: now,
                actor,
                cause: &Cause::new(CauseKind::Purchase, pack.id),
            },
        )
        .await?;
        crate::alerts::check_low_balance(&mut w.tx, team, now).await?;
        if let Some(key) = key {
            let response = serde_json::to_string(&pack)
                .map_err(|e| StoreError::corrupt(format!("purchase answer: {e}")))?;
            idempotency::remember(
                &mut w.tx,
                team,
                PURCHASE_SCOPE,
                key,
                &fingerprint,
                &response,
                now,
            )
            .await?;
        }
        w.commit().await?;
        Ok(Purchase {
            pack,
            replayed: false,
        })
    }

    /// R-REP-1 / R-PACK-2: the team's balance over its active packs. Packs that expired since
    /// the last sweep get their `expired` events first, so the ledger agrees with what is shown.
    pub async fn balance(&self, team: TeamId, now: DateTime<Utc>) -> StoreResult<Balance> {
        self.expire_team_if_due(team, now).await?;
        let rows = ledger::active_pack_rows(&mut self.read_conn().await?, team, now).await?;
        let states = ledger::states(&rows)?;
        let percent = self.team_settings(team).await?.low_percent;
        let summary = summarize(&states, now, percent)?;
        let mut packs: Vec<(jeton_core::PackState, Pack)> = states
            .into_iter()
            .zip(rows.iter())
            .map(|(s, r)| Ok((s, r.pack()?)))
            .collect::<StoreResult<_>>()?;
        packs.sort_by(|a, b| consumption_order(&a.0, &b.0));
        Ok(Balance {
            team,
            summary,
            low_percent: percent.get(),
            packs: packs.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// Writes pending `expired` events for one team, if it has any; otherwise only checks that
    /// the team exists. Cheap when nothing is due (one indexed read).
    pub(crate) async fn expire_team_if_due(
        &self,
        team: TeamId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.team(team).await?;
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM packs WHERE team_id = $1 AND remaining > 0 AND expires_at <= $2 LIMIT 1",
        )
        .bind(team.0)
        .bind(to_db(now))
        .fetch_optional(self.pool())
        .await?;
        if due.is_some() {
            let mut w = self.begin_write().await?;
            lock_team(&mut w.tx, team).await?;
            ledger::expire_team(&mut w.tx, team, now).await?;
            w.commit().await?;
        }
        Ok(())
    }
}

impl Store {
    /// The team's active packs (not expired at `now`), as the rules see them.
    pub async fn active_packs(
        &self,
        team: TeamId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<jeton_core::PackState>> {
        self.expire_team_if_due(team, now).await?;
        let rows = ledger::active_pack_rows(&mut self.read_conn().await?, team, now).await?;
        ledger::states(&rows)
    }
}
