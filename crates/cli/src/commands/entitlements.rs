//! `jeton subscriptions …`, `jeton trials …` and `jeton entitlements`: single-user subscriptions
//! and trials, which pay for a product instead of the team's tokens (R-PRI): adding, listing and
//! removing them.

use anyhow::{Result, bail};
use chrono::NaiveDate;
use clap::{ArgGroup, Args, Subcommand};
use jeton_api::{AccessKind, Entitlement, NewEntitlement};

use super::output::{self, fields, table};
use super::{Ctx, reports};

const ADD_HELP: &str = "USER is the user's id or email address (any account, on a team or \
    not). Dates are YYYY-MM-DD (UTC): it runs from the start of --from to the end of --to, both \
    days included.";

const REMOVE_HELP: &str = "USER is the user's id or email address. Give --id (`list` shows the \
    ids), or --product when the user has only one of them for that product.\n\n\
    What it means for money: nothing used under it is charged, and sessions already open keep \
    the terms of their 24-hour usage period until it ends; from the removal on, each sign-in to \
    the product (and an open session's next period) is paid with the team's tokens as usual.";

#[derive(Debug, Subcommand)]
pub enum SubscriptionsCmd {
    /// Give a user a single-user subscription to a product: their sessions of it cost no tokens
    /// while it runs (operator)
    #[command(after_help = format!("{ADD_HELP}\n\nExample:\n  \
        jeton subscriptions add jane@example.com --product autocad --from 2026-01-01 --to 2026-12-31"))]
    Add(AddArgs),
    /// List a user's subscriptions, with their ids (operator)
    #[command(after_help = "Example:\n  jeton subscriptions list jane@example.com")]
    List(ListArgs),
    /// Remove a user's subscription: their next sessions of the product pay tokens (operator)
    #[command(after_help = format!("{REMOVE_HELP}\n\nExamples:\n  \
        jeton subscriptions remove jane@example.com --product autocad\n  \
        jeton subscriptions remove 42 --id 7"))]
    Remove(RemoveArgs),
}

#[derive(Debug, Subcommand)]
pub enum TrialsCmd {
    /// Give a user a trial of a product: no tokens while it runs; the first session after it
    /// ends pays (operator)
    #[command(after_help = format!("{ADD_HELP}\n\nExample:\n  \
        jeton trials add jane@example.com --product revit --from 2026-03-01 --to 2026-03-14"))]
    Add(AddArgs),
    /// List a user's trials, with their ids (operator)
    #[command(after_help = "Example:\n  jeton trials list jane@example.com")]
    List(ListArgs),
    /// Remove a user's trial: their next sessions of the product pay tokens (operator)
    #[command(after_help = format!("{REMOVE_HELP}\n\nExamples:\n  \
        jeton trials remove jane@example.com --product revit\n  \
        jeton trials remove 42 --id 8"))]
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The user's id or email address
    #[arg(value_name = "USER")]
    pub user: String,
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
    /// The user's id or email address
    #[arg(value_name = "USER")]
    pub user: String,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["id", "product"])))]
pub struct RemoveArgs {
    /// The user's id or email address
    #[arg(value_name = "USER")]
    pub user: String,
    /// The id of the one to remove (`list` shows them)
    #[arg(long, value_name = "ID")]
    pub id: Option<i64>,
    /// The product of the one to remove, when the user has only one for it
    #[arg(long, value_name = "KEY")]
    pub product: Option<String>,
}

/// A USER argument: an id as it is, an email address looked up among all accounts.
pub async fn resolve_user(ctx: &Ctx, user: &str) -> Result<i64> {
    let user = user.trim();
    if let Ok(id) = user.parse::<i64>() {
        if id > 0 {
            return Ok(id);
        }
        bail!("a user id is a positive number, got {id}");
    }
    if !user.contains('@') {
        bail!(
            "{user:?} is neither a user id nor an email address: give one of them \
             (`jeton users list --team TEAM` shows a team's users)"
        );
    }
    match ctx.client.find_user(user).await? {
        Some(account) => Ok(account.user_id),
        None => bail!("no account has the email address {user}"),
    }
}

pub async fn subscriptions(cmd: SubscriptionsCmd, ctx: &Ctx) -> Result<()> {
    let kind = AccessKind::Subscription;
    match cmd {
        SubscriptionsCmd::Add(args) => add(kind, args, ctx).await,
        SubscriptionsCmd::List(args) => list_of(kind, args, ctx).await,
        SubscriptionsCmd::Remove(args) => remove(kind, args, ctx).await,
    }
}

