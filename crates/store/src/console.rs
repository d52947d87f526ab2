//! The web console's state: browsers signed in as an admin or the operator, admins' console
//! passwords, and single-use links to choose a password (rules in `jeton_core::console`). Users
//! signed in to the portal hold an ordinary user token (`users.rs`), so signing out everywhere
//! ends those too.

use crate::conn::Conn;
use chrono::{DateTime, Utc};
use jeton_core::console::{LinkPurpose, check_link, renewal};
use jeton_core::mail::Message;
use jeton_core::{AdminId, Email, TeamId, UserId};

use crate::Store;
use crate::admins::Admin;
use crate::error::{StoreError, StoreResult};
use crate::time::{from_db, to_db};
use crate::users::User;

/// Who a console sign-in belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staff {
    Operator,
    Admin(Admin),
}

/// Whose password a link sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOwner {
    Admin(AdminId),
    User(UserId),
}

impl LinkOwner {
    pub fn purpose(self) -> LinkPurpose {
        match self {
            LinkOwner::Admin(_) => LinkPurpose::AdminPassword,
            LinkOwner::User(_) => LinkPurpose::UserReset,
        }
    }

    fn columns(self) -> (Option<i64>, Option<i64>) {
        match self {
            LinkOwner::Admin(a) => (Some(a.0), None),
            LinkOwner::User(u) => (None, Some(u.0)),
        }
    }
}

/// A password link that can still be used, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenLink {
    pub owner: LinkOwner,
    pub email: String,
    pub name: String,
}

impl Store {
    /// An admin and their console password hash (None until they set one), by email.
    pub async fn admin_credentials(
        &self,
        email: &Email,
    ) -> StoreResult<Option<(Admin, Option<String>)>> {
        let found: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT id, password_hash FROM admins WHERE email_lower = $1")
                .bind(email.normalized())
                .fetch_optional(self.pool())
                .await?;
        let Some((id, hash)) = found else {
            return Ok(None);
        };
        let admin = self.admin(AdminId(id)).await?;
        Ok(Some((admin, hash)))
    }

