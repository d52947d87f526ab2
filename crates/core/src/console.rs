//! The web console's own rules: how long a browser stays signed in, and the single-use links that
//! let a person choose a password (an admin's first one, or a user's forgotten one).

use chrono::{DateTime, Duration, Utc};

use crate::error::DomainError;

/// R-WEB-2: a console or portal sign-in runs out after 12 hours without use.
pub fn session_lifetime() -> Duration {
    Duration::hours(12)
}

/// How often a sign-in in use is renewed: at most once an hour, so that page views do not each
/// write to the database.
const RENEW_EVERY: Duration = Duration::hours(1);

/// The new end of a sign-in used at `now`, when it is due for renewal: one used again keeps
/// running, one left alone for 12 hours ends. `None` when nothing needs writing (renewed within
/// the hour, or already over).
pub fn renewal(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (expires_at > now && expires_at - now < session_lifetime() - RENEW_EVERY)
        .then(|| now + session_lifetime())
}

/// How long the browser keeps a sign-in's cookie whatever its use: after a week the person signs
/// in again, even if they never stopped working.
pub fn cookie_lifetime() -> Duration {
    Duration::days(7)
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

    #[test]
    fn r_web_2_a_sign_in_in_use_is_renewed_at_most_hourly_and_ends_after_12_idle_hours() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let ends = start + session_lifetime();
        assert_eq!(renewal(ends, start), None, "just signed in");
        let later = start + Duration::minutes(59);
        assert_eq!(
            renewal(ends, later),
            None,
            "renewed within the hour: no write"
        );
        let later = start + Duration::minutes(61);
        assert_eq!(renewal(ends, later), Some(later + session_lifetime()));
        assert_eq!(renewal(ends, ends), None, "over is over");
        assert_eq!(renewal(ends, ends + Duration::seconds(1)), None);
    }
}