pub async fn trials(cmd: TrialsCmd, ctx: &Ctx) -> Result<()> {
    let kind = AccessKind::Trial;
    match cmd {
        TrialsCmd::Add(args) => add(kind, args, ctx).await,
        TrialsCmd::List(args) => list_of(kind, args, ctx).await,
        TrialsCmd::Remove(args) => remove(kind, args, ctx).await,
    }
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
    let user = resolve_user(ctx, &args.user).await?;
    let added = match kind {
        AccessKind::Trial => ctx.client.add_trial(user, &request).await?,
        _ => ctx.client.add_subscription(user, &request).await?,
    };
    ctx.out.print(&added, describe)
}

/// `jeton entitlements USER`: subscriptions and trials together.
pub async fn list(args: ListArgs, ctx: &Ctx) -> Result<()> {
    let user = resolve_user(ctx, &args.user).await?;
    let list = ctx.client.entitlements(user).await?;
    ctx.out.print(&list, |l| list_table(user, None, l))
}

/// `jeton subscriptions list USER`, `jeton trials list USER`.
async fn list_of(kind: AccessKind, args: ListArgs, ctx: &Ctx) -> Result<()> {
    let user = resolve_user(ctx, &args.user).await?;
    let list: Vec<Entitlement> = ctx
        .client
        .entitlements(user)
        .await?
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect();
    ctx.out.print(&list, |l| list_table(user, Some(kind), l))
}

async fn remove(kind: AccessKind, args: RemoveArgs, ctx: &Ctx) -> Result<()> {
    let user = resolve_user(ctx, &args.user).await?;
    let id = match (args.id, args.product.as_deref().map(str::trim)) {
        (Some(id), _) => id,
        (None, Some(product)) => {
            let all = ctx.client.entitlements(user).await?;
            pick(&all, kind, product, &args.user)?
        }
        (None, None) => bail!("give --id or --product"),
    };
    let removed = match kind {
        AccessKind::Trial => ctx.client.remove_trial(user, id).await?,
        _ => ctx.client.remove_subscription(user, id).await?,
    };
    ctx.out.print(&removed, removed_text)
}

/// The id of the user's only `kind` of `product`.
fn pick(all: &[Entitlement], kind: AccessKind, product: &str, user: &str) -> Result<i64> {
    let what = self::kind(kind);
    let found: Vec<&Entitlement> = all
        .iter()
        .filter(|e| e.kind == kind && e.product == product)
        .collect();
    match found[..] {
        [one] => Ok(one.id),
        [] => bail!(
            "{} has no {what} of {product} (`jeton {what}s list {}` lists theirs)",
            user.trim(),
            user.trim()
        ),
        _ => {
            let ids: Vec<i64> = found.iter().map(|e| e.id).collect();
            bail!(
                "{} has {} {what}s of {product} (ids {}): give the one to remove with --id \
                 (`jeton {what}s list {}` shows their dates)",
                user.trim(),
                ids.len(),
                output::ids(&ids),
                user.trim()
            )
        }
    }
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

fn removed_text(e: &Entitlement) -> String {
    let what = match e.kind {
        AccessKind::Trial => "trial",
        _ => "subscription",
    };
    format!(
        "Removed {what} {} of {} for user {} ({} to {}). Nothing used under it is charged; from \
         now on their sign-ins to {} are paid with the team's tokens (sessions already open keep \
         their period's terms until it ends).",
        e.id,
        e.product,
        e.user_id,
        output::time(&e.starts_at),
        output::time(&e.ends_at),
        e.product
    )
}

fn list_table(user: i64, only: Option<AccessKind>, list: &[Entitlement]) -> String {
    if list.is_empty() {
        let what = match only {
            Some(k) => format!("no {}s", kind(k)),
            None => "no subscriptions or trials".into(),
        };
        return format!("User {user} has {what}: their sessions are paid with Flex tokens.");
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
    use chrono::{TimeZone, Utc};

    fn window(id: i64, kind: AccessKind, product: &str) -> Entitlement {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Entitlement {
            id,
            user_id: 42,
            product: product.into(),
            kind,
            starts_at: at,
            ends_at: at,
            created_at: at,
        }
    }

    #[test]
    fn the_one_to_remove_is_found_by_product_when_it_is_alone() {
        let all = [
            window(1, AccessKind::Subscription, "autocad"),
            window(2, AccessKind::Trial, "autocad"),
            window(3, AccessKind::Subscription, "revit"),
            window(4, AccessKind::Subscription, "revit"),
        ];
        let sub = AccessKind::Subscription;
        assert_eq!(pick(&all, sub, "autocad", "jane@x.com").unwrap(), 1);
        assert_eq!(pick(&all, AccessKind::Trial, "autocad", "42").unwrap(), 2);
        let err = pick(&all, sub, "revit", "jane@x.com")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2 subscriptions of revit (ids 3, 4)") && err.contains("--id"),
            "{err}"
        );
        let err = pick(&all, AccessKind::Trial, "revit", "jane@x.com")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("jane@x.com has no trial of revit")
                && err.contains("jeton trials list jane@x.com"),
            "{err}"
        );
    }
}
