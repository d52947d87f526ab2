//! `jeton admins …`: team admins and their API keys.

use anyhow::Result;
use clap::Subcommand;
use jeton_api::NewAdmin;

use super::output::{self, fields};
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
            ctx.out.print(&created, |a| {
                format!(
                    "Created admin {}:\n{}\n\nAPI key (shown only this once; store it now):\n\n    {}\n",
                    a.id,
                    fields(&[
                        ("name", a.name.clone()),
                        ("email", a.email.clone()),
                        ("teams", output::ids(&a.teams)),
                    ]),
                    a.api_key
                )
            })
        }
    }
}
