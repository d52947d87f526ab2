//! Beyond what Flex offers: at the team's recent burn rate, when the balance runs out and how
//! many tokens will expire unused; and R-REP-5, the estimator of a year's needs from a plan.
//!
//! Forecasts are estimates (a rate is tokens per day, fractional), unlike the ledger: results
//! are rounded to whole tokens and days at the end.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::error::DomainError;
use crate::pack::{PackState, usable_in_order};
use crate::product::ProductKey;
use crate::report::DayRange;
use crate::tokens::Tokens;

/// The forecast's burn rate is the team's use over this many days, today included.
pub const BURN_WINDOW_DAYS: i64 = 30;

/// The days whose use makes the burn rate: the last [`BURN_WINDOW_DAYS`], today included.
pub fn burn_window(today: NaiveDate) -> DayRange {
    DayRange {
        first: today - Duration::days(BURN_WINDOW_DAYS - 1),
        last: today,
    }
}

/// Tokens per day, from the tokens used over the [`burn_window`].
pub fn daily_burn(used_in_window: Tokens) -> f64 {
    used_in_window.get() as f64 / BURN_WINDOW_DAYS as f64
}

#[derive(Debug, Clone, PartialEq)]
pub struct PackForecast {
    pub pack: crate::PackId,
    pub expires_at: DateTime<Utc>,
    pub remaining: Tokens,
    /// Tokens of this pack used before it expires, at the burn rate.
    pub used: Tokens,
    /// Tokens of this pack that expire unused.
    pub expiring: Tokens,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Tokens per day the forecast assumes.
    pub daily_burn: f64,
    /// When the balance reaches zero, by use or by expiry; `None` for an empty balance.
    pub balance_zero_at: Option<DateTime<Utc>>,
    /// Whether it reaches zero because tokens are used up (rather than expiring).
    pub runs_out_by_use: bool,
    pub expiring_unused: Tokens,
    pub packs: Vec<PackForecast>,
}

/// Consumes the usable packs at `daily_burn` tokens per day from `now`, in consumption order
/// (R-PACK-3), letting each pack expire with whatever is left at its expiry.
pub fn forecast(packs: &[PackState], now: DateTime<Utc>, daily_burn: f64) -> Forecast {
    let burn = if daily_burn.is_finite() && daily_burn > 0.0 {
        daily_burn
    } else {
        0.0
    };
    let usable = usable_in_order(packs, now);
    let days_until = |t: DateTime<Utc>| (t - now).num_seconds() as f64 / 86_400.0;
    // `clock` is the time (days from now) up to which consumption has used the earlier packs.
    let mut clock = 0.0f64;
    let mut out = Vec::with_capacity(usable.len());
    let mut expiring_total = 0u64;
    let mut zero_at = 0.0f64;
    let mut by_use = false;
    for p in usable {
        let expiry = days_until(p.expires_at);
        let remaining = p.remaining.get() as f64;
        let start = clock.min(expiry);
        let can_use = (burn * (expiry - start)).max(0.0);
        let (used, end) = if can_use >= remaining {
            (
                p.remaining.get(),
                start + if burn > 0.0 { remaining / burn } else { 0.0 },
            )
        } else {
            (can_use.floor() as u64, expiry)
        };
        let expiring = p.remaining.get() - used.min(p.remaining.get());
        expiring_total += expiring;
        clock = end;
        if end >= zero_at {
            zero_at = end;
            by_use = expiring == 0;
        }
        out.push(PackForecast {
            pack: p.id,
            expires_at: p.expires_at,
            remaining: p.remaining,
            used: Tokens::new(used).unwrap_or(Tokens::ZERO),
            expiring: Tokens::new(expiring).unwrap_or(Tokens::ZERO),
        });
    }
    Forecast {
        daily_burn: burn,
        balance_zero_at: (!out.is_empty())
            .then(|| now + Duration::seconds((zero_at * 86_400.0).round() as i64)),
        runs_out_by_use: by_use,
        expiring_unused: Tokens::new(expiring_total).unwrap_or(Tokens::ZERO),
        packs: out,
    }
}

/// Most planned users of one product, and most lines in one plan.
pub const MAX_PLANNED_USERS: u32 = 1_000_000;
/// Most planned days of use in a month.
pub const MAX_DAYS_PER_MONTH: u32 = 31;
pub const MAX_PLAN_LINES: usize = 500;

/// One line of a plan: so many users of a product, so many days a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLine {
    pub product: ProductKey,
    pub daily_rate: Tokens,
    pub users: u32,
    pub days_per_month: u32,
}

