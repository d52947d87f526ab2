//! The rows a batch of session steps writes, gathered in memory while the engine's plans are
//! applied one after the other (`crate::session_batch`), then written with one statement per
//! table for all of the batch's teams, sent together (`crate::together`): a batch of any size
//! costs as many round trips under the teams' locks as one step, two on PostgreSQL where a batch
//! opens periods and one otherwise.
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
use crate::together::{Arg, Expect, Ids, Together};
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
}

/// Writes every team's rows on `conn`, in the transaction that holds those teams' locks; returns
/// each team's new sessions' ids, in the order they were added. A batch of several teams writes
/// one statement per table for all of them, as a batch of one team does. The statements go
/// together (`crate::together`): those that name a new period after the periods are written, the
/// rest before, with them.
pub(crate) async fn flush(
    conn: &mut Conn,
    teams: &[(TeamId, &Writes)],
) -> StoreResult<Vec<Vec<SessionId>>> {
    // Locked in session order first, as the heartbeats written behind lock them
    // (`crate::beats::lock_sessions`): in two orders, two transactions could each wait for the
    // other.
    let ended = teams.iter().flat_map(|(_, w)| w.ended.iter());
    crate::beats::lock_sessions(conn, ended.map(|(session, ..)| *session)).await?;
    let mut statements = Together::default();
    end_sessions(&mut statements, teams);
    refund_periods(&mut statements, teams);
    let opened = open_periods(&mut statements, teams);
    change_packs(&mut statements, teams);
    add_usage(&mut statements, teams);
    // Each team's new periods' ids, in the order that team added them.
    let periods: Vec<Vec<PeriodId>> = match opened {
        Some(k) => {
            let mut done = std::mem::take(&mut statements).run(conn).await?;
            let rows = std::mem::take(&mut done[k]);
            let expected = teams
                .iter()
                .map(|(_, w)| w.periods.iter().map(|r| (r.user, r.product)).collect());
            ids_by_team(rows, expected.collect(), "usage period")?
                .into_iter()
                .map(|ids| ids.into_iter().map(PeriodId).collect())
                .collect()
        }
        None => vec![Vec::new(); teams.len()],
    };
    add_events(&mut statements, teams, &periods)?;
    let opened = open_sessions(&mut statements, teams, &periods)?;
    let mut done = statements.run(conn).await?;
    match opened {
        Some(k) => {
            let rows = std::mem::take(&mut done[k]);
            let expected = teams
                .iter()
                .map(|(_, w)| w.sessions.iter().map(|s| (s.user, s.product)).collect());
            Ok(ids_by_team(rows, expected.collect(), "session")?
                .into_iter()
                .map(|ids| ids.into_iter().map(SessionId).collect())
                .collect())
        }
        None => Ok(vec![Vec::new(); teams.len()]),
    }
}

/// Each team's ids of one insert of several teams' rows ([`in_insert_order`]), in the order
/// that team added its rows; `expected` names each team's rows by (user, product).
fn ids_by_team(
    rows: Ids,
    expected: Vec<Vec<(UserId, ProductId)>>,
    what: &str,
) -> StoreResult<Vec<Vec<i64>>> {
    let sizes: Vec<usize> = expected.iter().map(Vec::len).collect();
    let all: Vec<_> = expected.into_iter().flatten().collect();
    let mut ids = in_insert_order(rows, all.into_iter(), what)?;
    Ok(sizes
        .into_iter()
        .map(|n| ids.by_ref().take(n).collect())
        .collect())
}

fn end_sessions(statements: &mut Together, teams: &[(TeamId, &Writes)]) {
    let ended: Vec<_> = teams.iter().flat_map(|(_, w)| &w.ended).collect();
    if ended.is_empty() {
        return;
    }
    let sql = format!(
        "UPDATE sessions SET ended_at = v.column2, end_reason = v.column3 FROM (VALUES {}) AS v \
         WHERE sessions.id = v.column1 AND sessions.ended_at IS NULL",
        values(ended.len(), 3)
    );
    let mut args = Vec::with_capacity(ended.len() * 3);
    for (session, at, reason) in ended {
        args.extend([session.0.into(), (*at).into(), (*reason).into()]);
    }
    statements.push(sql, args, Expect::Any);
}

