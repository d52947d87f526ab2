//! R-NOT-2: the transactional outbox. Messages are written by the transaction that causes them
//! ([`enqueue`]) and delivered later by a sender that claims each one first, so that a restart or
//! an SMTP outage loses none and several servers send none twice.

use crate::conn::Conn;
use chrono::{DateTime, Duration, Utc};
use jeton_core::mail::Message;
use jeton_core::{DomainError, MessageId, TeamId};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::time::{from_db, to_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    Sent,
    /// The sender gave up after its last attempt; visible to the operator.
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxStatus> {
        [
            OutboxStatus::Pending,
            OutboxStatus::Sent,
            OutboxStatus::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub id: MessageId,
    pub team: TeamId,
    pub kind: String,
    pub to: String,
    pub to_name: String,
    pub subject: String,
    pub body: String,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    #[sqlx(try_from = "i64")]
    id: MessageId,
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
    kind: String,
    to_email: String,
    to_name: String,
    subject: String,
    body: String,
    status: String,
    attempts: i64,
    created_at: i64,
    next_attempt_at: i64,
    sent_at: Option<i64>,
    last_error: Option<String>,
}

const OUTBOX_COLUMNS: &str = "id, team_id, kind, to_email, to_name, subject, body, status, attempts, \
                              created_at, next_attempt_at, sent_at, last_error";

impl OutboxRow {
    fn record(self) -> StoreResult<OutboxRecord> {
        Ok(OutboxRecord {
            id: self.id,
            team: self.team_id,
            kind: self.kind,
            to: self.to_email,
            to_name: self.to_name,
            subject: self.subject,
            body: self.body,
            status: OutboxStatus::parse(&self.status).ok_or_else(|| {
                crate::StoreError::corrupt(format!("outbox status {:?}", self.status))
            })?,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            created_at: from_db(self.created_at)?,
            next_attempt_at: from_db(self.next_attempt_at)?,
            sent_at: self.sent_at.map(from_db).transpose()?,
            last_error: self.last_error,
        })
    }
}

/// Queues a message inside the caller's transaction: it exists if and only if the change commits.
pub(crate) async fn enqueue(
    conn: &mut Conn,
    team: TeamId,
    message: &Message,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO outbox (team_id, kind, to_email, to_name, subject, body, status, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
    )
    .bind(team.0)
    .bind(message.kind.as_str())
    .bind(&message.to)
    .bind(&message.to_name)
    .bind(&message.subject)
    .bind(&message.body)
    .bind(to_db(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Filters for the operator's view of the outbox.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub status: Option<OutboxStatus>,
    pub to: Option<String>,
    pub limit: usize,
}

/// Most messages one claim takes.
pub const MAX_CLAIM: usize = 100;

impl Store {
    /// Claims up to `limit` messages due at `now` for `lease`: until then no other sender takes
    /// them. A sender that dies mid-send leaves its claim to run out, and the message is sent
    /// again later (at least once, never lost).
    pub async fn claim_due_messages(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
        claim_token: &str,
    ) -> StoreResult<Vec<OutboxRecord>> {
        let limit = limit.min(MAX_CLAIM) as i64;
        let candidates: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY id LIMIT $2",
        )
        .bind(to_db(now))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::new();
        for id in candidates {
            let mut w = self.begin_write().await?;
            // Everything the candidate query checked is checked again: between the two, another
            // sender may have claimed the message, tried it and scheduled its retry.
            let sql = format!(
                "UPDATE outbox SET claim_token = $1, claimed_until = $2 \
                 WHERE id = $3 AND status = 'pending' AND next_attempt_at <= $4 \
                 AND (claimed_until IS NULL OR claimed_until <= $4) \
                 RETURNING {OUTBOX_COLUMNS}"
            );
            let row: Option<OutboxRow> = sqlx::query_as(&sql)
                .bind(claim_token)
                .bind(to_db(now + lease))
                .bind(id)
                .bind(to_db(now))
                .fetch_optional(&mut w.tx)
                .await?;
            w.commit().await?;
            if let Some(row) = row {
                claimed.push(row.record()?);
            }
        }
        Ok(claimed)
    }

    /// Records a delivery. Only the holder of the claim may; returns whether it still held it.
    /// The stored body keeps no link secret once it has reached the addressee.
    pub async fn mark_message_sent(
        &self,
        id: MessageId,
        claim_token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM outbox WHERE id = $1 AND claim_token = $2")
                .bind(id.0)
                .bind(claim_token)
                .fetch_optional(&mut w.tx)
                .await?;
        let Some(body) = body else {
            return Ok(false);
        };
        let done = sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, \
             claim_token = NULL, claimed_until = NULL, last_error = NULL, body = $4 \
             WHERE id = $2 AND claim_token = $3",
        )
        .bind(to_db(now))
        .bind(id.0)
        .bind(claim_token)
        .bind(jeton_core::mail::without_secrets(&body))
        .execute(&mut w.tx)
        .await?;
        w.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands back a claimed message without an attempt (the sender is stopping, or its claim is
    /// about to run out): any sender may take it at once. Returns whether it still held the claim.
    pub async fn release_message(&self, id: MessageId, claim_token: &str) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbox SET claim_token = NULL, claimed_until = NULL \
             WHERE id = $1 AND claim_token = $2 AND status = 'pending'",
        )
        .bind(id.0)
        .bind(claim_token)
        .execute(&mut w.tx)
        .await?;
        w.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed attempt: try again at `retry_at`, or give up (`None`).
    pub async fn mark_message_failed(
        &self,
        id: MessageId,
        claim_token: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let error: String = error.chars().take(1000).collect();
        let done = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, \
                 claim_token = NULL, claimed_until = NULL WHERE id = $3 AND claim_token = $4",
            )
            .bind(to_db(at))
            .bind(&error)
            .bind(id.0)
            .bind(claim_token)
            .execute(&mut w.tx)
            .await?,
            None => sqlx::query(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1, \
                 claim_token = NULL, claimed_until = NULL WHERE id = $2 AND claim_token = $3",
            )
            .bind(&error)
            .bind(id.0)
            .bind(claim_token)
            .execute(&mut w.tx)
            .await?,
        };
        w.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The outbox, newest first.
    pub async fn outbox(&self, filter: &OutboxFilter) -> StoreResult<Vec<OutboxRecord>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR LOWER(to_email) = $2) \
             ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<OutboxRow> = sqlx::query_as(&sql)
            .bind(filter.status.map(|s| s.as_str()))
            .bind(filter.to.as_ref().map(|t| t.to_lowercase()))
            .bind(filter.limit.clamp(1, jeton_core::limits::MAX_LIST_PAGE) as i64)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(OutboxRow::record).collect()
    }

    /// Puts a message the sender gave up on back in the queue, due at `now`, with a fresh count
    /// of attempts (the operator fixed the cause: the address, the relay). Its last error stays
    /// until the next attempt. Only `failed` messages: a pending one is already queued and a sent
    /// one must not go twice.
    pub async fn retry_failed_message(
        &self,
        id: MessageId,
        now: DateTime<Utc>,
    ) -> StoreResult<OutboxRecord> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, \
             claim_token = NULL, claimed_until = NULL WHERE id = $2 AND status = 'failed'",
        )
        .bind(to_db(now))
        .bind(id.0)
        .execute(&mut w.tx)
        .await?;
        let row: Option<OutboxRow> = sqlx::query_as(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut w.tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound {
                what: "message",
                id: id.to_string(),
            });
        };
        if done.rows_affected() == 0 {
            return Err(DomainError::MessageNotFailed {
                message: id,
                status: row.status,
            }
            .into());
        }
        w.commit().await?;
        row.record()
    }

    /// Puts every message the sender gave up on back in the queue (after a long outage of the
    /// relay), as [`Store::retry_failed_message`] does for one; returns how many.
    pub async fn retry_all_failed_messages(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, \
             claim_token = NULL, claimed_until = NULL WHERE status = 'failed'",
        )
        .bind(to_db(now))
        .execute(&mut w.tx)
        .await?;
        w.commit().await?;
        Ok(done.rows_affected())
    }
}
