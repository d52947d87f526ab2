//! R-USR-3: listing, resending and accepting invitations.

use chrono::{DateTime, Utc};
use jeton_core::invitation::{InvitationState, expires_at};
use jeton_core::session::Refusal;
use jeton_core::{DomainError, InvitationId, TeamId, UserId};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::flex::{
    Compose, MailFacts, Secret, assignment, effective_of, insert_invitation, supersede_invitations,
};
use crate::ledger::{lock_team, require_open};
use crate::outbox::enqueue;
use crate::time::{from_db, to_db};
use crate::users::user_row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    pub id: InvitationId,
    pub team: TeamId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub state: InvitationState,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub emailed: bool,
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    #[sqlx(try_from = "i64")]
    id: InvitationId,
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
    #[sqlx(try_from = "i64")]
    user_id: UserId,
    email: String,
    name: String,
    emailed: i64,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
    superseded_at: Option<i64>,
}

/// An invitation with the stored password hash of its person.
#[derive(sqlx::FromRow)]
struct InvitedRow {
    #[sqlx(flatten)]
    invitation: InvitationRow,
    password_hash: Option<String>,
}

const INVITATION_SELECT: &str = "SELECT i.id, i.team_id, i.user_id, u.email, u.name, i.emailed, i.created_at, \
     i.expires_at, i.accepted_at, i.superseded_at FROM invitations i JOIN users u ON u.id = i.user_id";

impl InvitationRow {
    fn record(self, now: DateTime<Utc>) -> StoreResult<InvitationRecord> {
        Ok(InvitationRecord {
            id: self.id,
            team: self.team_id,
            user_id: self.user_id,
            email: self.email,
            name: self.name,
            state: crate::flex::invitation_state(
                self.expires_at,
                self.accepted_at,
                self.superseded_at,
                now,
            )?,
            created_at: from_db(self.created_at)?,
            expires_at: from_db(self.expires_at)?,
            emailed: self.emailed == 1,
        })
    }
}

/// An invitation found by its secret, with what accepting it needs to know.
#[derive(Debug, Clone)]
pub struct Invited {
    pub invitation: InvitationRecord,
    /// The stored password hash when the person already has an account (they must prove it).
    pub password_hash: Option<String>,
}

impl Store {
    /// Open invitations of a team (pending and expired; not accepted or replaced), oldest first.
    pub async fn invitations(
        &self,
        team: TeamId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<InvitationRecord>> {
        self.team(team).await?;
        let sql = format!(
            "{INVITATION_SELECT} WHERE i.team_id = $1 AND i.accepted_at IS NULL AND i.superseded_at IS NULL ORDER BY i.id"
        );
        let rows: Vec<InvitationRow> = sqlx::query_as(&sql)
            .bind(team.0)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(|r| r.record(now)).collect()
    }

    /// R-USR-3: a new secret and a new seven-day window; the old link stops working. The email is
    /// queued in the same transaction.
    pub async fn resend_invitation(
        &self,
        team: TeamId,
        invitation: InvitationId,
        secret: &Secret,
        compose: Compose<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<InvitationRecord> {
        let mut w = self.begin_write().await?;
        let team_row = lock_team(&mut w.tx, team).await?;
        require_open(&team_row)?;
        let sql = format!("{INVITATION_SELECT} WHERE i.id = $1 AND i.team_id = $2");
        let old: InvitationRow = sqlx::query_as(&sql)
            .bind(invitation.0)
            .bind(team.0)
            .fetch_optional(&mut w.tx)
            .await?
            .ok_or_else(|| StoreError::not_found("invitation", invitation))?;
        let old = old.record(now)?;
        old.state.check_resendable()?;
        supersede_invitations(&mut w.tx, team, old.user_id, now).await?;
        let id = insert_invitation(&mut w.tx, team, old.user_id, &secret.hash, true, now).await?;
        let catalogue = crate::flex::Catalogue::load(&mut w.tx).await?;
        let effective = effective_of(&mut w.tx, &catalogue, team, old.user_id).await?;
        let user = user_row(&mut w.tx, old.user_id).await?;
        let facts = MailFacts {
            to: user.email.clone(),
            name: user.name.clone(),
            team: team_row.name.clone(),
            products: catalogue.names(&effective),
            invitation: Some((secret.secret.clone(), expires_at(now))),
        };
        enqueue(&mut w.tx, team, &compose(&facts), now).await?;
        let sql = format!("{INVITATION_SELECT} WHERE i.id = $1");
        let new: InvitationRow = sqlx::query_as(&sql).bind(id.0).fetch_one(&mut w.tx).await?;
        w.commit().await?;
        new.record(now)
    }

    /// The invitation with this secret digest, if any.
    pub async fn invitation_by_secret(
        &self,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invited>> {
        let row: Option<InvitedRow> = sqlx::query_as(
            "SELECT i.id, i.team_id, i.user_id, u.email, u.name, i.emailed, i.created_at, i.expires_at, \
             i.accepted_at, i.superseded_at, u.password_hash FROM invitations i JOIN users u ON u.id = i.user_id \
             WHERE i.secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Invited {
            invitation: row.invitation.record(now)?,
            password_hash: row.password_hash,
        }))
    }

    /// Accepts an invitation: sets the password of a new account (`new_password_hash`; `None`
    /// when the person already has one and has proved it), activates the assignment. Checked
    /// again inside the transaction, so a resend or an unassignment racing with it wins cleanly.
    pub async fn accept_invitation(
        &self,
        secret_hash: &str,
        new_password_hash: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<(UserId, TeamId)> {
        let invited = self
            .invitation_by_secret(secret_hash, now)
            .await?
            .ok_or_else(|| StoreError::not_found("invitation", "with this secret"))?;
        let team = invited.invitation.team;
        let mut w = self.begin_write().await?;
        let team_row = lock_team(&mut w.tx, team).await?;
        require_open(&team_row)?;
        let sql = format!("{INVITATION_SELECT} WHERE i.secret_hash = $1 AND i.team_id = $2");
        let current: InvitationRow = sqlx::query_as(&sql)
            .bind(secret_hash)
            .bind(team.0)
            .fetch_optional(&mut w.tx)
            .await?
            .ok_or_else(|| StoreError::not_found("invitation", "with this secret"))?;
        let current = current.record(now)?;
        current.state.check_acceptable()?;
        let assigned = assignment(&mut w.tx, team, current.user_id).await?;
        if assigned.is_none_or(|a| a.removed_at.is_some()) {
            // Unassigned since the invitation: refused like a sign-in would be (422).
            return Err(DomainError::Refused {
                reason: Refusal::NotAssigned,
            }
            .into());
        }
        if let Some(hash) = new_password_hash {
            sqlx::query(
                "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash IS NULL",
            )
            .bind(hash)
            .bind(current.user_id.0)
            .execute(&mut w.tx)
            .await?;
        }
        sqlx::query("UPDATE invitations SET accepted_at = $1 WHERE id = $2")
            .bind(to_db(now))
            .bind(current.id.0)
            .execute(&mut w.tx)
            .await?;
        sqlx::query("UPDATE flex_assignments SET status = 'active', updated_at = $1 WHERE team_id = $2 AND user_id = $3")
            .bind(to_db(now))
            .bind(team.0)
            .bind(current.user_id.0)
            .execute(&mut w.tx)
            .await?;
        w.commit().await?;
        Ok((current.user_id, team))
    }
}
