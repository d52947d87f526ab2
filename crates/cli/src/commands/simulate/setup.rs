//! What every simulation starts with: its own team, products (`sim-…` keys), a pack, and users
//! with accounts, Flex on the team for all products, and a user token each.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use jeton_api::{AssignRequest, NewPack, NewProduct, NewTeam, NewUser, TokenRequest};
use jeton_client::{Client, ClientError};
use serde::Serialize;

/// Users set up at once by one simulation. Each is made with a password, which the server hashes
/// (argon2) in a few slots behind a bounded queue: more at once only wait, and past the queue the
/// server answers `busy`, which failed the setup of `--load` runs with 64 workers over 4 teams.
const SETUP_WORKERS: u32 = 4;

/// How often a set-up call the server turned away as `busy` is tried again, and the longest wait
/// between two tries.
const BUSY_TRIES: u32 = 40;
const BUSY_WAIT_MOST: Duration = Duration::from_secs(1);

/// Runs `call` again while the server answers `busy`: it hashes a few passwords at a time and
/// turns the rest away (503), which it did to the set-ups of 16 simulations started at once,
/// each with its own workers. A request turned away did nothing, so trying again is safe.
async fn patiently<T, F: Future<Output = Result<T, ClientError>>>(
    mut call: impl FnMut() -> F,
) -> Result<T, ClientError> {
    let mut wait = Duration::from_millis(50);
    for _ in 1..BUSY_TRIES {
        match call().await {
            Err(e) if e.code() == Some("busy") => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(BUSY_WAIT_MOST);
            }
            done => return done,
        }
    }
    call().await
}

/// Product names and daily rates, taken in order.
const PRODUCTS: [(&str, i64); 10] = [
    ("cad", 7),
    ("render", 3),
    ("viz", 5),
    ("bim", 10),
    ("cam", 4),
    ("cae", 6),
    ("gis", 2),
    ("plm", 8),
    ("pdm", 1),
    ("mep", 9),
];
pub const MAX_PRODUCTS: u32 = PRODUCTS.len() as u32;

#[derive(Debug, Clone, Serialize)]
pub struct SimProduct {
    pub key: String,
    pub daily_rate: i64,
}

pub struct SimUser {
    pub id: i64,
    pub email: String,
    /// The operator's client with this user's token.
    pub client: Client,
    pub token_expires_at: DateTime<Utc>,
}

pub struct World {
    pub team: i64,
    pub products: Vec<SimProduct>,
    pub users: Vec<SimUser>,
    pub pack_tokens: i64,
    password: String,
    pub setup_seconds: f64,
}

/// A password for this run's users: random, never shown (they exist for the simulation only).
fn password() -> String {
    let a = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let b = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("sim-{a:016x}{b:016x}")
}

