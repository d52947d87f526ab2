pub use crate::code::ErrorCode;
use crate::ids::{MessageId, TeamId};
use crate::refusal::Refusal;

/// Everything a domain rule can refuse. Each variant has a stable [`ErrorCode`] (the `code` field
/// of the problem+json answer and what the CLI prints); the HTTP status is chosen in one place,
/// the server's table from code to status.
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
    /// The invitation was accepted already. `resend`: an admin asked to send it again (there is
    /// nothing to resend), rather than someone following its link.
    #[error("{}", if *resend {
        "this person already accepted the invitation and has an account; there is nothing to resend"
    } else {
        "this invitation was already accepted; sign in with your password"
    })]
    InvitationAccepted { resend: bool },
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
    /// An idempotency key (or a result's client id) sent again with a different request: the
    /// request cannot be processed as sent, and the remembered answer is not its answer.
    #[error("{detail}")]
    IdempotencyKeyReused { detail: String },
    /// A heartbeat or result for a session that is over (R-SES-6): sign in again.
    #[error("this session has ended ({reason}); sign in again")]
    SessionEnded { reason: String },
    /// R-SES-3: the session was ended because the team's tokens could not pay its next period;
    /// the product must stop. Answers like the refusal of a charge, `insufficient_tokens`.
    #[error("this session was stopped: the team's tokens could not pay the next usage period")]
    SessionStopped,
    #[error("an admin with email {email} already exists")]
    DuplicateAdmin { email: String },
    #[error("a product with key {key:?} already exists")]
    DuplicateProduct { key: String },
    #[error("a user with email {email} already exists")]
    DuplicateUser { email: String },
    #[error(
        "team {team} already has {open} imports queued or running, the most it may have; wait for \
         them to finish (GET /v1/teams/{team}/flex/imports)"
    )]
    TooManyImports { team: TeamId, open: usize },
    /// R-NOT-2: only a message the sender gave up on is queued again, so that nothing goes twice.
    #[error("message {message} is {status}: only failed messages can be retried")]
    MessageNotFailed { message: MessageId, status: String },
    /// Stored data breaks an invariant the ledger keeps. Never caused by a request; reported as a
    /// server error and logged.
    #[error("ledger invariant broken: {detail}")]
    Corrupt { detail: String },
}

impl DomainError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DomainError::InvalidTokens { .. } => ErrorCode::InvalidTokens,
            DomainError::InvalidRate { .. } => ErrorCode::InvalidRate,
            DomainError::InvalidProductKey { .. } => ErrorCode::InvalidProductKey,
            DomainError::InvalidName { .. } => ErrorCode::InvalidName,
            DomainError::InvalidItem { .. } => ErrorCode::InvalidItem,
            DomainError::InvalidEmail { .. } => ErrorCode::InvalidEmail,
            DomainError::InvalidRange { .. } => ErrorCode::InvalidRange,
            DomainError::InvalidIdempotencyKey { .. } => ErrorCode::InvalidIdempotencyKey,
            DomainError::InvalidInvitee { .. } => ErrorCode::InvalidInvitee,
            DomainError::InvalidPassword { .. } => ErrorCode::InvalidPassword,
            DomainError::InvalidImport { .. } => ErrorCode::InvalidImport,
            DomainError::InvalidSelection { .. } => ErrorCode::InvalidSelection,
            DomainError::InvitationExpired => ErrorCode::InvitationExpired,
            DomainError::InvitationSuperseded => ErrorCode::InvitationSuperseded,
            DomainError::InvitationAccepted { .. } => ErrorCode::InvitationAccepted,
            DomainError::UnknownProduct { .. } => ErrorCode::UnknownProduct,
            DomainError::Refused { reason } => reason.code(),
            DomainError::UnknownResultType { .. } => ErrorCode::UnknownResultType,
            DomainError::InsufficientTokens { .. } | DomainError::SessionStopped => {
                ErrorCode::InsufficientTokens
            }
            DomainError::TeamClosed { .. } => ErrorCode::TeamClosed,
            DomainError::SameTeam => ErrorCode::SameTeam,
            DomainError::TooManyPacks { .. } => ErrorCode::TooManyPacks,
            DomainError::TooManyTeams { .. } => ErrorCode::TooManyTeams,
            DomainError::AlreadyAssigned { .. } => ErrorCode::AlreadyAssigned,
            DomainError::AlreadyInvited { .. } => ErrorCode::AlreadyInvited,
            DomainError::IdempotencyKeyReused { .. } => ErrorCode::IdempotencyKeyReused,
            DomainError::SessionEnded { .. } => ErrorCode::SessionEnded,
            DomainError::DuplicateAdmin { .. } => ErrorCode::DuplicateAdmin,
            DomainError::DuplicateProduct { .. } => ErrorCode::DuplicateProduct,
            DomainError::DuplicateUser { .. } => ErrorCode::DuplicateUser,
            DomainError::TooManyImports { .. } => ErrorCode::TooManyImports,
            DomainError::MessageNotFailed { .. } => ErrorCode::MessageNotFailed,
            DomainError::PasswordLinkUsed => ErrorCode::PasswordLinkUsed,
            DomainError::PasswordLinkExpired => ErrorCode::PasswordLinkExpired,
            DomainError::Corrupt { .. } => ErrorCode::LedgerCorrupt,
        }
    }
}
