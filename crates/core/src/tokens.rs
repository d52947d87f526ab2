use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::limits::{MAX_RATE, MAX_TOKENS_PER_REQUEST};

/// A whole, non-negative number of tokens. Arithmetic is checked: a token count never wraps and
/// never goes below zero (R-PACK-4).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Tokens(u64);

impl Tokens {
    pub const ZERO: Tokens = Tokens(0);

    /// Any count the store may hold (sums of packs, balances). Rejects what would not fit `i64`.
    pub fn new(n: u64) -> Result<Tokens, DomainError> {
        if n > i64::MAX as u64 {
            return Err(DomainError::InvalidTokens {
                detail: format!("{n} tokens is more than can be stored"),
            });
        }
        Ok(Tokens(n))
    }

    /// An amount a caller asks to purchase, move or charge: at least 1, at most
    /// [`MAX_TOKENS_PER_REQUEST`]. Takes `i64` so that a negative count gets its own message.
    pub fn parse_amount(n: i64) -> Result<Tokens, DomainError> {
        if n <= 0 || n as u64 > MAX_TOKENS_PER_REQUEST {
            return Err(DomainError::InvalidTokens {
                detail: format!(
                    "tokens must be a whole number from 1 to {MAX_TOKENS_PER_REQUEST}, got {n}"
                ),
            });
        }
        Ok(Tokens(n as u64))
    }

    /// A daily or per-result rate: 0 (free) to [`MAX_RATE`].
    pub fn parse_rate(n: i64) -> Result<Tokens, DomainError> {
        if !(0..=MAX_RATE as i64).contains(&n) {
            return Err(DomainError::InvalidRate {
                detail: format!("a rate must be a whole number from 0 to {MAX_RATE}, got {n}"),
            });
        }
        Ok(Tokens(n as u64))
    }

    /// Reads a count back from storage, where it is kept as `i64`. A negative value there means
    /// the database was changed behind the ledger's back.
    pub fn from_stored(n: i64) -> Result<Tokens, DomainError> {
        u64::try_from(n)
            .map(Tokens)
            .map_err(|_| DomainError::Corrupt {
                detail: format!("stored token count {n} is negative"),
            })
    }

    pub fn get(self) -> u64 {
        self.0
    }

    /// The count as stored (`BIGINT`). Lossless: [`Tokens::new`] keeps every value within `i64`.
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Tokens) -> Option<Tokens> {
        self.0
            .checked_add(other.0)
            .filter(|n| *n <= i64::MAX as u64)
            .map(Tokens)
    }

    pub fn checked_sub(self, other: Tokens) -> Option<Tokens> {
        self.0.checked_sub(other.0).map(Tokens)
    }

    pub fn min(self, other: Tokens) -> Tokens {
        Tokens(self.0.min(other.0))
    }

    pub fn checked_mul(self, n: u64) -> Option<Tokens> {
        self.0
            .checked_mul(n)
            .filter(|n| *n <= i64::MAX as u64)
            .map(Tokens)
    }
}

impl fmt::Display for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_must_be_positive_and_bounded() {
        assert_eq!(Tokens::parse_amount(1).unwrap().get(), 1);
        assert_eq!(
            Tokens::parse_amount(MAX_TOKENS_PER_REQUEST as i64)
                .unwrap()
                .get(),
            MAX_TOKENS_PER_REQUEST
        );
        for bad in [0, -1, i64::MIN, MAX_TOKENS_PER_REQUEST as i64 + 1, i64::MAX] {
            let err = Tokens::parse_amount(bad).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::InvalidTokens, "{bad}");
        }
    }

    #[test]
    fn rates_may_be_zero_but_not_negative() {
        assert!(Tokens::parse_rate(0).unwrap().is_zero());
        assert_eq!(
            Tokens::parse_rate(-1).unwrap_err().code(),
            crate::ErrorCode::InvalidRate
        );
        assert_eq!(
            Tokens::parse_rate(MAX_RATE as i64 + 1).unwrap_err().code(),
            crate::ErrorCode::InvalidRate
        );
    }

    #[test]
    fn arithmetic_never_wraps() {
        let max = Tokens::new(i64::MAX as u64).unwrap();
        assert_eq!(max.checked_add(Tokens(1)), None);
        assert_eq!(Tokens::ZERO.checked_sub(Tokens(1)), None);
        assert!(Tokens::new(u64::MAX).is_err());
        assert!(Tokens::from_stored(-5).is_err());
    }
}
