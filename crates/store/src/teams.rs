use chrono::{DateTime, Utc};
use jeton_core::limits::MAX_TEAMS_PER_ADMIN;
use jeton_core::{AdminId, DomainError, TeamId, TeamName};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::ledger::{lock_team, require_open};
use crate::time::to_db;

pub use crate::team_rows::Team;
use crate::team_rows::{TEAM_COLUMNS, TeamRow};

impl Store {
    /// Creates a team. When an admin creates it, that admin manages it from the start.
    pub async fn create_team(
        &self,
        name: &TeamName,
        creator: Option<AdminId>,
        now: DateTime<Utc>,
    ) -> StoreResult<Team> {
        let mut w = self.begin_write().await?;
        if let Some(admin) = creator {
            // The admin's row is locked (a no-op update) so that two teams created at once by
            // one admin are counted one after the other.
            sqlx::query("UPDATE admins SET email = email WHERE id = $1")
                .bind(admin.0)
                .execute(&mut w.tx)
                .await?;
            let managed: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM admin_teams WHERE admin_id = $1")
                    .bind(admin.0)
                    .fetch_one(&mut w.tx)
                    .await?;
            if managed as usize >= MAX_TEAMS_PER_ADMIN {
                return Err(DomainError::TooManyTeams {
                    limit: MAX_TEAMS_PER_ADMIN,
                }
                .into());
            }
        }
        let sql = format!(
            "INSERT INTO teams (name, created_at) VALUES ($1, $2) RETURNING {TEAM_COLUMNS}"
        );
        let row = sqlx::query_as::<_, TeamRow>(&sql)
            .bind(name.as_str())
            .bind(to_db(now))
            .fetch_one(&mut w.tx)
            .await?;
        if let Some(admin) = creator {
            sqlx::query("INSERT INTO admin_teams (admin_id, team_id) VALUES ($1, $2)")
                .bind(admin.0)
                .bind(row.id.0)
                .execute(&mut w.tx)
                .await?;
        }
        w.commit().await?;
        row.team()
    }

    /// Gives a team a new name. A closed team keeps the name it was merged under: it takes no
    /// new changes (R-PACK-7), and its name is how its history is found in the receiving team.
    pub async fn rename_team(&self, id: TeamId, name: &TeamName) -> StoreResult<Team> {
        let mut w = self.begin_write().await?;
        let row = lock_team(&mut w.tx, id).await?;
        require_open(&row)?;
        let sql = format!("UPDATE teams SET name = $1 WHERE id = $2 RETURNING {TEAM_COLUMNS}");
        let row = sqlx::query_as::<_, TeamRow>(&sql)
            .bind(name.as_str())
            .bind(id.0)
            .fetch_one(&mut w.tx)
            .await?;
        w.commit().await?;
        row.team()
    }

    pub async fn team(&self, id: TeamId) -> StoreResult<Team> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1");
        sqlx::query_as::<_, TeamRow>(&sql)
            .bind(id.0)
            .fetch_optional(&mut self.read_conn().await?)
            .await?
            .ok_or_else(|| StoreError::not_found("team", id))?
            .team()
    }

    /// All teams, or only those an admin manages.
    pub async fn list_teams(&self, admin: Option<AdminId>) -> StoreResult<Vec<Team>> {
        let rows = match admin {
            None => {
                let sql = format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY id");
                sqlx::query_as::<_, TeamRow>(&sql)
                    .fetch_all(self.pool())
                    .await?
            }
            Some(admin) => {
                let sql = format!(
                    "SELECT {TEAM_COLUMNS} FROM teams WHERE id IN \
                     (SELECT team_id FROM admin_teams WHERE admin_id = $1) ORDER BY id"
                );
                sqlx::query_as::<_, TeamRow>(&sql)
                    .bind(admin.0)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(TeamRow::team).collect()
    }

    /// The team and every team merged into it, directly or through others: their histories are
    /// this team's history (R-PACK-7).
    pub async fn team_lineage(&self, id: TeamId) -> StoreResult<Vec<TeamId>> {
        self.team(id).await?;
        let mut lineage = vec![id];
        let mut frontier = vec![id];
        // Bounded: a chain of merges deeper than this is not something people do.
        for _ in 0..64 {
            let Some(next) = frontier.pop() else { break };
            let merged: Vec<i64> =
                sqlx::query_scalar("SELECT id FROM teams WHERE merged_into = $1 ORDER BY id")
                    .bind(next.0)
                    .fetch_all(self.pool())
                    .await?;
            for m in merged {
                lineage.push(TeamId(m));
                frontier.push(TeamId(m));
            }
        }
        Ok(lineage)
    }
}
