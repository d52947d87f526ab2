//! R-PACK-5: every change of a balance is an immutable ledger event with a signed amount, so that
//! the sum of a team's events equals its balance at all times.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::ids::{AdminId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Purchased,
    Charged,
    Refunded,
    Expired,
    MovedOut,
    MovedIn,
    Merged,
    Adjusted,
}

/// Which way an event moves a balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Credit,
    Debit,
    /// `merged` debits the source team and credits the target; `adjusted` goes either way.
    Either,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Purchased,
        EventKind::Charged,
        EventKind::Refunded,
        EventKind::Expired,
        EventKind::MovedOut,
        EventKind::MovedIn,
        EventKind::Merged,
        EventKind::Adjusted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Purchased => "purchased",
            EventKind::Charged => "charged",
            EventKind::Refunded => "refunded",
            EventKind::Expired => "expired",
            EventKind::MovedOut => "moved_out",
            EventKind::MovedIn => "moved_in",
            EventKind::Merged => "merged",
            EventKind::Adjusted => "adjusted",
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            EventKind::Purchased | EventKind::Refunded | EventKind::MovedIn => Direction::Credit,
            EventKind::Charged | EventKind::Expired | EventKind::MovedOut => Direction::Debit,
            EventKind::Merged | EventKind::Adjusted => Direction::Either,
        }
    }

    /// The signed amount an event of this kind records for `tokens` (which must not be zero: an
    /// event that changes nothing is not written).
    pub fn signed(self, tokens: crate::Tokens, credit: bool) -> i64 {
        assert!(!tokens.is_zero(), "a ledger event moves at least one token");
        let n = tokens.as_i64();
        let credit = match self.direction() {
            Direction::Credit => true,
            Direction::Debit => false,
            Direction::Either => credit,
        };
        if credit { n } else { -n }
    }

    /// Checks a stored amount against the kind (the database has the same CHECK constraint).
    pub fn check_amount(self, amount: i64) -> Result<(), DomainError> {
        let ok = match self.direction() {
            Direction::Credit => amount > 0,
            Direction::Debit => amount < 0,
            Direction::Either => amount != 0,
        };
        if ok {
            Ok(())
        } else {
            Err(DomainError::Corrupt {
                detail: format!("{} event with amount {amount}", self.as_str()),
            })
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::Corrupt {
                detail: format!("unknown event kind {s:?}"),
            })
    }
}

/// Who made a change. Stored as text: `operator`, `admin:7`, `user:12`, `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    Operator,
    Admin(AdminId),
    User(UserId),
    /// The service itself: expiry, the idle-session sweeper.
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Operator => f.write_str("operator"),
            Actor::Admin(id) => write!(f, "admin:{id}"),
            Actor::User(id) => write!(f, "user:{id}"),
            Actor::System => f.write_str("system"),
        }
    }
}

impl FromStr for Actor {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DomainError::Corrupt {
            detail: format!("unknown actor {s:?}"),
        };
        match s {
            "operator" => Ok(Actor::Operator),
            "system" => Ok(Actor::System),
            _ => {
                let (kind, id) = s.split_once(':').ok_or_else(bad)?;
                let id: i64 = id.parse().map_err(|_| bad())?;
                match kind {
                    "admin" => Ok(Actor::Admin(AdminId(id))),
                    "user" => Ok(Actor::User(UserId(id))),
                    _ => Err(bad()),
                }
            }
        }
    }
}

/// Why an event happened: the purchase, move, merge, session or result behind it. Stored as a kind
/// and a reference so that all events of one cause can be found together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cause {
    pub kind: CauseKind,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CauseKind {
    Purchase,
    Move,
    Merge,
    Expiry,
    Session,
    /// A usage period's charge or refund (R-SES-2..4).
    Period,
    Result,
    Adjustment,
}

impl CauseKind {
    const ALL: [CauseKind; 8] = [
        CauseKind::Purchase,
        CauseKind::Move,
        CauseKind::Merge,
        CauseKind::Expiry,
        CauseKind::Session,
        CauseKind::Period,
        CauseKind::Result,
        CauseKind::Adjustment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CauseKind::Purchase => "purchase",
            CauseKind::Move => "move",
            CauseKind::Merge => "merge",
            CauseKind::Expiry => "expiry",
            CauseKind::Session => "session",
            CauseKind::Period => "period",
            CauseKind::Result => "result",
            CauseKind::Adjustment => "adjustment",
        }
    }
}

impl FromStr for CauseKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CauseKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::Corrupt {
                detail: format!("unknown cause {s:?}"),
            })
    }
}

impl Cause {
    pub fn new(kind: CauseKind, reference: impl fmt::Display) -> Cause {
        Cause {
            kind,
            reference: Some(reference.to_string()),
        }
    }

    pub fn bare(kind: CauseKind) -> Cause {
        Cause {
            kind,
            reference: None,
        }
    }
}

/// `move:12`, `expiry`.
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            Some(r) => write!(f, "{}:{r}", self.kind.as_str()),
            None => f.write_str(self.kind.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tokens;

    #[test]
    fn r_pack_5_every_kind_has_a_fixed_sign() {
        let five = Tokens::new(5).unwrap();
        for kind in EventKind::ALL {
            let amount = kind.signed(five, true);
            kind.check_amount(amount).unwrap();
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
            match kind.direction() {
                Direction::Credit => assert!(kind.check_amount(-5).is_err()),
                Direction::Debit => assert!(kind.check_amount(5).is_err()),
                Direction::Either => assert!(kind.check_amount(0).is_err()),
            }
        }
        assert_eq!(EventKind::Charged.signed(five, true), -5);
    }

    #[test]
    fn actors_and_causes_round_trip_through_text() {
        for a in [
            Actor::Operator,
            Actor::System,
            Actor::Admin(AdminId(7)),
            Actor::User(UserId(3)),
        ] {
            assert_eq!(a.to_string().parse::<Actor>().unwrap(), a);
        }
        assert!("admin:x".parse::<Actor>().is_err());
        assert_eq!(Cause::new(CauseKind::Move, 12).to_string(), "move:12");
        assert_eq!(Cause::bare(CauseKind::Expiry).to_string(), "expiry");
    }
}
