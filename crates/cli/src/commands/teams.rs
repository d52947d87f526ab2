//! `jeton teams …`, and turning a `--team` argument (id or name) into a team id, or into the
//! team's name for what is printed.

use std::collections::HashMap;
use std::fmt;

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
    #[command(after_help = "Example:\n  jeton teams show --team Design")]
    Show {
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
    },
    /// Give a team a new name
    #[command(after_help = "Example:\n  jeton teams rename --team Ops Operations")]
    Rename {
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
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
    #[command(after_help = "Examples:\n  jeton teams settings --team Design\n  \
        jeton teams settings --team Design --low-balance-percent 25 --pseudonyms on")]
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
                .print(&team, |t| format!("Created team {} (id {}).", t.name, t.id))
        }
        TeamsCmd::List => {
            let teams = ctx.client.list_teams().await?;
            ctx.out.print(&teams, |list| list_table(list))
        }
        TeamsCmd::Show { team } => {
            let id = resolve(ctx, &team).await?;
            let team = ctx.client.team(id).await?;
            let mut names = HashMap::new();
            if let Some(into) = team.merged_into
                && let Ok(t) = ctx.client.team(into).await
            {
                names.insert(t.id, t.name);
            }
            ctx.out.print(&team, |t| describe(t, &names))
        }
        TeamsCmd::Rename { team, name } => {
            let old = named(ctx, &team).await?;
            let team = ctx.client.rename_team(old.id, &TeamRename { name }).await?;
            ctx.out.print(&team, |t| {
                format!("Renamed team {old} to {} (id {}).", t.name, t.id)
            })
        }
        TeamsCmd::Merge { team, into_team } => {
            let from = named(ctx, &team).await?;
            let into = named(ctx, &into_team).await?;
            let request = MergeRequest { into_team: into.id };
            let merge = ctx.client.merge(from.id, &request).await?;
            ctx.out.print(&merge, |m| merged(m, &from, &into))
        }
        TeamsCmd::Settings {
            team,
            low_balance_percent,
            pseudonyms,
        } => {
            let team = named(ctx, &team).await?;
            let change = TeamSettingsChange {
                low_balance_percent,
                pseudonyms,
            };
            if change == TeamSettingsChange::default() {
                let settings = ctx.client.team_settings(team.id).await?;
                return ctx.out.print(&settings, |s| show_settings(&team, s, false));
            }
            let settings = ctx.client.set_team_settings(team.id, &change).await?;
            ctx.out.print(&settings, |s| show_settings(&team, s, true))
        }
    }
}

/// A team as people read it in what the CLI prints: by name. Requests use the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

impl From<&Team> for Named {
    fn from(t: &Team) -> Named {
        Named {
            id: t.id,
            name: t.name.clone(),
        }
    }
}

