use std::fmt;

use crate::error::DomainError;
use crate::team::parse_display_name;

/// A person's full name as shown to admins and in emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<PersonName, DomainError> {
        parse_display_name(raw, "name").map(PersonName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
