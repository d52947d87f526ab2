//! R-REP-3: the ranges usage reports cover, and the calendar keys aggregates are stored under.
//!
//! A range is a set of whole UTC days, first and last included. Named ranges: the past 30 days
//! (rolling, today included) and the past 3, 6, 9 or 12 months (whole completed calendar months,
//! the current month excluded); or a custom range of at most 366 days.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};

use crate::error::DomainError;
use crate::tokens::Tokens;

/// Longest custom range (a leap year).
pub const MAX_RANGE_DAYS: i64 = 366;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl DayRange {
    pub fn days(&self) -> i64 {
        (self.last - self.first).num_days() + 1
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        self.first <= d && d <= self.last
    }

    /// The range as whole calendar months inside it, and the days outside those months (at most
    /// two runs, before and after). Aggregates by month serve the months; by day the rest.
    pub fn split(&self) -> Split {
        let first_whole = if self.first.day() == 1 {
            self.first
        } else {
            first_of_next_month(self.first)
        };
        let after_last = self.last + Duration::days(1);
        let end_whole = if after_last.day() == 1 {
            after_last
        } else {
            first_of_month(self.last)
        };
        if first_whole >= end_whole {
            return Split {
                months: None,
                days: vec![*self],
            };
        }
        let mut days = Vec::new();
        if self.first < first_whole {
            days.push(DayRange {
                first: self.first,
                last: first_whole - Duration::days(1),
            });
        }
        if end_whole <= self.last {
            days.push(DayRange {
                first: end_whole,
                last: self.last,
            });
        }
        Split {
            months: Some((
                month_key(first_whole),
                month_key(end_whole - Duration::days(1)),
            )),
            days,
        }
    }
}

/// A range cut into whole months (first and last month keys, inclusive) and the remaining days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub months: Option<(i64, i64)>,
    pub days: Vec<DayRange>,
}

#[allow(clippy::expect_used, reason = "every month has a 1st")]
fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

#[allow(
    clippy::expect_used,
    reason = "request days are bounded to 9999 (jeton_api::bounds), far inside chrono's range"
)]
fn first_of_next_month(d: NaiveDate) -> NaiveDate {
    first_of_month(d)
        .checked_add_months(Months::new(1))
        .expect("within chrono's range")
}

#[allow(
    clippy::expect_used,
    reason = "today is the clock's, far inside chrono's range"
)]
/// Resolves a range name (`past_30_days`, `past_3_months`, `past_6_months`, `past_9_months`,
/// `past_12_months`, `custom`) against `today`.
pub fn resolve(
    name: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<DayRange, DomainError> {
    let bad = |detail: String| DomainError::InvalidRange { detail };
    if name != "custom" && (from.is_some() || to.is_some()) {
        return Err(bad(format!(
            "from and to go with range=custom, not with range={name}"
        )));
    }
    let months = |n: u32| {
        let this_month = first_of_month(today);
        DayRange {
            first: this_month
                .checked_sub_months(Months::new(n))
                .expect("within chrono's range"),
            last: this_month - Duration::days(1),
        }
    };
    match name {
        "past_30_days" => Ok(DayRange {
            first: today - Duration::days(29),
            last: today,
        }),
        "past_3_months" => Ok(months(3)),
        "past_6_months" => Ok(months(6)),
        "past_9_months" => Ok(months(9)),
        "past_12_months" => Ok(months(12)),
        "custom" => {
            let (Some(first), Some(last)) = (from, to) else {
                return Err(bad(
                    "range=custom needs from and to (YYYY-MM-DD, both included)".into(),
                ));
            };
            let range = DayRange { first, last };
            if last < first {
                return Err(bad(format!("to ({last}) is before from ({first})")));
            }
            if range.days() > MAX_RANGE_DAYS {
                return Err(bad(format!(
                    "a custom range covers at most {MAX_RANGE_DAYS} days; this one has {}",
                    range.days()
                )));
            }
            Ok(range)
        }
        other => Err(bad(format!(
            "unknown range {other:?}: use past_30_days, past_3_months, past_6_months, past_9_months, past_12_months or custom"
        ))),
    }
}

/// 1970-01-01, where day keys count from.
const EPOCH: NaiveDate = match NaiveDate::from_epoch_days(0) {
    Some(d) => d,
    // Never taken: day 0 exists (computed when compiling).
    None => NaiveDate::MIN,
};

/// R-REP-2: a team's events are listed over the last 90 days unless a range is given.
pub const DEFAULT_EVENTS_DAYS: i64 = 90;

/// R-REP-2: the times an events listing covers, `[from, to)`. `to` defaults to just after `now`
/// (so that events stamped exactly `now`, as on a frozen test clock, are in), `from` to
/// [`DEFAULT_EVENTS_DAYS`] before `to`; `from` must come before `to`.
pub fn events_range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), DomainError> {
    let to = to.unwrap_or(now + Duration::microseconds(1));
    let from = from.unwrap_or(to - Duration::days(DEFAULT_EVENTS_DAYS));
    if from >= to {
        return Err(DomainError::InvalidRange {
            detail: format!("from ({from}) must be before to ({to})"),
        });
    }
    Ok((from, to))
}

