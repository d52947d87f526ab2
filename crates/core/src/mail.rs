//! The text of the emails Jeton sends (R-USR-4, R-NOT-2). Pure: the server fills in the facts and
//! the store puts the message in the outbox in the same transaction as the change.

use chrono::{DateTime, Duration, Utc};

/// R-NOT-2: the first retry of a failed delivery waits this long; each further one twice as long
/// as the one before …
pub const FIRST_RETRY: Duration = Duration::seconds(30);
/// … but never longer than this.
pub const MAX_RETRY_DELAY: Duration = Duration::hours(1);
/// After this many failed attempts (about 13 hours of trying) a message is marked `failed`.
pub const MAX_SEND_ATTEMPTS: u32 = 20;

/// R-NOT-2: when to try a delivery again after a failed attempt, given the attempts made before
/// this one; `None`: give up. 30 s, 1 min, 2 min, … doubling up to 1 hour, for
/// [`MAX_SEND_ATTEMPTS`] attempts in all.
pub fn retry_at(now: DateTime<Utc>, attempts_before: u32) -> Option<DateTime<Utc>> {
    if attempts_before.saturating_add(1) >= MAX_SEND_ATTEMPTS {
        return None;
    }
    // 30 s × 2^7 is already more than an hour; larger exponents would only overflow.
    let delay = FIRST_RETRY * (1 << attempts_before.min(7));
    Some(now + delay.min(MAX_RETRY_DELAY))
}

use crate::console::LinkPurpose;

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub to: String,
    pub to_name: String,
    pub subject: String,
    pub body: String,
    pub kind: MailKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Invitation,
    AccessGranted,
    LowBalance,
    TokensExpiring,
    PasswordLink,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Invitation => "invitation",
            MailKind::AccessGranted => "access_granted",
            MailKind::LowBalance => "low_balance",
            MailKind::TokensExpiring => "tokens_expiring",
            MailKind::PasswordLink => "password_link",
        }
    }
}

fn product_lines(products: &[String]) -> String {
    if products.is_empty() {
        "  (none yet: your administrator will choose them)\n".to_owned()
    } else {
        products.iter().map(|p| format!("  - {p}\n")).collect()
    }
}

/// R-USR-3: the invitation, with the accept link and until when it works.
pub fn invitation(
    to: &str,
    name: &str,
    team: &str,
    products: &[String],
    link: &str,
    expires_at: DateTime<Utc>,
) -> Message {
    Message {
        to: to.to_owned(),
        to_name: name.to_owned(),
        subject: format!("You are invited to use Flex products ({team})"),
        body: format!(
            "Hello {name},\n\n\
             You have been invited to use Flex products on the team \"{team}\":\n{}\n\
             Accept the invitation and choose your password here:\n\n  {link}\n\n\
             The link works until {} UTC (7 days). After that, ask your administrator to send it again.\n",
            product_lines(products),
            expires_at.format("%Y-%m-%d %H:%M"),
        ),
        kind: MailKind::Invitation,
    }
}

/// R-USR-4: an individually assigned user hears which products they may use.
pub fn access_granted(to: &str, name: &str, team: &str, products: &[String]) -> Message {
    Message {
        to: to.to_owned(),
        to_name: name.to_owned(),
        subject: format!("You have access to Flex products ({team})"),
        body: format!(
            "Hello {name},\n\n\
             You now have access to these Flex products on the team \"{team}\":\n{}\n\
             Sign in to a product with your Jeton account to start using it.\n",
            product_lines(products),
        ),
        kind: MailKind::AccessGranted,
    }
}

/// R-NOT-1: the team's available tokens fell below its threshold.
pub fn low_balance(
    to: &str,
    name: &str,
    team: &str,
    available: u64,
    total: u64,
    percent: u8,
) -> Message {
    Message {
        to: to.to_owned(),
        to_name: name.to_owned(),
        subject: format!("Tokens are running low ({team})"),
        body: format!(
            "Hello {name},\n\n\
             The team \"{team}\" has {available} tokens available, less than {percent} % of the {total} tokens \
             of its active packs.\n\n\
             Buy a new pack, or move tokens from another team, to keep products usable.\n"
        ),
        kind: MailKind::LowBalance,
    }
}

/// R-NOT-1: a pack expires within `days` days (90, 30 or 7).
pub fn tokens_expiring(
    to: &str,
    name: &str,
    team: &str,
    tokens: u64,
    expires_at: DateTime<Utc>,
    days: u32,
) -> Message {
    Message {
        to: to.to_owned(),
        to_name: name.to_owned(),
        subject: format!("{tokens} tokens expire within {days} days ({team})"),
        body: format!(
            "Hello {name},\n\n\
             {tokens} tokens of the team \"{team}\" expire on {} UTC, within {days} days. Tokens that expire \
             are lost; they are used before later packs, so use or move them before then.\n",
            expires_at.format("%Y-%m-%d %H:%M"),
        ),
        kind: MailKind::TokensExpiring,
    }
}

