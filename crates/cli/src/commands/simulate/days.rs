//! `jeton simulate --days D`: working days of product use on a server started with
//! `--test-clock`. Each simulated day, present users open a product between 08:00 and 10:00,
//! heartbeat every 5 to 10 minutes and close it between 16:00 and 18:00 (a quarter of them also
//! open a second product for a while after lunch); the server's clock is moved to each step.
//! What the day cost is read back from the server's ledger.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use indicatif::ProgressBar;
use jeton_api::{Event, EventsQuery, Heartbeat, SignIn};
use jeton_client::{Client, ClientError};
use serde::Serialize;

use super::setup::{SimProduct, World};
use super::stats::{self, Counts};
use jeton_core::rng::Rng;

const MINUTES_PER_DAY: u32 = 24 * 60;
/// Most events one ledger request returns (the server's upper limit).
const EVENTS_LIMIT: u32 = jeton_core::limits::MAX_EVENTS_PER_PAGE as u32;

pub struct DaysOptions {
    pub days: u32,
    pub presence: f64,
    pub weekends: bool,
    pub seed: u64,
}

/// What happened over a day (or over all of them).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Users who worked (in the totals: user-days).
    pub users_present: u64,
    /// Sessions opened.
    pub sign_ins: u64,
    /// Sign-ins refused, by code (R-SES-1).
    pub refusals: Counts,
    pub heartbeats: u64,
    pub sign_outs: u64,
    /// Sessions the server stopped at a heartbeat, by code (`insufficient_tokens`, …).
    pub stopped: Counts,
    /// Other failed requests, by `operation code`.
    pub errors: Counts,
    /// From the server's ledger: charges made (one per usage period opened with a price).
    pub periods_opened: u64,
    /// From the server's ledger: tokens charged, and refunded by the grace rule.
    pub tokens_charged: u64,
    pub tokens_refunded: u64,
    /// From the answers the clients got (a period the server rolled over on its own at a
    /// clock step is in the ledger but in no answer).
    pub answered_charged: u64,
    pub answered_refunded: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.users_present += other.users_present;
        self.sign_ins += other.sign_ins;
        stats::merge(&mut self.refusals, &other.refusals);
        self.heartbeats += other.heartbeats;
        self.sign_outs += other.sign_outs;
        stats::merge(&mut self.stopped, &other.stopped);
        stats::merge(&mut self.errors, &other.errors);
        self.periods_opened += other.periods_opened;
        self.tokens_charged += other.tokens_charged;
        self.tokens_refunded += other.tokens_refunded;
        self.answered_charged += other.answered_charged;
        self.answered_refunded += other.answered_refunded;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DayReport {
    /// 1, 2, …
    pub day: u32,
    pub date: NaiveDate,
    pub weekday: String,
    #[serde(flatten)]
    pub tally: Tally,
    /// The team's available tokens at the end of the day.
    pub balance: u64,
}

#[derive(Debug, Serialize)]
pub struct DaysReport {
    pub mode: &'static str,
    pub server: String,
    pub team_id: i64,
    pub seed: u64,
    pub users: usize,
    pub products: Vec<SimProduct>,
    pub pack_tokens: i64,
    pub presence: f64,
    pub weekends: bool,
    /// Server time at the start of the first day and the end of the last.
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub days: Vec<DayReport>,
    /// The days added up.
    pub totals: Tally,
    /// The team's available tokens at the end.
    pub balance: u64,
    /// Requests sent during the days (clock steps and ledger reads included).
    pub requests: u64,
    pub clock_steps: u64,
    pub setup_seconds: f64,
    pub elapsed_seconds: f64,
}

/// One user's use of one product on a day, in minutes after midnight (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub user: usize,
    pub product: usize,
    pub start: u32,
    pub end: u32,
    pub every: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    SignIn,
    Heartbeat,
    SignOut,
}

