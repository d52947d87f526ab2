//! R-NOT-1: emails to a team's admins — when its available tokens fall below its threshold (once
//! per crossing), and when a pack is 90, 30 and 7 days from expiring (once each). Queued in the
//! outbox in the same transaction as the change that causes them.

use crate::conn::Conn;
use chrono::{DateTime, Duration, Utc};
use jeton_core::mail;
use jeton_core::pack::{EXPIRY_WARNING_DAYS, LowPercent, expiry_warnings_reached, summarize};
use jeton_core::{PackId, PackState, TeamId, Tokens};

use crate::Store;
use crate::error::StoreResult;
use crate::outbox::enqueue;
use crate::pack_rows;
use crate::time::{from_db, to_db};

/// Whom a team's alerts go to.
#[derive(sqlx::FromRow)]
pub(crate) struct AdminAddress {
    pub email: String,
    pub name: String,
}

pub(crate) async fn admins_of(conn: &mut Conn, team: TeamId) -> StoreResult<Vec<AdminAddress>> {
    Ok(sqlx::query_as(
        "SELECT a.email, a.name FROM admins a JOIN admin_teams t ON t.admin_id = a.id WHERE t.team_id = $1 ORDER BY a.id",
    )
    .bind(team.0)
    .fetch_all(&mut *conn)
    .await?)
}

/// A team's low-balance threshold and whether its admins were told it is below.
#[derive(sqlx::FromRow, Debug, Clone)]
pub(crate) struct Threshold {
    pub name: String,
    pub low_percent: i64,
    pub low_alerted: i64,
}

/// A pack that may be due an expiry warning.
#[derive(sqlx::FromRow)]
struct ExpiringRow {
    #[sqlx(try_from = "i64")]
    id: PackId,
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
    remaining: i64,
    expires_at: i64,
}

/// After a balance change: when the team has just become low, email its admins (once: the flag
/// stays until the balance is above the threshold again); when it is no longer low, re-arm.
pub(crate) async fn check_low_balance(
    conn: &mut Conn,
    team: TeamId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut threshold: Threshold =
        sqlx::query_as("SELECT name, low_percent, low_alerted FROM teams WHERE id = $1")
            .bind(team.0)
            .fetch_one(&mut *conn)
            .await?;
    let rows = pack_rows::active_pack_rows(conn, team, now).await?;
    settle_low_balance(conn, team, &mut threshold, &pack_rows::states(&rows)?, now).await
}

/// [`check_low_balance`] on a threshold and packs the caller holds already (a locked team's,
/// read at the start of its transaction); `threshold` follows the flag it writes.
pub(crate) async fn settle_low_balance(
    conn: &mut Conn,
    team: TeamId,
    threshold: &mut Threshold,
    packs: &[PackState],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let percent = LowPercent::from_stored(threshold.low_percent)?;
    let summary = summarize(packs, now, percent)?;
    match (summary.low, threshold.low_alerted == 1) {
        (true, false) => {
            for admin in admins_of(conn, team).await? {
                let message = mail::low_balance(
                    &admin.email,
                    &admin.name,
                    &threshold.name,
                    summary.available.get(),
                    summary.total.get(),
                    percent.get(),
                );
                enqueue(conn, team, &message, now).await?;
            }
            threshold.low_alerted = 1;
            set_alerted(conn, team, true).await
        }
        (false, true) => {
            threshold.low_alerted = 0;
            set_alerted(conn, team, false).await
        }
        _ => Ok(()),
    }
}

async fn set_alerted(conn: &mut Conn, team: TeamId, alerted: bool) -> StoreResult<()> {
    sqlx::query("UPDATE teams SET low_alerted = $1 WHERE id = $2")
        .bind(i64::from(alerted))
        .bind(team.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Most packs looked at in one run of the warning job.
const WARN_BATCH: i64 = 1000;

impl Store {
    /// R-NOT-1: warns admins of packs expiring within 90, 30 and 7 days, once per pack and
    /// threshold. When the clock jumps past several thresholds at once, only the nearest is sent.
    pub async fn warn_expiring(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let rows: Vec<ExpiringRow> = sqlx::query_as(
            "SELECT p.id, p.team_id, p.remaining, p.expires_at FROM packs p \
             WHERE p.remaining > 0 AND p.expires_at > $1 AND p.expires_at <= $2 \
             AND NOT EXISTS (SELECT 1 FROM expiry_warnings w WHERE w.pack_id = p.id AND w.days = $3) \
             ORDER BY p.expires_at LIMIT $4",
        )
        .bind(to_db(now))
        .bind(to_db(now + Duration::days(EXPIRY_WARNING_DAYS[0])))
        .bind(EXPIRY_WARNING_DAYS[EXPIRY_WARNING_DAYS.len() - 1])
        .bind(WARN_BATCH)
        .fetch_all(self.pool())
        .await?;
        let mut sent = 0;
        for ExpiringRow {
            id: pack,
            team_id: team,
            remaining,
            expires_at,
        } in rows
        {
            let expires_at = from_db(expires_at)?;
            let Some((reached, nearest)) = expiry_warnings_reached(now, expires_at) else {
                continue;
            };
            let mut w = self.begin_write().await?;
            let mut fresh = false;
            for t in &reached {
                let done = sqlx::query(
                    "INSERT INTO expiry_warnings (team_id, pack_id, days, sent_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (pack_id, days) DO NOTHING",
                )
                .bind(team.0)
                .bind(pack.0)
                .bind(*t)
                .bind(to_db(now))
                .execute(&mut w.tx)
                .await?;
                fresh |= *t == nearest && done.rows_affected() == 1;
            }
            if fresh {
                let name: String = sqlx::query_scalar("SELECT name FROM teams WHERE id = $1")
                    .bind(team.0)
                    .fetch_one(&mut w.tx)
                    .await?;
                for admin in admins_of(&mut w.tx, team).await? {
                    let message = mail::tokens_expiring(
                        &admin.email,
                        &admin.name,
                        &name,
                        Tokens::from_stored(remaining)?.get(),
                        expires_at,
                        nearest as u32,
                    );
                    enqueue(&mut w.tx, team, &message, now).await?;
                }
                sent += 1;
            }
            w.commit().await?;
        }
        Ok(sent)
    }
}