/// Days since 1970-01-01.
pub fn day_key(d: NaiveDate) -> i64 {
    (d - EPOCH).num_days()
}

pub fn day_of_key(key: i64) -> NaiveDate {
    EPOCH + Duration::days(key)
}

/// Months since January 1970: `year * 12 + month - 1`, shifted.
pub fn month_key(d: NaiveDate) -> i64 {
    (d.year() as i64 - 1970) * 12 + d.month0() as i64
}

/// The first day of a month key.
#[allow(
    clippy::expect_used,
    reason = "month0 + 1 is 1 to 12 and keys come from stored days"
)]
pub fn month_of_key(key: i64) -> NaiveDate {
    let (year, month0) = (1970 + key.div_euclid(12), key.rem_euclid(12));
    NaiveDate::from_ymd_opt(year as i32, month0 as u32 + 1, 1).expect("a valid month")
}

/// The bit of a day within its month's mask of days (bit 0 = the 1st).
pub fn day_bit(d: NaiveDate) -> i64 {
    1i64 << (d.day0() as i64)
}

/// The days of a month whose bits are set in `mask`.
pub fn days_of_mask(month: i64, mask: i64) -> impl Iterator<Item = NaiveDate> {
    let first = month_of_key(month);
    (0..31i64)
        .filter(move |bit| mask & (1 << bit) != 0)
        .map(move |bit| first + Duration::days(bit))
        .filter(move |d| d.month() == first.month())
}

/// One piece of use, as the usage aggregates count it (R-REP-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A usage period began, charging these tokens (0 counts as use too): a day of use.
    Period(Tokens),
    /// A result was charged.
    Result(Tokens),
    /// R-SES-4: a period's charge was given back. The period keeps counting as use, with its
    /// tokens taken back.
    Refund(Tokens),
}

/// Tokens, periods and results of one aggregate row, or what one piece of use adds to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tokens: i64,
    pub periods: i64,
    pub results: i64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.tokens += other.tokens;
        self.periods += other.periods;
        self.results += other.results;
    }
}

/// What one piece of use changes in the aggregates: `counts` is added to its (day, user,
/// product), (month, user, product) and (team, day) rows, and a period also sets `day_bit` in
/// its (month, user) mask of days with use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contribution {
    pub day: i64,
    pub month: i64,
    pub counts: Counts,
    pub day_bit: Option<i64>,
}

/// R-REP-3: the one rule for what a piece of use adds to the aggregates. `at` is when it
/// counts: a period's start (a period belongs to the day it starts, and so does its refund), a
/// result's time.
pub fn contribution(at: DateTime<Utc>, what: Use) -> Contribution {
    let date = at.date_naive();
    let (counts, marks_day) = match what {
        Use::Period(t) => (
            Counts {
                tokens: t.as_i64(),
                periods: 1,
                results: 0,
            },
            true,
        ),
        Use::Result(t) => (
            Counts {
                tokens: t.as_i64(),
                periods: 0,
                results: 1,
            },
            false,
        ),
        Use::Refund(t) => (
            Counts {
                tokens: -t.as_i64(),
                periods: 0,
                results: 0,
            },
            false,
        ),
    };
    Contribution {
        day: day_key(date),
        month: month_key(date),
        counts,
        day_bit: marks_day.then(|| day_bit(date)),
    }
}

/// The ISO week as `iso_year * 100 + week` (2026-W01 = 202601).
pub fn week_key(d: NaiveDate) -> i64 {
    let w = d.iso_week();
    w.year() as i64 * 100 + w.week() as i64
}