/// Who works on day `day` and what they open: the same seed always gives the same plan, and
/// each user's plan does not depend on the others'.
pub fn plan_day(
    seed: u64,
    day: u32,
    weekday: Weekday,
    users: usize,
    products: usize,
    presence: f64,
    weekends: bool,
) -> Vec<Visit> {
    let weekend = matches!(weekday, Weekday::Sat | Weekday::Sun);
    let mut visits = Vec::new();
    if products == 0 {
        return visits;
    }
    for user in 0..users {
        let mut rng = Rng::derive(seed, &[u64::from(day), user as u64]);
        if !rng.chance(presence) || (weekend && !weekends) {
            continue;
        }
        let main = rng.index(products);
        visits.push(Visit {
            user,
            product: main,
            start: 8 * 60 + rng.below(121) as u32,
            end: 16 * 60 + rng.below(121) as u32,
            every: 5 + rng.below(6) as u32,
        });
        if products > 1 && rng.chance(0.25) {
            let start = 13 * 60 + rng.below(60) as u32;
            visits.push(Visit {
                user,
                product: (main + 1 + rng.index(products - 1)) % products,
                start,
                end: start + 30 + rng.below(91) as u32,
                every: 5 + rng.below(6) as u32,
            });
        }
    }
    visits
}

/// Every request of the day in order: (minute, visit, step).
pub fn timeline(visits: &[Visit]) -> Vec<(u32, usize, Step)> {
    let mut steps = Vec::new();
    for (i, v) in visits.iter().enumerate() {
        steps.push((v.start, i, Step::SignIn));
        let mut t = v.start + v.every;
        while t < v.end {
            steps.push((t, i, Step::Heartbeat));
            t += v.every;
        }
        steps.push((v.end, i, Step::SignOut));
    }
    steps.sort_by_key(|&(minute, visit, step)| (minute, step, visit));
    steps
}

/// The run's moving parts: the server's time as last answered, and counters.
struct Run<'a> {
    operator: &'a Client,
    now: DateTime<Utc>,
    requests: u64,
    clock_steps: u64,
}

impl Run<'_> {
    /// Moves the server's clock to `to` (if it is ahead), rounding up to whole seconds: a
    /// server started with `--test-clock` may stand at a fraction of a second, which it keeps.
    async fn advance_to(&mut self, to: DateTime<Utc>) -> Result<()> {
        let gap = to - self.now;
        let seconds = gap.num_seconds() + i64::from(gap.subsec_nanos() > 0);
        if seconds > 0 {
            self.now = self.operator.advance_clock(seconds).await?.now;
            self.requests += 1;
            self.clock_steps += 1;
        }
        Ok(())
    }

    /// The team's ledger over `[from, to)`, in as many requests as its size needs.
    async fn ledger(
        &mut self,
        team: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Event>> {
        let mut ranges = vec![(from, to)];
        let mut events = Vec::new();
        while let Some((from, to)) = ranges.pop() {
            let query = EventsQuery {
                from: Some(from),
                to: Some(to),
                limit: Some(EVENTS_LIMIT),
            };
            let part = self.operator.events(team, &query).await?;
            self.requests += 1;
            let span = to - from;
            if part.len() >= EVENTS_LIMIT as usize && span > Duration::seconds(1) {
                let middle = from + span / 2;
                ranges.push((from, middle));
                ranges.push((middle, to));
            } else {
                events.extend(part);
            }
        }
        Ok(events)
    }
}

/// The server's time, moving its test clock by a second; an error that says what to do when the
/// server has no test clock.
pub async fn server_time(operator: &Client) -> Result<DateTime<Utc>> {
    match operator.advance_clock(1).await {
        Ok(now) => Ok(now.now),
        Err(e) if e.status() == Some(404) => Err(anyhow!(
            "{e}\nhint: `jeton simulate --days` moves the server's clock: run it against a \
             server started with `jeton serve --test-clock` (never one with real data); \
             `--load` needs no test clock"
        )),
        Err(e) => Err(e.into()),
    }
}

/// A request that could not reach the server ends the simulation; the server's refusals are
/// part of it.
fn fatal(e: ClientError, what: &str) -> Result<ClientError> {
    match e {
        ClientError::Api(_) => Ok(e),
        other => Err(anyhow!(other).context(format!("{what}: the simulation stops"))),
    }
}

