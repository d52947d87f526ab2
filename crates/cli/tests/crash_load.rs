//! kill -9 under the benchmark's load shape (`jeton simulate --load`, charge phase), on both
//! backends: on several teams at once, workers loop sign-in, heartbeat, sign-out; the sign-out
//! comes within the grace window (the test clock is frozen), so the period is refunded and the
//! next sign-in to the same (user, product) opens and charges a new one (R-SES-2, R-SES-4).
//! Workers of a team often pick the same (user, product) at once: one of them charges, the
//! others join its period, and only the last sign-out refunds it. In the middle of that the real
//! `jeton serve` is killed (SIGKILL), then started again on the same database.
//!
//! After the restart, and again after more of the same load and signing every session out:
//! * every acknowledged sign-in's session is stored, for its user and product, and the period it
//!   charged is in the ledger: each (user, product) has exactly as many charged periods as
//!   sign-ins were answered with a charge;
//! * each period has one `charged` event and at most one `refunded`, for its product's rate,
//!   by one user: no period is charged or refunded twice;
//! * every sign-out answered with a refund has its `refunded` period; a period is refunded
//!   exactly when all its sessions have ended (with the clock frozen, all within grace);
//! * each team's balance is what was bought minus what was charged plus what was refunded, and
//!   `jeton audit` finds it balanced.
//!
//! Sign-ins carry idempotency keys (as the product client sends them), so those cut off by the
//! kill are sent again after the restart and their answers are known. A cut-off sign-out is sent
//! again too; if it answers 0 the first one may have been applied, refund and all: that refund
//! is then allowed but not required.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jeton_api::{Heartbeat, NewPack, NewProduct, NewTeam, SessionInfo, SessionStarted, SignIn};
use jeton_client::{Client, ClientError};
use jeton_core::rng::Rng;
use jeton_store::both_backends;
use jeton_store::testing::TestDb;

mod common;
use common::{OPERATOR_KEY, Server, Setup, all_events, all_sessions, flex_user, read_log};

both_backends! {
    r_ses_4_a_server_killed_under_the_benchmark_load_charges_each_period_once => crash_load,
}

const TEAMS: usize = 3;
const USERS: usize = 3;
/// Daily rates of the products, all different, so that an event's amount says its product.
const RATES: [u64; 3] = [3, 5, 7];
const WORKERS: usize = 3;
/// Loops per worker at most before the kill. The kill comes long before (after `KILL_AFTER`
/// sign-ins in all); the bound keeps every team's sessions on one page of the API.
const LOOPS_BEFORE: usize = 250;
const KILL_AFTER: usize = 300;
/// Loops per worker on the restarted server.
const LOOPS_AFTER: usize = 20;
const INITIAL_TOKENS: u64 = 1_000_000;

fn product_key(product: usize) -> String {
    format!("load{product}")
}

/// A team of the scene, its users and their tokens.
struct Team {
    id: i64,
    user_ids: Vec<i64>,
    tokens: Vec<String>,
}

/// One sign-in of the load, with its idempotency key.
#[derive(Debug, Clone)]
struct SignInRequest {
    team: usize,
    user: usize,
    product: usize,
    machine: String,
    key: String,
}

/// A session as its client knows it.
#[derive(Debug, Clone)]
struct Session {
    team: usize,
    user: usize,
    product: usize,
    charged: u64,
    /// The client signed it out (answered, or sent again after the restart).
    ended: bool,
    /// What its sign-out answered.
    refunded: u64,
    /// Its first sign-out was cut off and the retry answered 0: the first may have refunded.
    refund_unknown: bool,
}

/// What one worker was told.
#[derive(Default)]
struct Seen {
    sessions: Vec<(i64, Session)>,
    unanswered_sign_in: Option<SignInRequest>,
    unanswered_sign_out: Option<i64>,
    /// Answers that are neither a success nor a cut connection: none are expected.
    errors: Vec<String>,
}

/// The clients of every user, by team then user.
struct Clients {
    teams: Vec<i64>,
    users: Vec<Vec<Client>>,
}

