//! `jeton report usage`, `report events` and `report export`: what a team used over a range of
//! days (R-REP-2, R-REP-3, R-REP-4).
//!
//! Ranges are whole UTC days. A named range (`past_30_days`, `past_3_months`, …) is resolved by
//! the server, on the server's clock; `--from`/`--to` are checked here first.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use jeton_api::{
    DayUsage, Event, EventsQuery, ProductUsage, UsageQuery, UsageRange, UsageReport, UserUsage,
    WeekUsage,
};
use serde::Serialize;

use super::output::{self, blocks, fields, table};
use super::teams::{self, Named};
use super::{Ctx, ledger};

#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// Usage over a range: tokens, products and users; by product, user or day
    /// [default range: the past 30 days]
    #[command(after_help = RANGE_HELP)]
    Usage(UsageArgs),
    /// A team's token events (the ledger) over a range of days [default: the last 90 days]
    #[command(after_help = RANGE_HELP)]
    Events(ReportEventsArgs),
    /// Download the usage rows as CSV: one row per usage period or result charge
    /// [default range: the past 30 days]
    #[command(after_help = RANGE_HELP)]
    Export(ExportArgs),
}

const RANGE_HELP: &str = "Ranges are whole days (UTC), on the server's calendar:\n  \
    --range past_30_days (30d)            the last 30 days, today included\n  \
    --range past_3_months (3m)            the 3 whole months before this one; also 6, 9 and 12\n  \
    --from 2026-01-01 --to 2026-03-31     a custom range, both days included (at most 366 days)\n\n\
    Examples:\n  \
    jeton report usage --team Design --by product\n  \
    jeton report usage --team Design --range 3m --by user --csv users.csv\n  \
    jeton report events --team Design --from 2026-01-01 --to 2026-01-31 --csv events.csv\n  \
    jeton report export --team Design --range past_12_months";

/// A named range, as the server knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RangeName {
    /// The last 30 days, today included
    #[value(name = "past_30_days", alias = "30d")]
    Past30Days,
    /// The 3 whole months before the current one
    #[value(name = "past_3_months", alias = "3m")]
    Past3Months,
    /// The 6 whole months before the current one
    #[value(name = "past_6_months", alias = "6m")]
    Past6Months,
    /// The 9 whole months before the current one
    #[value(name = "past_9_months", alias = "9m")]
    Past9Months,
    /// The 12 whole months before the current one
    #[value(name = "past_12_months", alias = "12m")]
    Past12Months,
    /// --from and --to, both included
    #[value(name = "custom")]
    Custom,
}

impl RangeName {
    pub fn as_str(self) -> &'static str {
        match self {
            RangeName::Past30Days => "past_30_days",
            RangeName::Past3Months => "past_3_months",
            RangeName::Past6Months => "past_6_months",
            RangeName::Past9Months => "past_9_months",
            RangeName::Past12Months => "past_12_months",
            RangeName::Custom => "custom",
        }
    }
}

/// `--range`, `--from`, `--to`.
#[derive(Debug, Clone, Args)]
pub struct RangeArgs {
    /// past_30_days, past_3_months, past_6_months, past_9_months, past_12_months (or 30d, 3m,
    /// 6m, 9m, 12m), or custom with --from and --to
    #[arg(long, value_enum, value_name = "RANGE", hide_possible_values = true)]
    pub range: Option<RangeName>,
    /// First day, included (YYYY-MM-DD); --from and --to without --range mean a custom range
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub from: Option<NaiveDate>,
    /// Last day, included (YYYY-MM-DD)
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub to: Option<NaiveDate>,
}

/// How to group usage rows (`--by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// The totals only
    Summary,
    /// Tokens, users, usage days and results per product
    Product,
    /// Tokens, products and days used per week, per user
    User,
    /// Tokens, usage periods and results per day
    Day,
}

