use chrono::{DateTime, Utc};
use jeton_core::ledger::{Actor, Cause, EventKind};
use jeton_core::limits::MAX_EVENTS_PER_PAGE;
use jeton_core::{EventId, PackId, TeamId};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::time::{from_db, to_db};

/// One immutable ledger event (R-PACK-5). `amount` is signed: credits positive, debits negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEvent {
    pub id: EventId,
    pub team: TeamId,
    pub pack: PackId,
    pub kind: EventKind,
    pub amount: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub cause: Cause,
}

/// A team's total of events (id 0), or a pack's remaining tokens and total of events.
#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    remaining: i64,
    events: i64,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    #[sqlx(try_from = "i64")]
    id: EventId,
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
    #[sqlx(try_from = "i64")]
    pack_id: PackId,
    kind: String,
    amount: i64,
    at: i64,
    actor: String,
    cause_kind: String,
    cause_ref: Option<String>,
}

impl EventRow {
    fn event(self) -> StoreResult<LedgerEvent> {
        let kind: EventKind = self.kind.parse()?;
        kind.check_amount(self.amount)?;
        Ok(LedgerEvent {
            id: self.id,
            team: self.team_id,
            pack: self.pack_id,
            kind,
            amount: self.amount,
            at: from_db(self.at)?,
            actor: self.actor.parse()?,
            cause: Cause {
                kind: self.cause_kind.parse()?,
                reference: self.cause_ref,
            },
        })
    }
}

/// Which events [`Store::recent_events`] shows.
#[derive(Debug, Clone)]
pub struct EventFilter {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub kind: Option<EventKind>,
    pub before: Option<(DateTime<Utc>, i64)>,
    pub limit: usize,
}

/// The result of reconciling a team's ledger with its packs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub team: TeamId,
    /// Sum of the team's own events.
    pub events_sum: i64,
    /// Sum of `remaining` over all the team's packs (expired ones hold 0 once their event is written).
    pub remaining_sum: i64,
    /// Packs whose `remaining` differs from the sum of their events: (pack, remaining, events).
    pub mismatched_packs: Vec<(PackId, i64, i64)>,
}

impl Audit {
    pub fn is_clean(&self) -> bool {
        self.events_sum == self.remaining_sum && self.mismatched_packs.is_empty()
    }
}

impl Store {
    /// R-REP-2: a team's ledger events with `from <= at < to`, oldest first, including the events
    /// of teams merged into it (R-PACK-7). At most `limit` (capped) events.
    pub async fn events(
        &self,
        team: TeamId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<LedgerEvent>> {
        let limit = limit.min(MAX_EVENTS_PER_PAGE);
        let lineage = self.team_lineage(team).await?;
        for t in &lineage {
            self.expire_team_if_due(*t, now).await?;
        }
        let mut events = Vec::new();
        for t in lineage {
            let rows = sqlx::query_as::<_, EventRow>(
                "SELECT id, team_id, pack_id, kind, amount, at, actor, cause_kind, cause_ref \
                 FROM ledger_events WHERE team_id = $1 AND at >= $2 AND at < $3 \
                 ORDER BY at, id LIMIT $4",
            )
            .bind(t.0)
            .bind(to_db(from))
            .bind(to_db(to))
            .bind(limit as i64)
            .fetch_all(self.pool())
            .await?;
            for r in rows {
                events.push(r.event()?);
            }
        }
        events.sort_by_key(|e| (e.at, e.id));
        events.truncate(limit);
        Ok(events)
    }

    /// The console's view of a team's ledger (R-REP-2): events with `from <= at < to`, newest
    /// first, optionally of one kind, older than `before` (the `(at, id)` of the last event of
    /// the previous page), at most `limit`. Includes teams merged into it, like [`Store::events`].
    pub async fn recent_events(
        &self,
        team: TeamId,
        filter: &EventFilter,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<LedgerEvent>> {
        let limit = filter.limit.min(MAX_EVENTS_PER_PAGE);
        let lineage = self.team_lineage(team).await?;
        for t in &lineage {
            self.expire_team_if_due(*t, now).await?;
        }
        let (before_at, before_id) = filter
            .before
            .map_or((to_db(filter.to), i64::MAX), |(at, id)| (to_db(at), id));
        let mut events = Vec::new();
        for t in lineage {
            let rows = sqlx::query_as::<_, EventRow>(
                "SELECT id, team_id, pack_id, kind, amount, at, actor, cause_kind, cause_ref \
                 FROM ledger_events WHERE team_id = $1 AND at >= $2 AND at < $3 \
                 AND (at < $4 OR (at = $4 AND id < $5)) AND ($6 = '' OR kind = $6) \
                 ORDER BY at DESC, id DESC LIMIT $7",
            )
            .bind(t.0)
            .bind(to_db(filter.from))
            .bind(to_db(filter.to))
            .bind(before_at)
            .bind(before_id)
            .bind(filter.kind.map_or("", |k| k.as_str()))
            .bind(limit as i64)
            .fetch_all(self.pool())
            .await?;
            for r in rows {
                events.push(r.event()?);
            }
        }
        events.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
        events.truncate(limit);
        Ok(events)
    }

    /// Reconciles a team: the sum of its events must equal the sum of its packs' remaining
    /// tokens, and every pack's remaining must equal the sum of that pack's events.
    pub async fn audit_team(&self, team: TeamId) -> StoreResult<Audit> {
        self.team(team).await?;
        // One statement, so one snapshot on both backends: the team's total (the row with pack
        // id 0; real ids start at 1) and every pack are read as of the same instant, even while
        // charges commit. Two statements could straddle a charge and report a false mismatch.
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT 0 AS id, 0 AS remaining, \
                    CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS events \
             FROM ledger_events WHERE team_id = $1 \
             UNION ALL \
             SELECT p.id, p.remaining, \
                    CAST(COALESCE((SELECT SUM(e.amount) FROM ledger_events e WHERE e.pack_id = p.id), 0) AS BIGINT) AS events \
             FROM packs p WHERE p.team_id = $1",
        )
        .bind(team.0)
        .fetch_all(self.pool())
        .await?;
        let mut events_sum = 0i64;
        let mut remaining_sum = 0i64;
        let mut mismatched_packs = Vec::new();
        for AuditRow {
            id,
            remaining,
            events,
        } in rows
        {
            if id == 0 {
                events_sum = events;
                continue;
            }
            remaining_sum = remaining_sum
                .checked_add(remaining)
                .ok_or_else(|| StoreError::corrupt("remaining sum overflows"))?;
            if remaining != events {
                mismatched_packs.push((PackId(id), remaining, events));
            }
        }
        Ok(Audit {
            team,
            events_sum,
            remaining_sum,
            mismatched_packs,
        })
    }
}
