//! The building blocks of every balance-changing transaction: lock the team, expire what is due,
//! read the packs, apply draws, append events. Decisions come from `jeton_core::pack`; this module
//! only reads and writes what they say.

use crate::conn::Conn;
use chrono::{DateTime, Utc};
use jeton_core::ledger::{Actor, Cause, CauseKind, EventKind};
use jeton_core::limits::MAX_LIVE_PACKS_PER_TEAM;
use jeton_core::pack::{Draw, Expiry, due_expiries};
use jeton_core::{DomainError, PackId, TeamId, Tokens};

use crate::alerts::{Threshold, settle_low_balance};
use crate::error::{StoreError, StoreResult};
pub(crate) use crate::pack_rows::{PACK_COLUMNS, PackRow, active_pack_rows, states};
use crate::team_rows::{TEAM_COLUMNS, TeamRow};
use crate::time::to_db;

/// Locks a team's row for the rest of the transaction and returns it. Every transaction that
/// changes a balance starts here: on PostgreSQL the row lock makes concurrent changes to one team
/// (from any number of server processes) run one after the other; on SQLite the transaction
/// already holds the database's write lock (`BEGIN IMMEDIATE`, taken before any read, so no
/// snapshot can go stale), and reading the row is all that is left to do.
///
/// The lock writes no row: `FOR NO KEY UPDATE` only marks the row as locked, where an `UPDATE`
/// (how this began) made a new version of the team's row at every batch, all of it written to
/// PostgreSQL's WAL and left behind for vacuum. It is the lock an `UPDATE` of a non-key column
/// takes, so it conflicts with the same others: another change to the team waits, and inserts
/// naming the team (whose foreign-key checks take `KEY SHARE`) do not.
pub(crate) async fn lock_team(conn: &mut Conn, team: TeamId) -> StoreResult<TeamRow> {
    let sql = if conn.waits_for_row_locks() {
        format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1 FOR NO KEY UPDATE")
    } else {
        format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1")
    };
    sqlx::query_as::<_, TeamRow>(&sql)
        .bind(team.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("team", team))
}

/// Locks two teams in a fixed order (lower id first), so that two transfers between the same
/// teams in opposite directions cannot deadlock.
pub(crate) async fn lock_two_teams(
    conn: &mut Conn,
    a: TeamId,
    b: TeamId,
) -> StoreResult<(TeamRow, TeamRow)> {
    if a == b {
        return Err(DomainError::SameTeam.into());
    }
    if a < b {
        let ra = lock_team(conn, a).await?;
        let rb = lock_team(conn, b).await?;
        Ok((ra, rb))
    } else {
        let rb = lock_team(conn, b).await?;
        let ra = lock_team(conn, a).await?;
        Ok((ra, rb))
    }
}

/// Starts a balance change on one team: lock it, check it is open, write what expired by `now`.
pub(crate) async fn open_team(
    conn: &mut Conn,
    team: TeamId,
    now: DateTime<Utc>,
) -> StoreResult<TeamRow> {
    let row = lock_team(conn, team).await?;
    require_open(&row)?;
    expire_team(conn, team, now).await?;
    Ok(row)
}

/// [`open_team`] for the two teams of a move or merge, locked in id order.
pub(crate) async fn open_two_teams(
    conn: &mut Conn,
    a: TeamId,
    b: TeamId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let (ra, rb) = lock_two_teams(conn, a, b).await?;
    require_open(&ra)?;
    require_open(&rb)?;
    expire_team(conn, a, now).await?;
    expire_team(conn, b, now).await?;
    Ok(())
}

pub(crate) fn require_open(team: &TeamRow) -> StoreResult<()> {
    if team.closed_at.is_some() {
        return Err(DomainError::TeamClosed { team: team.id }.into());
    }
    Ok(())
}

/// Packs that can pay at `now`. Bounded: a team may not hold more than
/// `MAX_LIVE_PACKS_PER_TEAM` live packs, so one charge does bounded work.
pub(crate) async fn usable_packs(
    conn: &mut Conn,
    team: TeamId,
    now: DateTime<Utc>,
) -> StoreResult<Vec<PackRow>> {
    let sql = format!(
        "SELECT {PACK_COLUMNS} FROM packs \
         WHERE team_id = $1 AND remaining > 0 AND expires_at > $2 ORDER BY id LIMIT $3"
    );
    let rows = sqlx::query_as::<_, PackRow>(&sql)
        .bind(team.0)
        .bind(to_db(now))
        .bind(MAX_LIVE_PACKS_PER_TEAM as i64 + 1)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows)
}

