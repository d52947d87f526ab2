use std::fmt;

use crate::error::DomainError;

/// An email address as people type them: `local@domain.tld`. Kept as typed; compared and looked
/// up case-insensitively through [`Email::normalized`], since one identity has one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

const MAX_LEN: usize = 254;
const MAX_LOCAL: usize = 64;

impl Email {
    pub fn parse(raw: &str) -> Result<Email, DomainError> {
        let s = raw.trim();
        let bad = |why: &str| DomainError::InvalidEmail {
            detail: format!(
                "{:?} is not an email address ({why}); expected a form like jane@example.com",
                s.chars().take(80).collect::<String>()
            ),
        };
        if s.len() > MAX_LEN {
            return Err(bad("too long"));
        }
        let (local, domain) = s.split_once('@').ok_or_else(|| bad("no @"))?;
        if local.is_empty() || local.len() > MAX_LOCAL {
            return Err(bad("the part before @ must be 1 to 64 characters"));
        }
        let local_ok = local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-.".contains(&b));
        if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad("the part before @ has a character that is not allowed"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("the domain needs a dot, as in example.com"));
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(bad("the domain is not valid"));
            }
        }
        let tld = labels[labels.len() - 1];
        if tld.len() < 2 || !tld.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(bad("the domain's last part must be letters, as in .com"));
        }
        Ok(Email(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lookup form: lowercase, so `Jane@X.com` and `jane@x.com` are one identity.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_addresses_and_compares_case_insensitively() {
        for good in ["jane@example.com", "j.doe+cad@sub.example.co.uk", "a@b.io"] {
            assert_eq!(Email::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(
            Email::parse("Jane@Example.COM").unwrap().normalized(),
            "jane@example.com"
        );
    }

    #[test]
    fn rejects_what_is_not_an_address_with_the_expected_form() {
        for bad in [
            "",
            "jane",
            "jane@",
            "@x.com",
            "jane@x",
            "ja ne@x.com",
            "jane@x..com",
            "jane@-x.com",
            "jane@x.c0m",
            ".jane@x.com",
            "jane@@x.com",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::InvalidEmail, "{bad:?}");
            assert!(err.to_string().contains("jane@example.com"));
        }
    }
}
