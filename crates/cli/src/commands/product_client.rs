//! `jeton client …`: the command line acting as a product (R-SES): sign in, heartbeat, report a
//! result, sign out, and verify an offline lease. Takes a user token as --key.

use std::io::Read;

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use jeton_api::{Heartbeat, HeartbeatAnswer, NewResult, SessionStarted, SignIn};
use jeton_client::lease::{self, Lease, PublicKey};
use jeton_client::{ClientError, ProductClient};
use serde::Serialize;

use super::output::{self, fields};
use super::{Ctx, entitlements};

#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Sign in to a product: opens a session (charging the daily rate when a new usage period
    /// starts) and prints its offline lease
    #[command(
        after_help = "Needs a user token as --key (`jeton login` prints one).\n\n\
        Example:\n  \
        export JETON_KEY=$(printf %s \"$PW\" | jeton login --email jane@example.com --password-stdin)\n  \
        jeton client sign-in --team Design --product autocad --version 2027.1 --machine WS-0042"
    )]
    SignIn(SignInArgs),
    /// Send a heartbeat for a session: keeps it alive and renews its lease
    Heartbeat {
        /// The session id (printed by `jeton client sign-in`)
        session: i64,
        /// Report no meaningful use since the last heartbeat (idle-aware products pause after
        /// 15 minutes of that)
        #[arg(long)]
        idle: bool,
    },
    /// Sign out of a session (within 5 minutes of the charge, it is refunded)
    SignOut {
        /// The session id
        session: i64,
    },
    /// Report a result such as a cloud render: charged at the product's rate for that type
    Result(ResultArgs),
    /// Check a lease offline: its signature and that it is still valid
    #[command(
        after_help = "Without --public-key the key is fetched from the server \
        (GET /v1/lease-key, no API key needed); with it, no server is contacted. Exits 1 when the \
        lease does not verify.\n\nExamples:\n  \
        jeton client verify-lease \"$LEASE\"\n  \
        jeton client sign-in --team Design --product autocad --json | jq -r .lease | jeton client verify-lease -"
    )]
    VerifyLease(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct SignInArgs {
    /// The team whose tokens pay (id or exact name; a name needs a key that may list teams)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
    /// The product's key, e.g. autocad
    #[arg(long, value_name = "KEY")]
    pub product: String,
    /// The product's version, e.g. 2027.1
    #[arg(long)]
    pub version: Option<String>,
    /// The machine's name, e.g. WS-0042
    #[arg(long)]
    pub machine: Option<String>,
    /// A key naming this sign-in: repeating the command with the same key returns the first
    /// session instead of opening another; it then prints `Already recorded:` (with --json,
    /// "replayed": true)
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// What `client sign-in --json` prints: the answer, and whether it is the first answer of an
/// idempotency key used before (then no session was opened and nothing charged now).
#[derive(Debug, Serialize)]
struct Started {
    #[serde(flatten)]
    started: SessionStarted,
    replayed: bool,
}

#[derive(Debug, Args)]
pub struct ResultArgs {
    /// The session id
    pub session: i64,
    /// The result type, e.g. render.cloud
    #[arg(long = "type", value_name = "TYPE")]
    pub result_type: String,
    /// How many results (1 to 10,000)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    pub quantity: i64,
    /// Your own id for this result: sending it again charges nothing more
    #[arg(long, value_name = "ID")]
    pub id: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The lease text, or - to read it from standard input
    #[arg(value_name = "LEASE")]
    pub lease: String,
    /// The server's public lease key (base64url); fetched from the server when not given
    #[arg(long, value_name = "KEY")]
    pub public_key: Option<String>,
    /// Check validity at this time instead of now (RFC 3339 or a date), e.g. the time of a
    /// server started with --test-clock
    #[arg(long, value_name = "TIME|DATE", value_parser = parse_at)]
    pub at: Option<DateTime<Utc>>,
}

/// `--at`: an RFC 3339 time, or a date meaning the start of that day (UTC).
fn parse_at(s: &str) -> Result<DateTime<Utc>, String> {
    jeton_api::bounds::parse_time(s).or_else(|_| {
        jeton_api::bounds::parse_day(s)
            .map(super::reports::start_of)
            .map_err(|_| {
                format!(
                    "expected {} or {}, got {}",
                    jeton_api::bounds::TIME_FORM,
                    jeton_api::bounds::DAY_FORM,
                    s.trim()
                )
            })
    })
}

pub async fn run(cmd: ClientCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        ClientCmd::SignIn(args) => sign_in(args, ctx).await,
        ClientCmd::Heartbeat { session, idle } => {
            let answer = ctx
                .client
                .heartbeat(session, &Heartbeat { active: !idle })
                .await
                .map_err(|e| session_hint(e, session))?;
            ctx.out.print(&answer, |a| beat(session, a))
        }
        ClientCmd::SignOut { session } => {
            let out = ctx
                .client
                .sign_out(session)
                .await
                .map_err(|e| session_hint(e, session))?;
            ctx.out.print(&out, |o| {
                if o.tokens_refunded > 0 {
                    format!(
                        "Signed out of session {session}. {} refunded: every session of the usage \
                         period ended within 5 minutes of its charge.",
                        output::tokens(o.tokens_refunded)
                    )
                } else {
                    format!("Signed out of session {session}.")
                }
            })
        }
        ClientCmd::Result(args) => {
            let result = NewResult {
                result_type: args.result_type.trim().to_string(),
                quantity: args.quantity,
                id: args.id.clone(),
            };
            let charged = ctx
                .client
                .report_result(args.session, &result)
                .await
                .map_err(|e| session_hint(e, args.session))?;
            ctx.out.print(&charged, |c| {
                format!(
                    "Result {} ({} × {}) on session {}: {} charged.",
                    args.id,
                    args.quantity,
                    result.result_type,
                    args.session,
                    output::tokens(c.tokens_charged)
                )
            })
        }
        ClientCmd::VerifyLease(args) => verify(args, ctx).await,
    }
}

/// The team a product client names: an id, or the name of one of the user's own teams (a user
/// token cannot list teams; `GET /v1/me` names the user's).
async fn own_team(ctx: &Ctx, team: &str) -> Result<i64> {
    let team = team.trim();
    if let Ok(id) = team.parse::<i64>() {
        return Ok(id);
    }
    let me = ctx.client.me().await?;
    let named: Vec<_> = me.teams.iter().filter(|t| t.name == team).collect();
    match named[..] {
        [only] => Ok(only.id),
        [] => {
            let yours: Vec<String> = me
                .teams
                .iter()
                .map(|t| format!("{} (id {})", t.name, t.id))
                .collect();
            bail!(
                "you are not a Flex user of a team named {team:?}; your teams: {}",
                if yours.is_empty() {
                    "none".to_owned()
                } else {
                    yours.join(", ")
                }
            )
        }
        _ => bail!("several of your teams are named {team:?}: give the team's id"),
    }
}

async fn sign_in(args: SignInArgs, ctx: &Ctx) -> Result<()> {
    let team = own_team(ctx, &args.team).await?;
    let request = SignIn {
        team,
        product: args.product.trim().to_string(),
        version: args.version,
        machine: args.machine,
    };
    let recorded = ctx
        .client
        .sign_in_recorded(&request, args.idempotency_key.as_deref())
        .await
        .map_err(|e| match e.code() {
            Some("not_assigned" | "invitation_pending" | "product_not_allowed") => anyhow!(
                "{e}\nhint: a team admin gives access with `jeton users assign` and `jeton users \
                 products`"
            ),
            Some("insufficient_tokens") => anyhow!(
                "{e}\nhint: the team needs tokens: `jeton balance --team {}`, `jeton packs buy`",
                args.team.trim()
            ),
            _ => user_token_hint(e),
        })?;
    let started = Started {
        started: recorded.value,
        replayed: recorded.replayed,
    };
    // A user token may not read teams: the team is shown as it was given.
    let given = args.team.trim();
    ctx.out.print(&started, |s| {
        let text = signed_in(&request, given, &s.started);
        if s.replayed {
            format!(
                "Already recorded: this idempotency key signed in before; no session was opened \
                 and nothing was charged now. The first answer:\n{text}"
            )
        } else {
            text
        }
    })
}

fn signed_in(request: &SignIn, team: &str, s: &SessionStarted) -> String {
    let claims = lease::read_unverified(&s.lease).ok();
    let mut rows = vec![
        ("session", s.id.to_string()),
        ("access", entitlements::kind(s.access).to_string()),
        ("tokens charged", s.tokens_charged.to_string()),
        ("period ends", output::time(&s.period_ends_at)),
    ];
    if let Some(c) = &claims {
        rows.push(("lease valid until", output::time(&c.valid_until)));
    }
    rows.push((
        "heartbeat every",
        format!(
            "{} s (`jeton client heartbeat {}`)",
            s.heartbeat_every_seconds, s.id
        ),
    ));
    format!(
        "Signed in to {} on team {}: session {}.\n{}\n\nLease (check it offline with `jeton client \
         verify-lease`):\n{}",
        request.product,
        team,
        s.id,
        fields(&rows),
        s.lease
    )
}

fn beat(session: i64, a: &HeartbeatAnswer) -> String {
    let head = if a.tokens_charged > 0 {
        format!(
            "Heartbeat for session {session}: a new usage period opened, {} charged.",
            output::tokens(a.tokens_charged)
        )
    } else {
        format!("Heartbeat for session {session}: no charge.")
    };
    let mut rows = vec![
        ("access", entitlements::kind(a.access).to_string()),
        ("period ends", output::time(&a.period_ends_at)),
    ];
    if let Ok(c) = lease::read_unverified(&a.lease) {
        rows.push(("lease valid until", output::time(&c.valid_until)));
    }
    format!("{head}\n{}\n\nLease:\n{}", fields(&rows), a.lease)
}

/// What `verify-lease --json` prints.
#[derive(Debug, Serialize)]
struct Verified {
    valid: bool,
    checked_at: DateTime<Utc>,
    lease: Lease,
}

async fn verify(args: VerifyArgs, ctx: &Ctx) -> Result<()> {
    let text = if args.lease.trim() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the lease from standard input")?;
        text
    } else {
        args.lease.clone()
    };
    let text = text.trim();
    let key = match &args.public_key {
        Some(key) => PublicKey::parse(key).map_err(|e| {
            anyhow!("--public-key: {e}; expected the key as GET /v1/lease-key publishes it")
        })?,
        // The SDK's fetch: it also checks the key's algorithm.
        None => ProductClient::new(ctx.client.clone()).public_key().await?,
    };
    let now = args.at.unwrap_or_else(Utc::now);
    let lease = key
        .verify(text, now)
        .map_err(|e| anyhow!("the lease does not verify: {e}"))?;
    let verified = Verified {
        valid: true,
        checked_at: now,
        lease,
    };
    ctx.out.print(&verified, |v| {
        let l = &v.lease;
        format!(
            "The lease is valid (signature checked, valid at {}).\n{}",
            output::time(&v.checked_at),
            fields(&[
                ("session", l.session.to_string()),
                ("user", l.user.to_string()),
                ("team", l.team.to_string()),
                ("product", l.product.clone()),
                ("access", l.access.clone()),
                ("period ends", output::time(&l.period_ends_at)),
                ("issued", output::time(&l.issued_at)),
                ("valid until", output::time(&l.valid_until)),
            ])
        )
    })
}

/// What to do after a refused heartbeat, result or sign-out.
fn session_hint(e: ClientError, session: i64) -> anyhow::Error {
    match (e.status(), e.code()) {
        (_, Some("insufficient_tokens")) => anyhow!(
            "{e}\nhint: the team has too few tokens; session {session} was ended, so stop the \
             product"
        ),
        (Some(410), _) => anyhow!(
            "{e}\nhint: session {session} was ended by the server; sign in again with `jeton \
             client sign-in`"
        ),
        (Some(404), _) => {
            anyhow!("{e}\nhint: no session {session} of the user whose token is --key")
        }
        _ => user_token_hint(e),
    }
}

/// Sessions need a user token: say how to get one when the key is missing or not one.
fn user_token_hint(e: ClientError) -> anyhow::Error {
    match e.status() {
        Some(401 | 403) => anyhow!(
            "{e}\nhint: `jeton client` needs a user token as --key or JETON_KEY; `jeton login \
             --email EMAIL --password-stdin` prints one"
        ),
        _ => e.into(),
    }
}
