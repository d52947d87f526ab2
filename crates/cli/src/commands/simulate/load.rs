//! `jeton simulate --load`: C workers sign a random user in to a random product, send one
//! heartbeat and sign out, over and over, for a fixed time.

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

#[derive(Debug, Serialize)]
pub struct LoadReport {
    pub mode: &'static str,
    pub server: String,
    pub team_id: i64,
    pub users: usize,
    pub products: Vec<String>,
    pub concurrency: u32,
    pub seed: u64,
    pub setup_seconds: f64,
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

pub async fn run(
    world: &World,
    server: &str,
    concurrency: u32,
    duration: Duration,
    seed: u64,
    bar: &ProgressBar,
) -> LoadReport {
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
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let users = world_users.clone();
        let products = products.clone();
        let sign_ins = sign_ins.clone();
        let failures = failures.clone();
        let team = world.team;
        tasks.spawn(async move {
            let mut rng = Rng::derive(seed, &[u64::from(worker)]);
            let mut m = Measured::default();
            let machine = format!("sim-worker-{worker}");
            while Instant::now() < deadline {
                let client = &users[rng.index(users.len())];
                let request = SignIn {
                    team,
                    product: products[rng.index(products.len())].clone(),
                    version: None,
                    machine: Some(machine.clone()),
                };
                let t = Instant::now();
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
    LoadReport {
        mode: "load",
        server: server.to_string(),
        team_id: world.team,
        users: world.users.len(),
        products: world.product_keys(),
        concurrency,
        seed,
        setup_seconds: world.setup_seconds,
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
