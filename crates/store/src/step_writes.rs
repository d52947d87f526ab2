//! The rows a batch of session steps writes, gathered in memory while the engine's plans are
//! applied one after the other (`crate::session_batch`), then written with one statement per
//! table: a batch of any size costs about as many round trips under the team's lock as one step.
//! Each statement checks what the plans assumed (a pack holds what is drawn, an aggregate holds
//! what is taken back), so a batch planned on stale data fails whole instead of writing wrong.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jeton_core::ledger::{Actor, EventKind};
use jeton_core::report::{Contribution, Counts};
use jeton_core::session::NewPeriod;
use jeton_core::{PackId, PeriodId, ProductId, SessionId, TeamId, Tokens, UserId};

use crate::conn::Conn;
use crate::error::{StoreError, StoreResult};
use crate::usage::Sums;

/// A period a ledger event or session points at: stored before, or opened by this batch (by its
/// index among the new periods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeriodRef {
    Stored(PeriodId),
    New(usize),
}

#[derive(Debug, Clone)]
struct NewPeriodRow {
    user: UserId,
    product: ProductId,
    period: NewPeriod,
    rate: Tokens,
    charged_at: i64,
}

#[derive(Debug, Clone)]
struct EventRow {
    pack: PackId,
    kind: EventKind,
    amount: i64,
    at: i64,
    actor: Actor,
    period: PeriodRef,
}

#[derive(Debug, Clone)]
pub(crate) struct NewSessionRow {
    pub user: UserId,
    pub product: ProductId,
    pub period: PeriodRef,
    pub version: Option<String>,
    pub machine: Option<String>,
    pub at: i64,
}

/// What a batch writes. Cloned before each member's plan is applied, so that a member refused
/// half-way (its charge cannot be paid) leaves nothing behind.
#[derive(Debug, Clone, Default)]
pub(crate) struct Writes {
    ended: Vec<(SessionId, i64, &'static str)>,
    refunded: Vec<(PeriodId, i64)>,
    periods: Vec<NewPeriodRow>,
    /// Each touched pack's net change.
    packs: BTreeMap<PackId, i64>,
    events: Vec<EventRow>,
    usage: Sums,
    sessions: Vec<NewSessionRow>,
}

/// The id of a period an event or session points at, once the new periods are written.
fn period_id(new: &[PeriodId], period: PeriodRef) -> StoreResult<PeriodId> {
    match period {
        PeriodRef::Stored(id) => Ok(id),
        PeriodRef::New(k) => new
            .get(k)
            .copied()
            .ok_or_else(|| StoreError::corrupt("a new period was not written")),
    }
}

impl Writes {
    pub(crate) fn end_session(&mut self, session: SessionId, at: i64, reason: &'static str) {
        self.ended.push((session, at, reason));
    }

    pub(crate) fn refund_period(&mut self, period: PeriodId, at: i64) {
        self.refunded.push((period, at));
    }

    /// A new period; returns how events and sessions name it.
    pub(crate) fn open_period(
        &mut self,
        user: UserId,
        product: ProductId,
        period: &NewPeriod,
        rate: Tokens,
        charged_at: i64,
    ) -> PeriodRef {
        self.periods.push(NewPeriodRow {
            user,
            product,
            period: period.clone(),
            rate,
            charged_at,
        });
        PeriodRef::New(self.periods.len() - 1)
    }

    /// A ledger event on `pack` for `period`'s charge or refund, and the pack's change with it.
    pub(crate) fn event(
        &mut self,
        pack: PackId,
        kind: EventKind,
        amount: i64,
        at: i64,
        actor: Actor,
        period: PeriodRef,
    ) -> StoreResult<()> {
        kind.check_amount(amount)?;
        *self.packs.entry(pack).or_default() += amount;
        self.events.push(EventRow {
            pack,
            kind,
            amount,
            at,
            actor,
            period,
        });
        Ok(())
    }

    /// A piece of use (`jeton_core::report::contribution`) added to the aggregates.
    pub(crate) fn usage(&mut self, user: UserId, product: ProductId, c: &Contribution) {
        self.usage.add(user, product, c);
    }

    /// A new session; its id is at this index of what [`Writes::flush`] returns.
    pub(crate) fn open_session(&mut self, row: NewSessionRow) -> usize {
        self.sessions.push(row);
        self.sessions.len() - 1
    }