impl Clients {
    fn on(server: &Server, teams: &[Team]) -> Clients {
        Clients {
            teams: teams.iter().map(|t| t.id).collect(),
            users: teams
                .iter()
                .map(|t| t.tokens.iter().map(|k| server.client(k)).collect())
                .collect(),
        }
    }

    fn user(&self, team: usize, user: usize) -> &Client {
        &self.users[team][user]
    }

    async fn sign_in(&self, r: &SignInRequest) -> Result<SessionStarted, ClientError> {
        let request = SignIn {
            team: self.teams[r.team],
            product: product_key(r.product),
            version: None,
            machine: Some(r.machine.clone()),
        };
        self.user(r.team, r.user)
            .sign_in(&request, Some(&r.key))
            .await
    }
}

fn cut(e: &ClientError) -> bool {
    matches!(e, ClientError::Transport(_) | ClientError::Decode(_))
}

/// One worker of the benchmark's charge phase: `loops` times, a random user of the team signs
/// in to a random product, beats once and signs out; it stops at the first request the server
/// does not answer. Each answered sign-in counts on `acked`; the one that makes it `kill_after`
/// wakes `kill`.
#[allow(clippy::too_many_arguments)]
async fn worker(
    clients: Arc<Clients>,
    round: &'static str,
    team: usize,
    worker: usize,
    loops: usize,
    acked: Arc<AtomicUsize>,
    kill_after: usize,
    kill: Arc<tokio::sync::Notify>,
) -> Seen {
    let mut rng = Rng::derive(u64::from(round == "after"), &[team as u64, worker as u64]);
    let mut seen = Seen::default();
    for step in 0..loops {
        let request = SignInRequest {
            team,
            user: rng.index(USERS),
            product: rng.index(RATES.len()),
            machine: format!("worker-{worker}"),
            key: format!("{round}-{team}-{worker}-{step}"),
        };
        let started = match clients.sign_in(&request).await {
            Ok(s) => s,
            Err(e) if cut(&e) => {
                seen.unanswered_sign_in = Some(request);
                break;
            }
            Err(e) => {
                seen.errors.push(format!("{request:?}: {e}"));
                break;
            }
        };
        seen.sessions.push((
            started.id,
            Session {
                team,
                user: request.user,
                product: request.product,
                charged: started.tokens_charged,
                ended: false,
                refunded: 0,
                refund_unknown: false,
            },
        ));
        if acked.fetch_add(1, Ordering::SeqCst) + 1 == kill_after {
            kill.notify_one();
        }
        let client = clients.user(team, request.user);
        match client
            .heartbeat(started.id, &Heartbeat { active: true })
            .await
        {
            Ok(beat) if beat.tokens_charged == 0 => {}
            Ok(beat) => seen
                .errors
                .push(format!("heartbeat of {} charged: {beat:?}", started.id)),
            // The session stays open: no sign-out is sent for it.
            Err(e) if cut(&e) => break,
            Err(e) => {
                seen.errors
                    .push(format!("heartbeat of {}: {e}", started.id));
                break;
            }
        }
        match client.sign_out(started.id).await {
            Ok(out) => {
                let session = &mut seen.sessions.last_mut().unwrap().1;
                session.ended = true;
                session.refunded = out.tokens_refunded;
            }
            Err(e) if cut(&e) => {
                seen.unanswered_sign_out = Some(started.id);
                break;
            }
            Err(e) => {
                seen.errors.push(format!("sign-out of {}: {e}", started.id));
                break;
            }
        }
    }
    seen
}

/// Starts `loops` loops on every worker of every team; each ends early if the server is gone.
fn load(
    clients: &Arc<Clients>,
    round: &'static str,
    loops: usize,
    kill_after: usize,
    kill: &Arc<tokio::sync::Notify>,
) -> tokio::task::JoinSet<Seen> {
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for team in 0..TEAMS {
        for w in 0..WORKERS {
            tasks.spawn(worker(
                clients.clone(),
                round,
                team,
                w,
                loops,
                acked.clone(),
                kill_after,
                kill.clone(),
            ));
        }
    }
    tasks
}

async fn collect(mut tasks: tokio::task::JoinSet<Seen>) -> Vec<Seen> {
    let mut all = Vec::new();
    while let Some(seen) = tasks.join_next().await {
        all.push(seen.expect("load task"));
    }
    all
}