/// `2026-W01`.
pub fn week_label(key: i64) -> String {
    format!("{}-W{:02}", key / 100, key % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_rep_2_events_default_to_the_last_90_days_up_to_now_included() {
        let now: DateTime<Utc> = "2026-04-01T12:00:00Z".parse().unwrap();
        let (from, to) = events_range(None, None, now).unwrap();
        assert!(to > now && to - now == Duration::microseconds(1));
        assert_eq!(to - from, Duration::days(90));
        let given: DateTime<Utc> = "2026-03-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            events_range(None, Some(given), now).unwrap(),
            (given - Duration::days(90), given)
        );
        let e = events_range(Some(given), Some(given), now).unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::InvalidRange);
    }

    #[test]
    fn r_rep_3_a_period_counts_on_the_day_it_starts_and_a_refund_keeps_it_as_use() {
        let at: DateTime<Utc> = "2026-02-03T23:59:00Z".parse().unwrap();
        let t = |n| Tokens::new(n).unwrap();
        let period = contribution(at, Use::Period(t(20)));
        assert_eq!(period.day, day_key(d("2026-02-03")));
        assert_eq!(period.month, month_key(d("2026-02-01")));
        assert_eq!(period.day_bit, Some(1 << 2));
        let refund = contribution(at, Use::Refund(t(20)));
        assert_eq!((refund.day, refund.month), (period.day, period.month));
        assert_eq!(refund.day_bit, None, "a refunded day stays a day of use");
        let mut row = Counts::default();
        row.add(period.counts);
        row.add(refund.counts);
        row.add(contribution(at, Use::Result(t(5))).counts);
        assert_eq!(
            row,
            Counts {
                tokens: 5,
                periods: 1,
                results: 1
            }
        );
        assert_eq!(contribution(at, Use::Result(t(5))).day_bit, None);
        assert_eq!(contribution(at, Use::Period(t(0))).counts.periods, 1);
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn r_rep_3_named_ranges() {
        let today = d("2026-03-15");
        let r = |n| resolve(n, None, None, today).unwrap();
        assert_eq!(
            r("past_30_days"),
            DayRange {
                first: d("2026-02-14"),
                last: d("2026-03-15")
            }
        );
        assert_eq!(r("past_30_days").days(), 30);
        assert_eq!(
            r("past_3_months"),
            DayRange {
                first: d("2025-12-01"),
                last: d("2026-02-28")
            }
        );
        assert_eq!(r("past_6_months").first, d("2025-09-01"));
        assert_eq!(r("past_9_months").first, d("2025-06-01"));
        assert_eq!(
            r("past_12_months"),
            DayRange {
                first: d("2025-03-01"),
                last: d("2026-02-28")
            }
        );
        // A leap year's February, and the first day of a month (the current month is excluded).
        let leap = resolve("past_3_months", None, None, d("2028-03-01")).unwrap();
        assert_eq!(
            leap,
            DayRange {
                first: d("2027-12-01"),
                last: d("2028-02-29")
            }
        );
        assert_eq!(leap.days(), 31 + 31 + 29);
    }

    #[test]
    fn r_rep_3_custom_ranges_are_checked() {
        let today = d("2026-03-15");
        let ok = resolve(
            "custom",
            Some(d("2026-01-10")),
            Some(d("2026-01-10")),
            today,
        )
        .unwrap();
        assert_eq!(ok.days(), 1);
        for (from, to) in [
            (None, Some(d("2026-01-01"))),
            (Some(d("2026-02-01")), Some(d("2026-01-01"))),
        ] {
            assert_eq!(
                resolve("custom", from, to, today).unwrap_err().code(),
                crate::ErrorCode::InvalidRange
            );
        }
        // The longest range: a year and a day, both ends included.
        let longest = resolve(
            "custom",
            Some(d("2025-01-01")),
            Some(d("2026-01-01")),
            today,
        )
        .unwrap();
        assert_eq!(
            longest,
            DayRange {
                first: d("2025-01-01"),
                last: d("2026-01-01")
            }
        );
        assert_eq!(longest.days(), 366);
        assert!(
            resolve(
                "custom",
                Some(d("2025-01-01")),
                Some(d("2026-01-02")),
                today
            )
            .is_err()
        );
        assert!(resolve("past_30_days", Some(d("2026-01-01")), None, today).is_err());
        assert!(resolve("yesterday", None, None, today).is_err());
    }

    #[test]
    fn ranges_split_into_whole_months_and_edge_days() {
        let r = DayRange {
            first: d("2026-01-15"),
            last: d("2026-04-10"),
        };
        let s = r.split();
        assert_eq!(
            s.months,
            Some((month_key(d("2026-02-01")), month_key(d("2026-03-01"))))
        );
        assert_eq!(
            s.days,
            vec![
                DayRange {
                    first: d("2026-01-15"),
                    last: d("2026-01-31")
                },
                DayRange {
                    first: d("2026-04-01"),
                    last: d("2026-04-10")
                },
            ]
        );
        let whole = DayRange {
            first: d("2025-03-01"),
            last: d("2026-02-28"),
        }
        .split();
        assert_eq!(whole.days, vec![]);
        assert_eq!(whole.months.map(|(a, b)| b - a + 1), Some(12));
        let inside = DayRange {
            first: d("2026-02-03"),
            last: d("2026-02-20"),
        }
        .split();
        assert_eq!(inside.months, None);
        assert_eq!(inside.days.len(), 1);
    }

    #[test]
    fn calendar_keys() {
        assert_eq!(day_key(d("1970-01-02")), 1);
        assert_eq!(day_of_key(day_key(d("2028-02-29"))), d("2028-02-29"));
        assert_eq!(month_key(d("1971-02-10")), 13);
        assert_eq!(month_of_key(month_key(d("2028-02-29"))), d("2028-02-01"));
        let mask = day_bit(d("2028-02-01")) | day_bit(d("2028-02-29"));
        assert_eq!(
            days_of_mask(month_key(d("2028-02-10")), mask).collect::<Vec<_>>(),
            vec![d("2028-02-01"), d("2028-02-29")]
        );
        assert_eq!(week_key(d("2026-01-01")), 202601);
        assert_eq!(
            week_key(d("2027-01-01")),
            202653,
            "ISO week of the previous year"
        );
        assert_eq!(week_label(202601), "2026-W01");
    }
}
