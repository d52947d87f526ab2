//! `jeton simulate`: product use for demos and load tests. Needs only an operator key and a
//! server: it creates its own team, products, pack and users, then either hammers the session
//! endpoints (`--load`) or plays working days on a `--test-clock` server (`--days`).

mod days;
mod load;
mod setup;
mod stats;

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{ArgGroup, Args};

use super::Ctx;
use super::output::{self, blocks, progress_bar, table};
use days::{DaysOptions, DaysReport};
use load::LoadReport;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("mode").required(true).args(["load", "days"])))]
pub struct SimulateArgs {
    /// Load test: concurrent workers sign random users in, send one heartbeat and sign out,
    /// for --duration seconds; reports sign-ins per second and latency percentiles
    #[arg(long)]
    pub load: bool,

    /// Play D working days on a server started with --test-clock, moving its clock; reports
    /// tokens charged, periods opened and refusals per day
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: Option<u32>,

    /// Simulated users to create
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub users: u32,

    /// Products to create (keys sim-TEAM-cad, sim-TEAM-render, …; daily rates 7, 3, 5, …)
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=i64::from(setup::MAX_PRODUCTS)))]
    pub products: u32,

    /// Tokens in the team's pack (fewer make refusals appear)
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub tokens: i64,

    /// Concurrent workers (--load), and requests at a time while creating users
    #[arg(long, value_name = "C", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,

    /// How long the load test runs, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 10, conflicts_with = "days", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration: u64,

    /// Share of users who work on a weekday, 0 to 1 (--days)
    #[arg(long, value_name = "P", default_value_t = 0.8, conflicts_with = "load", value_parser = parse_share)]
    pub presence: f64,

    /// Users also work on Saturdays and Sundays (--days)
    #[arg(long, conflicts_with = "load")]
    pub weekends: bool,

    /// What the load test times (--load): `charge` (sign in, heartbeat, sign out: most sign-ins
    /// open a new period), `paid` (sign-ins into already-paid periods) or `heartbeat`
    /// (heartbeats of open sessions); the last two first open a session per user and product
    #[arg(long, value_enum, default_value_t = load::Phase::Charge, conflicts_with = "days")]
    pub phase: load::Phase,

    /// Sessions each user opens per product before a `paid` or `heartbeat` load (--load), each
    /// on a machine of its own: users × products × M sessions stay open during the load
    #[arg(long, value_name = "M", default_value_t = 1, conflicts_with = "days", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub machines: u32,

    /// Paces the load (--load): R timed requests (sign-ins, or heartbeats) start per second in
    /// all, each on schedule, and its latency counts from when it was due; without it the workers
    /// send as fast as they are answered. For latency at a given load, e.g. half the throughput
    #[arg(long, value_name = "R", conflicts_with = "days", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Seed of every random choice: the same seed plays the same schedule
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && (0.01..=1_000_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "expected requests per second from 0.01 to 1000000 (e.g. 2500), got {s:?}"
        )),
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "expected a share from 0 to 1 (e.g. 0.8), got {s:?}"
        )),
    }
}

pub async fn run(args: SimulateArgs, ctx: &Ctx) -> Result<()> {
    if !ctx.client.has_key() {
        bail!(
            "`jeton simulate` needs the operator key (--key or JETON_KEY, or <--data-dir>/operator.key): \
             it creates products, a pack and users"
        );
    }
    if args.days.is_some() {
        // Before anything is created: is there a test clock to move?
        days::server_time(&ctx.client).await?;
    }
    let show = !ctx.out.is_json() && std::io::stderr().is_terminal();
    let bar = progress_bar(
        show,
        u64::from(args.users),
        "{spinner} creating users [{bar:40}] {pos}/{len} ({elapsed})",
    );
    let mut world = setup::build(
        &ctx.client,
        args.users,
        args.products,
        args.tokens,
        args.concurrency,
        args.seed,
        &bar,
    )
    .await?;
    bar.finish_and_clear();

    if let Some(days) = args.days {
        let bar = progress_bar(
            show,
            u64::from(days) * days::minutes_per_day(),
            "{spinner} day {msg} [{bar:40}] ({elapsed})",
        );
        let options = DaysOptions {
            days,
            presence: args.presence,
            weekends: args.weekends,
            seed: args.seed,
        };
        let report = days::run(&ctx.client, &mut world, &options, &bar).await;
        bar.finish_and_clear();
        let report = report?;
        return ctx.out.print(&report, show_days);
    }

    let bar = progress_bar(
        show,
        args.duration,
        "{spinner} load [{bar:40}] {pos}/{len} s {msg}",
    );
    let report = load::run(
        &world,
        ctx.client.base_url(),
        args.phase,
        args.machines,
        args.concurrency,
        Duration::from_secs(args.duration),
        args.rate,
        args.seed,
        &bar,
    )
    .await;
    bar.finish_and_clear();
    ctx.out.print(&report, show_load)?;
    if report.rate == 0.0 {
        bail!(
            "no timed request succeeded ({})",
            stats::show_counts(&report.errors)
        );
    }
    Ok(())
}

fn ms(v: f64) -> String {
    format!("{v:.1}")
}