/// Refuses a change that would leave a team with more live packs than the limit.
pub(crate) fn check_pack_room(live: usize, adding: usize) -> StoreResult<()> {
    if live + adding > MAX_LIVE_PACKS_PER_TEAM {
        return Err(DomainError::TooManyPacks {
            limit: MAX_LIVE_PACKS_PER_TEAM,
        }
        .into());
    }
    Ok(())
}

pub(crate) struct NewEvent<'a> {
    pub team: TeamId,
    pub pack: PackId,
    pub kind: EventKind,
    pub amount: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub cause: &'a Cause,
}

pub(crate) async fn insert_event(conn: &mut Conn, e: NewEvent<'_>) -> StoreResult<()> {
    e.kind.check_amount(e.amount)?;
    sqlx::query(
        "INSERT INTO ledger_events (team_id, pack_id, kind, amount, at, actor, cause_kind, cause_ref) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.team.0)
    .bind(e.pack.0)
    .bind(e.kind.as_str())
    .bind(e.amount)
    .bind(to_db(e.at))
    .bind(e.actor.to_string())
    .bind(e.cause.kind.as_str())
    .bind(e.cause.reference.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes a draw out of a pack. The condition repeats what the plan assumed (the pack is live and
/// holds enough), so a plan made on stale data changes nothing instead of overdrawing.
pub(crate) async fn debit_pack(
    conn: &mut Conn,
    team: TeamId,
    draw: Draw,
    now: DateTime<Utc>,
    moved_out: bool,
) -> StoreResult<()> {
    let sql = if moved_out {
        "UPDATE packs SET remaining = remaining - $1, moved_out = moved_out + $1 \
         WHERE id = $2 AND team_id = $3 AND remaining >= $1 AND expires_at > $4"
    } else {
        "UPDATE packs SET remaining = remaining - $1 \
         WHERE id = $2 AND team_id = $3 AND remaining >= $1 AND expires_at > $4"
    };
    let done = sqlx::query(sql)
        .bind(draw.tokens.as_i64())
        .bind(draw.pack.0)
        .bind(team.0)
        .bind(to_db(now))
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::corrupt(format!(
            "pack {} of team {team} could not give {} tokens",
            draw.pack, draw.tokens
        )));
    }
    Ok(())
}

/// Writes the `expired` events of every pack of `team` that expired by `now` with tokens left
/// (R-PACK-2). Runs inside every balance-changing transaction and in the background sweep, so
/// that the sum of a team's events equals its balance whenever anyone looks.
pub(crate) async fn expire_team(
    conn: &mut Conn,
    team: TeamId,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Expiry>> {
    let sql = format!(
        "SELECT {PACK_COLUMNS} FROM packs WHERE team_id = $1 AND remaining > 0 AND expires_at <= $2"
    );
    let rows = sqlx::query_as::<_, PackRow>(&sql)
        .bind(team.0)
        .bind(to_db(now))
        .fetch_all(&mut *conn)
        .await?;
    let due = write_expiries(conn, team, &rows, now).await?;
    if !due.is_empty() {
        crate::alerts::check_low_balance(conn, team, now).await?;
    }
    Ok(due)
}

/// Writes the expiries due among `rows` (packs of `team`) at `now`; returns them.
async fn write_expiries(
    conn: &mut Conn,
    team: TeamId,
    rows: &[PackRow],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Expiry>> {
    let due = due_expiries(&states(rows)?, now);
    let cause = Cause::bare(CauseKind::Expiry);
    for e in &due {
        let done = sqlx::query(
            "UPDATE packs SET remaining = 0, expired_at = $1 \
             WHERE id = $2 AND team_id = $3 AND remaining = $4 AND expires_at <= $1",
        )
        .bind(to_db(now))
        .bind(e.pack.0)
        .bind(team.0)
        .bind(e.tokens.as_i64())
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::corrupt(format!(
                "pack {} changed while its team was locked",
                e.pack
            )));
        }
        insert_event(
            conn,
            NewEvent {
                team,
                pack: e.pack,
                kind: EventKind::Expired,
                amount: EventKind::Expired.signed(e.tokens, false),
                at: e.at,
                actor: Actor::System,
                cause: &cause,
            },
        )
        .await?;
    }
    Ok(due)
}

/// Applies a charge planned by `jeton_core::pack::plan_draw` and writes one `charged` event per
/// pack it touches. Called inside a transaction that holds the team's lock.
pub(crate) async fn apply_charge(
    conn: &mut Conn,
    team: TeamId,
    amount: Tokens,
    cause: &Cause,
    actor: Actor,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Draw>> {
    let rows = usable_packs(conn, team, now).await?;
    let draws = write_draws(conn, team, &rows, amount, cause, actor, now).await?;
    crate::alerts::check_low_balance(conn, team, now).await?;
    Ok(draws)
}

/// Plans a charge of `amount` on `rows` (usable packs of `team`, oldest first) and writes it.
async fn write_draws(
    conn: &mut Conn,
    team: TeamId,
    rows: &[PackRow],
    amount: Tokens,
    cause: &Cause,
    actor: Actor,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Draw>> {
    let draws = jeton_core::pack::plan_draw(&states(rows)?, amount, now)?;
    for d in &draws {
        debit_pack(conn, team, *d, now, false).await?;
        insert_event(
            conn,
            NewEvent {
                team,
                pack: d.pack,
                kind: EventKind::Charged,
                amount: EventKind::Charged.signed(d.tokens, false),
                at: now,
                actor,
                cause,
            },
        )
        .await?;
    }
    Ok(draws)
}

/// A locked team's packs and low-balance threshold, read once at the start of a session step and
/// kept as the step changes them, so that its expiries, charge, refund and low-balance check
/// read nothing again. Holds every pack that is active or still has tokens at `now`.
#[derive(Clone)]
pub(crate) struct TeamPacks {
    team: TeamId,
    rows: Vec<PackRow>,
    threshold: Threshold,
}

impl TeamPacks {
    /// The packs of a locked team, read with the rest of a session step's state
    /// (`sessions::STATE`): every pack that is active or still holds tokens, by id.
    pub(crate) fn new(team: &TeamRow, rows: Vec<PackRow>) -> TeamPacks {
        TeamPacks {
            team: team.id,
            rows,
            threshold: Threshold {
                name: team.name.clone(),
                low_percent: team.low_percent,
                low_alerted: team.low_alerted,
            },
        }
    }

    pub(crate) fn team(&self) -> TeamId {
        self.team
    }

    /// [`expire_team`] on the packs held.
    pub(crate) async fn expire(&mut self, conn: &mut Conn, now: DateTime<Utc>) -> StoreResult<()> {
        let due = write_expiries(conn, self.team, &self.rows, now).await?;
        if due.is_empty() {
            return Ok(());
        }
        for e in &due {
            self.row(e.pack)?.remaining = 0;
        }
        self.settle(conn, now).await
    }

    /// [`apply_charge`] on the packs held.
    pub(crate) async fn charge(
        &mut self,
        conn: &mut Conn,
        amount: Tokens,
        cause: &Cause,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Draw>> {
        let usable = self.usable(now);
        let draws = write_draws(conn, self.team, &usable, amount, cause, actor, now).await?;
        for d in &draws {
            self.row(d.pack)?.remaining -= d.tokens.as_i64();
        }
        self.settle(conn, now).await?;
        Ok(draws)
    }

    /// The packs a charge at `now` may draw from, by id (one past the limit, which
    /// `jeton_core::pack::plan_draw` refuses).
    fn usable(&self, now: DateTime<Utc>) -> Vec<PackRow> {
        let at = to_db(now);
        self.rows
            .iter()
            .filter(|r| r.remaining > 0 && r.expires_at > at)
            .take(MAX_LIVE_PACKS_PER_TEAM + 1)
            .cloned()
            .collect()
    }

    /// Plans a charge of `amount` on the packs held (R-PACK-3) and takes it out of them, for a
    /// caller that writes the draws itself (`crate::step_writes`).
    pub(crate) fn draw(&mut self, amount: Tokens, now: DateTime<Utc>) -> StoreResult<Vec<Draw>> {
        let draws = jeton_core::pack::plan_draw(&states(&self.usable(now))?, amount, now)?;
        for d in &draws {
            self.row(d.pack)?.remaining -= d.tokens.as_i64();
        }
        Ok(draws)
    }

    /// Records that `tokens` went back into `pack` (written by the caller). A pack that expired
    /// before the step began is not held, and counts for nothing either way.
    pub(crate) fn credit(&mut self, pack: PackId, tokens: Tokens) {
        if let Some(row) = self.rows.iter_mut().find(|r| r.id == pack) {
            row.remaining += tokens.as_i64();
        }
    }

    /// The low-balance check ([`crate::alerts::check_low_balance`]) on the packs held.
    pub(crate) async fn settle(&mut self, conn: &mut Conn, now: DateTime<Utc>) -> StoreResult<()> {
        let states = states(&self.rows)?;
        settle_low_balance(conn, self.team, &mut self.threshold, &states, now).await
    }

    fn row(&mut self, pack: PackId) -> StoreResult<&mut PackRow> {
        self.rows
            .iter_mut()
            .find(|r| r.id == pack)
            .ok_or_else(|| StoreError::corrupt(format!("pack {pack} is not held")))
    }
}
