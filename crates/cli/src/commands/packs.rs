//! `jeton packs …`: token purchases (R-PACK-1).

use anyhow::Result;
use clap::Subcommand;
use jeton_api::NewPack;

use super::output::{self, fields};
use super::{Ctx, teams};

#[derive(Debug, Subcommand)]
pub enum PacksCmd {
    /// Record a purchase of a token pack for a team; it expires in one year (operator)
    Buy {
        /// The team that bought it (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
        /// Whole tokens in the pack
        #[arg(allow_negative_numbers = true)]
        tokens: i64,
        /// A key naming this purchase (e.g. the store's order id): repeating the command with
        /// the same key records the pack only once
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
}

pub async fn run(cmd: PacksCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        PacksCmd::Buy {
            team,
            tokens,
            idempotency_key,
        } => {
            let team = teams::named(ctx, &team).await?;
            let pack = ctx
                .client
                .buy_pack(team.id, &NewPack { tokens }, idempotency_key.as_deref())
                .await?;
            ctx.out.print(&pack, |p| {
                format!(
                    "Pack {} for team {team}:\n{}",
                    p.id,
                    fields(&[
                        ("tokens", p.tokens.to_string()),
                        ("remaining", p.remaining.to_string()),
                        ("purchased", output::time(&p.purchased_at)),
                        ("expires", output::time(&p.expires_at)),
                    ])
                )
            })
        }
    }
}