fn refund_periods(statements: &mut Together, teams: &[(TeamId, &Writes)]) {
    let refunded: Vec<_> = teams.iter().flat_map(|(_, w)| &w.refunded).collect();
    if refunded.is_empty() {
        return;
    }
    let sql = format!(
        "UPDATE usage_periods SET refunded_at = v.column2 FROM (VALUES {}) AS v \
         WHERE usage_periods.id = v.column1 AND usage_periods.refunded_at IS NULL",
        values(refunded.len(), 2)
    );
    let mut args = Vec::with_capacity(refunded.len() * 2);
    for (period, at) in &refunded {
        args.extend([period.0.into(), (*at).into()]);
    }
    let complaint = "a period was refunded twice".to_owned();
    statements.push(sql, args, Expect::Rows(refunded.len() as u64, complaint));
}

/// The new periods' insert, if any: its index among the statements.
fn open_periods(statements: &mut Together, teams: &[(TeamId, &Writes)]) -> Option<usize> {
    let count: usize = teams.iter().map(|(_, w)| w.periods.len()).sum();
    if count == 0 {
        return None;
    }
    let sql = format!(
        "INSERT INTO usage_periods (team_id, user_id, product_id, access, opened, started_at, \
         ends_at, rate, tokens, charged_at) VALUES {}",
        values(count, 10)
    );
    let mut args = Vec::with_capacity(count * 10);
    for (team, w) in teams {
        for r in &w.periods {
            args.extend([
                team.0.into(),
                r.user.0.into(),
                r.product.0.into(),
                r.period.access.as_str().into(),
                r.period.opened.as_str().into(),
                crate::time::to_db(r.period.started_at).into(),
                crate::time::to_db(r.period.ends_at).into(),
                r.rate.as_i64().into(),
                r.period.tokens.as_i64().into(),
                r.charged_at.into(),
            ]);
        }
    }
    Some(statements.push(sql, args, Expect::Ids))
}

fn change_packs(statements: &mut Together, teams: &[(TeamId, &Writes)]) {
    for (team, w) in teams {
        for (pack, change) in &w.packs {
            if *change == 0 {
                continue;
            }
            statements.push(
                "UPDATE packs SET remaining = remaining + $1 \
                 WHERE id = $2 AND team_id = $3 AND remaining + $1 >= 0"
                    .to_owned(),
                vec![(*change).into(), pack.0.into(), team.0.into()],
                Expect::Rows(
                    1,
                    format!("pack {pack} of team {team} could not change by {change} tokens"),
                ),
            );
        }
    }
}

fn add_events(
    statements: &mut Together,
    teams: &[(TeamId, &Writes)],
    periods: &[Vec<PeriodId>],
) -> StoreResult<()> {
    let count: usize = teams.iter().map(|(_, w)| w.events.len()).sum();
    if count == 0 {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO ledger_events (team_id, pack_id, kind, amount, at, actor, cause_kind, \
         cause_ref) VALUES {}",
        values(count, 8)
    );
    let mut args = Vec::with_capacity(count * 8);
    for ((team, w), periods) in teams.iter().zip(periods) {
        for e in &w.events {
            let period = period_id(periods, e.period)?;
            args.extend([
                team.0.into(),
                e.pack.0.into(),
                e.kind.as_str().into(),
                e.amount.into(),
                e.at.into(),
                e.actor.to_string().into(),
                jeton_core::ledger::CauseKind::Period.as_str().into(),
                period.to_string().into(),
            ]);
        }
    }
    statements.push(sql, args, Expect::Any);
    Ok(())
}

