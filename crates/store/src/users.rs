//! People: one identity per email across the service (R-USR-1), and their sign-in tokens.

use crate::conn::Conn;
use chrono::{DateTime, Utc};
use jeton_core::{Email, PersonName, UserId};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::time::{from_db, to_db};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    /// False until the person accepts an invitation and chooses a password.
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    #[sqlx(try_from = "i64")]
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub created_at: i64,
}

pub(crate) const USER_COLUMNS: &str = "id, email, name, password_hash, created_at";

impl UserRow {
    pub(crate) fn user(&self) -> StoreResult<User> {
        Ok(User {
            id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            has_password: self.password_hash.is_some(),
            created_at: from_db(self.created_at)?,
        })
    }
}

pub(crate) async fn user_row(conn: &mut Conn, id: UserId) -> StoreResult<UserRow> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    sqlx::query_as::<_, UserRow>(&sql)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("user", id))
}

pub(crate) async fn user_row_by_email(
    conn: &mut Conn,
    email: &Email,
) -> StoreResult<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_lower = $1");
    Ok(sqlx::query_as::<_, UserRow>(&sql)
        .bind(email.normalized())
        .fetch_optional(&mut *conn)
        .await?)
}

/// The identity with this email, created (without a password) if there is none. Safe against a
/// concurrent creation of the same email: the unique index decides, and both read the winner.
pub(crate) async fn find_or_create_user(
    conn: &mut Conn,
    email: &Email,
    name: &PersonName,
    now: DateTime<Utc>,
) -> StoreResult<UserRow> {
    if let Some(row) = user_row_by_email(conn, email).await? {
        return Ok(row);
    }
    sqlx::query(
        "INSERT INTO users (email, email_lower, name, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email_lower) DO NOTHING",
    )
    .bind(email.as_str())
    .bind(email.normalized())
    .bind(name.as_str())
    .bind(to_db(now))
    .execute(&mut *conn)
    .await?;
    user_row_by_email(conn, email)
        .await?
        .ok_or_else(|| StoreError::corrupt("a user vanished while being created"))
}

impl Store {
    pub async fn user(&self, id: UserId) -> StoreResult<User> {
        let mut conn = self.read_conn().await?;
        user_row(&mut conn, id).await?.user()
    }

    pub async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let mut conn = self.read_conn().await?;
        user_row_by_email(&mut conn, email)
            .await?
            .map(|r| r.user())
            .transpose()
    }

    /// The user and the stored password hash, for checking a sign-in.
    pub async fn credentials(&self, email: &Email) -> StoreResult<Option<(User, Option<String>)>> {
        let mut conn = self.read_conn().await?;
        user_row_by_email(&mut conn, email)
            .await?
            .map(|r| Ok((r.user()?, r.password_hash.clone())))
            .transpose()
    }

    pub async fn create_user_token(
        &self,
        user: UserId,
        token_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("INSERT INTO user_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user.0)
            .bind(to_db(now))
            .bind(to_db(expires_at))
            .execute(&mut w.tx)
            .await?;
        w.commit().await
    }

    /// The user holding an unexpired token with this digest.
    pub async fn user_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT u.id, u.email, u.name, u.password_hash, u.created_at FROM user_tokens t \
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2",
        )
        .bind(token_hash)
        .bind(to_db(now))
        .fetch_optional(&mut self.read_conn().await?)
        .await?;
        row.map(|r| r.user()).transpose()
    }

    /// R-AUTH-1: ends one sign-in token (signing out on this device); false when no token has
    /// this digest.
    pub async fn end_user_token(&self, token_hash: &str) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM user_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(done > 0)
    }

    /// R-AUTH-1, signing out everywhere: ends every token of `user` (404 for an id nobody has).
    /// Tokens are looked up on every request, so each is refused from the next request on, on
    /// every server. Answers how many were still valid at `now` (expired ones go too).
    pub async fn end_user_tokens(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut w = self.begin_write().await?;
        user_row(&mut w.tx, user).await?;
        let live = sqlx::query("DELETE FROM user_tokens WHERE user_id = $1 AND expires_at > $2")
            .bind(user.0)
            .bind(to_db(now))
            .execute(&mut w.tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM user_tokens WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut w.tx)
            .await?;
        w.commit().await?;
        Ok(live)
    }
}
