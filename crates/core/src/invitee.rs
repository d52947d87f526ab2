//! R-USR-2: inviting people as `Full Name <email@domain>`.

use crate::email::Email;
use crate::error::DomainError;
use crate::person::PersonName;

pub const EXPECTED_FORM: &str = "Full Name <name@example.com>";

/// Most entries in one batch of invitations.
pub const MAX_ENTRIES: usize = 500;

/// A person to invite: a full name and a valid address, both required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitee {
    pub name: PersonName,
    pub email: Email,
}

impl Invitee {
    /// Parses exactly `Full Name <email>`. Anything else is refused with a message that shows the
    /// expected form and what was wrong with this entry.
    pub fn parse(entry: &str) -> Result<Invitee, DomainError> {
        let entry = entry.trim();
        let bad = |why: String| DomainError::InvalidInvitee {
            detail: format!(
                "{:?}: {why}; write each person as {EXPECTED_FORM}",
                entry.chars().take(120).collect::<String>()
            ),
        };
        let Some(open) = entry.find('<') else {
            return Err(bad("no <email> part".into()));
        };
        if !entry.ends_with('>') {
            return Err(bad("the email must be last, inside < >".into()));
        }
        let inner = &entry[open + 1..entry.len() - 1];
        if inner.contains(['<', '>']) {
            return Err(bad("more than one < > part".into()));
        }
        let name = entry[..open].trim().trim_matches('"').trim();
        if name.is_empty() {
            return Err(bad("the full name is missing".into()));
        }
        let name = PersonName::parse(name).map_err(|e| bad(e.to_string()))?;
        let email = Email::parse(inner).map_err(|e| bad(e.to_string()))?;
        Ok(Invitee { name, email })
    }
}

/// Splits a list of entries given one per line or comma-separated. A comma separates entries
/// only once the current entry holds an address (an `@`) and outside `< >`, so names such as
/// `Doe, Jane <jane@example.com>` stay whole while `a@x.com, b@x.com` are two. Empty entries are
/// skipped.
pub fn split_entries(text: &str) -> Vec<String> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let mut current = String::new();
        let mut in_brackets = false;
        for c in line.chars() {
            match c {
                '<' => in_brackets = true,
                '>' => in_brackets = false,
                ',' if !in_brackets && current.contains('@') => {
                    entries.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        entries.push(current);
    }
    entries
        .into_iter()
        .map(|e| e.trim().to_owned())
        .filter(|e| {
            !e.trim_matches(|c: char| c == ',' || c.is_whitespace())
                .is_empty()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn r_usr_2_full_name_and_address_are_both_required() {
        let i = Invitee::parse("  Jane Doe <Jane.Doe@Example.com> ").unwrap();
        assert_eq!(i.name.as_str(), "Jane Doe");
        assert_eq!(i.email.as_str(), "Jane.Doe@Example.com");
        assert_eq!(
            Invitee::parse("\"Doe, Jane\" <jane@example.com>")
                .unwrap()
                .name
                .as_str(),
            "Doe, Jane"
        );
        for bad in [
            "",
            "jane@example.com",
            "<jane@example.com>",
            "Jane Doe",
            "Jane Doe <>",
            "Jane Doe <jane@example>",
            "Jane Doe <jane@example.com",
            "Jane Doe <jane@example.com> extra",
            "Jane <a@b.com> <c@d.com>",
        ] {
            let err = Invitee::parse(bad).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::InvalidInvitee, "{bad:?}");
            assert!(err.to_string().contains(EXPECTED_FORM), "{err}");
        }
    }

    #[test]
    fn r_usr_2_entries_are_split_by_lines_and_commas() {
        let text = "Jane Doe <jane@x.com>, John Roe <john@x.com>\nDoe, Ann <ann@x.com>\n\n  ,  \nbob@x.com, carol@x.com";
        assert_eq!(
            split_entries(text),
            vec![
                "Jane Doe <jane@x.com>",
                "John Roe <john@x.com>",
                "Doe, Ann <ann@x.com>",
                "bob@x.com",
                "carol@x.com",
            ]
        );
    }

    proptest! {
        #[test]
        fn valid_invitees_round_trip(
            first in "[A-Z][a-z]{1,12}",
            last in "[A-Z][a-z]{1,12}",
            local in "[a-z][a-z0-9.]{0,10}[a-z0-9]",
            domain in "[a-z]{1,10}",
            tld in "[a-z]{2,6}",
        ) {
            let text = format!("{first} {last} <{local}@{domain}.{tld}>");
            prop_assume!(!local.contains(".."));
            let i = Invitee::parse(&text).unwrap();
            prop_assert_eq!(format!("{} <{}>", i.name, i.email), text.clone());
            prop_assert_eq!(split_entries(&format!("{text},{text}\n{text}")).len(), 3);
        }

        #[test]
        fn garbage_never_panics_and_always_gets_a_reason(s in "\\PC{0,80}") {
            if let Err(e) = Invitee::parse(&s) {
                prop_assert_eq!(e.code(), crate::ErrorCode::InvalidInvitee);
                prop_assert!(e.to_string().contains(EXPECTED_FORM));
            }
            let _ = split_entries(&s);
        }
    }
}