impl By {
    fn as_str(self) -> &'static str {
        match self {
            By::Summary => "summary",
            By::Product => "product",
            By::User => "user",
            By::Day => "day",
        }
    }
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
    #[command(flatten)]
    pub range: RangeArgs,
    /// The rows to show besides the totals
    #[arg(long, value_enum, value_name = "BY", default_value = "summary")]
    pub by: By,
    /// Also write the rows shown to FILE as CSV (`-`: to stdout, instead of the table)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportEventsArgs {
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
    #[command(flatten)]
    pub range: RangeArgs,
    /// At most this many events [server default: 1000]
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Also write the events to FILE as CSV (`-`: to stdout, instead of the table)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Where to write the CSV (`-`: stdout) [default: usage-<TEAM ID>-<FROM>-<TO>.csv]
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(cmd: ReportCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        ReportCmd::Usage(args) => usage(args, ctx).await,
        ReportCmd::Events(args) => events(args, ctx).await,
        ReportCmd::Export(args) => export(args, ctx).await,
    }
}

// ------------------------------------------------------------------ ranges

/// A range as given on the command line, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Nothing given: the command's default.
    Default,
    /// A named range, resolved by the server.
    Named(RangeName),
    /// Days given here; `None` ends are left to the server's default (events only).
    Days {
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    },
}

/// `--from`/`--to`, of every command that takes them: a calendar day (UTC), `YYYY-MM-DD`.
pub fn parse_day(s: &str) -> Result<NaiveDate, String> {
    jeton_api::bounds::parse_day(s)
}

impl RangeArgs {
    /// The range the arguments mean; `open_ends`: whether only one of --from/--to may be given
    /// (the server's default fills in the other).
    pub fn span(&self, open_ends: bool) -> Result<Span> {
        let (from, to) = (self.from, self.to);
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            bail!(
                "--from ({from}) is after --to ({to}): the range runs from its first day to its last"
            );
        }
        let given = from.is_some() || to.is_some();
        match self.range {
            Some(RangeName::Custom) | None if given => {
                if from.is_none() || to.is_none() {
                    if open_ends && self.range.is_none() {
                        return Ok(Span::Days { from, to });
                    }
                    bail!(
                        "a custom range needs both --from and --to (days YYYY-MM-DD, both \
                         included), e.g. --from 2026-01-01 --to 2026-01-31"
                    );
                }
                Ok(Span::Days { from, to })
            }
            Some(RangeName::Custom) => bail!(
                "--range custom needs --from and --to (days YYYY-MM-DD, both included), \
                 e.g. --from 2026-01-01 --to 2026-01-31"
            ),
            Some(name) if given => bail!(
                "--from and --to make a custom range: give them without --range (or with \
                 --range custom), not with --range {}",
                name.as_str()
            ),
            Some(name) => Ok(Span::Named(name)),
            None => Ok(Span::Default),
        }
    }
}

impl Span {
    /// The query for the usage endpoints.
    pub fn usage_query(&self, by: Option<By>) -> UsageQuery {
        let by = by.map(|b| b.as_str().to_string());
        match *self {
            Span::Default => UsageQuery {
                by,
                ..UsageQuery::default()
            },
            Span::Named(name) => UsageQuery {
                range: Some(name.as_str().into()),
                by,
                ..UsageQuery::default()
            },
            Span::Days { from, to } => UsageQuery {
                range: Some("custom".into()),
                from,
                to,
                by,
            },
        }
    }

    /// The first and last day, when they are known here.
    fn days(&self) -> Option<(NaiveDate, NaiveDate)> {
        match *self {
            Span::Days {
                from: Some(from),
                to: Some(to),
            } => Some((from, to)),
            _ => None,
        }
    }
}

/// The first and last day of `span` on the server's calendar (named ranges depend on its today).
async fn resolve_days(ctx: &Ctx, team: i64, span: &Span) -> Result<(NaiveDate, NaiveDate)> {
    if let Some(days) = span.days() {
        return Ok(days);
    }
    let report = ctx
        .client
        .usage(team, &span.usage_query(Some(By::Summary)))
        .await?;
    Ok((report.range.from, report.range.to))
}