    /// Records a signed-in browser: `token_hash` is the SHA-256 of the cookie's secret; `admin`
    /// None is the operator.
    pub async fn create_console_session(
        &self,
        token_hash: &str,
        admin: Option<AdminId>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO console_sessions (token_hash, admin_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(admin.map(|a| a.0))
        .bind(to_db(now))
        .bind(to_db(expires_at))
        .execute(&mut w.tx)
        .await?;
        w.commit().await
    }

    /// Who holds the unexpired console sign-in with this digest; using it renews it when due
    /// (`jeton_core::console::renewal`, R-WEB-2). An admin whose key the operator revoked is out of
    /// the console too (R-AUTH-1).
    pub async fn console_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Staff>> {
        let found: Option<(Option<i64>, i64)> = sqlx::query_as(
            "SELECT admin_id, expires_at FROM console_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(to_db(now))
        .fetch_optional(self.pool())
        .await?;
        let Some((admin, expires_at)) = found else {
            return Ok(None);
        };
        let staff = match admin {
            None => Staff::Operator,
            Some(id) => {
                let admin = self.admin(AdminId(id)).await?;
                if admin.key_revoked_at.is_some() {
                    return Ok(None);
                }
                Staff::Admin(admin)
            }
        };
        if let Some(until) = renewal(from_db(expires_at)?, now) {
            let mut w = self.begin_write().await?;
            sqlx::query("UPDATE console_sessions SET expires_at = $1 WHERE token_hash = $2")
                .bind(to_db(until))
                .bind(token_hash)
                .execute(&mut w.tx)
                .await?;
            w.commit().await?;
        }
        Ok(Some(staff))
    }

    /// The user holding an unexpired token with this digest, for the portal: using it renews it
    /// when due, like a console sign-in (R-WEB-2). (An API token of 30 days is never due.)
    pub async fn portal_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let Some(user) = self.user_by_token(token_hash, now).await? else {
            return Ok(None);
        };
        let expires_at: Option<i64> =
            sqlx::query_scalar("SELECT expires_at FROM user_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(self.pool())
                .await?;
        if let Some(until) = expires_at
            .map(from_db)
            .transpose()?
            .and_then(|e| renewal(e, now))
        {
            let mut w = self.begin_write().await?;
            sqlx::query("UPDATE user_tokens SET expires_at = $1 WHERE token_hash = $2")
                .bind(to_db(until))
                .bind(token_hash)
                .execute(&mut w.tx)
                .await?;
            w.commit().await?;
        }
        Ok(Some(user))
    }

    /// Signs this browser out (nothing happens for an unknown digest). Expired sign-ins go too.
    pub async fn end_console_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1 OR expires_at <= $2")
            .bind(token_hash)
            .bind(to_db(now))
            .execute(&mut w.tx)
            .await?;
        w.commit().await
    }

    /// Makes a password link for `owner` (its secret's digest is `token_hash`); earlier unused
    /// links of the same person stop working, so only the newest email counts. When `mail` gives
    /// a message and the person is on a team, it is queued in the same transaction. Answers when
    /// the link expires.
    pub async fn create_password_link(
        &self,
        owner: LinkOwner,
        token_hash: &str,
        mail: &(dyn Fn(&OpenLink, DateTime<Utc>) -> Option<Message> + Sync),
        now: DateTime<Utc>,
    ) -> StoreResult<DateTime<Utc>> {
        let expires_at = now + owner.purpose().validity();
        let (admin, user) = owner.columns();
        let mut w = self.begin_write().await?;
        let (email, name, team): (String, String, Option<i64>) = match owner {
            LinkOwner::Admin(id) => sqlx::query_as(
                "SELECT email, name, (SELECT MIN(team_id) FROM admin_teams WHERE admin_id = a.id) \
                 FROM admins a WHERE id = $1",
            )
            .bind(id.0)
            .fetch_optional(&mut w.tx)
            .await?
            .ok_or_else(|| StoreError::not_found("admin", id))?,
            LinkOwner::User(id) => sqlx::query_as(
                "SELECT email, name, (SELECT MIN(team_id) FROM flex_assignments WHERE user_id = u.id) \
                 FROM users u WHERE id = $1",
            )
            .bind(id.0)
            .fetch_optional(&mut w.tx)
            .await?
            .ok_or_else(|| StoreError::not_found("user", id))?,
        };
        sqlx::query(
            "UPDATE password_links SET used_at = $1 WHERE used_at IS NULL \
             AND (admin_id = $2 OR user_id = $3)",
        )
        .bind(to_db(now))
        .bind(admin)
        .bind(user)
        .execute(&mut w.tx)
        .await?;
        sqlx::query(
            "INSERT INTO password_links (token_hash, admin_id, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(admin)
        .bind(user)
        .bind(to_db(now))
        .bind(to_db(expires_at))
        .execute(&mut w.tx)
        .await?;
        let link = OpenLink { owner, email, name };
        // The outbox belongs to teams: a person on none gets no email (the operator still has
        // the link the API answered with).
        if let (Some(team), Some(message)) = (team, mail(&link, expires_at)) {
            crate::outbox::enqueue(&mut w.tx, TeamId(team), &message, now).await?;
        }
        w.commit().await?;
        Ok(expires_at)
    }

    /// The password link with this digest if it can be used at `now`; unknown links are `None`,
    /// used or expired ones the domain's refusal.
    pub async fn password_link(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OpenLink>> {
        let mut conn = self.read_conn().await?;
        open_link(&mut conn, token_hash, now).await
    }

    /// Uses the link: sets the password hash of its owner and marks the link used, at most once
    /// even when two requests race (the second finds it used). A user's other sign-ins end, an
    /// admin's console sign-ins too: whoever knew the old password is out.
    pub async fn use_password_link(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<OpenLink> {
        let mut w = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE password_links SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(to_db(now))
        .bind(token_hash)
        .execute(&mut w.tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            // Say why: unknown, used or expired (the read is outside the failed update).
            drop(w);
            return match self.password_link(token_hash, now).await? {
                None => Err(StoreError::not_found("password link", "for this address")),
                Some(_) => Err(StoreError::corrupt("a password link could not be claimed")),
            };
        }
        let link = link_at(&mut w.tx, token_hash)
            .await?
            .ok_or_else(|| StoreError::corrupt("a claimed password link vanished"))?;
        match link.0.owner {
            LinkOwner::Admin(id) => {
                sqlx::query("UPDATE admins SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(id.0)
                    .execute(&mut w.tx)
                    .await?;
                sqlx::query("DELETE FROM console_sessions WHERE admin_id = $1")
                    .bind(id.0)
                    .execute(&mut w.tx)
                    .await?;
            }
            LinkOwner::User(id) => {
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(id.0)
                    .execute(&mut w.tx)
                    .await?;
                sqlx::query("DELETE FROM user_tokens WHERE user_id = $1")
                    .bind(id.0)
                    .execute(&mut w.tx)
                    .await?;
            }
        }
        w.commit().await?;
        Ok(link.0)
    }

    /// The user with this email, for "forgot password". None when nobody has it: the page says
    /// the same either way, so it tells nobody who has an account.
    pub async fn user_for_reset(&self, email: &Email) -> StoreResult<Option<User>> {
        self.user_by_email(email).await
    }
}

/// The link, its expiry and when it was used, whatever its state.
async fn link_at(
    conn: &mut Conn,
    token_hash: &str,
) -> StoreResult<Option<(OpenLink, DateTime<Utc>, Option<DateTime<Utc>>)>> {
    type Row = (Option<i64>, Option<i64>, i64, Option<i64>, String, String);
    let row: Option<Row> = sqlx::query_as(
        "SELECT l.admin_id, l.user_id, l.expires_at, l.used_at, \
         COALESCE(a.email, u.email), COALESCE(a.name, u.name) \
         FROM password_links l LEFT JOIN admins a ON a.id = l.admin_id \
         LEFT JOIN users u ON u.id = l.user_id WHERE l.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((admin, user, expires_at, used_at, email, name)) = row else {
        return Ok(None);
    };
    let owner = match (admin, user) {
        (Some(a), None) => LinkOwner::Admin(AdminId(a)),
        (None, Some(u)) => LinkOwner::User(UserId(u)),
        _ => return Err(StoreError::corrupt("a password link names no one or two")),
    };
    Ok(Some((
        OpenLink { owner, email, name },
        from_db(expires_at)?,
        used_at.map(from_db).transpose()?,
    )))
}

async fn open_link(
    conn: &mut Conn,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<OpenLink>> {
    let Some((link, expires_at, used_at)) = link_at(conn, token_hash).await? else {
        return Ok(None);
    };
    check_link(expires_at, used_at, now)?;
    Ok(Some(link))
}
