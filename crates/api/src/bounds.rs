//! The range of times and days a request may carry: 1970-01-01 to 9999-12-31 (UTC).
//!
//! chrono reads years from -262143 to +262142, and the arithmetic the rules do on a time (a
//! 90-day default window, the end of a day, a 24-hour period) overflows near those ends. Bounding
//! every time at the parse layer answers such input with a clear 400 before any rule sees it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};

/// The first day a request may name.
pub const EARLIEST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    // Never taken (computed when compiling; the tests check the bounds).
    None => NaiveDate::MIN,
};
/// The last day a request may name.
pub const LATEST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// The day, if it is within [`EARLIEST_DAY`]..=[`LATEST_DAY`].
pub fn day(d: NaiveDate) -> Result<NaiveDate, String> {
    if (EARLIEST_DAY..=LATEST_DAY).contains(&d) {
        Ok(d)
    } else {
        Err(format!(
            "dates must be from {EARLIEST_DAY} to {LATEST_DAY}, got {d}"
        ))
    }
}

/// The time, if its day is within [`EARLIEST_DAY`]..=[`LATEST_DAY`].
pub fn time(t: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    day(t.date_naive()).map(|_| t).map_err(|_| {
        format!(
            "times must be from {EARLIEST_DAY}T00:00:00Z to {LATEST_DAY}T23:59:59Z, got {}",
            t.to_rfc3339()
        )
    })
}

/// The form of a date-only field, for error messages.
pub const DAY_FORM: &str = "a date as YYYY-MM-DD";

/// The form of a time field, for error messages.
pub const TIME_FORM: &str = "a time as RFC 3339, such as 2026-01-05T08:00:00Z";

/// A date-only value as typed (`YYYY-MM-DD`), within [`EARLIEST_DAY`]..=[`LATEST_DAY`]; the
/// error says the expected form and repeats what was given. The API's date fields and the
/// command line read dates with this.
pub fn parse_day(s: &str) -> Result<NaiveDate, String> {
    let text = s.trim();
    let d = text
        .parse::<NaiveDate>()
        .map_err(|_| format!("expected {DAY_FORM}, got {}", shown(text)))?;
    day(d)
}

/// A time as typed (RFC 3339), within the bounds; the error says the expected form.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let text = s.trim();
    let t = text
        .parse::<DateTime<chrono::FixedOffset>>()
        .map_err(|_| format!("expected {TIME_FORM}, got {}", shown(text)))?;
    time(t.with_timezone(&Utc))
}

/// What was given, for an error message: quoted when empty, shortened when long.
fn shown(text: &str) -> String {
    const MAX: usize = 40;
    if text.is_empty() {
        return "\"\"".into();
    }
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// serde `deserialize_with` for a bounded time.
pub fn de_time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    parse_time(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// serde `deserialize_with` for an optional bounded time.
pub fn de_opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| parse_time(&s))
        .transpose()
        .map_err(serde::de::Error::custom)
}

/// serde `deserialize_with` for an optional bounded day (`YYYY-MM-DD`).
pub fn de_opt_day<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| parse_day(&s))
        .transpose()
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Q {
        #[serde(default, deserialize_with = "de_opt_time")]
        to: Option<DateTime<Utc>>,
        #[serde(default, deserialize_with = "de_opt_day")]
        from: Option<NaiveDate>,
    }

    fn parse(json: &str) -> Result<Q, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn times_and_days_outside_1970_to_9999_are_refused_with_the_range() {
        for bad in [
            r#"{"to": "-262143-01-01T00:00:00Z"}"#,
            r#"{"to": "1969-12-31T23:59:59Z"}"#,
            r#"{"to": "+10000-01-01T00:00:00Z"}"#,
            r#"{"from": "+262142-12-01"}"#,
            r#"{"from": "1969-12-31"}"#,
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                err.contains("1970-01-01") && err.contains("9999-12-31"),
                "{bad}: {err}"
            );
        }
        let q = parse(r#"{"to": "9999-12-31T23:59:59Z", "from": "1970-01-01"}"#).unwrap();
        assert_eq!(q.from, Some(EARLIEST_DAY));
        assert_eq!(q.to.map(|t| t.date_naive()), Some(LATEST_DAY));
        let q = parse("{}").unwrap();
        assert!(q.to.is_none() && q.from.is_none());
    }

    #[test]
    fn dates_and_times_that_do_not_parse_say_the_form_expected() {
        let err = parse(r#"{"from": "2026-13-01"}"#).unwrap_err();
        assert!(
            err.contains("expected a date as YYYY-MM-DD, got 2026-13-01"),
            "{err}"
        );
        assert!(!err.contains("RFC 3339"), "a date is no time: {err}");
        let err = parse(r#"{"from": "2026-01-01T00:00:00Z"}"#).unwrap_err();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
        let err = parse(r#"{"to": "yesterday"}"#).unwrap_err();
        assert!(
            err.contains("expected a time as RFC 3339") && err.contains("got yesterday"),
            "{err}"
        );
        assert_eq!(
            parse_day(" 2028-02-29 "),
            Ok(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap())
        );
        assert_eq!(
            parse_day("").unwrap_err(),
            "expected a date as YYYY-MM-DD, got \"\""
        );
        let long = "9".repeat(100);
        assert!(parse_day(&long).unwrap_err().ends_with('…'));
        assert_eq!(
            parse_time("2026-03-01T09:30:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-03-01T07:30:00+00:00"
        );
    }
}