impl Named {
    /// The team as a `--team` argument in a hint: its name, quoted for the shell when needed.
    pub fn arg(&self) -> String {
        let plain = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+'));
        if plain {
            self.name.clone()
        } else {
            format!("'{}'", self.name.replace('\'', r"'\''"))
        }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The team given by id or exact name (see [`resolve`]), with its name, for commands that print
/// it: an id costs one more request, for the name.
pub async fn named(ctx: &Ctx, team: &str) -> Result<Named> {
    let team = team.trim();
    if let Ok(id) = team.parse::<i64>() {
        return Ok(Named::from(&ctx.client.team(id).await?));
    }
    let teams = by_name(ctx, team).await?;
    pick_by_name(&teams, team).map(Named::from)
}

/// The names of the teams the caller may see, by id; a team not among them is shown by its id.
pub async fn names(ctx: &Ctx) -> Result<HashMap<i64, String>> {
    let teams = ctx.client.list_teams().await?;
    Ok(teams.into_iter().map(|t| (t.id, t.name)).collect())
}

/// `Design, Operations`: teams by name (by id when the name is not known).
pub fn list_names(ids: &[i64], names: &HashMap<i64, String>) -> String {
    if ids.is_empty() {
        return "-".into();
    }
    ids.iter()
        .map(|id| {
            names
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("team {id}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A team id from an id or an exact team name (open teams first when names repeat).
pub async fn resolve(ctx: &Ctx, team: &str) -> Result<i64> {
    let team = team.trim();
    if let Ok(id) = team.parse::<i64>() {
        return Ok(id);
    }
    let teams = by_name(ctx, team).await?;
    pick_by_name(&teams, team).map(|t| t.id)
}

/// The teams to look `name` up in.
async fn by_name(ctx: &Ctx, name: &str) -> Result<Vec<Team>> {
    if name.is_empty() {
        bail!("the team is empty: give a team id or its exact name");
    }
    Ok(ctx.client.list_teams().await?)
}

fn pick_by_name<'a>(teams: &'a [Team], name: &str) -> Result<&'a Team> {
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
        ([only], _) | (_, [only]) => Ok(only),
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

fn status(t: &Team, names: &HashMap<i64, String>) -> String {
    match (t.status, t.merged_into) {
        (TeamStatus::Open, _) => "open".into(),
        (TeamStatus::Closed, Some(into)) => match names.get(&into) {
            Some(name) => format!("closed (merged into {name}, id {into})"),
            None => format!("closed (merged into team {into})"),
        },
        (TeamStatus::Closed, None) => "closed".into(),
    }
}

fn list_table(teams: &[Team]) -> String {
    if teams.is_empty() {
        return "No teams yet: create one with `jeton teams create NAME`.".into();
    }
    let names: HashMap<i64, String> = teams.iter().map(|t| (t.id, t.name.clone())).collect();
    let mut t = table(&["id", "name", "status", "created"], &[0]);
    for team in teams {
        t.add_row(vec![
            team.id.to_string(),
            team.name.clone(),
            status(team, &names),
            output::date(&team.created_at),
        ]);
    }
    t.to_string()
}

fn describe(t: &Team, names: &HashMap<i64, String>) -> String {
    let mut rows = vec![
        ("id", t.id.to_string()),
        ("name", t.name.clone()),
        ("status", status(t, names)),
        ("created", output::time(&t.created_at)),
    ];
    if let Some(closed) = &t.closed_at {
        rows.push(("closed", output::time(closed)));
    }
    fields(&rows)
}

fn show_settings(team: &Named, s: &TeamSettings, changed: bool) -> String {
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

fn merged(m: &Merge, from: &Named, into: &Named) -> String {
    let summary = format!(
        "Merged team {from} into team {into}: {} moved in {} pack(s); team {from} is closed.",
        output::tokens(m.tokens),
        m.packs.len(),
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
        let design = Named {
            id: 3,
            name: "Design".into(),
        };
        let text = show_settings(
            &design,
            &TeamSettings {
                low_balance_percent: 30,
                pseudonyms: true,
            },
            true,
        );
        assert!(
            text.starts_with("Updated the settings of team Design:"),
            "{text}"
        );
        assert!(
            text.contains("below 30 %")
                && text.contains("on: reports and exports show users as pseudonyms"),
            "{text}"
        );
    }

    #[test]
    fn a_team_in_a_hint_is_its_name_quoted_when_needed() {
        let named = |name: &str| Named {
            id: 1,
            name: name.into(),
        };
        assert_eq!(named("Design").arg(), "Design");
        assert_eq!(named("Render farm").arg(), "'Render farm'");
        assert_eq!(named("Bob's").arg(), r"'Bob'\''s'");
        assert_eq!(named("Design").to_string(), "Design");
    }

    #[test]
    fn teams_are_found_by_exact_name_preferring_open_ones() {
        let teams = [
            team(1, "Design", TeamStatus::Closed),
            team(2, "Design", TeamStatus::Open),
            team(3, "Ops", TeamStatus::Open),
            team(4, "Ops", TeamStatus::Open),
        ];
        assert_eq!(pick_by_name(&teams, "Design").unwrap().id, 2);
        let err = pick_by_name(&teams, "Ops").unwrap_err().to_string();
        assert!(err.contains("3, 4") && err.contains("give the id"), "{err}");
        let err = pick_by_name(&teams, "design").unwrap_err().to_string();
        assert!(err.contains("teams list"), "{err}");
    }
}
