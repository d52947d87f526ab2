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
    if let Some(c) = name.chars().find(|&c| is_bidi_control(c)) {
        return Err(DomainError::InvalidName {
            detail: format!(
                "the {what} contains U+{:04X}, a text-direction control: it can make a name \
                 display as something else",
                c as u32
            ),
        });
    }
    if name.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(DomainError::InvalidName {
            detail: format!("the {what} has no visible character"),
        });
    }
    Ok(name.to_owned())
}

/// Characters that reorder the text around them (Unicode's bidirectional controls): a name
/// holding one can show an admin something other than what is stored.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that draw nothing: format characters (zero-width spaces and joiners, the byte
/// order mark, invisible operators), variation selectors, tags and the blank "filler" letters.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E007F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(TeamName::parse("  Design  ").unwrap().as_str(), "Design");
        assert_eq!(
            TeamName::parse("   ").unwrap_err().code(),
            crate::ErrorCode::InvalidName
        );
        let longest = "x".repeat(MAX_NAME_CHARS);
        assert_eq!(TeamName::parse(&longest).unwrap().as_str(), longest);
        assert!(TeamName::parse(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(TeamName::parse("a\nb").is_err());
        assert_eq!(TeamName::parse("Équipe ✓").unwrap().as_str(), "Équipe ✓");
    }

    #[test]
    fn names_must_show_something_and_cannot_turn_text_around() {
        for invisible in [
            "\u{200B}",
            "\u{200B}\u{FEFF} \u{3164}",
            "\u{2800}\u{00AD}",
            "\u{E0041}",
        ] {
            let err = TeamName::parse(invisible).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::InvalidName);
            assert!(err.to_string().contains("no visible character"), "{err}");
        }
        for bidi in ["Ann\u{202E}nimda", "\u{2066}Bob\u{2069}", "Eve\u{200F}"] {
            let err = TeamName::parse(bidi).unwrap_err();
            assert!(err.to_string().contains("text-direction"), "{err}");
        }
        // Joiners inside a visible name are part of how some scripts and emoji are written.
        assert_eq!(
            TeamName::parse("Team 👩\u{200D}💻").unwrap().as_str(),
            "Team 👩\u{200D}💻"
        );
    }
}
