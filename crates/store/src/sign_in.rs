//! Sign-in attempts per email address, counted by the rule in `jeton_core::sign_in`.

use chrono::{DateTime, Utc};
use jeton_core::Email;
use jeton_core::sign_in::{self, Attempts, Verdict};

use crate::Store;
use crate::error::StoreResult;
use crate::time::{from_db, to_db};

/// An address's attempts in its current window.
#[derive(sqlx::FromRow)]
struct AttemptsRow {
    attempts: i64,
    since: i64,
    locked_until: Option<i64>,
}

impl Store {
    /// Counts an attempt to sign in as `email` at `now`, before its password is checked, and says
    /// whether to check it. One transaction holding the address's row: attempts from several
    /// servers at once are counted one after another, none lost.
    pub async fn sign_in_attempt(&self, email: &Email, now: DateTime<Utc>) -> StoreResult<Verdict> {
        let mut w = self.begin_write().await?;
        // Creates the row or, when it exists, locks it (PostgreSQL takes the row lock for the
        // conflicting update) until this transaction ends.
        let stored: AttemptsRow = sqlx::query_as(
            "INSERT INTO sign_in_attempts (email_lower, attempts, since, locked_until) \
             VALUES ($1, 0, $2, NULL) \
             ON CONFLICT (email_lower) DO UPDATE SET attempts = sign_in_attempts.attempts \
             RETURNING attempts, since, locked_until",
        )
        .bind(email.normalized())
        .bind(to_db(now))
        .fetch_one(&mut w.tx)
        .await?;
        let recorded = Attempts {
            count: u32::try_from(stored.attempts).unwrap_or(u32::MAX),
            since: from_db(stored.since)?,
            locked_until: stored.locked_until.map(from_db).transpose()?,
        };
        let verdict = sign_in::attempt(Some(recorded), now);
        if let Verdict::Check(a) = verdict {
            sqlx::query(
                "UPDATE sign_in_attempts SET attempts = $1, since = $2, locked_until = $3 \
                 WHERE email_lower = $4",
            )
            .bind(i64::from(a.count))
            .bind(to_db(a.since))
            .bind(a.locked_until.map(to_db))
            .bind(email.normalized())
            .execute(&mut w.tx)
            .await?;
        }
        w.commit().await?;
        Ok(verdict)
    }

    /// A successful sign-in: the address starts afresh.
    pub async fn clear_sign_in_attempts(&self, email: &Email) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM sign_in_attempts WHERE email_lower = $1")
            .bind(email.normalized())
            .execute(&mut w.tx)
            .await?;
        w.commit().await
    }

    /// Deletes the records that no longer matter at `now`; returns how many. The condition is
    /// `jeton_core::sign_in::is_stale` in SQL (the store test checks the two agree). An attempt
    /// racing the delete either comes first (the row no longer qualifies when PostgreSQL
    /// re-reads it) or finds no row and starts afresh, as it would anyway.
    pub async fn forget_stale_sign_in_attempts(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM sign_in_attempts WHERE \
             (locked_until IS NULL AND since <= $1) OR (locked_until IS NOT NULL AND locked_until <= $2)",
        )
        .bind(to_db(now - sign_in::WINDOW))
        .bind(to_db(now))
        .execute(&mut w.tx)
        .await?;
        w.commit().await?;
        Ok(done.rows_affected())
    }
}
