use std::fmt;

use crate::error::DomainError;

/// The value of an `Idempotency-Key` header: 1 to 255 visible ASCII characters. A request retried
/// with the same key gets the first answer and changes nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<IdempotencyKey, DomainError> {
        if raw.is_empty()
            || raw.len() > MAX_IDEMPOTENCY_KEY_LEN
            || !raw.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(DomainError::InvalidIdempotencyKey {
                detail: format!(
                    "an Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters without spaces, such as a UUID"
                ),
            });
        }
        Ok(IdempotencyKey(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_and_bounded() {
        assert_eq!(
            IdempotencyKey::parse("0b6f-4c1e").unwrap().as_str(),
            "0b6f-4c1e"
        );
        for bad in ["", "a b", "é", &"k".repeat(256)] {
            assert_eq!(
                IdempotencyKey::parse(bad).unwrap_err().code(),
                crate::ErrorCode::InvalidIdempotencyKey
            );
        }
    }
}
