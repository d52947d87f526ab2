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
            InvitationState::Accepted => Err(DomainError::InvitationAccepted),
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
            "invitation_expired"
        );
        assert_eq!(
            InvitationState::of(end, None, Some(sent), sent)
                .check_acceptable()
                .unwrap_err()
                .code(),
            "invitation_superseded"
        );
    }
}