    /// Writes it all on `conn`, in the transaction that holds `team`'s lock; returns the new
    /// sessions' ids, in the order they were added.
    pub(crate) async fn flush(&self, conn: &mut Conn, team: TeamId) -> StoreResult<Vec<SessionId>> {
        self.write_ended(conn).await?;
        self.write_refunded(conn).await?;
        let periods = self.write_periods(conn, team).await?;
        self.write_packs(conn, team).await?;
        self.write_events(conn, team, &periods).await?;
        self.write_usage(conn, team).await?;
        self.write_sessions(conn, team, &periods).await
    }

    async fn write_ended(&self, conn: &mut Conn) -> StoreResult<()> {
        if self.ended.is_empty() {
            return Ok(());
        }
        // Locked in session order first, as the heartbeats written behind lock them
        // (`crate::beats::lock_sessions`): in two orders, two transactions could each wait for
        // the other.
        crate::beats::lock_sessions(conn, self.ended.iter().map(|(session, ..)| *session)).await?;
        let sql = format!(
            "UPDATE sessions SET ended_at = v.column2, end_reason = v.column3 FROM (VALUES {}) AS v \
             WHERE sessions.id = v.column1 AND sessions.ended_at IS NULL",
            values(self.ended.len(), 3)
        );
        let mut q = sqlx::query(&sql);
        for (session, at, reason) in &self.ended {
            q = q.bind(session.0).bind(*at).bind(*reason);
        }
        q.execute(&mut *conn).await?;
        Ok(())
    }

    async fn write_refunded(&self, conn: &mut Conn) -> StoreResult<()> {
        if self.refunded.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE usage_periods SET refunded_at = v.column2 FROM (VALUES {}) AS v \
             WHERE usage_periods.id = v.column1 AND usage_periods.refunded_at IS NULL",
            values(self.refunded.len(), 2)
        );
        let mut q = sqlx::query(&sql);
        for (period, at) in &self.refunded {
            q = q.bind(period.0).bind(*at);
        }
        let done = q.execute(&mut *conn).await?;
        if done.rows_affected() != self.refunded.len() as u64 {
            return Err(StoreError::corrupt("a period was refunded twice"));
        }
        Ok(())
    }

