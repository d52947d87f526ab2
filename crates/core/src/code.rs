//! The stable error codes: a leaf, so that errors, refusals and the server's status table name
//! the same list without depending on each other.

use std::fmt;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// Every stable reason the service answers a failure with: the `code` of a problem+json
        /// answer (docs/api.md), what the CLI prints and what clients match on. One variant per
        /// code; the server gives each code exactly one HTTP status, in one table
        /// (`crates/server/src/error.rs`). Domain refusals, store refusals and the server's own
        /// (authentication, malformed requests, protection bounds) all answer with one of these.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code on the wire: stable snake_case.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    // Values that do not parse (400).
    InvalidTokens => "invalid_tokens",
    InvalidRate => "invalid_rate",
    InvalidProductKey => "invalid_product_key",
    InvalidName => "invalid_name",
    InvalidItem => "invalid_item",
    InvalidEmail => "invalid_email",
    InvalidRange => "invalid_range",
    InvalidIdempotencyKey => "invalid_idempotency_key",
    InvalidInvitee => "invalid_invitee",
    InvalidPassword => "invalid_password",
    InvalidImport => "invalid_import",
    InvalidSelection => "invalid_selection",
    // Requests that do not parse, found by the server's extractors (400).
    InvalidJson => "invalid_json",
    InvalidBody => "invalid_body",
    InvalidPath => "invalid_path",
    InvalidQuery => "invalid_query",
    InvalidForm => "invalid_form",
    InvalidSeconds => "invalid_seconds",
    UnsupportedMediaType => "unsupported_media_type",
    BodyTooLarge => "body_too_large",
    // Who is asking (401, 403).
    Unauthorized => "unauthorized",
    KeyRevoked => "key_revoked",
    InvalidCredentials => "invalid_credentials",
    Forbidden => "forbidden",
    TooManySignInAttempts => "too_many_sign_in_attempts",
    // What is asked for.
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    // Invitations (R-USR-3).
    InvitationExpired => "invitation_expired",
    InvitationSuperseded => "invitation_superseded",
    InvitationAccepted => "invitation_accepted",
    // Password links of the console and the portal.
    PasswordLinkUsed => "password_link_used",
    PasswordLinkExpired => "password_link_expired",
    // Sign-in refusals (R-SES-1) and other rule refusals.
    NotAssigned => "not_assigned",
    InvitationPending => "invitation_pending",
    ProductNotAllowed => "product_not_allowed",
    UnknownProduct => "unknown_product",
    UnknownResultType => "unknown_result_type",
    InsufficientTokens => "insufficient_tokens",
    TeamClosed => "team_closed",
    SameTeam => "same_team",
    TooManyPacks => "too_many_packs",
    TooManyTeams => "too_many_teams",
    IdempotencyKeyReused => "idempotency_key_reused",
    SessionEnded => "session_ended",
    // Collisions with stored state.
    AlreadyAssigned => "already_assigned",
    AlreadyInvited => "already_invited",
    DuplicateAdmin => "duplicate_admin",
    DuplicateProduct => "duplicate_product",
    DuplicateUser => "duplicate_user",
    TooManyImports => "too_many_imports",
    MessageNotFailed => "message_not_failed",
    // The server protecting itself or failing.
    Busy => "busy",
    NoRandomness => "no_randomness",
    DatabaseUnavailable => "database_unavailable",
    LedgerCorrupt => "ledger_corrupt",
    Internal => "internal",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_is_its_own_snake_case_string() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} is the string of two codes");
            assert!(
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
        }
    }
}