async fn stored_sessions(op: &Client, team: i64) -> BTreeMap<i64, SessionInfo> {
    all_sessions(op, team)
        .await
        .into_iter()
        .map(|s| (s.id, s))
        .collect()
}

/// A usage period as the ledger shows it.
#[derive(Debug, Default)]
struct Period {
    actor: String,
    charged: Vec<i64>,
    refunded: Vec<i64>,
}

/// What a check counted, to be printed.
#[derive(Debug, Default)]
struct Counted {
    sessions: usize,
    periods: usize,
    refunded: usize,
}

/// Checks what the server stores against what the clients were told (see the module's
/// comment). `all_ended`: every session was signed out, so every period must be refunded.
async fn check(
    server: &Server,
    teams: &[Team],
    told: &BTreeMap<i64, Session>,
    all_ended: bool,
) -> Counted {
    let op = server.client(OPERATOR_KEY);
    let mut counted = Counted::default();
    for (t, team) in teams.iter().enumerate() {
        let mine: BTreeMap<i64, &Session> = told
            .iter()
            .filter(|(_, s)| s.team == t)
            .map(|(id, s)| (*id, s))
            .collect();

        // The sessions stored are those the clients were given, for their user and product,
        // ended exactly when their client signed them out.
        let stored = stored_sessions(&op, team.id).await;
        assert_eq!(
            stored.keys().collect::<BTreeSet<_>>(),
            mine.keys().collect::<BTreeSet<_>>(),
            "team {t}: the sessions stored"
        );
        for (id, s) in &mine {
            let row = &stored[id];
            assert_eq!(row.user_id, team.user_ids[s.user], "session {id}");
            assert_eq!(row.product, product_key(s.product), "session {id}");
            assert_eq!(row.ended_at.is_some(), s.ended, "session {id}: {row:?}");
        }

        // The ledger, period by period.
        let events = all_events(&op, team.id).await;
        let mut bought = 0;
        let (mut charged, mut refunded) = (0, 0);
        let mut periods: BTreeMap<String, Period> = BTreeMap::new();
        for e in &events {
            match e.kind.as_str() {
                "purchased" => bought += e.amount,
                "charged" | "refunded" => {
                    assert!(e.cause.starts_with("period:"), "{e:?}");
                    let period = periods.entry(e.cause.clone()).or_default();
                    if period.actor.is_empty() {
                        period.actor.clone_from(&e.actor);
                    }
                    assert_eq!(period.actor, e.actor, "one period, one user: {e:?}");
                    if e.kind == "charged" {
                        period.charged.push(-e.amount);
                        charged += -e.amount;
                    } else {
                        period.refunded.push(e.amount);
                        refunded += e.amount;
                    }
                }
                other => panic!("no {other} event is caused by this load: {e:?}"),
            }
        }
        assert_eq!(bought, INITIAL_TOKENS as i64, "team {t}: one pack bought");

        // By (user, product): periods charged, refunded, and still running.
        #[derive(Default, Debug)]
        struct Pair {
            periods: usize,
            refunded: usize,
        }
        let mut pairs: BTreeMap<(usize, usize), Pair> = BTreeMap::new();
        for (cause, p) in &periods {
            assert_eq!(p.charged.len(), 1, "team {t}: {cause} charged once: {p:?}");
            assert!(
                p.refunded.len() <= 1,
                "team {t}: {cause} refunded once: {p:?}"
            );
            let rate = p.charged[0] as u64;
            let product = RATES.iter().position(|r| *r == rate).unwrap_or_else(|| {
                panic!("team {t}: {cause} charged {rate}, no product's rate: {p:?}")
            });
            if let Some(back) = p.refunded.first() {
                assert_eq!(*back as u64, rate, "team {t}: {cause} refunded its charge");
            }
            let user: i64 = p.actor.trim_start_matches("user:").parse().unwrap();
            let user = team
                .user_ids
                .iter()
                .position(|u| *u == user)
                .unwrap_or_else(|| panic!("team {t}: {cause} by {}: not a user", p.actor));
            let pair = pairs.entry((user, product)).or_default();
            pair.periods += 1;
            pair.refunded += p.refunded.len();
        }
        for user in 0..USERS {
            for (product, &rate) in RATES.iter().enumerate() {
                let sessions: Vec<&Session> = mine
                    .values()
                    .filter(|s| s.user == user && s.product == product)
                    .copied()
                    .collect();
                for s in &sessions {
                    assert!(s.charged == 0 || s.charged == rate, "{s:?}");
                    assert!(s.refunded == 0 || s.refunded == rate, "{s:?}");
                }
                let at = format!("team {t}, user {user}, product {product}");
                let ledger = pairs.remove(&(user, product)).unwrap_or_default();
                let charging = sessions.iter().filter(|s| s.charged > 0).count();
                assert_eq!(
                    ledger.periods, charging,
                    "{at}: one period charged per sign-in answered with a charge"
                );
                let sure = sessions.iter().filter(|s| s.refunded > 0).count();
                let maybe = sessions.iter().filter(|s| s.refund_unknown).count();
                assert!(
                    (sure..=sure + maybe).contains(&ledger.refunded),
                    "{at}: {} periods refunded; {sure} sign-outs answered with a refund, {maybe} \
                     that may have refunded before the kill",
                    ledger.refunded
                );
                // The clock stands still, so every sign-out is within grace: the periods not
                // refunded are those with a session still open, at most one at a time.
                let open = sessions.iter().any(|s| !s.ended);
                assert_eq!(
                    ledger.periods - ledger.refunded,
                    usize::from(open),
                    "{at}: periods running (a session open: {open})"
                );
            }
        }
        assert!(pairs.is_empty(), "team {t}: periods of no pair: {pairs:?}");

        // The balance, and the audit.
        let balance = op.balance(team.id).await.unwrap();
        let expected = bought - charged + refunded;
        assert_eq!(balance.available as i64, expected, "team {t}: {balance:?}");
        assert_eq!(balance.total as i64, bought, "team {t}: {balance:?}");
        if all_ended {
            assert_eq!(charged, refunded, "team {t}: every period refunded");
        }
        let audit = server.audit(team.id).await;
        assert_eq!(audit["balanced"], true, "team {t}: {audit}");
        assert_eq!(audit["events_sum"], expected, "team {t}: {audit}");
        assert_eq!(audit["remaining_sum"], expected, "team {t}: {audit}");
        assert_eq!(
            audit["mismatched_packs"],
            serde_json::json!([]),
            "team {t}: {audit}"
        );
        counted.sessions += mine.len();
        counted.periods += periods.len();
        counted.refunded += periods.values().filter(|p| !p.refunded.is_empty()).count();
    }
    counted
}