/// Creates the team, products, pack and `users` users (`concurrency` at a time), counting users
/// on `bar`.
pub async fn build(
    operator: &Client,
    users: u32,
    products: u32,
    tokens: i64,
    concurrency: u32,
    seed: u64,
    bar: &ProgressBar,
) -> Result<World> {
    let started = Instant::now();
    let team = operator
        .create_team(&NewTeam {
            name: format!("Simulation (seed {seed})"),
        })
        .await
        .context("creating the simulation's team")?
        .id;
    let mut made = Vec::new();
    for (name, rate) in PRODUCTS.iter().take(products as usize) {
        let key = format!("sim-{team}-{name}");
        operator
            .create_product(&NewProduct {
                key: key.clone(),
                name: format!("Simulated {name}"),
                daily_rate: *rate,
                result_rates: Default::default(),
                idle_awareness: false,
                items: vec![],
            })
            .await
            .with_context(|| format!("creating the simulation's product {key}"))?;
        made.push(SimProduct {
            key,
            daily_rate: *rate,
        });
    }
    operator
        .buy_pack(team, &NewPack { tokens }, None)
        .await
        .context("buying the simulation's pack")?;

    let password = Arc::new(password());
    let workers = concurrency.clamp(1, users.max(1)).min(SETUP_WORKERS);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let operator = operator.clone();
        let password = password.clone();
        let bar = bar.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            for i in (worker..users).step_by(workers as usize) {
                let user = make_user(&operator, team, i, &password)
                    .await
                    .with_context(|| format!("setting up simulated user {i}"))?;
                mine.push((i, user));
                bar.inc(1);
            }
            anyhow::Ok(mine)
        });
    }
    let mut all = Vec::with_capacity(users as usize);
    while let Some(done) = tasks.join_next().await {
        all.extend(done.context("a set-up task failed")??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(World {
        team,
        products: made,
        users: all.into_iter().map(|(_, u)| u).collect(),
        pack_tokens: tokens,
        password: password.to_string(),
        setup_seconds: started.elapsed().as_secs_f64(),
    })
}

async fn make_user(operator: &Client, team: i64, i: u32, password: &str) -> Result<SimUser> {
    let email = format!("sim-{team}-u{i}@example.com");
    let new_user = NewUser {
        email: email.clone(),
        name: format!("Sim User {i}"),
        password: password.to_string(),
    };
    let account = patiently(|| operator.create_user(&new_user)).await?;
    operator
        .assign(
            team,
            &AssignRequest {
                user_id: Some(account.user_id),
                all: Some(true),
                ..AssignRequest::default()
            },
        )
        .await?;
    let request = TokenRequest {
        email: email.clone(),
        password: password.to_string(),
    };
    let token = patiently(|| operator.user_token(&request)).await?;
    Ok(SimUser {
        id: account.user_id,
        email,
        client: operator.with_key(Some(token.token)),
        token_expires_at: token.expires_at,
    })
}

impl World {
    /// Signs the user in again for a fresh token (tokens last 30 days; long simulations outlive
    /// them).
    pub async fn renew_token(&mut self, operator: &Client, user: usize) -> Result<()> {
        let u = &mut self.users[user];
        let token = operator
            .user_token(&TokenRequest {
                email: u.email.clone(),
                password: self.password.clone(),
            })
            .await
            .with_context(|| format!("renewing the token of simulated user {}", u.id))?;
        u.client = operator.with_key(Some(token.token));
        u.token_expires_at = token.expires_at;
        Ok(())
    }

    pub fn product_keys(&self) -> Vec<String> {
        self.products.iter().map(|p| p.key.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use jeton_api::Problem;

    use super::*;

    fn problem(code: &str, status: u16) -> ClientError {
        ClientError::Api(Problem {
            type_: "about:blank".into(),
            title: code.into(),
            status,
            detail: code.into(),
            code: code.into(),
        })
    }

    /// `busy` is tried again, with waits that grow, until the server takes the call; the waits
    /// pass on tokio's paused clock.
    #[tokio::test(start_paused = true)]
    async fn a_call_turned_away_as_busy_is_tried_again() {
        let calls = Cell::new(0);
        let started = tokio::time::Instant::now();
        let answer = patiently(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                match n {
                    1..=3 => Err(problem("busy", 503)),
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(answer, Ok(4));
        // 50 + 100 + 200 ms between the four tries.
        assert_eq!(started.elapsed(), Duration::from_millis(350));
    }

    /// Any other error is the caller's at once; a server busy for good gives up after
    /// `BUSY_TRIES`.
    #[tokio::test(start_paused = true)]
    async fn other_errors_are_not_tried_again_and_busy_gives_up() {
        let calls = Cell::new(0);
        let answer: Result<(), _> = patiently(|| {
            calls.set(calls.get() + 1);
            async { Err(problem("validation", 400)) }
        })
        .await;
        assert_eq!(answer, Err(problem("validation", 400)));
        assert_eq!(calls.get(), 1);
        calls.set(0);
        let answer: Result<(), _> = patiently(|| {
            calls.set(calls.get() + 1);
            async { Err(problem("busy", 503)) }
        })
        .await;
        assert_eq!(answer, Err(problem("busy", 503)));
        assert_eq!(calls.get(), BUSY_TRIES);
    }
}
