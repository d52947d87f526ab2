//! `jeton teams …`, and turning a `--team` argument (id or name) into a team id.

use anyhow::{Result, bail};
use clap::Subcommand;
use jeton_api::{
    Merge, MergeRequest, MovedPack, NewTeam, Team, TeamRename, TeamSettings, TeamSettingsChange,
    TeamStatus,
};

use super::Ctx;
use super::output::{self, blocks, fields, table};

#[derive(Debug, Subcommand)]
pub enum TeamsCmd {
    /// Create a team
    Create {
        /// The team's name, e.g. Design
        name: String,
    },
    /// List the teams you may see
    List,
    /// Show one team
    Show {
        /// The team's id or exact name
        team: String,
    },
    /// Give a team a new name
    Rename {
        /// The team's id or exact name
        team: String,
        /// The new name
        name: String,
    },
    /// Merge one team into another: its packs, users and history move; it is closed
    #[command(after_help = "Example:\n  jeton teams merge --team Old --into-team New")]
    Merge {
        /// The team to close (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
        /// The team that receives everything (id or exact name)
        #[arg(long, value_name = "TEAM")]
        into_team: String,
    },
    /// Show a team's report and alert settings; change them with the options
    #[command(
        after_help = "Examples:\n  jeton teams settings --team Design\n  \
        jeton teams settings --team Design --low-balance-percent 25 --pseudonyms on"
    )]
    Settings {
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
        /// Email the team's admins when the balance falls below this percentage of the
        /// active total (1 to 99; a new team has 20)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=99))]
        low_balance_percent: Option<i64>,
        /// Show users in reports and exports as stable pseudonyms instead of names and emails
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        pseudonyms: Option<bool>,
    },
}

/// `on`/`off` (also yes/no, true/false).
pub fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        _ => Err("expected on or off".into()),
    }
}

pub async fn run(cmd: TeamsCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        TeamsCmd::Create { name } => {
            let team = ctx.client.create_team(&NewTeam { name }).await?;
            ctx.out
                .print(&team, |t| format!("Created team {} ({}).", t.id, t.name))
        }
        TeamsCmd::List => {
            let teams = ctx.client.list_teams().await?;
            ctx.out.print(&teams, |list| list_table(list))
        }
        TeamsCmd::Show { team } => {
            let id = resolve(ctx, &team).await?;
            let team = ctx.client.team(id).await?;
            ctx.out.print(&team, describe)
        }
        TeamsCmd::Rename { team, name } => {
            let id = resolve(ctx, &team).await?;
            let team = ctx.client.rename_team(id, &TeamRename { name }).await?;
            ctx.out
                .print(&team, |t| format!("Renamed team {} to {}.", t.id, t.name))
        }
        TeamsCmd::Merge { team, into_team } => {
            let from = resolve(ctx, &team).await?;
            let into_team = resolve(ctx, &into_team).await?;
            let merge = ctx.client.merge(from, &MergeRequest { into_team }).await?;
            ctx.out.print(&merge, merged)
        }
        TeamsCmd::Settings {
            team,
            low_balance_percent,
            pseudonyms,
        } => {
            let id = resolve(ctx, &team).await?;
            let change = TeamSettingsChange {
                low_balance_percent,
                pseudonyms,
            };
            if change == TeamSettingsChange::default() {
                let settings = ctx.client.team_settings(id).await?;
                return ctx.out.print(&settings, |s| show_settings(id, s, false));
            }
            let settings = ctx.client.set_team_settings(id, &change).await?;
            ctx.out.print(&settings, |s| show_settings(id, s, true))
        }
    }
}

/// A team id from an id or an exact team name (open teams first when names repeat).
pub async fn resolve(ctx: &Ctx, team: &str) -> Result<i64> {
    let team = team.trim();
    if let Ok(id) = team.parse::<i64>() {
        return Ok(id);
    }
    if team.is_empty() {
        bail!("the team is empty: give a team id or its exact name");
    }
    let teams = ctx.client.list_teams().await?;
    pick_by_name(&teams, team)
}

fn pick_by_name(teams: &[Team], name: &str) -> Result<i64> {
    let named: Vec<&Team> = teams.iter().filter(|t| t.name == name).collect();
    let open: Vec<&Team> = named
        .iter()
        .copied()
        .filter(|t| t.status == TeamStatus::Open)
        .collect();
    match (&named[..], &open[..]) {
        ([], _) => bail!(
            "no team is named {name:?}: give a team id or its exact name \
             (`jeton teams list` shows them)"
        ),
        ([only], _) | (_, [only]) => Ok(only.id),
        _ => {
            let ids: Vec<i64> = named.iter().map(|t| t.id).collect();
            bail!(
                "{} teams are named {name:?} (ids {}): give the id",
                ids.len(),
                output::ids(&ids)
            )
        }
    }
}

