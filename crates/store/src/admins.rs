use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jeton_core::limits::MAX_TEAMS_PER_ADMIN;
use jeton_core::{AdminId, DomainError, Email, PersonName, TeamId};

use crate::conn::Conn;

use crate::Store;
use crate::error::{StoreError, StoreResult, refuse_duplicate};
use crate::time::{from_db, to_db};

/// A team admin: sees and changes only the teams listed here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub id: AdminId,
    pub email: String,
    pub name: String,
    pub teams: Vec<TeamId>,
    pub created_at: DateTime<Utc>,
    /// When the current key was issued: at creation or at the last rotation.
    pub key_created_at: DateTime<Utc>,
    /// Set when the key was revoked (R-AUTH-1): from then on it is refused.
    pub key_revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct AdminRow {
    #[sqlx(try_from = "i64")]
    id: AdminId,
    email: String,
    name: String,
    created_at: i64,
    key_created_at: i64,
    key_revoked_at: Option<i64>,
}

/// A team an admin manages.
#[derive(sqlx::FromRow)]
struct AdminTeamRow {
    #[sqlx(try_from = "i64")]
    admin_id: AdminId,
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
}

const ADMIN_COLUMNS: &str = "id, email, name, created_at, key_created_at, key_revoked_at";

impl AdminRow {
    fn admin(self, teams: Vec<TeamId>) -> StoreResult<Admin> {
        Ok(Admin {
            id: self.id,
            email: self.email,
            name: self.name,
            teams,
            created_at: from_db(self.created_at)?,
            key_created_at: from_db(self.key_created_at)?,
            key_revoked_at: self.key_revoked_at.map(from_db).transpose()?,
        })
    }
}

async fn admin_teams(conn: &mut Conn, admin: AdminId) -> StoreResult<Vec<TeamId>> {
    let teams: Vec<i64> =
        sqlx::query_scalar("SELECT team_id FROM admin_teams WHERE admin_id = $1 ORDER BY team_id")
            .bind(admin.0)
            .fetch_all(&mut *conn)
            .await?;
    Ok(teams.into_iter().map(TeamId).collect())
}

/// The admin `id` with its teams, or 404.
async fn admin_in(conn: &mut Conn, id: AdminId) -> StoreResult<Admin> {
    let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE id = $1");
    let row: AdminRow = sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("admin", id))?;
    let teams = admin_teams(conn, row.id).await?;
    row.admin(teams)
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
                .fetch_optional(&mut w.tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::not_found("team", t));
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO admins (email, email_lower, name, key_hash, created_at, key_created_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(email.as_str())
        .bind(email.normalized())
        .bind(name.as_str())
        .bind(key_hash)
        .bind(to_db(now))
        .fetch_one(&mut w.tx)
        .await
        .map_err(refuse_duplicate(|| DomainError::DuplicateAdmin { email: email.to_string() }))?;
        for t in &teams {
            sqlx::query("INSERT INTO admin_teams (admin_id, team_id) VALUES ($1, $2)")
                .bind(id)
                .bind(t.0)
                .execute(&mut w.tx)
                .await?;
        }
        w.commit().await?;
        Ok(Admin {
            id: AdminId(id),
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            teams,
            created_at: now,
            key_created_at: now,
            key_revoked_at: None,
        })
    }

    /// The admin whose current key has this SHA-256 digest, with the teams it manages now, revoked
    /// or not: the caller refuses a revoked key, and can say why.
    pub async fn admin_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Admin>> {
        let mut conn = self.read_conn().await?;
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE key_hash = $1");
        let row: Option<AdminRow> = sqlx::query_as(&sql)
            .bind(key_hash)
            .fetch_optional(&mut conn)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let teams = admin_teams(&mut conn, row.id).await?;
        row.admin(teams).map(Some)
    }

    /// The admin `id` with the teams it manages now, or 404.
    pub async fn admin(&self, id: AdminId) -> StoreResult<Admin> {
        let mut conn = self.read_conn().await?;
        admin_in(&mut conn, id).await
    }

    /// Every admin with their teams and key state, by id. Never the key or its digest.
    pub async fn admins(&self) -> StoreResult<Vec<Admin>> {
        let mut conn = self.read_conn().await?;
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins ORDER BY id");
        let rows: Vec<AdminRow> = sqlx::query_as(&sql).fetch_all(&mut conn).await?;
        let mut teams: BTreeMap<AdminId, Vec<TeamId>> = BTreeMap::new();
        let pairs: Vec<AdminTeamRow> =
            sqlx::query_as("SELECT admin_id, team_id FROM admin_teams ORDER BY admin_id, team_id")
                .fetch_all(&mut conn)
                .await?;
        for pair in pairs {
            teams.entry(pair.admin_id).or_default().push(pair.team_id);
        }
        rows.into_iter()
            .map(|r| {
                let t = teams.remove(&r.id).unwrap_or_default();
                r.admin(t)
            })
            .collect()
    }

    /// R-AUTH-1: revokes the admin's key; it is refused from the next request on. Revoking a
    /// revoked key changes nothing (it keeps the time of the first revocation), so a retried
    /// call is harmless.
    pub async fn revoke_admin_key(&self, id: AdminId, now: DateTime<Utc>) -> StoreResult<Admin> {
        let mut w = self.begin_write().await?;
        admin_in(&mut w.tx, id).await?;
        sqlx::query(
            "UPDATE admins SET key_revoked_at = $1 WHERE id = $2 AND key_revoked_at IS NULL",
        )
        .bind(to_db(now))
        .bind(id.0)
        .execute(&mut w.tx)
        .await?;
        // Out of the console too, for good: a later rotation gives a new key, not these sign-ins.
        sqlx::query("DELETE FROM console_sessions WHERE admin_id = $1")
            .bind(id.0)
            .execute(&mut w.tx)
            .await?;
        let admin = admin_in(&mut w.tx, id).await?;
        w.commit().await?;
        Ok(admin)
    }

    /// R-AUTH-1: gives the admin a new key (`key_hash`, the digest of a fresh key); the old one is
    /// refused from the next request on. Also how a revoked admin gets a working key again.
    pub async fn rotate_admin_key(
        &self,
        id: AdminId,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Admin> {
        let mut w = self.begin_write().await?;
        admin_in(&mut w.tx, id).await?;
        sqlx::query(
            "UPDATE admins SET key_hash = $1, key_created_at = $2, key_revoked_at = NULL WHERE id = $3",
        )
        .bind(key_hash)
        .bind(to_db(now))
        .bind(id.0)
        .execute(&mut w.tx)
        .await?;
        let admin = admin_in(&mut w.tx, id).await?;
        w.commit().await?;
        Ok(admin)
    }
}
