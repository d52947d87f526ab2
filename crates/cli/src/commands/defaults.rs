//! `jeton defaults …`: a team's default assignments (R-ACC-3).

use anyhow::{Result, bail};
use clap::Subcommand;
use jeton_api::{Defaults, SetDefaults};

use super::Ctx;
use super::output;
use super::teams::{self, Named};

#[derive(Debug, Subcommand)]
pub enum DefaultsCmd {
    /// Show the team's default assignments
    Show {
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
    },
    /// Turn default assignments on: every Flex user of the team gets exactly these products
    #[command(
        after_help = "While default assignments are on they replace each user's own \
        selection (which is kept, and applies again after `jeton defaults clear`). Products \
        added to the catalogue later are not added to the defaults. No email is sent."
    )]
    Set {
        /// The products, e.g. autocad,revit
        #[arg(value_name = "KEYS", required = true, value_delimiter = ',')]
        products: Vec<String>,
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
    },
    /// Turn default assignments off: each user's own selection applies again
    Clear {
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
    },
}

pub async fn run(cmd: DefaultsCmd, ctx: &Ctx) -> Result<()> {
    let (team, set) = match cmd {
        DefaultsCmd::Show { team } => {
            let team = teams::named(ctx, &team).await?;
            let defaults = ctx.client.defaults(team.id).await?;
            return ctx.out.print(&defaults, |d| describe(&team, d));
        }
        DefaultsCmd::Set { products, team } => {
            let products = output::key_list(&products);
            if products.is_empty() {
                bail!(
                    "give at least one product key, e.g. autocad,revit \
                     (`jeton defaults clear` turns default assignments off)"
                );
            }
            (team, products)
        }
        DefaultsCmd::Clear { team } => (team, Vec::new()),
    };
    let team = teams::named(ctx, &team).await?;
    let defaults = ctx
        .client
        .set_defaults(team.id, &SetDefaults { products: set })
        .await?;
    ctx.out.print(&defaults, |d| describe(&team, d))
}

fn describe(team: &Named, d: &Defaults) -> String {
    if d.enabled {
        format!(
            "Default assignments are on for team {team}: every Flex user gets exactly {}.",
            d.products.join(", ")
        )
    } else {
        format!("Default assignments are off for team {team}: each user's own selection applies.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_say_whether_they_are_on() {
        let design = Named {
            id: 3,
            name: "Design".into(),
        };
        let on = Defaults {
            team_id: 3,
            enabled: true,
            products: vec!["autocad".into(), "revit".into()],
        };
        assert!(
            describe(&design, &on)
                .contains("on for team Design: every Flex user gets exactly autocad, revit")
        );
        let off = Defaults {
            team_id: 3,
            enabled: false,
            products: vec![],
        };
        assert!(describe(&design, &off).contains("off for team Design"));
    }
}
