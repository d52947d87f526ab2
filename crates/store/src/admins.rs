use chrono::{DateTime, Utc};
use jeton_core::limits::MAX_TEAMS_PER_ADMIN;
use jeton_core::{AdminId, DomainError, Email, PersonName, TeamId};

use crate::Store;
use crate::error::{StoreError, StoreResult, conflict_on_duplicate};
use crate::time::{from_db, to_db};

/// A team admin: sees and changes only the teams listed here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub id: AdminId,
    pub email: String,
    pub name: String,
    pub teams: Vec<TeamId>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Creates an admin for `teams` (which must exist). `key_hash` is the SHA-256 of the admin's
    /// API key; the key itself is never stored.
    pub async fn create_admin(
        &self,
        email: &Email,
        name: &PersonName,
        teams: &[TeamId],
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Admin> {
        if teams.len() > MAX_TEAMS_PER_ADMIN {
            return Err(DomainError::InvalidRange {
                detail: format!("an admin manages at most {MAX_TEAMS_PER_ADMIN} teams"),
            }
            .into());
        }
        let mut teams = teams.to_vec();
        teams.sort();
        teams.dedup();
        let mut w = self.begin_write().await?;
        for t in &teams {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM teams WHERE id = $1")
                .bind(t.0)
                .fetch_optional(&mut *w.tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::not_found("team", t));
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO admins (email, email_lower, name, key_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(email.as_str())
        .bind(email.normalized())
        .bind(name.as_str())
        .bind(key_hash)
        .bind(to_db(now))
        .fetch_one(&mut *w.tx)
        .await
        .map_err(conflict_on_duplicate("duplicate_admin", || format!("an admin with email {email} already exists")))?;
        for t in &teams {
            sqlx::query("INSERT INTO admin_teams (admin_id, team_id) VALUES ($1, $2)")
                .bind(id)
                .bind(t.0)
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit().await?;
        Ok(Admin {
            id: AdminId(id),
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            teams,
            created_at: now,
        })
    }

    /// The admin holding the key with this SHA-256 digest, with the teams it manages now.
    pub async fn admin_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Admin>> {
        let row: Option<(i64, String, String, i64)> =
            sqlx::query_as("SELECT id, email, name, created_at FROM admins WHERE key_hash = $1")
                .bind(key_hash)
                .fetch_optional(self.pool())
                .await?;
        let Some((id, email, name, created_at)) = row else {
            return Ok(None);
        };
        let teams: Vec<i64> = sqlx::query_scalar(
            "SELECT team_id FROM admin_teams WHERE admin_id = $1 ORDER BY team_id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some(Admin {
            id: AdminId(id),
            email,
            name,
            teams: teams.into_iter().map(TeamId).collect(),
            created_at: from_db(created_at)?,
        }))
    }
}
