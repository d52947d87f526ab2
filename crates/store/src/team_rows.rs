//! A team's row as read from the database, and the team it stands for. A leaf below the ledger's
//! building blocks (which lock teams) and the team operations (which create and list them).

use chrono::{DateTime, Utc};
use jeton_core::TeamId;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::time::from_db;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Set when the team was merged into another (R-PACK-7); a closed team takes no new changes.
    pub closed_at: Option<DateTime<Utc>>,
    pub merged_into: Option<TeamId>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct TeamRow {
    #[sqlx(try_from = "i64")]
    pub id: TeamId,
    pub name: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    pub merged_into: Option<i64>,
    /// The low-balance threshold and its alert flag (R-NOT-1).
    pub low_percent: i64,
    pub low_alerted: i64,
}

impl TeamRow {
    pub(crate) fn team(&self) -> StoreResult<Team> {
        Ok(Team {
            id: self.id,
            name: self.name.clone(),
            created_at: from_db(self.created_at)?,
            closed_at: self.closed_at.map(from_db).transpose()?,
            merged_into: self.merged_into.map(TeamId),
        })
    }
}

pub(crate) const TEAM_COLUMNS: &str =
    "id, name, created_at, closed_at, merged_into, low_percent, low_alerted";
