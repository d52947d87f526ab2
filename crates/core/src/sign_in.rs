//! Guessing passwords: how many sign-in attempts one email address gets.
//!
//! Every attempt is counted *before* the password is checked, so parallel guesses cannot slip in
//! between a check and the count; a successful sign-in clears the count. After
//! [`MAX_ATTEMPTS`] attempts within a [`WINDOW`] (fixed, from its first attempt), further attempts
//! are refused until [`LOCK`] has passed, without checking the password (which also spares the server argon2 work). Addresses
//! without an account are counted like the others, so the answer tells nothing about which exist.
//!
//! A lock can be caused by someone else typing wrong passwords for your address; it is short, and
//! it ends by itself.

use chrono::{DateTime, Duration, Utc};

/// Attempts allowed within one window.
pub const MAX_ATTEMPTS: u32 = 10;
/// The window in which attempts are counted, from the first one.
pub const WINDOW: Duration = Duration::minutes(15);
/// How long an address is refused once it has used its attempts.
pub const LOCK: Duration = Duration::minutes(15);

/// The attempts recorded for one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    /// Attempts in the current window, at most [`MAX_ATTEMPTS`].
    pub count: u32,
    /// When the current window began.
    pub since: DateTime<Utc>,
    /// Set once the attempts are used up: no attempt before then.
    pub locked_until: Option<DateTime<Utc>>,
}

/// What to do with a new attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password; the attempts now stand at this.
    Check(Attempts),
    /// Refuse without checking, until then.
    Locked { until: DateTime<Utc> },
}

/// Counts a new attempt at `now` on top of what was recorded.
pub fn attempt(recorded: Option<Attempts>, now: DateTime<Utc>) -> Verdict {
    let current = recorded.filter(|a| !is_stale(a, now));
    if let Some(Attempts {
        locked_until: Some(until),
        ..
    }) = current
    {
        return Verdict::Locked { until };
    }
    // A stale or missing record starts a new window at this attempt.
    let (count, since) = current.map_or((1, now), |a| (a.count + 1, a.since));
    debug_assert!(
        count <= MAX_ATTEMPTS,
        "a full window is locked: {current:?}"
    );
    Verdict::Check(Attempts {
        count,
        since,
        // The last allowed attempt is still checked; the next one waits.
        locked_until: (count >= MAX_ATTEMPTS).then_some(now + LOCK),
    })
}

/// Whether a record still matters at `now`; the rest can be deleted.
pub fn is_stale(a: &Attempts, now: DateTime<Utc>) -> bool {
    match a.locked_until {
        Some(until) => now >= until,
        None => now >= a.since + WINDOW,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        "2026-03-02T08:00:00Z".parse().unwrap()
    }

    fn run(times: &[i64]) -> Vec<Verdict> {
        let mut recorded = None;
        times
            .iter()
            .map(|s| {
                let verdict = attempt(recorded, t0() + Duration::seconds(*s));
                if let Verdict::Check(a) = verdict {
                    recorded = Some(a);
                }
                verdict
            })
            .collect()
    }

    #[test]
    fn the_attempt_after_the_last_allowed_one_waits_for_the_lock_to_end() {
        let times: Vec<i64> = (0..12).map(|i| i * 10).collect();
        let verdicts = run(&times);
        for v in &verdicts[..10] {
            assert!(matches!(v, Verdict::Check(_)), "{verdicts:?}");
        }
        let until = t0() + Duration::seconds(90) + LOCK;
        assert_eq!(verdicts[10], Verdict::Locked { until });
        assert_eq!(verdicts[11], Verdict::Locked { until });
        // At the end of the lock, a new window.
        let mut recorded = match verdicts[9] {
            Verdict::Check(a) => Some(a),
            _ => unreachable!(),
        };
        let Verdict::Check(a) = attempt(recorded.take(), until) else {
            panic!("the lock has ended")
        };
        assert_eq!((a.count, a.since, a.locked_until), (1, until, None));
    }

    #[test]
    fn attempts_spread_wider_than_the_window_never_lock() {
        let times: Vec<i64> = (0..50).map(|i| i * 100).collect();
        assert!(run(&times).iter().all(|v| matches!(v, Verdict::Check(_))));
    }

    #[test]
    fn staleness_follows_the_window_and_the_lock() {
        let open = Attempts {
            count: 3,
            since: t0(),
            locked_until: None,
        };
        assert!(!is_stale(&open, t0() + WINDOW - Duration::seconds(1)));
        assert!(is_stale(&open, t0() + WINDOW));
        let locked = Attempts {
            locked_until: Some(t0() + Duration::hours(1)),
            ..open
        };
        assert!(!is_stale(&locked, t0() + WINDOW));
        assert!(is_stale(&locked, t0() + Duration::hours(1)));
    }

    proptest! {
        /// However attempts are timed, no span of `WINDOW` ever holds more than twice
        /// `MAX_ATTEMPTS` checked attempts (windows are fixed: the end of one and the start of
        /// the next may both be used), and a refusal always names a time in the future.
        #[test]
        fn no_window_checks_more_than_the_limit(gaps in prop::collection::vec(0i64..400, 1..200)) {
            let mut at = 0;
            let times: Vec<i64> = gaps.iter().map(|g| { at += g; at }).collect();
            let verdicts = run(&times);
            let checked: Vec<i64> = times
                .iter()
                .zip(&verdicts)
                .filter(|(_, v)| matches!(v, Verdict::Check(_)))
                .map(|(t, _)| *t)
                .collect();
            for (i, start) in checked.iter().enumerate() {
                let within = checked[i..]
                    .iter()
                    .take_while(|t| **t < start + WINDOW.num_seconds())
                    .count();
                prop_assert!(within <= 2 * MAX_ATTEMPTS as usize, "{within} checked attempts within a window");
            }
            for (t, v) in times.iter().zip(&verdicts) {
                if let Verdict::Locked { until } = v {
                    prop_assert!(*until > t0() + Duration::seconds(*t));
                }
            }
        }
    }
}