/// A link to choose a password: an admin's first console password, or a user's forgotten one.
pub fn password_link(
    to: &str,
    name: &str,
    purpose: LinkPurpose,
    link: &str,
    expires_at: DateTime<Utc>,
) -> Message {
    let (subject, why) = match purpose {
        LinkPurpose::AdminPassword => (
            "Choose your Jeton console password",
            "You are an administrator on Jeton. Choose the password you will sign in to the console with:",
        ),
        LinkPurpose::UserReset => (
            "Choose a new Jeton password",
            "Someone (we hope you) asked to choose a new password for your Jeton account. \
             If it was not you, ignore this email: your password stays as it is.\n\nChoose a new password here:",
        ),
    };
    Message {
        to: to.to_owned(),
        to_name: name.to_owned(),
        subject: subject.to_owned(),
        body: format!(
            "Hello {name},\n\n{why}\n\n  {link}\n\n\
             The link works once, until {} UTC.\n",
            expires_at.format("%Y-%m-%d %H:%M"),
        ),
        kind: MailKind::PasswordLink,
    }
}

/// What a link's secret is replaced with where people may read a message after it was written.
pub const HIDDEN: &str = "(hidden)";

/// The body with every link secret (`secret=…`, up to the next blank, `&` or `>`) replaced by
/// [`HIDDEN`]. A secret is as good as the password it lets someone choose: it goes to the
/// addressee and nowhere else, so the operator's view of the outbox shows bodies through this,
/// and a sent message keeps only this.
pub fn without_secrets(body: &str) -> String {
    const KEY: &str = "secret=";
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(KEY) {
        let (before, after) = rest.split_at(at + KEY.len());
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || c == '&' || c == '>')
            .unwrap_or(after.len());
        if end > 0 {
            out.push_str(HIDDEN);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_not_2_retries_back_off_from_30_seconds_to_an_hour_then_give_up() {
        let now: DateTime<Utc> = "2026-01-05T08:00:00Z".parse().unwrap();
        let delays: Vec<i64> = (0..MAX_SEND_ATTEMPTS)
            .map_while(|a| retry_at(now, a).map(|t| (t - now).num_seconds()))
            .collect();
        assert_eq!(
            delays[..9],
            [30, 60, 120, 240, 480, 960, 1920, 3600, 3600],
            "doubling from 30 s, capped at an hour"
        );
        assert!(delays[7..].iter().all(|d| *d == 3600));
        // Attempts 1..=19 are followed by a retry; the 20th failure gives up.
        assert_eq!(delays.len(), (MAX_SEND_ATTEMPTS - 1) as usize);
        assert_eq!(retry_at(now, MAX_SEND_ATTEMPTS - 1), None);
        assert_eq!(retry_at(now, MAX_SEND_ATTEMPTS), None);
        assert_eq!(retry_at(now, u32::MAX), None, "no overflow");
        // The whole schedule: over half a day of trying before giving up.
        let total: i64 = delays.iter().sum();
        assert_eq!(total, 30 * 127 + 3600 * 12);
        assert!(total > 12 * 3600);
    }

    #[test]
    fn secrets_are_hidden_and_nothing_else_changes() {
        let body = "Accept:\n  https://j.example/invitations/accept?secret=abc-DEF_1\n\
                    or <https://j.example/x?secret=zz&lang=en>\nsecret= alone\n";
        assert_eq!(
            without_secrets(body),
            "Accept:\n  https://j.example/invitations/accept?secret=(hidden)\n\
             or <https://j.example/x?secret=(hidden)&lang=en>\nsecret= alone\n"
        );
        assert_eq!(without_secrets("no link"), "no link");
        assert_eq!(without_secrets("?secret=abc"), "?secret=(hidden)");
        let hidden = without_secrets(body);
        assert_eq!(
            without_secrets(&hidden),
            hidden,
            "hiding twice changes nothing"
        );
    }

    #[test]
    fn r_usr_4_messages_name_the_products() {
        let m = access_granted(
            "jane@x.com",
            "Jane",
            "Design",
            &["AutoCAD".into(), "Revit".into()],
        );
        assert!(m.body.contains("  - AutoCAD\n  - Revit\n"), "{}", m.body);
        let i = invitation(
            "jane@x.com",
            "Jane",
            "Design",
            &["AutoCAD".into()],
            "https://jeton.example.com/invitations/accept?secret=abc",
            "2026-01-12T08:00:00Z".parse().unwrap(),
        );
        assert!(
            i.body
                .contains("https://jeton.example.com/invitations/accept?secret=abc")
        );
        assert!(i.body.contains("2026-01-12 08:00 UTC"));
        assert_eq!(i.kind.as_str(), "invitation");
    }
}