pub async fn run(
    operator: &Client,
    world: &mut World,
    options: &DaysOptions,
    bar: &ProgressBar,
) -> Result<DaysReport> {
    let started = std::time::Instant::now();
    // Learn the server's time, then start at the next midnight.
    let now = server_time(operator).await?;
    let mut run = Run {
        operator,
        now,
        requests: 1,
        clock_steps: 1,
    };
    let first = run
        .now
        .date_naive()
        .succ_opt()
        .context("the server's clock is at the end of time")?
        .and_hms_opt(0, 0, 0)
        .context("midnight")?
        .and_utc();
    run.advance_to(first).await?;
    let first = run.now;

    let mut days = Vec::new();
    let mut totals = Tally::default();
    let mut balance = 0;
    for day in 0..options.days {
        let day_start = first + Duration::days(i64::from(day));
        let day_end = day_start + Duration::days(1);
        for user in 0..world.users.len() {
            if world.users[user].token_expires_at <= day_end + Duration::hours(1) {
                world.renew_token(operator, user).await?;
                run.requests += 1;
            }
        }
        let date = day_start.date_naive();
        let visits = plan_day(
            options.seed,
            day,
            date.weekday(),
            world.users.len(),
            world.products.len(),
            options.presence,
            options.weekends,
        );
        let mut tally = Tally {
            users_present: visits.iter().map(|v| v.user).collect::<BTreeSet<_>>().len() as u64,
            ..Tally::default()
        };
        let mut open: Vec<Option<i64>> = vec![None; visits.len()];
        bar.set_message(format!("{}/{} ({date})", day + 1, options.days));
        for (minute, visit, step) in timeline(&visits) {
            run.advance_to(day_start + Duration::minutes(i64::from(minute)))
                .await?;
            let v = &visits[visit];
            let client = &world.users[v.user].client;
            match step {
                Step::SignIn => {
                    let request = SignIn {
                        team: world.team,
                        product: world.products[v.product].key.clone(),
                        version: Some("sim".into()),
                        machine: Some(format!("sim-{}", v.user)),
                    };
                    run.requests += 1;
                    match client.sign_in(&request, None).await {
                        Ok(s) => {
                            tally.sign_ins += 1;
                            tally.answered_charged += s.tokens_charged;
                            open[visit] = Some(s.id);
                        }
                        Err(e) => {
                            let e = fatal(e, "a sign-in failed")?;
                            if e.status() == Some(422) {
                                stats::add(&mut tally.refusals, stats::error_code(&e), 1);
                            } else {
                                stats::add(
                                    &mut tally.errors,
                                    format!("sign_in {}", stats::error_code(&e)),
                                    1,
                                );
                            }
                        }
                    }
                }
                Step::Heartbeat => {
                    let Some(id) = open[visit] else { continue };
                    run.requests += 1;
                    match client.heartbeat(id, &Heartbeat { active: true }).await {
                        Ok(a) => {
                            tally.heartbeats += 1;
                            tally.answered_charged += a.tokens_charged;
                        }
                        Err(e) => {
                            let e = fatal(e, "a heartbeat failed")?;
                            let code = stats::error_code(&e);
                            if code == "insufficient_tokens" || e.status() == Some(410) {
                                stats::add(&mut tally.stopped, code, 1);
                                open[visit] = None;
                            } else {
                                stats::add(&mut tally.errors, format!("heartbeat {code}"), 1);
                            }
                        }
                    }
                }
                Step::SignOut => {
                    let Some(id) = open[visit].take() else {
                        continue;
                    };
                    run.requests += 1;
                    match client.sign_out(id).await {
                        Ok(out) => {
                            tally.sign_outs += 1;
                            tally.answered_refunded += out.tokens_refunded;
                        }
                        Err(e) => {
                            let e = fatal(e, "a sign-out failed")?;
                            stats::add(
                                &mut tally.errors,
                                format!("sign_out {}", stats::error_code(&e)),
                                1,
                            );
                        }
                    }
                }
            }
            bar.set_position(u64::from(day) * u64::from(MINUTES_PER_DAY) + u64::from(minute));
        }
        run.advance_to(day_end).await?;
        let events = run.ledger(world.team, day_start, day_end).await?;
        let mut charges = BTreeSet::new();
        for e in &events {
            match e.kind.as_str() {
                "charged" => {
                    tally.tokens_charged += e.amount.unsigned_abs();
                    if e.cause.starts_with("period:") {
                        charges.insert(e.cause.clone());
                    }
                }
                "refunded" => tally.tokens_refunded += e.amount.unsigned_abs(),
                _ => {}
            }
        }
        tally.periods_opened = charges.len() as u64;
        balance = operator.balance(world.team).await?.available;
        run.requests += 1;
        totals.add(&tally);
        days.push(DayReport {
            day: day + 1,
            date,
            weekday: date.weekday().to_string(),
            tally,
            balance,
        });
        bar.set_position(u64::from(day + 1) * u64::from(MINUTES_PER_DAY));
    }
    if days.is_empty() {
        bail!("no day was simulated");
    }
    Ok(DaysReport {
        mode: "days",
        server: operator.base_url().to_string(),
        team_id: world.team,
        seed: options.seed,
        users: world.users.len(),
        products: world.products.clone(),
        pack_tokens: world.pack_tokens,
        presence: options.presence,
        weekends: options.weekends,
        started_at: first,
        ended_at: run.now,
        days,
        totals,
        balance,
        requests: run.requests,
        clock_steps: run.clock_steps,
        setup_seconds: world.setup_seconds,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

pub fn minutes_per_day() -> u64 {
    u64::from(MINUTES_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_follow_the_seed_and_the_working_day() {
        let a = plan_day(1, 0, Weekday::Tue, 50, 3, 0.8, false);
        assert_eq!(
            a,
            plan_day(1, 0, Weekday::Tue, 50, 3, 0.8, false),
            "same seed, same plan"
        );
        assert_ne!(a, plan_day(2, 0, Weekday::Tue, 50, 3, 0.8, false));
        assert_ne!(
            a,
            plan_day(1, 1, Weekday::Tue, 50, 3, 0.8, false),
            "days differ"
        );
        // A user's plan does not depend on how many others there are.
        let fewer = plan_day(1, 0, Weekday::Tue, 10, 3, 0.8, false);
        let first_ten: Vec<Visit> = a.iter().filter(|v| v.user < 10).cloned().collect();
        assert_eq!(fewer, first_ten);
        for v in &a {
            assert!(v.product < 3);
            assert!(v.start < v.end, "{v:?}");
            assert!((5..=10).contains(&v.every), "{v:?}");
            assert!((8 * 60..=10 * 60).contains(&v.start) || (13 * 60..14 * 60).contains(&v.start));
            assert!(v.end <= 18 * 60, "{v:?}");
        }
        let present: BTreeSet<usize> = a.iter().map(|v| v.user).collect();
        assert!(
            (30..=50).contains(&present.len()),
            "about 80 % of 50: {}",
            present.len()
        );
        assert!(
            plan_day(1, 0, Weekday::Sat, 50, 3, 0.8, false).is_empty(),
            "weekends off"
        );
        assert!(!plan_day(1, 0, Weekday::Sat, 50, 3, 0.8, true).is_empty());
        assert_eq!(
            plan_day(1, 0, Weekday::Tue, 50, 3, 1.0, false)
                .iter()
                .map(|v| v.user)
                .collect::<BTreeSet<_>>()
                .len(),
            50
        );
        assert!(plan_day(1, 0, Weekday::Tue, 50, 3, 0.0, false).is_empty());
    }

    #[test]
    fn the_timeline_signs_in_heartbeats_and_signs_out_in_order() {
        let visits = [
            Visit {
                user: 0,
                product: 0,
                start: 480,
                end: 500,
                every: 7,
            },
            Visit {
                user: 1,
                product: 1,
                start: 494,
                end: 501,
                every: 10,
            },
        ];
        assert_eq!(
            timeline(&visits),
            vec![
                (480, 0, Step::SignIn),
                (487, 0, Step::Heartbeat),
                (494, 1, Step::SignIn),
                (494, 0, Step::Heartbeat),
                (500, 0, Step::SignOut),
                (501, 1, Step::SignOut),
            ]
        );
    }
}
