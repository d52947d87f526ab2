use std::fmt;

use crate::error::DomainError;
use crate::limits::MAX_NAME_CHARS;

/// A team's display name: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamName(String);

impl TeamName {
    pub fn parse(raw: &str) -> Result<TeamName, DomainError> {
        parse_display_name(raw, "team name").map(TeamName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shared grammar of human-facing names (teams, products, people).
pub(crate) fn parse_display_name(raw: &str, what: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(DomainError::InvalidName {
            detail: format!("the {what} is empty"),
        });
    }
    if chars > MAX_NAME_CHARS {
        return Err(DomainError::InvalidName {
            detail: format!(
                "the {what} has {chars} characters; at most {MAX_NAME_CHARS} are allowed"
            ),
        });
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::InvalidName {
            detail: format!("the {what} contains a control character (such as a line break)"),
        });
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(TeamName::parse("  Design  ").unwrap().as_str(), "Design");
        assert_eq!(TeamName::parse("   ").unwrap_err().code(), "invalid_name");
        assert!(TeamName::parse(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(TeamName::parse(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(TeamName::parse("a\nb").is_err());
        assert_eq!(TeamName::parse("Équipe ✓").unwrap().as_str(), "Équipe ✓");
    }
}
