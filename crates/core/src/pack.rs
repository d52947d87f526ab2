//! Token packs: their one-year life (R-PACK-1/2) and the consumption order (R-PACK-3).
//!
//! [`plan_draw`] is the only place that decides which packs pay for something. Charges, moves and
//! every later kind of debit go through it; the store applies the [`Draw`]s it returns.

use std::cmp::Ordering;

use chrono::{DateTime, Months, Utc};

use crate::error::DomainError;
use crate::ids::PackId;
use crate::limits::MAX_LIVE_PACKS_PER_TEAM;
use crate::tokens::Tokens;

/// Percentage of the active total below which a balance is "low" (R-REP-1, R-NOT-1 default).
pub const DEFAULT_LOW_PERCENT: u8 = 20;

/// R-REP-1, R-NOT-1: the share of its active total under which a team's balance is low, 1 to 99
/// percent (a team setting). The one place that says what a valid threshold is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowPercent(u8);

impl LowPercent {
    pub const DEFAULT: LowPercent = LowPercent(DEFAULT_LOW_PERCENT);

    /// A threshold someone typed.
    pub fn parse(percent: i64) -> Result<LowPercent, DomainError> {
        u8::try_from(percent)
            .ok()
            .filter(|p| (1..=99).contains(p))
            .map(LowPercent)
            .ok_or_else(|| DomainError::InvalidRange {
                detail: format!("low_balance_percent must be 1 to 99, got {percent}"),
            })
    }

    /// A stored threshold: out of range is a broken invariant, not the caller's fault.
    pub fn from_stored(percent: i64) -> Result<LowPercent, DomainError> {
        LowPercent::parse(percent).map_err(|_| DomainError::Corrupt {
            detail: format!("stored low_percent {percent} is not 1 to 99"),
        })
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A pack as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackState {
    pub id: PackId,
    /// Original size: what was bought, moved in or merged in. Breaks ties in the consumption order.
    pub tokens: Tokens,
    pub remaining: Tokens,
    /// Tokens moved to other teams out of this pack; they no longer count in this team's total.
    pub moved_out: Tokens,
    pub purchased_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl PackState {
    /// A pack is active until the instant it expires; at `expires_at` it is already expired.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }

    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.is_active(now) && !self.remaining.is_zero()
    }
}

/// R-PACK-1: a pack is valid for one calendar year. Adding twelve calendar months clamps to the
/// last day of the month, so a purchase on 29 February expires on 28 February of the next year.
pub fn expiry_for(purchased_at: DateTime<Utc>) -> DateTime<Utc> {
    purchased_at
        .checked_add_months(Months::new(12))
        // Only fails beyond year 262143; the clock never gets there.
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// R-PACK-3: earliest expiry first; on equal expiry the smallest pack (original size); then the
/// oldest purchase. The id settles the rest so the order is total and the same on every backend.
pub fn consumption_order(a: &PackState, b: &PackState) -> Ordering {
    a.expires_at
        .cmp(&b.expires_at)
        .then(a.tokens.cmp(&b.tokens))
        .then(a.purchased_at.cmp(&b.purchased_at))
        .then(a.id.cmp(&b.id))
}

/// Tokens taken from one pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    pub pack: PackId,
    pub tokens: Tokens,
}

/// The packs a charge may draw from at `now`, in the order it draws them (R-PACK-3).
pub fn usable_in_order(packs: &[PackState], now: DateTime<Utc>) -> Vec<&PackState> {
    let mut usable: Vec<&PackState> = packs.iter().filter(|p| p.is_usable(now)).collect();
    usable.sort_by(|a, b| consumption_order(a, b));
    usable
}

/// The packs that pay `amount` at `now`, in consumption order. A charge may span packs; expired
/// packs never pay (R-PACK-2); the balance never goes below zero (R-PACK-4): when the usable
/// tokens do not cover `amount`, nothing is drawn and the answer is `InsufficientTokens`.
pub fn plan_draw(
    packs: &[PackState],
    amount: Tokens,
    now: DateTime<Utc>,
) -> Result<Vec<Draw>, DomainError> {
    if packs.len() > MAX_LIVE_PACKS_PER_TEAM {
        return Err(DomainError::TooManyPacks {
            limit: MAX_LIVE_PACKS_PER_TEAM,
        });
    }
    let usable = usable_in_order(packs, now);
    let available = sum(usable.iter().map(|p| p.remaining))?;
    if available < amount {
        return Err(DomainError::InsufficientTokens {
            needed: amount.get(),
            available: available.get(),
        });
    }

    let mut draws = Vec::new();
    let mut left = amount;
    for pack in usable {
        if left.is_zero() {
            break;
        }
        let take = pack.remaining.min(left);
        draws.push(Draw {
            pack: pack.id,
            tokens: take,
        });
        // take is at most what is left.
        left = left.checked_sub(take).unwrap_or(Tokens::ZERO);
    }
    assert!(left.is_zero(), "available covered the amount");
    debug_assert_eq!(sum(draws.iter().map(|d| d.tokens)), Ok(amount));
    Ok(draws)
}

/// Tokens usable at `now` (R-PACK-2).
pub fn available(packs: &[PackState], now: DateTime<Utc>) -> Result<Tokens, DomainError> {
    sum(packs
        .iter()
        .filter(|p| p.is_usable(now))
        .map(|p| p.remaining))
}

/// What is left in a pack when it expires; written to the ledger as an `expired` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub pack: PackId,
    pub tokens: Tokens,
    /// The instant the pack expired: the event's time, whenever the sweep notices it.
    pub at: DateTime<Utc>,
}

/// Packs that have expired by `now` and still hold tokens (R-PACK-2).
pub fn due_expiries(packs: &[PackState], now: DateTime<Utc>) -> Vec<Expiry> {
    let mut due: Vec<Expiry> = packs
        .iter()
        .filter(|p| !p.is_active(now) && !p.remaining.is_zero())
        .map(|p| Expiry {
            pack: p.id,
            tokens: p.remaining,
            at: p.expires_at,
        })
        .collect();
    due.sort_by_key(|e| (e.at, e.pack));
    due
}

/// R-REP-1: the balance of a team, over its active packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceSummary {
    pub available: Tokens,
    /// Tokens of active packs already used (charged and not refunded).
    pub used: Tokens,
    /// Tokens of active packs, less what was moved out of them to other teams.
    pub total: Tokens,
    pub low: bool,
}

