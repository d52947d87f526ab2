//! `jeton admins …`: team admins and their API keys: creating, listing, revoking and rotating
//! (R-AUTH-1). All operator only.

use std::collections::HashMap;

use anyhow::{Result, bail};
use clap::Subcommand;
use jeton_api::{AdminInfo, KeyStatus, NewAdmin};

use super::output::{self, fields, table};
use super::{Ctx, teams};

#[derive(Debug, Subcommand)]
pub enum AdminsCmd {
    /// Create a team admin and print their API key, once (operator)
    Create {
        /// The admin's email address
        #[arg(long)]
        email: String,
        /// The admin's full name
        #[arg(long)]
        name: String,
        /// A team they manage (id or exact name); repeat for more teams
        #[arg(long = "team", value_name = "TEAM", required = true)]
        teams: Vec<String>,
    },
    /// List the team admins: their teams and whether their key works (operator)
    List,
    /// Revoke an admin's API key: it is refused from now on, on every server (operator)
    #[command(
        after_help = "The admin stays, with their teams; only the key stops working. \
        `jeton admins rotate ADMIN` gives them a new one.\n\nExample:\n  \
        jeton admins revoke ann@example.com"
    )]
    Revoke {
        /// The admin's id or email
        admin: String,
    },
    /// Give an admin a new API key, printed once; the old key stops working now (operator)
    #[command(
        after_help = "Also how a revoked admin gets a working key again.\n\nExample:\n  \
        jeton admins rotate 3"
    )]
    Rotate {
        /// The admin's id or email
        admin: String,
    },
    /// Send an admin a new link to choose their console password, and print it (operator)
    #[command(
        after_help = "The link is emailed to the admin and printed here, to hand over another way \
        if the email does not arrive. It works once, for 7 days; earlier links stop working.\n\n\
        Example:\n  jeton admins password-link ann@example.com"
    )]
    PasswordLink {
        /// The admin's id or email
        admin: String,
    },
}

pub async fn run(cmd: AdminsCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        AdminsCmd::Create { email, name, teams } => {
            let mut ids = Vec::with_capacity(teams.len());
            for team in &teams {
                ids.push(teams::resolve(ctx, team).await?);
            }
            let admin = NewAdmin {
                email,
                name,
                teams: ids,
            };
            let created = ctx.client.create_admin(&admin).await?;
            let names = teams::names(ctx).await?;
            ctx.out.print(&created, |a| {
                format!(
                    "Created admin {}:\n{}\n\nAPI key (shown only this once; store it now):\n\n    {}\n\n\
                     Console password: a link was emailed to {}; it works once, until {} UTC:\n\n    {}\n",
                    a.id,
                    fields(&[
                        ("name", a.name.clone()),
                        ("email", a.email.clone()),
                        ("teams", teams::list_names(&a.teams, &names)),
                    ]),
                    a.api_key,
                    a.email,
                    a.password_link_expires_at.format("%Y-%m-%d %H:%M"),
                    a.password_link
                )
            })
        }
        AdminsCmd::PasswordLink { admin } => {
            let id = resolve(ctx, &admin).await?;
            let link = ctx.client.admin_password_link(id).await?;
            ctx.out.print(&link, |l| {
                format!(
                    "A link to choose a console password was emailed to admin {}; it works once, \
                     until {} UTC:\n\n    {}\n",
                    l.admin_id,
                    l.expires_at.format("%Y-%m-%d %H:%M"),
                    l.link
                )
            })
        }
        AdminsCmd::List => {
            let admins = ctx.client.admins().await?;
            let names = teams::names(ctx).await?;
            ctx.out.print(&admins, |list| list_table(list, &names))
        }
        AdminsCmd::Revoke { admin } => {
            let id = resolve(ctx, &admin).await?;
            let revoked = ctx.client.revoke_admin_key(id).await?;
            ctx.out.print(&revoked, |a| {
                format!(
                    "Revoked the API key of admin {} ({}): it is refused from now on. \
                     `jeton admins rotate {}` gives them a new one.",
                    a.id, a.email, a.id
                )
            })
        }
        AdminsCmd::Rotate { admin } => {
            let id = resolve(ctx, &admin).await?;
            let rotated = ctx.client.rotate_admin_key(id).await?;
            ctx.out.print(&rotated, |r| {
                format!(
                    "New API key for admin {} ({}); the old key is refused from now on.\n\n\
                     API key (shown only this once; store it now):\n\n    {}\n",
                    r.admin.id, r.admin.email, r.api_key
                )
            })
        }
    }
}

/// An ADMIN argument: an id as it is, an email looked up in the list of admins.
async fn resolve(ctx: &Ctx, admin: &str) -> Result<i64> {
    let admin = admin.trim();
    if let Ok(id) = admin.parse::<i64>() {
        return Ok(id);
    }
    if !admin.contains('@') {
        bail!(
            "{admin:?} is neither an admin id nor an email address (`jeton admins list` shows them)"
        );
    }
    let admins = ctx.client.admins().await?;
    match admins.iter().find(|a| a.email.eq_ignore_ascii_case(admin)) {
        Some(a) => Ok(a.id),
        None => bail!("no admin has the email {admin} (`jeton admins list` shows them)"),
    }
}

fn key_state(a: &AdminInfo) -> String {
    match (a.key_status, a.key_revoked_at) {
        (KeyStatus::Revoked, Some(at)) => format!("revoked {}", output::time(&at)),
        (KeyStatus::Revoked, None) => "revoked".into(),
        (KeyStatus::Active, _) => format!("active since {}", output::time(&a.key_created_at)),
    }
}

fn list_table(admins: &[AdminInfo], names: &HashMap<i64, String>) -> String {
    if admins.is_empty() {
        return "No team admins yet: `jeton admins create` makes one.".into();
    }
    let mut t = table(&["id", "name", "email", "teams", "created", "key"], &[0]);
    for a in admins {
        t.add_row(vec![
            a.id.to_string(),
            a.name.clone(),
            a.email.clone(),
            teams::list_names(&a.teams, names),
            output::date(&a.created_at),
            key_state(a),
        ]);
    }
    t.to_string()
}