fn show_load(r: &LoadReport) -> String {
    let head = format!(
        "Load test of {} for {:.1} s: {} users, products {}, concurrency {}, seed {} (team {}, \
         set up in {:.1} s).",
        r.server,
        r.duration_seconds,
        r.users,
        r.products.join(", "),
        r.concurrency,
        r.seed,
        r.team_id,
        r.setup_seconds
    );
    let mut t = table(
        &[
            "request", "count", "errors", "mean ms", "p50 ms", "p95 ms", "p99 ms", "max ms",
        ],
        &[1, 2, 3, 4, 5, 6, 7],
    );
    for (name, l) in &r.operations {
        t.add_row(vec![
            name.replace('_', "-"),
            l.count.to_string(),
            l.errors.to_string(),
            ms(l.mean_ms),
            ms(l.p50_ms),
            ms(l.p95_ms),
            ms(l.p99_ms),
            ms(l.max_ms),
        ]);
    }
    let head = match r.phase {
        load::Phase::Charge => head,
        load::Phase::Paid | load::Phase::Heartbeat => format!(
            "{head} Opened {} sessions first ({} per user and product) in {:.1} s.",
            r.opened_sessions, r.machines, r.open_seconds
        ),
    };
    let timed = r.operations.get(r.rate_of);
    let what = r.rate_of.replace('_', "-");
    let paced = r
        .paced_rate
        .map(|rate| format!(" (paced at {rate:.1} per second; latency from when each was due)"))
        .unwrap_or_default();
    let rate = format!(
        "{} {what}s ({:?} phase), {:.1} per second{paced}; {what} p99 {} ms.",
        timed.map_or(0, |l| l.count),
        r.phase,
        r.rate,
        timed.map(|l| ms(l.p99_ms)).unwrap_or_else(|| "-".into())
    );
    let errors = if r.errors.is_empty() {
        "No errors.".to_string()
    } else {
        format!("Errors: {}.", stats::show_counts(&r.errors))
    };
    blocks([head, t.to_string(), format!("{rate}\n{errors}")])
}

fn show_days(r: &DaysReport) -> String {
    let products = r
        .products
        .iter()
        .map(|p| format!("{} ({}/day)", p.key, p.daily_rate))
        .collect::<Vec<_>>()
        .join(", ");
    let head = format!(
        "Simulated {} day(s) on {} from {}: {} users (presence {}{}), products {products}, pack \
         of {} tokens, seed {} (team {}).",
        r.days.len(),
        r.server,
        output::date(&r.started_at),
        r.users,
        r.presence,
        if r.weekends {
            ", weekends too"
        } else {
            ", weekdays only"
        },
        r.pack_tokens,
        r.seed,
        r.team_id
    );
    let mut t = table(
        &[
            "day",
            "date",
            "users",
            "sign-ins",
            "refused",
            "heartbeats",
            "stopped",
            "periods",
            "charged",
            "refunded",
            "balance",
        ],
        &[0, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    let count = |c: &stats::Counts| c.values().sum::<u64>().to_string();
    for d in &r.days {
        let x = &d.tally;
        t.add_row(vec![
            d.day.to_string(),
            format!("{} {}", d.date, d.weekday),
            x.users_present.to_string(),
            x.sign_ins.to_string(),
            count(&x.refusals),
            x.heartbeats.to_string(),
            count(&x.stopped),
            x.periods_opened.to_string(),
            x.tokens_charged.to_string(),
            x.tokens_refunded.to_string(),
            d.balance.to_string(),
        ]);
    }
    let x = &r.totals;
    t.add_row(vec![
        "total".to_string(),
        String::new(),
        String::new(),
        x.sign_ins.to_string(),
        count(&x.refusals),
        x.heartbeats.to_string(),
        count(&x.stopped),
        x.periods_opened.to_string(),
        x.tokens_charged.to_string(),
        x.tokens_refunded.to_string(),
        r.balance.to_string(),
    ]);
    let mut charged = format!(
        "Tokens charged: {} in {} usage period(s), refunded {} (from the server's ledger). \
         Balance {} of {}.",
        x.tokens_charged, x.periods_opened, x.tokens_refunded, r.balance, r.pack_tokens
    );
    if x.answered_charged != x.tokens_charged {
        charged.push_str(&format!(
            "\nThe answers to the clients showed {} charged: the server rolled the rest over on \
             its own at a clock step, when a period ended while a product was in use.",
            x.answered_charged
        ));
    }
    let mut notes = vec![charged];
    if !x.refusals.is_empty() {
        notes.push(format!(
            "Sign-ins refused: {}.",
            stats::show_counts(&x.refusals)
        ));
    }
    if !x.stopped.is_empty() {
        notes.push(format!(
            "Sessions stopped by the server: {}.",
            stats::show_counts(&x.stopped)
        ));
    }
    if !x.errors.is_empty() {
        notes.push(format!("Other errors: {}.", stats::show_counts(&x.errors)));
    }
    notes.push(format!(
        "{} requests and {} clock steps in {:.1} s (set-up {:.1} s).",
        r.requests, r.clock_steps, r.elapsed_seconds, r.setup_seconds
    ));
    blocks([head, t.to_string(), notes.join("\n")])
}
