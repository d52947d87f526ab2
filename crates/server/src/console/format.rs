//! Numbers and times as the pages show them.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

/// A token amount with thousands separators: 12,345.
pub fn tokens(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A time, in UTC here and in the viewer's zone once the script runs; UTC stays on hover.
pub fn time(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) title=(format!("{} UTC", t.format("%Y-%m-%d %H:%M"))) { (t.format("%Y-%m-%d %H:%M")) " UTC" } }
}

/// A calendar day.
pub fn day(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.format("%Y-%m-%d")) data-date="1" { (t.format("%Y-%m-%d")) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_amounts_have_thousands_separators() {
        assert_eq!(tokens(0), "0");
        assert_eq!(tokens(999), "999");
        assert_eq!(tokens(1000), "1,000");
        assert_eq!(tokens(1_234_567), "1,234,567");
    }
}
