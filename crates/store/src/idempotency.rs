//! Remembered answers to requests sent with an `Idempotency-Key`. Read and written inside the
//! transaction of the change itself, after its team is locked, so that two copies of one request
//! cannot both pass.

use crate::conn::Conn;
use chrono::{DateTime, Utc};
use jeton_core::{DomainError, IdempotencyKey, TeamId};

use crate::error::StoreResult;
use crate::time::to_db;

/// What was stored the first time: the request's fingerprint and the answer given.
#[derive(sqlx::FromRow)]
pub(crate) struct Remembered {
    pub fingerprint: String,
    pub response: String,
}

pub(crate) async fn recall(
    conn: &mut Conn,
    team: TeamId,
    scope: &str,
    key: &IdempotencyKey,
) -> StoreResult<Option<Remembered>> {
    Ok(sqlx::query_as(
        "SELECT fingerprint, response FROM idempotency_keys WHERE team_id = $1 AND scope = $2 AND key = $3",
    )
    .bind(team.0)
    .bind(scope)
    .bind(key.as_str())
    .fetch_optional(&mut *conn)
    .await?)
}

/// The stored answer if `fingerprint` matches the first request; a conflict if the key was used
/// for a different request (a client bug that must not be silently answered with the wrong thing).
pub(crate) fn replay(
    remembered: Remembered,
    fingerprint: &str,
    key: &IdempotencyKey,
) -> StoreResult<String> {
    if remembered.fingerprint != fingerprint {
        return Err(DomainError::IdempotencyKeyReused {
            // Says what this request is, never what the remembered one was: that may be
            // someone else's business.
            detail: format!(
                "Idempotency-Key {key:?} was already used for a different request than this {fingerprint}; \
                 send a new key for a new request"
            ),
        }
        .into());
    }
    Ok(remembered.response)
}

pub(crate) async fn remember(
    conn: &mut Conn,
    team: TeamId,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: &str,
    response: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let answer = NewAnswer {
        scope,
        key,
        fingerprint,
        response: response.to_owned(),
        at: now,
    };
    remember_all(conn, team, &[answer]).await
}

/// An answer to remember, written with others of its batch (`crate::session_batch`).
pub(crate) struct NewAnswer<'a> {
    pub scope: &'a str,
    pub key: &'a IdempotencyKey,
    pub fingerprint: &'a str,
    pub response: String,
    pub at: DateTime<Utc>,
}

/// [`remember`] for many answers, in one statement.
pub(crate) async fn remember_all(
    conn: &mut Conn,
    team: TeamId,
    answers: &[NewAnswer<'_>],
) -> StoreResult<()> {
    if answers.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO idempotency_keys (team_id, scope, key, fingerprint, response, created_at) \
         VALUES {}",
        crate::step_writes::values(answers.len(), 6)
    );
    let mut q = sqlx::query(&sql);
    for a in answers {
        q = q
            .bind(team.0)
            .bind(a.scope)
            .bind(a.key.as_str())
            .bind(a.fingerprint)
            .bind(a.response.as_str())
            .bind(to_db(a.at));
    }
    q.execute(&mut *conn).await?;
    Ok(())
}
