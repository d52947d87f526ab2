//! Time is injected: every rule takes "now" from a [`Clock`], and tests move a [`ManualClock`]
//! instead of sleeping.

use std::sync::Mutex;

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock, truncated to microseconds: the precision the store keeps, so that a time read
/// back from the database compares equal to the one written.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_to_micros(Utc::now())
    }
}

/// A clock that stands still until told to move. Used by tests and by `jeton serve --test-clock`.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Mutex::new(truncate_to_micros(start)),
        }
    }

    /// Moves the clock forward and returns the new time. The clock never goes backwards: ledger
    /// events are ordered by time, and expiry is decided by comparing with "now".
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        assert!(by >= Duration::zero(), "a clock never goes backwards");
        let mut now = self.lock();
        *now += by;
        *now
    }

    /// Sets the clock to `to`, which must not be earlier than the current time.
    pub fn set(&self, to: DateTime<Utc>) {
        let mut now = self.lock();
        assert!(to >= *now, "a clock never goes backwards");
        *now = truncate_to_micros(to);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock only means another thread panicked while holding it; the time inside
        // is still a valid time.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        assert_eq!(
            clock.advance(Duration::hours(24)),
            start + Duration::days(1)
        );
        assert_eq!(clock.now(), start + Duration::days(1));
    }
}