pub fn summarize(
    packs: &[PackState],
    now: DateTime<Utc>,
    low_percent: LowPercent,
) -> Result<BalanceSummary, DomainError> {
    let active: Vec<&PackState> = packs.iter().filter(|p| p.is_active(now)).collect();
    let available = sum(active.iter().map(|p| p.remaining))?;
    let mut total = Tokens::ZERO;
    for p in &active {
        let kept = p
            .tokens
            .checked_sub(p.moved_out)
            .ok_or_else(|| corrupt(p))?;
        if kept < p.remaining {
            return Err(corrupt(p));
        }
        total = total.checked_add(kept).ok_or_else(overflow)?;
    }
    let used = total.checked_sub(available).ok_or_else(overflow)?;
    Ok(BalanceSummary {
        available,
        used,
        total,
        low: is_low(available, total, low_percent.get()),
    })
}

/// Whether `available` is under `percent` % of `total`. Exact integer arithmetic (u128 so that no
/// product overflows). An empty team (total 0) is not "low": there is nothing to warn about.
pub fn is_low(available: Tokens, total: Tokens, percent: u8) -> bool {
    !total.is_zero() && (available.get() as u128) * 100 < (total.get() as u128) * (percent as u128)
}

/// Days before a pack's expiry at which the team's admins are warned (R-NOT-1), farthest first.
pub const EXPIRY_WARNING_DAYS: [i64; 3] = [90, 30, 7];

/// Whole days from `now` until `t`, rounded up (a pack expiring in 89.5 days is 90 days away).
pub fn days_until(now: DateTime<Utc>, t: DateTime<Utc>) -> i64 {
    let secs = (t - now).num_seconds();
    (secs + 86_399) / 86_400
}

/// R-NOT-1: the expiry warnings a pack expiring at `expires_at` has reached at `now`, and the
/// nearest of them, the one to send; `None` before the first. Each is sent once; when the clock
/// jumps past several at once, only the nearest is sent and the others count as done.
pub fn expiry_warnings_reached(
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Option<(Vec<i64>, i64)> {
    let left = days_until(now, expires_at);
    let reached: Vec<i64> = EXPIRY_WARNING_DAYS
        .into_iter()
        .filter(|days| left <= *days)
        .collect();
    let nearest = reached.iter().copied().min()?;
    Some((reached, nearest))
}

fn sum(mut items: impl Iterator<Item = Tokens>) -> Result<Tokens, DomainError> {
    items.try_fold(Tokens::ZERO, |acc, t| {
        acc.checked_add(t).ok_or_else(overflow)
    })
}

fn overflow() -> DomainError {
    DomainError::Corrupt {
        detail: "token sum overflows".into(),
    }
}

fn corrupt(p: &PackState) -> DomainError {
    DomainError::Corrupt {
        detail: format!(
            "pack {} has tokens {}, moved out {}, remaining {}",
            p.id, p.tokens, p.moved_out, p.remaining
        ),
    }
}

#[cfg(test)]
mod tests;
