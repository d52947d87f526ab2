//! `jeton subscriptions add`, `jeton trials add` and `jeton entitlements`: single-user
//! subscriptions and trials, which pay for a product instead of the team's tokens (R-PRI).

use anyhow::{Result, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use jeton_api::{AccessKind, Entitlement, NewEntitlement};

use super::output::{self, fields, table};
use super::{Ctx, reports};

const ADD_HELP: &str = "USER is the user's id (`jeton users list --team TEAM` shows ids). \
    Dates are YYYY-MM-DD (UTC): it runs from the start of --from to the end of --to, both days \
    included.";

#[derive(Debug, Subcommand)]
pub enum SubscriptionsCmd {
    /// Give a user a single-user subscription to a product: their sessions of it cost no tokens
    /// while it runs (operator)
    #[command(after_help = format!("{ADD_HELP}\n\nExample:\n  \
        jeton subscriptions add 42 --product autocad --from 2026-01-01 --to 2026-12-31"))]
    Add(AddArgs),
}

#[derive(Debug, Subcommand)]
pub enum TrialsCmd {
    /// Give a user a trial of a product: no tokens while it runs; the first session after it
    /// ends pays (operator)
    #[command(after_help = format!("{ADD_HELP}\n\nExample:\n  \
        jeton trials add 42 --product revit --from 2026-03-01 --to 2026-03-14"))]
    Add(AddArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The user's id
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: i64,
    /// The product's key, e.g. autocad
    #[arg(long, value_name = "KEY")]
    pub product: String,
    /// Its first day, included (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE", value_parser = reports::parse_day)]
    pub from: NaiveDate,
    /// Its last day, included (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE", value_parser = reports::parse_day)]
    pub to: NaiveDate,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The user's id
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: i64,
}

/// A user id. There is no search by email across the service; `jeton users list --team TEAM`
/// shows the ids of a team's users.
fn parse_user(s: &str) -> Result<i64, String> {
    match s.trim().parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!(
            "expected a user id (a positive number), got {s:?}; `jeton users list --team TEAM` \
             shows the ids"
        )),
    }
}

pub async fn subscriptions(cmd: SubscriptionsCmd, ctx: &Ctx) -> Result<()> {
    let SubscriptionsCmd::Add(args) = cmd;
    add(AccessKind::Subscription, args, ctx).await
}

pub async fn trials(cmd: TrialsCmd, ctx: &Ctx) -> Result<()> {
    let TrialsCmd::Add(args) = cmd;
    add(AccessKind::Trial, args, ctx).await
}

async fn add(kind: AccessKind, args: AddArgs, ctx: &Ctx) -> Result<()> {
    if args.from > args.to {
        bail!(
            "--from ({}) is after --to ({}): it runs from its first day to its last",
            args.from,
            args.to
        );
    }
    let request = NewEntitlement {
        product: args.product.trim().to_string(),
        starts_at: reports::start_of(args.from),
        ends_at: reports::end_of(args.to)?,
    };
    let added = match kind {
        AccessKind::Trial => ctx.client.add_trial(args.user, &request).await?,
        _ => ctx.client.add_subscription(args.user, &request).await?,
    };
    ctx.out.print(&added, describe)
}

pub async fn list(args: ListArgs, ctx: &Ctx) -> Result<()> {
    let list = ctx.client.entitlements(args.user).await?;
    ctx.out.print(&list, |l| list_table(args.user, l))
}

pub fn kind(kind: AccessKind) -> &'static str {
    match kind {
        AccessKind::Flex => "flex",
        AccessKind::Subscription => "subscription",
        AccessKind::Trial => "trial",
    }
}

fn describe(e: &Entitlement) -> String {
    let head = match e.kind {
        AccessKind::Trial => format!(
            "Trial {} of {} for user {}: their sessions of it cost no tokens while it runs; the \
             first session after it ends pays.",
            e.id, e.product, e.user_id
        ),
        _ => format!(
            "Subscription {} to {} for user {}: their sessions of it cost no tokens while it runs.",
            e.id, e.product, e.user_id
        ),
    };
    format!(
        "{head}\n{}",
        fields(&[
            ("starts", output::time(&e.starts_at)),
            ("ends", output::time(&e.ends_at)),
        ])
    )
}

fn list_table(user: i64, list: &[Entitlement]) -> String {
    if list.is_empty() {
        return format!(
            "User {user} has no subscriptions or trials: their sessions are paid with Flex tokens."
        );
    }
    let mut t = table(&["id", "kind", "product", "starts", "ends"], &[0]);
    for e in list {
        t.add_row(vec![
            e.id.to_string(),
            kind(e.kind).to_string(),
            e.product.clone(),
            output::time(&e.starts_at),
            output::time(&e.ends_at),
        ]);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_given_by_id() {
        assert_eq!(parse_user(" 42 "), Ok(42));
        for bad in ["jane@example.com", "0", "-3", ""] {
            let err = parse_user(bad).unwrap_err();
            assert!(err.contains("users list --team"), "{bad}: {err}");
        }
    }
}