/// Products, and teams each with a pack and users on Flex for every product.
async fn scene(op: &Client) -> Vec<Team> {
    for (i, rate) in RATES.iter().enumerate() {
        op.create_product(&NewProduct {
            key: product_key(i),
            name: format!("Load product {i}"),
            daily_rate: *rate as i64,
            result_rates: BTreeMap::new(),
            idle_awareness: false,
            items: Vec::new(),
        })
        .await
        .unwrap();
    }
    let mut teams = Vec::new();
    for t in 0..TEAMS {
        let id = op
            .create_team(&NewTeam {
                name: format!("Load {t}"),
            })
            .await
            .unwrap()
            .id;
        op.buy_pack(
            id,
            &NewPack {
                tokens: INITIAL_TOKENS as i64,
            },
            None,
        )
        .await
        .unwrap();
        let mut team = Team {
            id,
            user_ids: Vec::new(),
            tokens: Vec::new(),
        };
        for u in 0..USERS {
            let (user_id, token) = flex_user(
                op,
                id,
                &format!("t{t}u{u}@example.com"),
                &format!("User {u} of team {t}"),
            )
            .await;
            team.user_ids.push(user_id);
            team.tokens.push(token);
        }
        teams.push(team);
    }
    teams
}

async fn crash_load(db: TestDb) {
    let setup = Setup::new(&db);
    let mut first = Server::start(&setup, 1).await;
    let teams = scene(&first.client(OPERATOR_KEY)).await;

    // The load, and the kill in the middle of it.
    let clients = Arc::new(Clients::on(&first, &teams));
    let kill = Arc::new(tokio::sync::Notify::new());
    let tasks = load(&clients, "before", LOOPS_BEFORE, KILL_AFTER, &kill);
    tokio::time::timeout(Duration::from_secs(120), kill.notified())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the load never reached {KILL_AFTER} sign-ins:\n{}",
                read_log(&first.log)
            )
        });
    first.kill_9().await;
    let mut told: BTreeMap<i64, Session> = BTreeMap::new();
    let mut unanswered_sign_ins = Vec::new();
    let mut unanswered_sign_outs = Vec::new();
    let mut errors = Vec::new();
    for seen in collect(tasks).await {
        told.extend(seen.sessions);
        unanswered_sign_ins.extend(seen.unanswered_sign_in);
        unanswered_sign_outs.extend(seen.unanswered_sign_out);
        errors.extend(seen.errors);
    }
    assert!(
        errors.is_empty(),
        "the server refused requests of the load:\n{}\n{}",
        errors.join("\n"),
        read_log(&first.log)
    );
    assert!(told.len() >= KILL_AFTER, "{} sign-ins answered", told.len());
    assert!(
        told.len() < TEAMS * WORKERS * LOOPS_BEFORE,
        "the kill came in the middle of the load"
    );
    let charged_before = told.values().filter(|s| s.charged > 0).count();
    let refunded_before = told.values().filter(|s| s.refunded > 0).count();
    let open_at_kill = told.values().filter(|s| !s.ended).count();

    // The restart, on the same database. What got no answer is sent again: the sign-ins with
    // their keys (applied before the kill or not, each opens one session), and the sign-outs.
    let second = Server::start(&setup, 2).await;
    let clients = Arc::new(Clients::on(&second, &teams));
    for request in &unanswered_sign_ins {
        let started = clients.sign_in(request).await.unwrap();
        let again = clients.sign_in(request).await.unwrap();
        assert_eq!(again, started, "{request:?} replayed");
        let before = told.insert(
            started.id,
            Session {
                team: request.team,
                user: request.user,
                product: request.product,
                charged: started.tokens_charged,
                ended: false,
                refunded: 0,
                refund_unknown: false,
            },
        );
        assert!(before.is_none(), "session {} given twice", started.id);
    }
    for id in &unanswered_sign_outs {
        let s = told.get_mut(id).unwrap();
        let out = clients.user(s.team, s.user).sign_out(*id).await.unwrap();
        s.ended = true;
        s.refunded = out.tokens_refunded;
        s.refund_unknown = out.tokens_refunded == 0;
    }
    let after_restart = check(&second, &teams, &told, false).await;

    // The same load on the restarted server, over the periods left running by the kill; then
    // every session still open is signed out, which refunds every period.
    let tasks = load(&clients, "after", LOOPS_AFTER, usize::MAX, &kill);
    for seen in collect(tasks).await {
        assert!(
            seen.errors.is_empty() && seen.unanswered_sign_in.is_none(),
            "after the restart: {:?}\n{}",
            seen.errors,
            read_log(&second.log)
        );
        assert_eq!(seen.unanswered_sign_out, None);
        for (id, s) in seen.sessions {
            assert!(told.insert(id, s).is_none(), "session {id} given twice");
        }
    }
    for (id, s) in told.iter_mut().filter(|(_, s)| !s.ended) {
        let out = clients.user(s.team, s.user).sign_out(*id).await.unwrap();
        s.ended = true;
        s.refunded = out.tokens_refunded;
    }
    let at_end = check(&second, &teams, &told, true).await;
    assert_eq!(at_end.periods, at_end.refunded);
    println!(
        "before the kill: {charged_before} sign-ins charged, {refunded_before} sign-outs \
         refunded, {open_at_kill} sessions left open; sent again after the restart: {} sign-ins, \
         {} sign-outs; after the restart {after_restart:?}; at the end {at_end:?}",
        unanswered_sign_ins.len(),
        unanswered_sign_outs.len()
    );
    drop(second);
}
