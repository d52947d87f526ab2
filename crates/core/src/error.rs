use crate::ids::TeamId;
use crate::refusal::Refusal;

/// Everything a domain rule can refuse. Each variant has a stable `code` (the `code` field of the
/// problem+json answer and what the CLI prints); the HTTP status is chosen in one place, the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{detail}")]
    InvalidTokens { detail: String },
    #[error("{detail}")]
    InvalidRate { detail: String },
    #[error("{detail}")]
    InvalidProductKey { detail: String },
    #[error("{detail}")]
    InvalidName { detail: String },
    #[error("{detail}")]
    InvalidItem { detail: String },
    #[error("{detail}")]
    InvalidEmail { detail: String },
    #[error("{detail}")]
    InvalidRange { detail: String },
    #[error("{detail}")]
    InvalidIdempotencyKey { detail: String },
    #[error("{detail}")]
    InvalidInvitee { detail: String },
    #[error("{detail}")]
    InvalidPassword { detail: String },
    #[error("{detail}")]
    InvalidImport { detail: String },
    #[error("{detail}")]
    InvalidSelection { detail: String },
    #[error(
        "this invitation has expired (invitations are valid 7 days); ask your administrator to send it again"
    )]
    InvitationExpired,
    #[error("a newer invitation was sent for this person; use the link in the latest email")]
    InvitationSuperseded,
    #[error("this invitation was already accepted; sign in with your password")]
    InvitationAccepted,
    #[error("no product with key {key:?} is in the catalogue")]
    UnknownProduct { key: String },
    #[error("the product {product} has no per-result rate for {result_type:?}")]
    UnknownResultType {
        product: String,
        result_type: String,
    },
    /// R-SES-1: a sign-in refused with a stable reason.
    #[error("{}", reason.message())]
    Refused { reason: Refusal },
    #[error("the team has {available} tokens available, {needed} are needed")]
    InsufficientTokens { needed: u64, available: u64 },
    #[error("team {team} is closed (it was merged into another team)")]
    TeamClosed { team: TeamId },
    #[error("a team cannot move tokens to itself or merge into itself")]
    SameTeam,
    #[error("the team already holds {limit} live packs; use up or move tokens first")]
    TooManyPacks { limit: usize },
    #[error("this admin already manages {limit} teams, the most one admin may")]
    TooManyTeams { limit: usize },
    #[error("{email} is already assigned to Flex on this team")]
    AlreadyAssigned { email: String },
    #[error("{email} is already invited to this team; resend the invitation instead")]
    AlreadyInvited { email: String },
    #[error("this link was already used; ask for a new one")]
    PasswordLinkUsed,
    #[error("this link has expired; ask for a new one")]
    PasswordLinkExpired,
    /// Stored data breaks an invariant the ledger keeps. Never caused by a request; reported as a
    /// server error and logged.
    #[error("ledger invariant broken: {detail}")]
    Corrupt { detail: String },
}

impl DomainError {
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::InvalidTokens { .. } => "invalid_tokens",
            DomainError::InvalidRate { .. } => "invalid_rate",
            DomainError::InvalidProductKey { .. } => "invalid_product_key",
            DomainError::InvalidName { .. } => "invalid_name",
            DomainError::InvalidItem { .. } => "invalid_item",
            DomainError::InvalidEmail { .. } => "invalid_email",
            DomainError::InvalidRange { .. } => "invalid_range",
            DomainError::InvalidIdempotencyKey { .. } => "invalid_idempotency_key",
            DomainError::InvalidInvitee { .. } => "invalid_invitee",
            DomainError::InvalidPassword { .. } => "invalid_password",
            DomainError::InvalidImport { .. } => "invalid_import",
            DomainError::InvalidSelection { .. } => "invalid_selection",
            DomainError::InvitationExpired => "invitation_expired",
            DomainError::InvitationSuperseded => "invitation_superseded",
            DomainError::InvitationAccepted => "invitation_accepted",
            DomainError::UnknownProduct { .. } => "unknown_product",
            DomainError::Refused { reason } => reason.code(),
            DomainError::UnknownResultType { .. } => "unknown_result_type",
            DomainError::InsufficientTokens { .. } => "insufficient_tokens",
            DomainError::TeamClosed { .. } => "team_closed",
            DomainError::SameTeam => "same_team",
            DomainError::TooManyPacks { .. } => "too_many_packs",
            DomainError::TooManyTeams { .. } => "too_many_teams",
            DomainError::AlreadyAssigned { .. } => "already_assigned",
            DomainError::AlreadyInvited { .. } => "already_invited",
            DomainError::PasswordLinkUsed => "password_link_used",
            DomainError::PasswordLinkExpired => "password_link_expired",
            DomainError::Corrupt { .. } => "ledger_corrupt",
        }
    }
}
