//! The web console's own rules: how long a browser stays signed in, and the single-use links that
//! let a person choose a password (an admin's first one, or a user's forgotten one).

use chrono::{DateTime, Duration, Utc};

use crate::error::DomainError;

/// A console or portal sign-in lasts a working day; after that the browser signs in again.
pub fn session_lifetime() -> Duration {
    Duration::hours(12)
}

/// Why a password link was made; decides how long it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Sent when the operator creates an admin (or asks for a new link): like an invitation,
    /// valid a week.
    AdminPassword,
    /// "Forgot password": short-lived, because whoever reads the mailbox can use it.
    UserReset,
}

impl LinkPurpose {
    pub fn validity(self) -> Duration {
        match self {
            LinkPurpose::AdminPassword => Duration::days(7),
            LinkPurpose::UserReset => Duration::hours(1),
        }
    }
}

/// Whether a password link can be used at `now`: once, before it expires.
pub fn check_link(
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    if used_at.is_some() {
        Err(DomainError::PasswordLinkUsed)
    } else if now >= expires_at {
        Err(DomainError::PasswordLinkExpired)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_once_and_until_it_expires() {
        let made = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let expires = made + LinkPurpose::UserReset.validity();
        assert_eq!(check_link(expires, None, made), Ok(()));
        assert_eq!(
            check_link(expires, None, expires - Duration::seconds(1)),
            Ok(())
        );
        assert_eq!(
            check_link(expires, None, expires),
            Err(DomainError::PasswordLinkExpired)
        );
        assert_eq!(
            check_link(expires, Some(made), made),
            Err(DomainError::PasswordLinkUsed),
            "used beats expired: the person is told it was already used"
        );
        assert_eq!(LinkPurpose::AdminPassword.validity(), Duration::days(7));
        assert_eq!(session_lifetime(), Duration::hours(12));
    }
}
