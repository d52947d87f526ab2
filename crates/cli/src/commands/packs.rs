//! `jeton packs …`: token purchases (R-PACK-1).

use anyhow::Result;
use clap::Subcommand;
use jeton_api::{NewPack, Pack};
use serde::Serialize;

use super::output::{self, fields};
use super::{Ctx, teams};

#[derive(Debug, Subcommand)]
pub enum PacksCmd {
    /// Record a purchase of a token pack for a team; it expires in one year (operator)
    #[command(
        after_help = "With --idempotency-key, running the command again with the same key \
        records nothing more: it prints `Already recorded:` and the pack the first run bought \
        (with --json, the pack with \"replayed\": true; a new purchase has \"replayed\": false).\
        \n\nExample:\n  jeton packs buy 1000 --team Design --idempotency-key po-4711"
    )]
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

/// What `packs buy --json` prints: the pack, and whether it was bought before with the same
/// idempotency key (then nothing was bought now).
#[derive(Debug, Serialize)]
struct Bought {
    #[serde(flatten)]
    pack: Pack,
    replayed: bool,
}

pub async fn run(cmd: PacksCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        PacksCmd::Buy {
            team,
            tokens,
            idempotency_key,
        } => {
            let team = teams::named(ctx, &team).await?;
            let recorded = ctx
                .client
                .buy_pack_recorded(team.id, &NewPack { tokens }, idempotency_key.as_deref())
                .await?;
            let bought = Bought {
                pack: recorded.value,
                replayed: recorded.replayed,
            };
            ctx.out.print(&bought, |b| {
                let p = &b.pack;
                let head = if b.replayed {
                    format!(
                        "Already recorded: pack {} for team {team} was bought with this \
                         idempotency key before; nothing was bought now.",
                        p.id
                    )
                } else {
                    format!("Pack {} for team {team}:", p.id)
                };
                format!(
                    "{head}\n{}",
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