    async fn write_periods(&self, conn: &mut Conn, team: TeamId) -> StoreResult<Vec<PeriodId>> {
        if self.periods.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "INSERT INTO usage_periods (team_id, user_id, product_id, access, opened, started_at, \
             ends_at, rate, tokens, charged_at) VALUES {} RETURNING id, user_id, product_id",
            values(self.periods.len(), 10)
        );
        let mut q = sqlx::query_as::<_, (i64, i64, i64)>(&sql);
        for r in &self.periods {
            q = q
                .bind(team.0)
                .bind(r.user.0)
                .bind(r.product.0)
                .bind(r.period.access.as_str())
                .bind(r.period.opened.as_str())
                .bind(crate::time::to_db(r.period.started_at))
                .bind(crate::time::to_db(r.period.ends_at))
                .bind(r.rate.as_i64())
                .bind(r.period.tokens.as_i64())
                .bind(r.charged_at);
        }
        let rows = q.fetch_all(&mut *conn).await?;
        let expected = self.periods.iter().map(|r| (r.user, r.product));
        in_insert_order(rows, expected, "usage period").map(|ids| ids.map(PeriodId).collect())
    }

    async fn write_packs(&self, conn: &mut Conn, team: TeamId) -> StoreResult<()> {
        for (pack, change) in &self.packs {
            if *change == 0 {
                continue;
            }
            let done = sqlx::query(
                "UPDATE packs SET remaining = remaining + $1 \
                 WHERE id = $2 AND team_id = $3 AND remaining + $1 >= 0",
            )
            .bind(*change)
            .bind(pack.0)
            .bind(team.0)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::corrupt(format!(
                    "pack {pack} of team {team} could not change by {change} tokens"
                )));
            }
        }
        Ok(())
    }

    async fn write_events(
        &self,
        conn: &mut Conn,
        team: TeamId,
        periods: &[PeriodId],
    ) -> StoreResult<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO ledger_events (team_id, pack_id, kind, amount, at, actor, cause_kind, \
             cause_ref) VALUES {}",
            values(self.events.len(), 8)
        );
        let mut q = sqlx::query(&sql);
        for e in &self.events {
            let period = period_id(periods, e.period)?;
            q = q
                .bind(team.0)
                .bind(e.pack.0)
                .bind(e.kind.as_str())
                .bind(e.amount)
                .bind(e.at)
                .bind(e.actor.to_string())
                .bind(jeton_core::ledger::CauseKind::Period.as_str())
                .bind(period.to_string());
        }
        q.execute(&mut *conn).await?;
        Ok(())
    }

    /// The aggregates of R-REP-3. A row whose tokens grow (or stay) is added to or created; one
    /// whose tokens shrink (a refund's take-back, R-SES-4) must exist and hold them. (One upsert
    /// cannot do both: both databases check the row an upsert proposes, negative tokens and all,
    /// before they find the row it would update.)
    async fn write_usage(&self, conn: &mut Conn, team: TeamId) -> StoreResult<()> {
        let by_product = |rows: &BTreeMap<(i64, UserId, ProductId), Counts>| -> Vec<Vec<i64>> {
            rows.iter()
                .map(|((at, user, product), c)| {
                    vec![
                        team.0, *at, user.0, product.0, c.tokens, c.periods, c.results,
                    ]
                })
                .collect()
        };
        let team_days: Vec<Vec<i64>> = self
            .usage
            .team_days
            .iter()
            .map(|(day, c)| vec![team.0, *day, c.tokens, c.periods, c.results])
            .collect();
        let tables: [Aggregate<'_>; 3] = [
            (
                "usage_days",
                &["team_id", "day", "user_id", "product_id"],
                by_product(&self.usage.days),
            ),
            (
                "usage_months",
                &["team_id", "month", "user_id", "product_id"],
                by_product(&self.usage.months),
            ),
            ("usage_team_days", &["team_id", "day"], team_days),
        ];
        for (table, keys, rows) in tables {
            // The tokens are the first count, after the keys.
            let (grow, shrink): (Vec<_>, Vec<_>) =
                rows.into_iter().partition(|r| r[keys.len()] >= 0);
            if !grow.is_empty() {
                run_rows(conn, &add_sql(table, keys, grow.len()), &grow).await?;
            }
            if !shrink.is_empty() {
                let done = run_rows(conn, &take_sql(table, keys, shrink.len()), &shrink).await?;
                if done != shrink.len() as u64 {
                    return Err(StoreError::corrupt(format!(
                        "no {table} row holds the refunded period's tokens"
                    )));
                }
            }
        }
        if !self.usage.user_months.is_empty() {
            let sql = format!(
                "INSERT INTO usage_user_months (team_id, month, user_id, days) VALUES {} \
                 ON CONFLICT (team_id, month, user_id) DO UPDATE SET \
                 days = usage_user_months.days | excluded.days",
                values(self.usage.user_months.len(), 4)
            );
            let rows: Vec<Vec<i64>> = self
                .usage
                .user_months
                .iter()
                .map(|((month, user), days)| vec![team.0, *month, user.0, *days])
                .collect();
            run_rows(conn, &sql, &rows).await?;
        }
        Ok(())
    }

    async fn write_sessions(
        &self,
        conn: &mut Conn,
        team: TeamId,
        periods: &[PeriodId],
    ) -> StoreResult<Vec<SessionId>> {
        if self.sessions.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "INSERT INTO sessions (team_id, user_id, product_id, period_id, version, machine, \
             started_at, last_seen_at, last_active_at) VALUES {} RETURNING id, user_id, product_id",
            values(self.sessions.len(), 9)
        );
        let mut q = sqlx::query_as::<_, (i64, i64, i64)>(&sql);
        for s in &self.sessions {
            let period = period_id(periods, s.period)?;
            q = q
                .bind(team.0)
                .bind(s.user.0)
                .bind(s.product.0)
                .bind(period.0)
                .bind(s.version.clone())
                .bind(s.machine.clone())
                .bind(s.at)
                .bind(s.at)
                .bind(s.at);
        }
        let rows = q.fetch_all(&mut *conn).await?;
        let expected = self.sessions.iter().map(|s| (s.user, s.product));
        in_insert_order(rows, expected, "session").map(|ids| ids.map(SessionId).collect())
    }
}

/// An aggregate table, its key columns and the rows a batch adds to it (keys, then tokens,
/// periods and results).
type Aggregate<'a> = (&'a str, &'a [&'a str], Vec<Vec<i64>>);

/// Runs `sql` with every row's values bound in order; returns the rows it affected.
async fn run_rows(conn: &mut Conn, sql: &str, rows: &[Vec<i64>]) -> StoreResult<u64> {
    let mut q = sqlx::query(sql);
    for value in rows.iter().flatten() {
        q = q.bind(*value);
    }
    Ok(q.execute(&mut *conn).await?.rows_affected())
}