fn status(t: &Team) -> String {
    match (t.status, t.merged_into) {
        (TeamStatus::Open, _) => "open".into(),
        (TeamStatus::Closed, Some(into)) => format!("closed (merged into {into})"),
        (TeamStatus::Closed, None) => "closed".into(),
    }
}

fn list_table(teams: &[Team]) -> String {
    if teams.is_empty() {
        return "No teams yet: create one with `jeton teams create NAME`.".into();
    }
    let mut t = table(&["id", "name", "status", "created"], &[0]);
    for team in teams {
        t.add_row(vec![
            team.id.to_string(),
            team.name.clone(),
            status(team),
            output::date(&team.created_at),
        ]);
    }
    t.to_string()
}

fn describe(t: &Team) -> String {
    let mut rows = vec![
        ("id", t.id.to_string()),
        ("name", t.name.clone()),
        ("status", status(t)),
        ("created", output::time(&t.created_at)),
    ];
    if let Some(closed) = &t.closed_at {
        rows.push(("closed", output::time(closed)));
    }
    fields(&rows)
}

fn show_settings(team: i64, s: &TeamSettings, changed: bool) -> String {
    let head = if changed {
        format!("Updated the settings of team {team}:")
    } else {
        format!("Settings of team {team}:")
    };
    let pseudonyms = if s.pseudonyms {
        "on: reports and exports show users as pseudonyms"
    } else {
        "off: reports and exports show names and emails"
    };
    let rows = fields(&[
        (
            "low balance",
            format!(
                "below {} % of the active total (admins are emailed once per crossing)",
                s.low_balance_percent
            ),
        ),
        ("pseudonyms", pseudonyms.to_string()),
    ]);
    format!("{head}\n{rows}")
}

/// The packs a move or merge carried over, as a table.
pub fn moved_packs(packs: &[MovedPack]) -> String {
    let mut t = table(&["from pack", "to pack", "tokens", "expires"], &[0, 1, 2]);
    for p in packs {
        t.add_row(vec![
            p.from_pack.to_string(),
            p.to_pack.to_string(),
            p.tokens.to_string(),
            output::date(&p.expires_at),
        ]);
    }
    t.to_string()
}

fn merged(m: &Merge) -> String {
    let summary = format!(
        "Merged team {} into team {}: {} moved in {} pack(s); team {} is closed.",
        m.from_team,
        m.into_team,
        output::tokens(m.tokens),
        m.packs.len(),
        m.from_team
    );
    if m.packs.is_empty() {
        summary
    } else {
        blocks([summary, moved_packs(&m.packs)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn team(id: i64, name: &str, status: TeamStatus) -> Team {
        Team {
            id,
            name: name.into(),
            status,
            created_at: Utc::now(),
            closed_at: None,
            merged_into: None,
        }
    }

    #[test]
    fn switches_are_on_or_off() {
        for on in ["on", "ON", "yes", "true"] {
            assert_eq!(parse_on_off(on), Ok(true), "{on}");
        }
        for off in ["off", " Off ", "no", "false"] {
            assert_eq!(parse_on_off(off), Ok(false), "{off}");
        }
        assert_eq!(parse_on_off("maybe").unwrap_err(), "expected on or off");
        let text = show_settings(
            3,
            &TeamSettings {
                low_balance_percent: 30,
                pseudonyms: true,
            },
            true,
        );
        assert!(
            text.starts_with("Updated the settings of team 3:"),
            "{text}"
        );
        assert!(
            text.contains("below 30 %")
                && text.contains("on: reports and exports show users as pseudonyms"),
            "{text}"
        );
    }

    #[test]
    fn teams_are_found_by_exact_name_preferring_open_ones() {
        let teams = [
            team(1, "Design", TeamStatus::Closed),
            team(2, "Design", TeamStatus::Open),
            team(3, "Ops", TeamStatus::Open),
            team(4, "Ops", TeamStatus::Open),
        ];
        assert_eq!(pick_by_name(&teams, "Design").unwrap(), 2);
        let err = pick_by_name(&teams, "Ops").unwrap_err().to_string();
        assert!(err.contains("3, 4") && err.contains("give the id"), "{err}");
        let err = pick_by_name(&teams, "design").unwrap_err().to_string();
        assert!(err.contains("teams list"), "{err}");
    }
}
