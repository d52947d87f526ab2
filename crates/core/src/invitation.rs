//! R-USR-3: invitations are valid seven days; a resend makes a new secret and a new window.

use chrono::{DateTime, Duration, Utc};

use crate::error::DomainError;

pub fn validity() -> Duration {
    Duration::days(7)
}

pub fn expires_at(sent_at: DateTime<Utc>) -> DateTime<Utc> {
    sent_at + validity()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Pending,
    Expired,
    Accepted,
    Superseded,
}

impl InvitationState {
    pub fn of(
        expires_at: DateTime<Utc>,
        accepted_at: Option<DateTime<Utc>>,
        superseded_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> InvitationState {
        if accepted_at.is_some() {
            InvitationState::Accepted
        } else if superseded_at.is_some() {
            InvitationState::Superseded
        } else if now >= expires_at {
            InvitationState::Expired
        } else {
            InvitationState::Pending
        }
    }

    /// Whether an invitation in this state can be accepted, and the refusal otherwise.
    pub fn check_acceptable(self) -> Result<(), DomainError> {
        match self {
            InvitationState::Pending => Ok(()),
            InvitationState::Expired => Err(DomainError::InvitationExpired),
            InvitationState::Superseded => Err(DomainError::InvitationSuperseded),
            InvitationState::Accepted => Err(DomainError::InvitationAccepted { resend: false }),
        }
    }

    /// Whether an admin may resend an invitation in this state (R-USR-3: a pending or expired
    /// one gets a new secret and window), and the refusal otherwise: one that was accepted has
    /// nothing to resend; one that was superseded has a newer invitation, which is the one to
    /// resend. The codes and statuses are those of accepting such a link.
    pub fn check_resendable(self) -> Result<(), DomainError> {
        match self {
            InvitationState::Pending | InvitationState::Expired => Ok(()),
            InvitationState::Superseded => Err(DomainError::InvitationSuperseded),
            InvitationState::Accepted => Err(DomainError::InvitationAccepted { resend: true }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Expired => "expired",
            InvitationState::Accepted => "accepted",
            InvitationState::Superseded => "superseded",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn r_usr_3_an_invitation_is_valid_seven_days() {
        let sent: DateTime<Utc> = "2026-01-05T08:00:00Z".parse().unwrap();
        let end = expires_at(sent);
        assert_eq!(
            end,
            "2026-01-12T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let state = |now| InvitationState::of(end, None, None, now);
        assert_eq!(state(end - Duration::seconds(1)), InvitationState::Pending);
        assert_eq!(state(end), InvitationState::Expired);
        assert_eq!(
            state(end).check_acceptable().unwrap_err().code(),
            ErrorCode::InvitationExpired
        );
        assert_eq!(
            InvitationState::of(end, None, Some(sent), sent)
                .check_acceptable()
                .unwrap_err()
                .code(),
            ErrorCode::InvitationSuperseded
        );
    }

    #[test]
    fn r_usr_3_pending_and_expired_invitations_are_resent_accepted_ones_have_nothing_to_resend() {
        let sent: DateTime<Utc> = "2026-01-05T08:00:00Z".parse().unwrap();
        let end = expires_at(sent);
        assert_eq!(InvitationState::Pending.check_resendable(), Ok(()));
        assert_eq!(InvitationState::Expired.check_resendable(), Ok(()));
        assert_eq!(
            InvitationState::Superseded.check_resendable(),
            Err(DomainError::InvitationSuperseded)
        );
        let accepted = InvitationState::of(end, Some(sent), None, sent);
        let refusal = accepted.check_resendable().unwrap_err();
        assert_eq!(refusal.code(), ErrorCode::InvitationAccepted);
        assert_eq!(
            refusal.to_string(),
            "this person already accepted the invitation and has an account; there is nothing \
             to resend"
        );
        // Following the link says something else: the invitee signs in.
        assert_eq!(
            accepted.check_acceptable().unwrap_err().to_string(),
            "this invitation was already accepted; sign in with your password"
        );
    }
}