/// Adds rows' counts to an aggregate, creating the rows that are missing.
fn add_sql(table: &str, keys: &[&str], rows: usize) -> String {
    let keys_list = keys.join(", ");
    format!(
        "INSERT INTO {table} ({keys_list}, tokens, periods, results) VALUES {} \
         ON CONFLICT ({keys_list}) DO UPDATE SET tokens = {table}.tokens + excluded.tokens, \
         periods = {table}.periods + excluded.periods, \
         results = {table}.results + excluded.results",
        values(rows, keys.len() + 3)
    )
}

/// Adds rows' counts (tokens less than zero) to existing aggregate rows that hold the tokens.
fn take_sql(table: &str, keys: &[&str], rows: usize) -> String {
    let n = keys.len();
    let mut matches = String::new();
    for (i, key) in keys.iter().enumerate() {
        let _ = write!(matches, "{table}.{key} = v.column{} AND ", i + 1);
    }
    let (t, p, r) = (n + 1, n + 2, n + 3);
    format!(
        "UPDATE {table} SET tokens = {table}.tokens + v.column{t}, \
         periods = {table}.periods + v.column{p}, results = {table}.results + v.column{r} \
         FROM (VALUES {}) AS v WHERE {matches}{table}.tokens + v.column{t} >= 0",
        values(rows, n + 3)
    )
}

/// `($1, $2), ($3, $4)` for `rows` rows of `cols` parameters.
pub(crate) fn values(rows: usize, cols: usize) -> String {
    let mut sql = String::new();
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "${}", r * cols + c + 1);
        }
        sql.push(')');
    }
    sql
}

/// The ids a multi-row insert returned, in the order of its rows. Both databases give the rows
/// of one `INSERT … VALUES` increasing ids in the order written (a sequence's next values on
/// PostgreSQL, the next rowids on SQLite), though `RETURNING` may list them in any order: sorted
/// by id they are in insert order, which the (user, product) of each row confirms.
fn in_insert_order(
    mut rows: Vec<(i64, i64, i64)>,
    expected: impl ExactSizeIterator<Item = (UserId, ProductId)>,
    what: &str,
) -> StoreResult<std::vec::IntoIter<i64>> {
    if rows.len() != expected.len() {
        return Err(StoreError::corrupt(format!(
            "{} of {} new {what} rows written",
            rows.len(),
            expected.len()
        )));
    }
    rows.sort_by_key(|(id, ..)| *id);
    for ((_, user, product), (u, p)) in rows.iter().zip(expected) {
        if (*user, *product) != (u.0, p.0) {
            return Err(StoreError::corrupt(format!(
                "new {what} rows came back out of order"
            )));
        }
    }
    Ok(rows
        .into_iter()
        .map(|(id, ..)| id)
        .collect::<Vec<_>>()
        .into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_number_every_parameter() {
        assert_eq!(values(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values(1, 1), "($1)");
    }

    #[test]
    fn a_take_back_updates_only_rows_that_hold_the_tokens() {
        let sql = take_sql("usage_team_days", &["team_id", "day"], 2);
        assert!(sql.contains("usage_team_days.day = v.column2"), "{sql}");
        assert!(
            sql.ends_with("usage_team_days.tokens + v.column3 >= 0"),
            "{sql}"
        );
    }

    #[test]
    fn usage_rows_are_added_to_or_created() {
        let sql = add_sql("usage_team_days", &["team_id", "day"], 2);
        assert!(
            sql.contains(
                "VALUES ($1, $2, $3, $4, $5), ($6, $7, $8, $9, $10) ON CONFLICT (team_id, day)"
            ),
            "{sql}"
        );
    }

    #[test]
    fn inserted_ids_come_back_in_insert_order() {
        let rows = vec![(12, 1, 7), (11, 2, 7)];
        let expected = [(UserId(2), ProductId(7)), (UserId(1), ProductId(7))];
        let ids: Vec<i64> = in_insert_order(rows, expected.into_iter(), "session")
            .unwrap()
            .collect();
        assert_eq!(ids, [11, 12]);
        let rows = vec![(11, 1, 7), (12, 2, 7)];
        assert!(in_insert_order(rows, expected.into_iter(), "session").is_err());
    }

    #[test]
    fn a_refund_and_a_charge_on_one_pack_net_out() {
        let mut w = Writes::default();
        let p = PeriodRef::Stored(PeriodId(1));
        w.event(PackId(3), EventKind::Charged, -5, 0, Actor::System, p)
            .unwrap();
        w.event(PackId(3), EventKind::Refunded, 5, 0, Actor::System, p)
            .unwrap();
        assert_eq!(w.packs.get(&PackId(3)), Some(&0));
        assert!(
            w.event(PackId(3), EventKind::Charged, 5, 0, Actor::System, p)
                .is_err()
        );
    }
}