/// The aggregates of R-REP-3. A row whose tokens grow (or stay) is added to or created; one
/// whose tokens shrink (a refund's take-back, R-SES-4) must exist and hold them. (One upsert
/// cannot do both: both databases check the row an upsert proposes, negative tokens and all,
/// before they find the row it would update.) A batch's pieces of use are summed per row first
/// (each team's rows are its own), so no row is both grown and shrunk, as statements sent
/// together require.
fn add_usage(statements: &mut Together, teams: &[(TeamId, &Writes)]) {
    let by_product = |rows: &BTreeMap<(i64, UserId, ProductId), Counts>, team: TeamId| {
        rows.iter()
            .map(|((at, user, product), c)| {
                vec![
                    team.0, *at, user.0, product.0, c.tokens, c.periods, c.results,
                ]
            })
            .collect::<Vec<Vec<i64>>>()
    };
    let (mut days, mut months, mut team_days, mut user_months) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (team, w) in teams {
        days.extend(by_product(&w.usage.days, *team));
        months.extend(by_product(&w.usage.months, *team));
        team_days.extend(
            w.usage
                .team_days
                .iter()
                .map(|(day, c)| vec![team.0, *day, c.tokens, c.periods, c.results]),
        );
        user_months.extend(
            w.usage
                .user_months
                .iter()
                .map(|((month, user), days)| vec![team.0, *month, user.0, *days]),
        );
    }
    let tables: [Aggregate<'_>; 3] = [
        (
            "usage_days",
            &["team_id", "day", "user_id", "product_id"],
            days,
        ),
        (
            "usage_months",
            &["team_id", "month", "user_id", "product_id"],
            months,
        ),
        ("usage_team_days", &["team_id", "day"], team_days),
    ];
    for (table, keys, rows) in tables {
        // The tokens are the first count, after the keys.
        let (grow, shrink): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r[keys.len()] >= 0);
        if !grow.is_empty() {
            let sql = add_sql(table, keys, grow.len());
            statements.push(sql, flat(&grow), Expect::Any);
        }
        if !shrink.is_empty() {
            let sql = take_sql(table, keys, shrink.len());
            let complaint = format!("no {table} row holds the refunded period's tokens");
            let expect = Expect::Rows(shrink.len() as u64, complaint);
            statements.push(sql, flat(&shrink), expect);
        }
    }
    if !user_months.is_empty() {
        let sql = format!(
            "INSERT INTO usage_user_months (team_id, month, user_id, days) VALUES {} \
             ON CONFLICT (team_id, month, user_id) DO UPDATE SET \
             days = usage_user_months.days | excluded.days",
            values(user_months.len(), 4)
        );
        statements.push(sql, flat(&user_months), Expect::Any);
    }
}

/// The new sessions' insert, if any: its index among the statements.
fn open_sessions(
    statements: &mut Together,
    teams: &[(TeamId, &Writes)],
    periods: &[Vec<PeriodId>],
) -> StoreResult<Option<usize>> {
    let count: usize = teams.iter().map(|(_, w)| w.sessions.len()).sum();
    if count == 0 {
        return Ok(None);
    }
    let sql = format!(
        "INSERT INTO sessions (team_id, user_id, product_id, period_id, version, machine, \
         started_at, last_seen_at, last_active_at) VALUES {}",
        values(count, 9)
    );
    let mut args = Vec::with_capacity(count * 9);
    for ((team, w), periods) in teams.iter().zip(periods) {
        for s in &w.sessions {
            let period = period_id(periods, s.period)?;
            args.extend([
                team.0.into(),
                s.user.0.into(),
                s.product.0.into(),
                period.0.into(),
                s.version.clone().into(),
                s.machine.clone().into(),
                s.at.into(),
                s.at.into(),
                s.at.into(),
            ]);
        }
    }
    Ok(Some(statements.push(sql, args, Expect::Ids)))
}

/// An aggregate table, its key columns and the rows a batch adds to it (keys, then tokens,
/// periods and results).
type Aggregate<'a> = (&'a str, &'a [&'a str], Vec<Vec<i64>>);

/// Every row's values, in order.
fn flat(rows: &[Vec<i64>]) -> Vec<Arg> {
    rows.iter().flatten().map(|v| Arg::Int(*v)).collect()
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
    mut rows: Ids,
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
