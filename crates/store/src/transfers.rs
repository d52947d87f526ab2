//! R-PACK-6 (moves) and R-PACK-7 (merges): the only transactions that touch two teams. Both lock
//! the two teams in id order.

use crate::conn::Conn;
use chrono::{DateTime, Utc};
use jeton_core::ledger::{Actor, Cause, CauseKind, EventKind};
use jeton_core::pack::plan_draw;
use jeton_core::{MoveId, PackId, PackState, TeamId, Tokens};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::ledger::{self, NewEvent, check_pack_room, debit_pack};
use crate::time::to_db;

/// One pack's part of a move or merge: where it came from, where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedPack {
    pub from_pack: PackId,
    pub to_pack: PackId,
    pub tokens: Tokens,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveRecord {
    pub id: MoveId,
    pub from_team: TeamId,
    pub to_team: TeamId,
    pub tokens: Tokens,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub packs: Vec<MovedPack>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRecord {
    pub from_team: TeamId,
    pub into_team: TeamId,
    pub tokens: Tokens,
    pub at: DateTime<Utc>,
    pub packs: Vec<MovedPack>,
}

/// Creates the receiving team's copy of (part of) a pack: same purchase time and expiry.
async fn receive_pack(
    conn: &mut Conn,
    team: TeamId,
    origin: &str,
    source: &PackState,
    tokens: Tokens,
    remaining: Tokens,
    moved_out: Tokens,
) -> StoreResult<PackId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO packs (team_id, origin, origin_pack_id, tokens, remaining, moved_out, purchased_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(team.0)
    .bind(origin)
    .bind(source.id.0)
    .bind(tokens.as_i64())
    .bind(remaining.as_i64())
    .bind(moved_out.as_i64())
    .bind(to_db(source.purchased_at))
    .bind(to_db(source.expires_at))
    .fetch_one(&mut *conn)
    .await?;
    Ok(PackId(id))
}

impl Store {
    /// R-PACK-6: moves `tokens` from one team to another, taken in consumption order. Each pack
    /// drawn becomes a pack of the receiving team with the same expiry. All or nothing.
    pub async fn move_tokens(
        &self,
        from: TeamId,
        to: TeamId,
        tokens: Tokens,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<MoveRecord> {
        let mut w = self.begin_write().await?;
        ledger::open_two_teams(&mut w.tx, from, to, now).await?;

        let rows = ledger::usable_packs(&mut w.tx, from, now).await?;
        let sources = ledger::states(&rows)?;
        let draws = plan_draw(&sources, tokens, now)?;
        let receiving = ledger::usable_packs(&mut w.tx, to, now).await?.len();
        check_pack_room(receiving, draws.len())?;

        let move_id: i64 = sqlx::query_scalar(
            "INSERT INTO moves (from_team_id, to_team_id, tokens, at, actor) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(from.0)
        .bind(to.0)
        .bind(tokens.as_i64())
        .bind(to_db(now))
        .bind(actor.to_string())
        .fetch_one(&mut w.tx)
        .await?;
        let cause = Cause::new(CauseKind::Move, move_id);

        let mut packs = Vec::with_capacity(draws.len());
        for d in draws {
            let source = sources
                .iter()
                .find(|p| p.id == d.pack)
                .ok_or_else(|| StoreError::corrupt("planned draw from an unknown pack"))?;
            debit_pack(&mut w.tx, from, d, now, true).await?;
            let to_pack = receive_pack(
                &mut w.tx,
                to,
                "move",
                source,
                d.tokens,
                d.tokens,
                Tokens::ZERO,
            )
            .await?;
            ledger::insert_event(
                &mut w.tx,
                NewEvent {
                    team: from,
                    pack: d.pack,
                    kind: EventKind::MovedOut,
                    amount: EventKind::MovedOut.signed(d.tokens, false),
                    at: now,
                    actor,
                    cause: &cause,
                },
            )
            .await?;
            ledger::insert_event(
                &mut w.tx,
                NewEvent {
                    team: to,
                    pack: to_pack,
                    kind: EventKind::MovedIn,
                    amount: EventKind::MovedIn.signed(d.tokens, true),
                    at: now,
                    actor,
                    cause: &cause,
                },
            )
            .await?;
            packs.push(MovedPack {
                from_pack: d.pack,
                to_pack,
                tokens: d.tokens,
                expires_at: source.expires_at,
            });
        }
        crate::alerts::check_low_balance(&mut w.tx, from, now).await?;
        crate::alerts::check_low_balance(&mut w.tx, to, now).await?;
        w.commit().await?;
        Ok(MoveRecord {
            id: MoveId(move_id),
            from_team: from,
            to_team: to,
            tokens,
            at: now,
            actor,
            packs,
        })
    }

    /// R-PACK-7: merges `from` into `into`. Every pack with tokens left moves whole (original
    /// size, used and moved-out counts, purchase time and expiry kept, so the target's balance
    /// shows the same total and used); `from` is closed and its history becomes part of `into`'s
    /// (see [`Store::team_lineage`]). Nothing is lost or counted twice: each pack's tokens leave
    /// with a `merged` debit and arrive with a `merged` credit of the same amount.
    pub async fn merge_teams(
        &self,
        from: TeamId,
        into: TeamId,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<MergeRecord> {
        let mut w = self.begin_write().await?;
        ledger::open_two_teams(&mut w.tx, from, into, now).await?;

        // Every active pack moves, used-up ones too, so the target's total and used carry the
        // whole history and the closed team keeps none.
        let rows = ledger::active_pack_rows(&mut w.tx, from, now).await?;
        let receiving = ledger::usable_packs(&mut w.tx, into, now).await?.len();
        check_pack_room(receiving, rows.len())?;
        let cause = Cause::new(CauseKind::Merge, from);
        let mut total = Tokens::ZERO;
        let mut packs = Vec::with_capacity(rows.len());
        for source in ledger::states(&rows)? {
            let done = sqlx::query(
                // The pack leaves whole: what was used of it goes with it (the target's copy keeps
                // size, use and moved-out counts), so the closed team keeps no total and no use.
                "UPDATE packs SET remaining = 0, moved_out = tokens \
                 WHERE id = $1 AND team_id = $2 AND remaining = $3",
            )
            .bind(source.id.0)
            .bind(from.0)
            .bind(source.remaining.as_i64())
            .execute(&mut w.tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::corrupt(format!(
                    "pack {} changed while its team was locked",
                    source.id
                )));
            }
            let to_pack = receive_pack(
                &mut w.tx,
                into,
                "merge",
                &source,
                source.tokens,
                source.remaining,
                source.moved_out,
            )
            .await?;
            // A used-up pack moves without events: no token changes hands.
            let teams = if source.remaining.is_zero() {
                vec![]
            } else {
                vec![(from, source.id, false), (into, to_pack, true)]
            };
            for (team, pack, credit) in teams {
                ledger::insert_event(
                    &mut w.tx,
                    NewEvent {
                        team,
                        pack,
                        kind: EventKind::Merged,
                        amount: EventKind::Merged.signed(source.remaining, credit),
                        at: now,
                        actor,
                        cause: &cause,
                    },
                )
                .await?;
            }
            total = total
                .checked_add(source.remaining)
                .ok_or_else(|| StoreError::corrupt("merged total overflows"))?;
            packs.push(MovedPack {
                from_pack: source.id,
                to_pack,
                tokens: source.remaining,
                expires_at: source.expires_at,
            });
        }
        crate::flex::merge_people(&mut w.tx, from, into, now).await?;
        sqlx::query("UPDATE teams SET closed_at = $1, merged_into = $2 WHERE id = $3")
            .bind(to_db(now))
            .bind(into.0)
            .bind(from.0)
            .execute(&mut w.tx)
            .await?;
        crate::alerts::check_low_balance(&mut w.tx, from, now).await?;
        crate::alerts::check_low_balance(&mut w.tx, into, now).await?;
        w.commit().await?;
        Ok(MergeRecord {
            from_team: from,
            into_team: into,
            tokens: total,
            at: now,
            packs,
        })
    }
}
