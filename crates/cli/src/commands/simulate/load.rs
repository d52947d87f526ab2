//! `jeton simulate --load`: C workers send session requests over and over for a fixed time. In
//! the `charge` phase (the default) each loop signs a random user in to a random product, sends
//! one heartbeat and signs out: the sign-out comes within the grace window, so the period is
//! refunded and most sign-ins open (and charge) a new one. The `paid` and `heartbeat` phases first
//! open sessions for every (user, product), one per machine (untimed), then time sign-ins into
//! those already-paid periods, or heartbeats of those open sessions.
//!
//! Without `--rate` the workers go as fast as the server answers (the throughput). With it, the
//! timed requests start on a schedule ([`Pace`]) and each one's latency counts from the time it
//! was due, not from when a worker got to it: a server that falls behind shows in the
//! percentiles instead of slowing the schedule down (latency at a given load, not the
//! throughput's own queueing).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use jeton_api::{Heartbeat, SignIn};
use jeton_client::ClientError;
use serde::Serialize;

use super::setup::World;
use super::stats::{self, Counts, Latency, Samples};
use jeton_core::rng::Rng;

/// What the workers of a load run send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Sign in, heartbeat, sign out: most sign-ins open and charge a new period
    Charge,
    /// Sign-ins into an already-paid period (no charge)
    Paid,
    /// Heartbeats of open sessions in a running period
    Heartbeat,
}

impl Phase {
    /// The request this phase times for its rate.
    fn timed(self) -> &'static str {
        match self {
            Phase::Charge | Phase::Paid => "sign_in",
            Phase::Heartbeat => "heartbeat",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LoadReport {
    pub mode: &'static str,
    pub phase: Phase,
    /// The request the rate counts (`sign_in` or `heartbeat`), and its successes per second.
    pub rate_of: &'static str,
    pub rate: f64,
    pub server: String,
    pub team_id: i64,
    pub users: usize,
    pub products: Vec<String>,
    pub concurrency: u32,
    /// The timed requests' schedule per second (`--rate`); none: as fast as they are answered.
    pub paced_rate: Option<f64>,
    pub seed: u64,
    pub setup_seconds: f64,
    /// Sessions per (user, product) opened before the timed load (`paid`, `heartbeat`), each on
    /// its own machine; how many were opened, and in how long.
    pub machines: u32,
    pub opened_sessions: usize,
    pub open_seconds: f64,
    /// How long the workers ran.
    pub duration_seconds: f64,
    /// Successful sign-ins.
    pub sign_ins: u64,
    pub sign_ins_per_second: f64,
    /// Requests of each kind: sign_in, heartbeat, sign_out.
    pub operations: BTreeMap<&'static str, Latency>,
    /// Failures by `operation code`, e.g. `sign_in insufficient_tokens`.
    pub errors: Counts,
}

/// The schedule of a paced load: the `n`th timed request is due `n / rate` seconds after the
/// start; none is due at or after the deadline. Workers take the next due time in turn, so any
/// number of them keep one schedule.
pub(crate) struct Pace {
    start: tokio::time::Instant,
    every: Duration,
    deadline: tokio::time::Instant,
    next: AtomicU64,
}

impl Pace {
    /// `rate` requests per second (positive and finite: the command line checks) for `duration`.
    pub(crate) fn new(rate: f64, duration: Duration) -> Pace {
        let start = tokio::time::Instant::now();
        Pace {
            start,
            every: Duration::from_secs_f64(1.0 / rate),
            deadline: start + duration,
            next: AtomicU64::new(0),
        }
    }

    /// Waits until the next request is due and returns when it was due; `None` once the schedule
    /// is over.
    pub(crate) async fn due(&self) -> Option<Instant> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let at = self.start + self.every.mul_f64(n as f64);
        if at >= self.deadline {
            return None;
        }
        tokio::time::sleep_until(at).await;
        Some(at.into_std())
    }
}

/// What one worker measured.
#[derive(Default)]
struct Measured {
    sign_in: Samples,
    heartbeat: Samples,
    sign_out: Samples,
    errors: Counts,
}

impl Measured {
    fn failed(&mut self, op: &str, e: &ClientError) {
        stats::add(
            &mut self.errors,
            format!("{op} {}", stats::error_code(e)),
            1,
        );
    }
}

/// Opens `machines` sessions for every (user, product) of the world, `concurrency` at a time;
/// the sessions of user `i` come back at index `i`.
async fn open_sessions(world: &World, concurrency: u32, machines: u32) -> Vec<Vec<i64>> {
    let products = world.product_keys();
    let users = world.users.len();
    let workers = concurrency.clamp(1, users.max(1) as u32) as usize;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let clients: Vec<_> = (worker..users)
            .step_by(workers)
            .map(|i| (i, world.users[i].client.clone()))
            .collect();
        let products = products.clone();
        let team = world.team;
        tasks.spawn(async move {
            let mut mine = Vec::new();
            for (i, client) in clients {
                let mut ids = Vec::new();
                for product in &products {
                    for machine in 0..machines {
                        let request = SignIn {
                            team,
                            product: product.clone(),
                            version: None,
                            machine: Some(format!("sim-open-{i}-{machine}")),
                        };
                        if let Ok(s) = client.sign_in(&request, None).await {
                            ids.push(s.id);
                        }
                    }
                }
                mine.push((i, ids));
            }
            mine
        });
    }
    let mut all = vec![Vec::new(); users];
    while let Some(done) = tasks.join_next().await {
        if let Ok(mine) = done {
            for (i, ids) in mine {
                all[i] = ids;
            }
        }
    }
    all
}