/// The start of `day` (UTC).
pub fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The end of `day` (UTC): the start of the next day, so that the whole day is included.
pub fn end_of(day: NaiveDate) -> Result<DateTime<Utc>> {
    Ok(start_of(day.checked_add_days(Days::new(1)).with_context(
        || format!("{day} is too far in the future"),
    )?))
}

/// The start and the (exclusive) end of a time range; `None` is the server's default.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Days as RFC 3339 bounds: from 00:00 of the first day to 00:00 after the last.
pub fn day_bounds(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Bounds> {
    Ok((from.map(start_of), to.map(end_of).transpose()?))
}

// ------------------------------------------------------------------ usage

pub async fn usage(args: UsageArgs, ctx: &Ctx) -> Result<()> {
    let span = args.range.span(false)?;
    let team = teams::named(ctx, &args.team).await?;
    let report = ctx
        .client
        .usage(team.id, &span.usage_query(Some(args.by)))
        .await?;
    // Whole months leave this one out: when they hold nothing, say whether this month does.
    let hint = if ctx.out.is_json() || (args.csv.as_deref().is_some_and(is_stdout)) {
        None
    } else {
        this_month_hint(ctx, team.id, &report).await?
    };
    let human = |r: &UsageReport| {
        let mut parts = vec![show_usage(&team, r)];
        parts.extend(hint.clone());
        parts
    };
    let Some(path) = &args.csv else {
        return ctx.out.print(&report, |r| blocks(human(r)));
    };
    let (header, rows) = usage_rows(&report);
    if is_stdout(path) {
        return write_csv(path, &header, &rows).map(drop);
    }
    let written = write_csv(path, &header, &rows)?;
    ctx.out.print(&report, |r| {
        let mut parts = human(r);
        parts.push(wrote(written, path));
        blocks(parts)
    })
}

/// Whether a usage report shows no use at all.
fn is_empty(s: &jeton_api::UsageSummary) -> bool {
    s.tokens == 0 && s.periods == 0 && s.results == 0
}

/// For a report of whole past months with no use: when the current month has use, a line naming
/// the range that includes it. One more request, only then.
async fn this_month_hint(ctx: &Ctx, team: i64, r: &UsageReport) -> Result<Option<String>> {
    if !is_month_range(&r.range.name) || !is_empty(&r.summary) {
        return Ok(None);
    }
    let Some(first) = r.range.to.checked_add_days(Days::new(1)) else {
        return Ok(None);
    };
    let Some(last) = first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
    else {
        return Ok(None);
    };
    let month = Span::Days {
        from: Some(first),
        to: Some(last),
    };
    let this = ctx
        .client
        .usage(team, &month.usage_query(Some(By::Summary)))
        .await?;
    if is_empty(&this.summary) {
        return Ok(None);
    }
    Ok(Some(format!(
        "This month ({}) has use: {} token{} so far. Whole-month ranges leave it out until it \
         is over; --range past_30_days includes it (or --from {first} --to {last}).",
        first.format("%B %Y"),
        this.summary.tokens,
        if this.summary.tokens == 1 { "" } else { "s" },
    )))
}

/// `past_3_months` … `past_12_months`: whole months before the current one (R-REP-3).
fn is_month_range(name: &str) -> bool {
    name.starts_with("past_") && name.ends_with("_months")
}

/// `Usage of team Design, 2025-10-01 to 2025-12-31 (past 3 whole months, 92 days; this month is
/// not included).`: the exact days the server used, and what the range's name means.
fn range_line(what: &str, team: &Named, range: &UsageRange) -> String {
    let days = format!(
        "{} day{}",
        range.days,
        if range.days == 1 { "" } else { "s" }
    );
    let meaning = match range.name.as_str() {
        "custom" => format!("custom range, {days}"),
        "past_30_days" => format!("past 30 days, today included, {days}"),
        name if is_month_range(name) => {
            let months = name.trim_start_matches("past_").trim_end_matches("_months");
            format!("past {months} whole months, {days}; this month is not included")
        }
        other => format!("{}, {days}", other.replace('_', " ")),
    };
    format!(
        "{what} of team {team}, {} to {} ({meaning}).",
        range.from, range.to
    )
}

fn show_usage(team: &Named, r: &UsageReport) -> String {
    let s = &r.summary;
    let mut head = range_line("Usage", team, &r.range);
    if r.pseudonyms {
        head.push_str("\nUsers are shown as pseudonyms (team setting).");
    }
    let totals = fields(&[
        ("tokens used", s.tokens.to_string()),
        ("products", s.products.to_string()),
        ("users", s.users.to_string()),
        ("usage days", s.periods.to_string()),
        ("results", s.results.to_string()),
    ]);
    let rows = if let Some(list) = &r.by_product {
        by_product(list)
    } else if let Some(list) = &r.by_user {
        by_user(list)
    } else if let Some(list) = &r.by_day {
        by_day(list)
    } else {
        String::new()
    };
    blocks([head, totals, rows])
}

const NO_USAGE: &str = "No usage in this range.";

const PRODUCT_COLUMNS: [&str; 6] = ["product", "name", "tokens", "users", "days", "results"];

/// One product's line, in the table and in the CSV.
fn product_row(p: &ProductUsage) -> Vec<String> {
    vec![
        p.product.clone(),
        p.name.clone(),
        p.tokens.to_string(),
        p.users.to_string(),
        p.days.to_string(),
        p.results.to_string(),
    ]
}

fn by_product(list: &[ProductUsage]) -> String {
    if list.is_empty() {
        return NO_USAGE.into();
    }
    let mut t = table(&PRODUCT_COLUMNS, &[2, 3, 4, 5]);
    for p in list {
        t.add_row(product_row(p));
    }
    t.to_string()
}

fn by_user(list: &[UserUsage]) -> String {
    if list.is_empty() {
        return NO_USAGE.into();
    }
    // Pseudonyms come without emails: no column of dashes then.
    let emails = list.iter().any(|u| u.email.is_some());
    let mut header = vec!["user"];
    if emails {
        header.push("email");
    }
    header.extend(["tokens", "products", "days", "days per week"]);
    let first_number = header.len() - 4;
    let mut t = table(&header, &[first_number, first_number + 1, first_number + 2]);
    for u in list {
        let mut row = vec![u.user.clone()];
        if emails {
            row.push(u.email.clone().unwrap_or_else(|| "-".into()));
        }
        row.extend([
            u.tokens.to_string(),
            u.products.to_string(),
            u.days.to_string(),
            weeks(&u.weeks),
        ]);
        t.add_row(row);
    }
    t.to_string()
}

/// Days used per ISO week, compactly: `W02:3 W03:5` (with the year when the weeks span two).
pub fn weeks(list: &[WeekUsage]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    let year = |w: &WeekUsage| w.week.split_once("-W").map(|(y, _)| y.to_string());
    let one_year = list
        .iter()
        .all(|w| year(w).is_some() && year(w) == year(&list[0]));
    list.iter()
        .map(|w| {
            let label = match w.week.split_once("-W") {
                Some((_, n)) if one_year => format!("W{n}"),
                _ => w.week.clone(),
            };
            format!("{label}:{}", w.days)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Widest bar of the per-day chart, in characters.
const BAR_WIDTH: i64 = 30;

/// A bar of `value` against the largest value `max`: at least one block for anything above 0.
pub fn bar(value: i64, max: i64) -> String {
    if value <= 0 || max <= 0 {
        return String::new();
    }
    let n = (value * BAR_WIDTH + max - 1) / max;
    "█".repeat(n.clamp(1, BAR_WIDTH) as usize)
}

fn by_day(list: &[DayUsage]) -> String {
    if list.is_empty() {
        return NO_USAGE.into();
    }
    let max = list.iter().map(|d| d.tokens).max().unwrap_or(0);
    let mut t = table(
        &["date", "tokens", "periods", "results", "tokens per day"],
        &[1, 2, 3],
    );
    for d in list {
        let mut row = day_row(d);
        row.push(bar(d.tokens, max));
        t.add_row(row);
    }
    t.to_string()
}

const DAY_COLUMNS: [&str; 4] = ["date", "tokens", "periods", "results"];

/// One day's line, in the table (which adds the bar) and in the CSV.
fn day_row(d: &DayUsage) -> Vec<String> {
    vec![
        d.date.to_string(),
        d.tokens.to_string(),
        d.periods.to_string(),
        d.results.to_string(),
    ]
}

/// The rows a usage report shows, for `--csv`: its header and rows.
fn usage_rows(r: &UsageReport) -> (Vec<&'static str>, Vec<Vec<String>>) {
    if let Some(list) = &r.by_product {
        (
            PRODUCT_COLUMNS.to_vec(),
            list.iter().map(product_row).collect(),
        )
    } else if let Some(list) = &r.by_user {
        let rows = list
            .iter()
            .map(|u| {
                vec![
                    u.user_id.map(|id| id.to_string()).unwrap_or_default(),
                    u.user.clone(),
                    u.email.clone().unwrap_or_default(),
                    u.tokens.to_string(),
                    u.products.to_string(),
                    u.days.to_string(),
                    u.weeks
                        .iter()
                        .map(|w| format!("{}:{}", w.week, w.days))
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect();
        (
            vec![
                "user_id", "user", "email", "tokens", "products", "days", "weeks",
            ],
            rows,
        )
    } else if let Some(list) = &r.by_day {
        (DAY_COLUMNS.to_vec(), list.iter().map(day_row).collect())
    } else {
        let s = &r.summary;
        let row = vec![
            r.range.from.to_string(),
            r.range.to.to_string(),
            s.tokens.to_string(),
            s.products.to_string(),
            s.users.to_string(),
            s.periods.to_string(),
            s.results.to_string(),
        ];
        (
            vec![
                "from", "to", "tokens", "products", "users", "periods", "results",
            ],
            vec![row],
        )
    }
}

// ------------------------------------------------------------------ events

pub async fn events(args: ReportEventsArgs, ctx: &Ctx) -> Result<()> {
    let span = args.range.span(true)?;
    let team = teams::named(ctx, &args.team).await?;
    let (first, last) = match span {
        Span::Default => (None, None),
        Span::Days { from, to } => (from, to),
        Span::Named(_) => {
            let (first, last) = resolve_days(ctx, team.id, &span).await?;
            (Some(first), Some(last))
        }
    };
    let (from, to) = day_bounds(first, last)?;
    let query = EventsQuery {
        from,
        to,
        limit: args.limit,
    };
    let events = ctx.client.events(team.id, &query).await?;
    let human = |list: &Vec<Event>| {
        let head = match (first, last) {
            (None, None) => format!("Token events of team {team}, the last 90 days:"),
            (Some(f), Some(l)) => format!("Token events of team {team}, {f} to {l} (UTC days):"),
            (Some(f), None) => format!("Token events of team {team} since {f} (UTC):"),
            (None, Some(l)) => {
                format!("Token events of team {team}, the 90 days up to {l} (UTC):")
            }
        };
        if list.is_empty() {
            return blocks([head, ledger::show_events(list, args.limit)]);
        }
        blocks([
            head,
            ledger::show_events(list, args.limit),
            event_totals(list),
        ])
    };
    let Some(path) = &args.csv else {
        return ctx.out.print(&events, human);
    };
    let header = ["id", "at", "kind", "amount", "pack", "cause", "actor"];
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                e.kind.clone(),
                e.amount.to_string(),
                e.pack_id.to_string(),
                e.cause.clone(),
                e.actor.clone(),
            ]
        })
        .collect();
    if is_stdout(path) {
        return write_csv(path, &header, &rows).map(drop);
    }
    let written = write_csv(path, &header, &rows)?;
    ctx.out
        .print(&events, |list| blocks([human(list), wrote(written, path)]))
}

/// `Totals of these events: purchased +1000, charged -27, refunded +7; net +980.`, kinds in the
/// order they first appear.
fn event_totals(list: &[Event]) -> String {
    let mut kinds: Vec<(&str, i64)> = Vec::new();
    for e in list {
        match kinds.iter_mut().find(|(k, _)| *k == e.kind) {
            Some((_, sum)) => *sum += e.amount,
            None => kinds.push((&e.kind, e.amount)),
        }
    }
    let parts: Vec<String> = kinds
        .iter()
        .map(|(k, sum)| format!("{k} {}", output::signed(*sum)))
        .collect();
    let net: i64 = list.iter().map(|e| e.amount).sum();
    format!(
        "Totals of these events: {}; net {}.",
        parts.join(", "),
        output::signed(net)
    )
}

// ------------------------------------------------------------------ export

/// What `report export --json` prints.
#[derive(Debug, Serialize)]
struct Exported {
    team_id: i64,
    from: NaiveDate,
    to: NaiveDate,
    file: String,
    rows: usize,
}

pub async fn export(args: ExportArgs, ctx: &Ctx) -> Result<()> {
    let span = args.range.span(false)?;
    let named = teams::named(ctx, &args.team).await?;
    let team = named.id;
    let query = span.usage_query(None);
    if args.output.as_deref().is_some_and(is_stdout) {
        let text = ctx.client.usage_csv(team, &query).await?;
        return output::write_raw(text.as_bytes());
    }
    let (from, to) = resolve_days(ctx, team, &span).await?;
    // The days are resolved now: the export covers exactly them, even across midnight.
    let text = ctx
        .client
        .usage_csv(
            team,
            &Span::Days {
                from: Some(from),
                to: Some(to),
            }
            .usage_query(None),
        )
        .await?;
    let rows = count_rows(&text)?;
    let path = args
        .output
        .unwrap_or_else(|| PathBuf::from(default_export_name(team, from, to)));
    std::fs::write(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let exported = Exported {
        team_id: team,
        from,
        to,
        file: path.display().to_string(),
        rows,
    };
    ctx.out.print(&exported, |e| {
        format!(
            "Wrote {} usage row{} of team {named} ({} to {}) to {}.",
            e.rows,
            if e.rows == 1 { "" } else { "s" },
            e.from,
            e.to,
            e.file
        )
    })
}

/// `usage-3-2026-01-01-2026-01-31.csv`.
pub fn default_export_name(team: i64, from: NaiveDate, to: NaiveDate) -> String {
    format!("usage-{team}-{from}-{to}.csv")
}

/// The data rows of a CSV text with a header line; an error when it is not CSV.
fn count_rows(text: &str) -> Result<usize> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut rows = 0;
    for record in reader.records() {
        record.context("the server's export is not valid CSV")?;
        rows += 1;
    }
    Ok(rows)
}

// ------------------------------------------------------------------ CSV files

fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Writes `header` and `rows` as CSV to `path` (`-`: stdout); returns the number of rows.
fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<usize> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(row)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write CSV: {}", e.error()))?;
    if is_stdout(path) {
        output::write_raw(&bytes)?;
    } else {
        std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(rows.len())
}

fn wrote(rows: usize, path: &Path) -> String {
    format!(
        "Wrote {rows} row{} to {}.",
        if rows == 1 { "" } else { "s" },
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn range(range: Option<RangeName>, from: Option<&str>, to: Option<&str>) -> RangeArgs {
        RangeArgs {
            range,
            from: from.map(d),
            to: to.map(d),
        }
    }

    #[test]
    fn days_are_yyyy_mm_dd() {
        assert_eq!(parse_day("2026-03-01").unwrap(), d("2026-03-01"));
        assert_eq!(parse_day(" 2028-02-29 ").unwrap(), d("2028-02-29"));
        for bad in [
            "2026-02-30",
            "01/03/2026",
            "yesterday",
            "2026-03-01T00:00:00Z",
            "",
        ] {
            let err = parse_day(bad).unwrap_err();
            assert!(
                err.starts_with("expected a date as YYYY-MM-DD, got ") && !err.contains("RFC"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn r_rep_3_ranges_are_named_custom_or_the_default() {
        assert_eq!(range(None, None, None).span(false).unwrap(), Span::Default);
        assert_eq!(
            range(Some(RangeName::Past3Months), None, None)
                .span(false)
                .unwrap(),
            Span::Named(RangeName::Past3Months)
        );
        let custom = Span::Days {
            from: Some(d("2026-01-01")),
            to: Some(d("2026-01-31")),
        };
        assert_eq!(
            range(None, Some("2026-01-01"), Some("2026-01-31"))
                .span(false)
                .unwrap(),
            custom
        );
        assert_eq!(
            range(
                Some(RangeName::Custom),
                Some("2026-01-01"),
                Some("2026-01-31")
            )
            .span(false)
            .unwrap(),
            custom
        );
        assert_eq!(
            range(None, Some("2026-01-01"), Some("2026-01-01"))
                .span(false)
                .unwrap()
                .days(),
            Some((d("2026-01-01"), d("2026-01-01"))),
            "one day is a range"
        );
    }

    #[test]
    fn bad_ranges_say_what_is_expected() {
        let err = |r: RangeArgs, open| format!("{:#}", r.span(open).unwrap_err());
        let e = err(range(None, Some("2026-02-01"), Some("2026-01-01")), false);
        assert!(e.contains("is after --to"), "{e}");
        let e = err(range(None, Some("2026-02-01"), None), false);
        assert!(
            e.contains("both --from and --to") && e.contains("YYYY-MM-DD"),
            "{e}"
        );
        let e = err(range(Some(RangeName::Custom), None, None), true);
        assert!(e.contains("--range custom needs --from and --to"), "{e}");
        let e = err(
            range(Some(RangeName::Past30Days), Some("2026-01-01"), None),
            true,
        );
        assert!(e.contains("not with --range past_30_days"), "{e}");
        let e = err(
            range(Some(RangeName::Custom), Some("2026-01-01"), None),
            true,
        );
        assert!(e.contains("both --from and --to"), "{e}");
        // Events may leave one end to the server's default.
        assert_eq!(
            range(None, Some("2026-01-01"), None).span(true).unwrap(),
            Span::Days {
                from: Some(d("2026-01-01")),
                to: None
            }
        );
    }

    #[test]
    fn spans_become_usage_queries() {
        assert_eq!(Span::Default.usage_query(None), UsageQuery::default());
        let q = Span::Named(RangeName::Past12Months).usage_query(Some(By::User));
        assert_eq!(q.range.as_deref(), Some("past_12_months"));
        assert_eq!(q.by.as_deref(), Some("user"));
        assert_eq!((q.from, q.to), (None, None));
        let q = Span::Days {
            from: Some(d("2026-01-01")),
            to: Some(d("2026-01-31")),
        }
        .usage_query(Some(By::Day));
        assert_eq!(q.range.as_deref(), Some("custom"));
        assert_eq!(
            (q.from, q.to),
            (Some(d("2026-01-01")), Some(d("2026-01-31")))
        );
    }

    #[test]
    fn r_rep_2_days_become_rfc3339_bounds_the_last_day_included() {
        let (from, to) = day_bounds(Some(d("2026-01-01")), Some(d("2026-01-31"))).unwrap();
        assert_eq!(
            from,
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(to, Some(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()));
        assert_eq!(day_bounds(None, None).unwrap(), (None, None));
        let (_, to) = day_bounds(None, Some(d("2028-02-28"))).unwrap();
        assert_eq!(
            to,
            Some(Utc.with_ymd_and_hms(2028, 2, 29, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn weeks_are_compact_and_keep_the_year_across_two() {
        let w = |week: &str, days| WeekUsage {
            week: week.into(),
            days,
        };
        assert_eq!(weeks(&[w("2026-W02", 3), w("2026-W03", 5)]), "W02:3 W03:5");
        assert_eq!(
            weeks(&[w("2025-W52", 1), w("2026-W01", 2)]),
            "2025-W52:1 2026-W01:2"
        );
        assert_eq!(weeks(&[]), "-");
    }

    #[test]
    fn bars_scale_to_the_largest_day() {
        assert_eq!(bar(0, 10), "");
        assert_eq!(bar(10, 10).chars().count(), BAR_WIDTH as usize);
        assert_eq!(bar(5, 10).chars().count(), 15);
        assert_eq!(bar(1, 1000).chars().count(), 1, "anything above 0 shows");
        assert_eq!(bar(3, 0), "");
    }

    fn report() -> UsageReport {
        UsageReport {
            team_id: 3,
            range: UsageRange {
                name: "past_30_days".into(),
                from: d("2025-12-07"),
                to: d("2026-01-05"),
                days: 30,
            },
            pseudonyms: true,
            summary: jeton_api::UsageSummary {
                tokens: 20,
                products: 2,
                users: 2,
                periods: 3,
                results: 1,
            },
            by_product: None,
            by_user: Some(vec![UserUsage {
                user_id: None,
                user: "person-1a2b3c4d".into(),
                email: None,
                tokens: 17,
                products: 1,
                days: 2,
                weeks: vec![WeekUsage {
                    week: "2026-W02".into(),
                    days: 2,
                }],
            }]),
            by_day: None,
        }
    }

    #[test]
    fn usage_reads_as_a_summary_and_its_rows() {
        let design = Named {
            id: 3,
            name: "Design".into(),
        };
        let text = show_usage(&design, &report());
        for part in [
            "Usage of team Design, 2025-12-07 to 2026-01-05 (past 30 days, today included, 30 \
             days).",
            "pseudonyms",
            "tokens used: 20",
            "person-1a2b3c4d",
            "W02:2",
        ] {
            assert!(text.contains(part), "{part:?} in:\n{text}");
        }
        let (header, rows) = usage_rows(&report());
        assert_eq!(header[0], "user_id");
        assert_eq!(
            rows,
            vec![vec![
                "".to_string(),
                "person-1a2b3c4d".into(),
                "".into(),
                "17".into(),
                "1".into(),
                "2".into(),
                "2026-W02:2".into()
            ]]
        );
        let mut summary = report();
        summary.by_user = None;
        let (header, rows) = usage_rows(&summary);
        assert_eq!(
            header,
            [
                "from", "to", "tokens", "products", "users", "periods", "results"
            ]
        );
        assert_eq!(rows[0][2], "20");
    }

    #[test]
    fn r_rep_3_the_range_line_gives_the_days_and_what_the_range_means() {
        let design = Named {
            id: 3,
            name: "Design".into(),
        };
        let range = |name: &str, from: &str, to: &str, days| UsageRange {
            name: name.into(),
            from: d(from),
            to: d(to),
            days,
        };
        assert_eq!(
            range_line(
                "Usage",
                &design,
                &range("past_3_months", "2026-09-01", "2026-11-30", 91)
            ),
            "Usage of team Design, 2026-09-01 to 2026-11-30 (past 3 whole months, 91 days; this \
             month is not included)."
        );
        assert_eq!(
            range_line(
                "Usage",
                &design,
                &range("custom", "2026-01-01", "2026-01-01", 1)
            ),
            "Usage of team Design, 2026-01-01 to 2026-01-01 (custom range, 1 day)."
        );
        assert!(is_month_range("past_12_months") && !is_month_range("past_30_days"));
    }

    #[test]
    fn csv_files_hold_the_header_and_rows_quoted_as_needed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        let rows = vec![vec!["autocad".to_string(), "AutoCAD, 2027".into()]];
        assert_eq!(write_csv(&path, &["product", "name"], &rows).unwrap(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "product,name\nautocad,\"AutoCAD, 2027\"\n");
        assert_eq!(count_rows(&text).unwrap(), 1);
        assert_eq!(count_rows("a,b\n").unwrap(), 0);
        assert!(
            count_rows("a,b\n1,2,3\n").is_err(),
            "ragged rows are not CSV"
        );
        assert_eq!(
            default_export_name(3, d("2026-01-01"), d("2026-01-31")),
            "usage-3-2026-01-01-2026-01-31.csv"
        );
    }
}
