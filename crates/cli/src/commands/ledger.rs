//! `jeton balance`, `events`, `move` and `audit`: a team's tokens and their ledger
//! (R-PACK-2, R-PACK-5, R-PACK-6, R-REP-1, R-REP-2).

use anyhow::{Result, bail};
use chrono::NaiveDate;
use clap::Args;
use jeton_api::{Audit, Balance, Event, EventsQuery, Move, NewMove};

use super::output::{self, blocks, table};
use super::teams::{self, Named};
use super::{Ctx, reports};

#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
    /// First day, included (YYYY-MM-DD, UTC) [default: 90 days before --to]
    #[arg(long, value_name = "DATE", value_parser = reports::parse_day)]
    pub from: Option<NaiveDate>,
    /// Last day, included (YYYY-MM-DD, UTC) [default: today]
    #[arg(long, value_name = "DATE", value_parser = reports::parse_day)]
    pub to: Option<NaiveDate>,
    /// At most this many events [server default: 1000]
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
}

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  jeton move 250 --team Design --to-team Operations")]
pub struct MoveArgs {
    /// The team giving the tokens (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
    /// The team receiving them (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub to_team: String,
    /// Whole tokens to move; all or nothing
    #[arg(allow_negative_numbers = true)]
    pub tokens: i64,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
}

pub async fn balance(args: BalanceArgs, ctx: &Ctx) -> Result<()> {
    let team = teams::named(ctx, &args.team).await?;
    let balance = ctx.client.balance(team.id).await?;
    ctx.out.print(&balance, |b| show_balance(&team, b))
}

pub async fn events(args: EventsArgs, ctx: &Ctx) -> Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        bail!(
            "--from ({from}) is after --to ({to}): the range runs from its first day to its last"
        );
    }
    let team = teams::resolve(ctx, &args.team).await?;
    let (from, to) = reports::day_bounds(args.from, args.to)?;
    let query = EventsQuery {
        from,
        to,
        limit: args.limit,
    };
    let events = ctx.client.events(team, &query).await?;
    ctx.out.print(&events, |list| show_events(list, args.limit))
}

pub async fn move_tokens(args: MoveArgs, ctx: &Ctx) -> Result<()> {
    let from = teams::named(ctx, &args.team).await?;
    let to = teams::named(ctx, &args.to_team).await?;
    let request = NewMove {
        to_team: to.id,
        tokens: args.tokens,
    };
    let moved = ctx.client.move_tokens(from.id, &request).await?;
    ctx.out.print(&moved, |m| show_move(m, &from, &to))
}

pub async fn audit(args: AuditArgs, ctx: &Ctx) -> Result<()> {
    let team = teams::named(ctx, &args.team).await?;
    let audit = ctx.client.audit(team.id).await?;
    ctx.out.print(&audit, |a| show_audit(&team, a))?;
    if !audit.balanced {
        bail!("the ledger of team {team} does not add up to its packs");
    }
    Ok(())
}

fn show_balance(team: &Named, b: &Balance) -> String {
    let mut summary = format!(
        "{team}: {} of {} available, {} used.",
        output::tokens(b.available),
        b.total,
        b.used
    );
    if b.low {
        summary.push_str(&format!(
            " LOW: less than {} % is left (the team's threshold).",
            b.low_percent
        ));
    }
    if b.packs.is_empty() {
        return blocks([summary, "No active packs.".into()]);
    }
    let mut t = table(
        &["pack", "tokens", "remaining", "expires", "days left"],
        &[0, 1, 2, 4],
    );
    for p in &b.packs {
        t.add_row(vec![
            p.id.to_string(),
            p.tokens.to_string(),
            p.remaining.to_string(),
            output::date(&p.expires_at),
            p.days_to_expiry.to_string(),
        ]);
    }
    blocks([
        summary,
        format!("Active packs, in the order they are used:\n{t}"),
    ])
}

pub fn show_events(events: &[Event], limit: Option<u32>) -> String {
    if events.is_empty() {
        return "No events in this range.".into();
    }
    let mut t = table(&["at", "kind", "amount", "pack", "cause", "actor"], &[2, 3]);
    for e in events {
        t.add_row(vec![
            output::time(&e.at),
            e.kind.clone(),
            output::signed(e.amount),
            e.pack_id.to_string(),
            e.cause.clone(),
            e.actor.clone(),
        ]);
    }
    let shown = events.len();
    let mut footer = format!("{shown} event(s).");
    if limit.is_some_and(|l| shown >= l as usize) {
        footer.push_str(" The limit was reached: raise --limit or narrow --from/--to to see more.");
    }
    format!("{t}\n{footer}")
}

fn show_move(m: &Move, from: &Named, to: &Named) -> String {
    blocks([
        format!(
            "Moved {} from {from} to {to} (move {}).",
            output::tokens(m.tokens),
            m.id
        ),
        teams::moved_packs(&m.packs),
    ])
}

fn show_audit(team: &Named, a: &Audit) -> String {
    if a.balanced {
        format!(
            "{team}: the ledger adds up. Events sum to {}, the packs hold {}.",
            a.events_sum, a.remaining_sum
        )
    } else {
        format!(
            "{team}: the ledger does NOT add up. Events sum to {}, the packs hold {}; \
             packs that differ: {}.",
            a.events_sum,
            a.remaining_sum,
            if a.mismatched_packs.is_empty() {
                "none".into()
            } else {
                output::ids(&a.mismatched_packs)
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_full_page_of_events_says_the_limit_was_reached() {
        let event = Event {
            id: 1,
            team_id: 3,
            kind: "charged".into(),
            amount: -7,
            pack_id: 2,
            at: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
            actor: "user:4".into(),
            cause: "session:9".into(),
        };
        let text = show_events(std::slice::from_ref(&event), Some(1));
        assert!(text.contains("-7") && text.contains("session:9"), "{text}");
        assert!(text.contains("limit was reached"), "{text}");
        assert!(!show_events(&[event], None).contains("limit"));
    }
}