#[allow(clippy::too_many_arguments)]
pub async fn run(
    world: &World,
    server: &str,
    phase: Phase,
    machines: u32,
    concurrency: u32,
    duration: Duration,
    rate: Option<f64>,
    seed: u64,
    bar: &ProgressBar,
) -> LoadReport {
    let opening = Instant::now();
    let open = match phase {
        Phase::Charge => Vec::new(),
        Phase::Paid | Phase::Heartbeat => open_sessions(world, concurrency, machines).await,
    };
    let open_seconds = opening.elapsed().as_secs_f64();
    let open: Arc<Vec<(usize, i64)>> = Arc::new(
        open.iter()
            .enumerate()
            .flat_map(|(i, ids)| ids.iter().map(move |&id| (i, id)))
            .collect(),
    );
    let world_users: Arc<Vec<_>> = Arc::new(
        world
            .users
            .iter()
            .map(|u| u.client.clone())
            .collect::<Vec<_>>(),
    );
    let products = Arc::new(world.product_keys());
    let sign_ins = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let pace = rate.map(|rate| Arc::new(Pace::new(rate, duration)));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let users = world_users.clone();
        let products = products.clone();
        let sign_ins = sign_ins.clone();
        let failures = failures.clone();
        let open = open.clone();
        let team = world.team;
        let pace = pace.clone();
        tasks.spawn(async move {
            let mut rng = Rng::derive(seed, &[u64::from(worker)]);
            let mut m = Measured::default();
            let machine = format!("sim-worker-{worker}");
            while Instant::now() < deadline {
                // When the timed request starts: now, or on a paced load when it was due.
                let t = match &pace {
                    None => Instant::now(),
                    Some(pace) => match pace.due().await {
                        Some(due) => due,
                        None => break,
                    },
                };
                if phase == Phase::Heartbeat {
                    if open.is_empty() {
                        break;
                    }
                    let (user, session) = open[rng.index(open.len())];
                    match users[user]
                        .heartbeat(session, &Heartbeat { active: true })
                        .await
                    {
                        Ok(_) => m.heartbeat.ok(t.elapsed()),
                        Err(e) => {
                            m.heartbeat.errors += 1;
                            m.failed("heartbeat", &e);
                            failures.fetch_add(1, Ordering::Relaxed);
                            if matches!(e, ClientError::Transport(_)) {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                    continue;
                }
                let client = &users[rng.index(users.len())];
                let request = SignIn {
                    team,
                    product: products[rng.index(products.len())].clone(),
                    version: None,
                    machine: Some(machine.clone()),
                };
                let session = match client.sign_in(&request, None).await {
                    Ok(s) => {
                        m.sign_in.ok(t.elapsed());
                        sign_ins.fetch_add(1, Ordering::Relaxed);
                        s
                    }
                    Err(e) => {
                        m.sign_in.errors += 1;
                        m.failed("sign_in", &e);
                        failures.fetch_add(1, Ordering::Relaxed);
                        if matches!(e, ClientError::Transport(_)) {
                            // Do not spin on a server that is gone.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        continue;
                    }
                };
                if phase == Phase::Paid {
                    // The session stays open (the period was paid by the sessions opened first).
                    continue;
                }
                let t = Instant::now();
                match client
                    .heartbeat(session.id, &Heartbeat { active: true })
                    .await
                {
                    Ok(_) => m.heartbeat.ok(t.elapsed()),
                    Err(e) => {
                        m.heartbeat.errors += 1;
                        m.failed("heartbeat", &e);
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let t = Instant::now();
                match client.sign_out(session.id).await {
                    Ok(_) => m.sign_out.ok(t.elapsed()),
                    Err(e) => {
                        m.sign_out.errors += 1;
                        m.failed("sign_out", &e);
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            m
        });
    }

    // The bar follows the clock; its message, the counts.
    let ticker = {
        let bar = bar.clone();
        let sign_ins = sign_ins.clone();
        let failures = failures.clone();
        tokio::spawn(async move {
            loop {
                let elapsed = start.elapsed();
                bar.set_position(elapsed.as_secs().min(duration.as_secs()));
                let n = sign_ins.load(Ordering::Relaxed);
                bar.set_message(format!(
                    "{n} sign-ins ({:.0}/s), {} errors",
                    n as f64 / elapsed.as_secs_f64().max(0.001),
                    failures.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let mut all = Measured::default();
    while let Some(done) = tasks.join_next().await {
        if let Ok(m) = done {
            all.sign_in.merge(m.sign_in);
            all.heartbeat.merge(m.heartbeat);
            all.sign_out.merge(m.sign_out);
            stats::merge(&mut all.errors, &m.errors);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    ticker.abort();
    bar.set_position(duration.as_secs());

    let signed_in = all.sign_in.micros.len() as u64;
    let timed = match phase {
        Phase::Charge | Phase::Paid => signed_in,
        Phase::Heartbeat => all.heartbeat.micros.len() as u64,
    };
    LoadReport {
        mode: "load",
        phase,
        rate_of: phase.timed(),
        rate: timed as f64 / elapsed.max(0.001),
        server: server.to_string(),
        team_id: world.team,
        users: world.users.len(),
        products: world.product_keys(),
        concurrency,
        paced_rate: rate,
        seed,
        setup_seconds: world.setup_seconds,
        machines,
        opened_sessions: open.len(),
        open_seconds,
        duration_seconds: elapsed,
        sign_ins: signed_in,
        sign_ins_per_second: signed_in as f64 / elapsed.max(0.001),
        operations: BTreeMap::from([
            ("sign_in", all.sign_in.summary()),
            ("heartbeat", all.heartbeat.summary()),
            ("sign_out", all.sign_out.summary()),
        ]),
        errors: all.errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On tokio's paused clock: 10 requests a second for a second are due at 0, 100, …, 900 ms,
    /// each returned at its time whoever takes it, and none after.
    #[tokio::test(start_paused = true)]
    async fn a_paced_load_keeps_its_schedule() {
        use tokio::time::Instant;
        let pace = Arc::new(Pace::new(10.0, Duration::from_secs(1)));
        let start = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..3 {
            let pace = pace.clone();
            workers.spawn(async move {
                let mut due = Vec::new();
                while let Some(at) = pace.due().await {
                    let at = Instant::from_std(at);
                    assert_eq!(Instant::now(), at, "returned when due");
                    due.push(at.duration_since(start).as_millis());
                    // A request that takes longer than the interval: the others take the slots.
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                due
            });
        }
        let mut all: Vec<u128> = workers.join_all().await.into_iter().flatten().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).map(|k| k * 100).collect::<Vec<u128>>());
    }
}
