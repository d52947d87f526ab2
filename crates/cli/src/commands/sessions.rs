//! `jeton sessions`: a team's product sessions, as admins see them (R-SES).

use anyhow::Result;
use clap::Args;
use jeton_api::{SessionInfo, SessionsQuery};

use super::output::{self, table};
use super::{Ctx, teams};

#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
    /// Also the sessions that ended (by default only open ones)
    #[arg(long)]
    pub all: bool,
    /// At most this many, newest first [server default: 100, at most 1000]
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
}

pub async fn run(args: SessionsArgs, ctx: &Ctx) -> Result<()> {
    let team = teams::named(ctx, &args.team).await?;
    let query = SessionsQuery {
        open: Some(!args.all),
        limit: args.limit,
    };
    let sessions = ctx.client.sessions(team.id, &query).await?;
    ctx.out
        .print(&sessions, |list| show(&team, list, args.all, args.limit))
}

fn show(team: &teams::Named, list: &[SessionInfo], all: bool, limit: Option<u32>) -> String {
    if list.is_empty() {
        return if all {
            format!("Team {team} has no sessions yet.")
        } else {
            format!("No open sessions on team {team} (`--all` shows ended ones too).")
        };
    }
    let mut header = vec![
        "id",
        "user",
        "product",
        "version",
        "machine",
        "started",
        "last seen",
    ];
    if all {
        header.extend(["ended", "why"]);
    }
    let mut t = table(&header, &[0, 1]);
    for s in list {
        let mut row = vec![
            s.id.to_string(),
            s.user_id.to_string(),
            s.product.clone(),
            s.version.clone().unwrap_or_else(|| "-".into()),
            s.machine.clone().unwrap_or_else(|| "-".into()),
            output::time(&s.started_at),
            output::time(&s.last_seen_at),
        ];
        if all {
            row.push(
                s.ended_at
                    .as_ref()
                    .map(output::time)
                    .unwrap_or_else(|| "open".into()),
            );
            row.push(s.end_reason.clone().unwrap_or_else(|| "-".into()));
        }
        t.add_row(row);
    }
    let shown = list.len();
    let what = if all { "session(s)" } else { "open session(s)" };
    let mut footer = format!("{shown} {what} on team {team}.");
    if limit.is_some_and(|l| shown >= l as usize) || (limit.is_none() && shown >= 100) {
        footer.push_str(" The limit was reached: raise --limit to see more.");
    }
    format!("{t}\n{footer}")
}
