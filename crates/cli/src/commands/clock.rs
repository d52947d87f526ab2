//! `jeton clock …`: the manual clock of a server started with `--test-clock`.

use anyhow::{Result, anyhow};
use clap::Subcommand;

use super::Ctx;
use super::output;

#[derive(Debug, Subcommand)]
pub enum ClockCmd {
    /// Move the server's test clock forward; background work (expiry, …) runs as it passes
    Advance {
        /// How far: seconds (3600) or a number with a unit s, m, h or d (90s, 15m, 25h, 7d)
        #[arg(value_name = "SECONDS|DURATION", value_parser = parse_duration)]
        by: i64,
    },
}

pub async fn run(cmd: ClockCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        ClockCmd::Advance { by } => {
            let now = ctx.client.advance_clock(by).await.map_err(|e| {
                if e.status() == Some(404) {
                    anyhow!(
                        "{e}\nhint: the server at {} has no test clock: start it with \
                         `jeton serve --test-clock`",
                        ctx.client.base_url()
                    )
                } else {
                    e.into()
                }
            })?;
            ctx.out.print(&now, |n| {
                format!(
                    "Advanced the test clock by {}; the server's time is now {}.",
                    describe(by),
                    output::time(&n.now)
                )
            })
        }
    }
}

/// `7d (604800 s)`, `90 s`: the largest unit that divides the seconds exactly.
fn describe(seconds: i64) -> String {
    let unit = [(86_400, 'd'), (3600, 'h'), (60, 'm')]
        .into_iter()
        .find(|(scale, _)| seconds % scale == 0);
    match unit {
        Some((scale, unit)) => format!("{}{unit} ({seconds} s)", seconds / scale),
        None => format!("{seconds} s"),
    }
}

/// Whole seconds from `3600`, `90s`, `15m`, `25h` or `7d`; at least one second.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    const FORM: &str = "expected whole seconds (3600) or a number with a unit s, m, h or d \
                        (90s, 15m, 25h, 7d)";
    let s = s.trim();
    let (number, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c.to_ascii_lowercase()),
        _ => (s, 's'),
    };
    let scale: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("unknown unit {unit:?}; {FORM}")),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FORM.into());
    }
    let seconds = number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{s} is too long; {FORM}"))?;
    if seconds == 0 {
        return Err(format!(
            "the clock only moves forward: give at least 1 second; {FORM}"
        ));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::{describe, parse_duration};

    #[test]
    fn advances_are_described_in_the_largest_exact_unit() {
        assert_eq!(describe(604_800), "7d (604800 s)");
        assert_eq!(describe(90_000), "25h (90000 s)");
        assert_eq!(describe(900), "15m (900 s)");
        assert_eq!(describe(90), "90 s");
    }

    #[test]
    fn durations_are_seconds_or_suffixed() {
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("25h"), Ok(90_000));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(
            parse_duration(" 2D "),
            Ok(172_800),
            "case and spaces do not matter"
        );
    }

    #[test]
    fn bad_durations_say_the_expected_form() {
        for bad in ["", "d", "-5", "1.5h", "5w", "ten", "1h30m", "0", "0d", "+5"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("90s, 15m, 25h, 7d"), "{bad:?}: {err}");
        }
        let err = parse_duration("99999999999999999999d").unwrap_err();
        assert!(err.contains("too long"), "{err}");
        let err = parse_duration("200000000000000d").unwrap_err();
        assert!(err.contains("too long"), "overflow is caught: {err}");
    }
}