impl PlanLine {
    /// A line from the counts a request sends, which must be positive whole numbers (the bounds
    /// are [`estimate`]'s).
    pub fn new(
        product: ProductKey,
        daily_rate: Tokens,
        users: i64,
        days_per_month: i64,
    ) -> Result<PlanLine, DomainError> {
        let count = |v: i64, what: &str| {
            u32::try_from(v).map_err(|_| DomainError::InvalidRange {
                detail: format!("{what} must be a positive whole number ({product}), got {v}"),
            })
        };
        Ok(PlanLine {
            users: count(users, "users")?,
            days_per_month: count(days_per_month, "days per month")?,
            product,
            daily_rate,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstimateLine {
    pub product: ProductKey,
    pub tokens_per_month: Tokens,
    pub tokens_per_year: Tokens,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub lines: Vec<EstimateLine>,
    pub tokens_per_month: Tokens,
    pub tokens_per_year: Tokens,
}

/// R-REP-5: tokens a plan needs: users × days per month × daily rate, per month and per year.
pub fn estimate(plan: &[PlanLine]) -> Result<Estimate, DomainError> {
    let bad = |detail: String| DomainError::InvalidRange { detail };
    if plan.is_empty() || plan.len() > MAX_PLAN_LINES {
        return Err(bad(format!("a plan has 1 to {MAX_PLAN_LINES} lines")));
    }
    let overflow = || bad("the plan needs more tokens than can be counted".into());
    let mut lines = Vec::with_capacity(plan.len());
    let (mut month, mut year) = (Tokens::ZERO, Tokens::ZERO);
    for l in plan {
        if l.users == 0 || l.users > MAX_PLANNED_USERS {
            return Err(bad(format!(
                "users must be 1 to {MAX_PLANNED_USERS} ({})",
                l.product
            )));
        }
        if l.days_per_month == 0 || l.days_per_month > MAX_DAYS_PER_MONTH {
            return Err(bad(format!(
                "days per month must be 1 to {MAX_DAYS_PER_MONTH} ({})",
                l.product
            )));
        }
        let per_month = l
            .daily_rate
            .checked_mul(l.users as u64 * l.days_per_month as u64)
            .ok_or_else(overflow)?;
        let per_year = per_month.checked_mul(12).ok_or_else(overflow)?;
        month = month.checked_add(per_month).ok_or_else(overflow)?;
        year = year.checked_add(per_year).ok_or_else(overflow)?;
        lines.push(EstimateLine {
            product: l.product.clone(),
            tokens_per_month: per_month,
            tokens_per_year: per_year,
        });
    }
    Ok(Estimate {
        lines,
        tokens_per_month: month,
        tokens_per_year: year,
    })
}

/// R-REP-5 against a team: what its packs cover of a year of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct AgainstTeam {
    /// Tokens available now.
    pub available: u64,
    /// Of those, tokens that would expire before the plan's use reached them.
    pub expiring_before_use: u64,
    /// Tokens the team must still buy for a year of the plan.
    pub shortfall: u64,
    /// When the balance reaches zero at the plan's daily burn.
    pub balance_zero_at: Option<DateTime<Utc>>,
}

/// Holds a year of `plan` (see [`estimate`]) against a team's packs: the plan's daily burn is a
/// year's tokens over 365 days, consumed in R-PACK-3 order, and what would expire unused does not
/// count towards the year.
pub fn against_team(
    plan: &Estimate,
    packs: &[PackState],
    now: DateTime<Utc>,
) -> Result<AgainstTeam, DomainError> {
    let available = crate::pack::available(packs, now)?.get();
    let year = plan.tokens_per_year.get();
    let f = forecast(packs, now, year as f64 / 365.0);
    let expiring = f.expiring_unused.get();
    // What expires unused is part of what is available, never more.
    let usable = available.saturating_sub(expiring);
    Ok(AgainstTeam {
        available,
        expiring_before_use: expiring,
        shortfall: year.saturating_sub(usable),
        balance_zero_at: f.balance_zero_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burn_rate_is_the_last_30_days_of_use_today_included() {
        let today: NaiveDate = "2026-03-15".parse().unwrap();
        let w = burn_window(today);
        assert_eq!(w.first, "2026-02-14".parse::<NaiveDate>().unwrap());
        assert_eq!((w.last, w.days()), (today, 30));
        assert_eq!(daily_burn(Tokens::new(600).unwrap()), 20.0);
        assert_eq!(daily_burn(Tokens::ZERO), 0.0);
    }

    #[test]
    fn r_rep_5_plan_counts_are_positive_whole_numbers() {
        let key = ProductKey::parse("autocad").unwrap();
        let line = PlanLine::new(key.clone(), Tokens::new(5).unwrap(), 3, 20).unwrap();
        assert_eq!((line.users, line.days_per_month), (3, 20));
        for (users, days) in [(-1, 20), (3, -20), (i64::MAX, 20)] {
            let e = PlanLine::new(key.clone(), Tokens::new(5).unwrap(), users, days).unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::InvalidRange, "{users} {days}");
        }
    }
    use crate::PackId;
    use crate::pack::expiry_for;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn pack(id: i64, remaining: u64, bought: &str) -> PackState {
        let purchased_at = at(bought);
        PackState {
            id: PackId(id),
            tokens: Tokens::new(remaining).unwrap(),
            remaining: Tokens::new(remaining).unwrap(),
            moved_out: Tokens::ZERO,
            purchased_at,
            expires_at: expiry_for(purchased_at),
        }
    }

    #[test]
    fn the_balance_runs_out_at_the_burn_rate() {
        let now = at("2026-01-01T00:00:00Z");
        let f = forecast(&[pack(1, 700, "2026-01-01T00:00:00Z")], now, 7.0);
        assert_eq!(
            f.balance_zero_at,
            Some(at("2026-04-11T00:00:00Z")),
            "100 days"
        );
        assert!(f.runs_out_by_use);
        assert_eq!(f.expiring_unused, Tokens::ZERO);
    }

    #[test]
    fn tokens_the_burn_cannot_reach_before_expiry_expire_unused() {
        let now = at("2026-01-01T00:00:00Z");
        // Pack 1 expires in 100 days (bought 265 days ago) with 1000 left: at 7/day only 700 are
        // used; pack 2 (a year) is then used from day 100.
        let p1 = pack(1, 1000, "2025-04-11T00:00:00Z");
        let p2 = pack(2, 70, "2026-01-01T00:00:00Z");
        let f = forecast(&[p2.clone(), p1.clone()], now, 7.0);
        assert_eq!(f.packs[0].pack, PackId(1), "consumption order");
        assert_eq!(
            (f.packs[0].used.get(), f.packs[0].expiring.get()),
            (700, 300)
        );
        assert_eq!((f.packs[1].used.get(), f.packs[1].expiring.get()), (70, 0));
        assert_eq!(f.expiring_unused.get(), 300);
        assert_eq!(
            f.balance_zero_at,
            Some(at("2026-04-21T00:00:00Z")),
            "day 100 + 10"
        );
        // No use at all: everything expires, and the balance is zero at the last expiry.
        let idle = forecast(&[p1, p2.clone()], now, 0.0);
        assert_eq!(idle.expiring_unused.get(), 1070);
        assert_eq!(idle.balance_zero_at, Some(p2.expires_at));
        assert!(!idle.runs_out_by_use);
        assert_eq!(forecast(&[], now, 5.0).balance_zero_at, None);
    }

    #[test]
    fn r_rep_5_a_plan_needs_users_times_days_times_rate() {
        let line = |k: &str, rate, users, days| PlanLine {
            product: ProductKey::parse(k).unwrap(),
            daily_rate: Tokens::new(rate).unwrap(),
            users,
            days_per_month: days,
        };
        let e = estimate(&[line("autocad", 7, 5, 8), line("revit", 10, 2, 4)]).unwrap();
        assert_eq!(e.lines[0].tokens_per_month.get(), 280);
        assert_eq!(e.tokens_per_month.get(), 280 + 80);
        assert_eq!(e.tokens_per_year.get(), 360 * 12);
        for bad in [
            line("autocad", 7, 0, 8),
            line("autocad", 7, 5, 32),
            line("autocad", 7, 5, 0),
        ] {
            assert_eq!(
                estimate(&[bad]).unwrap_err().code(),
                crate::ErrorCode::InvalidRange
            );
        }
        assert!(estimate(&[]).is_err());
    }

    #[test]
    fn r_rep_5_a_plan_against_a_team_counts_what_would_expire_as_missing() {
        let now = at("2026-01-01T00:00:00Z");
        // 2 users × 10 days × 7 tokens: 140 a month, 1680 a year, 4.6 a day.
        let plan = estimate(&[PlanLine {
            product: ProductKey::parse("cad").unwrap(),
            daily_rate: Tokens::new(7).unwrap(),
            users: 2,
            days_per_month: 10,
        }])
        .unwrap();
        assert_eq!(plan.tokens_per_year.get(), 1680);
        // 1000 tokens expiring in 100 days: at 4.6 a day only 460 are used before, 540 expire.
        let packs = [pack(1, 1000, "2025-04-11T00:00:00Z")];
        let a = against_team(&plan, &packs, now).unwrap();
        assert_eq!((a.available, a.expiring_before_use), (1000, 540));
        assert_eq!(a.shortfall, 1680 - 460);
        // A team that holds more than a year of the plan is short of nothing.
        let rich = [pack(2, 5000, "2026-01-01T00:00:00Z")];
        let a = against_team(&plan, &rich, now).unwrap();
        assert_eq!(
            (a.available, a.expiring_before_use, a.shortfall),
            (5000, 5000 - 1680, 0)
        );
    }
}
