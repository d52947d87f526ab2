//! Reading a team's packs: the rows and their states. A leaf below the ledger's building blocks
//! and the alerts, which both read packs (the alerts run inside ledger changes).

use crate::conn::Conn;
use chrono::{DateTime, Utc};
use jeton_core::{PackId, PackState, TeamId, Tokens};

use crate::error::StoreResult;
use crate::time::{from_db, to_db};

#[derive(sqlx::FromRow, Clone)]
pub(crate) struct PackRow {
    #[sqlx(try_from = "i64")]
    pub id: PackId,
    #[sqlx(try_from = "i64")]
    pub team_id: TeamId,
    pub tokens: i64,
    pub remaining: i64,
    pub moved_out: i64,
    pub purchased_at: i64,
    pub expires_at: i64,
}

pub(crate) const PACK_COLUMNS: &str =
    "id, team_id, tokens, remaining, moved_out, purchased_at, expires_at";

impl PackRow {
    pub(crate) fn state(&self) -> StoreResult<PackState> {
        Ok(PackState {
            id: self.id,
            tokens: Tokens::from_stored(self.tokens)?,
            remaining: Tokens::from_stored(self.remaining)?,
            moved_out: Tokens::from_stored(self.moved_out)?,
            purchased_at: from_db(self.purchased_at)?,
            expires_at: from_db(self.expires_at)?,
        })
    }
}

pub(crate) fn states(rows: &[PackRow]) -> StoreResult<Vec<PackState>> {
    rows.iter().map(PackRow::state).collect()
}

/// The team's active packs (not expired at `now`), used-up ones included, oldest first.
pub(crate) async fn active_pack_rows(
    conn: &mut Conn,
    team: TeamId,
    now: DateTime<Utc>,
) -> StoreResult<Vec<PackRow>> {
    let sql = format!(
        "SELECT {PACK_COLUMNS} FROM packs WHERE team_id = $1 AND expires_at > $2 ORDER BY id"
    );
    Ok(sqlx::query_as(&sql)
        .bind(team.0)
        .bind(to_db(now))
        .fetch_all(&mut *conn)
        .await?)
}
