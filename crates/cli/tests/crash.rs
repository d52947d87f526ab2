//! kill -9 in the middle of charging, on both backends: the real `jeton serve` process is killed
//! (SIGKILL: no shutdown, no flush, transactions cut wherever they are) while several clients
//! sign users in to products (each product beating once, as it starts) and record purchases, then
//! started again on the same database.
//!
//! What a client was told must be true after the restart, and what it was not told must be safe
//! to send again:
//! * every acknowledged sign-in's session exists, and its charge is in the ledger;
//! * every acknowledged purchase's idempotency key replays the same pack;
//! * retrying the requests that got no answer, with their idempotency keys, doubles nothing;
//! * the ledger holds exactly one charge per (user, product) usage period, the usage rows agree,
//!   the balance is what was bought minus what was charged, and `jeton audit` finds it balanced.
//!
//! The server runs on a test clock frozen at the same instant both times, so every sign-in falls
//! in the first usage period of its (user, product): one charge each, whatever the timing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jeton_api::{
    Heartbeat, NewPack, NewProduct, NewTeam, Pack, SessionStarted, SignIn, UsageQuery,
};
use jeton_client::{Client, ClientError};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;

mod common;
use common::{OPERATOR_KEY, Server, Setup, all_events, all_sessions, flex_user, read_log};

both_backends! {
    r_ses_9_a_server_killed_mid_load_keeps_every_acknowledged_charge_and_doubles_none => crash,
}

/// Distinct daily rates, so that a charge's amount also says which product it paid for.
const RATES: [i64; 9] = [2, 3, 5, 7, 11, 13, 17, 19, 23];
/// The load uses the first products; the last one only by requests whose answer is lost, so
/// that their sign-ins are sure to charge.
const LOAD_PRODUCTS: usize = 8;
const USERS: usize = 5;
const TASKS: usize = 6;
/// Sign-ins per task; every fourth step also records a purchase.
const STEPS: usize = 80;
/// The kill comes once this many requests were acknowledged: about a fifth of the load, while
/// (user, product) pairs are still being opened for the first time.
const KILL_AFTER: usize = 120;
const INITIAL_TOKENS: i64 = 1_000_000;

/// One request of the load. Each carries its own idempotency key.
#[derive(Debug, Clone)]
enum Op {
    SignIn {
        user: usize,
        product: usize,
        key: String,
    },
    Buy {
        tokens: i64,
        key: String,
    },
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Session(SessionStarted),
    Pack(Pack),
}

/// The plan of one load task: it walks the (user, product) pairs in order, starting one pair
/// further than the previous task, so that neighbouring tasks often sign the same pair in at
/// once (R-SES-9) and new pairs keep opening throughout.
fn plan(task: usize) -> Vec<Op> {
    let pairs = USERS * LOAD_PRODUCTS;
    let mut ops = Vec::new();
    for step in 0..STEPS {
        let pair = (step + task) % pairs;
        ops.push(Op::SignIn {
            user: pair % USERS,
            product: pair / USERS,
            key: format!("sign-in-{task}-{step}"),
        });
        if step % 4 == 3 {
            ops.push(Op::Buy {
                tokens: 100 + task as i64,
                key: format!("buy-{task}-{step}"),
            });
        }
    }
    ops
}

/// Requests whose answers the server sends and the client never reads: applied, unanswered.
fn lost() -> Vec<Op> {
    vec![
        Op::SignIn {
            user: 0,
            product: LOAD_PRODUCTS,
            key: "lost-sign-in-0".into(),
        },
        Op::SignIn {
            user: 1,
            product: LOAD_PRODUCTS,
            key: "lost-sign-in-1".into(),
        },
        Op::Buy {
            tokens: 999,
            key: "lost-buy".into(),
        },
    ]
}

/// Sends `op` on a connection of its own and waits until the server's answer has arrived,
/// without reading it. The connection is returned to be dropped after the kill, unread: the
/// request was applied and its answer is lost, as when a server dies between its commit and
/// the client's read. (A kill alone almost never lands in that window: the in-flight requests
/// it cuts off are nearly always still waiting for the team's lock.)
async fn send_and_lose_the_answer(
    server: &Server,
    team: i64,
    key: &str,
    op: &Op,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let (path, idempotency_key, body) = match op {
        Op::SignIn {
            product, key: k, ..
        } => (
            "/v1/sessions".to_owned(),
            k,
            serde_json::to_string(&SignIn {
                team,
                product: product_key(*product),
                version: None,
                machine: None,
            }),
        ),
        Op::Buy { tokens, key: k } => (
            format!("/v1/teams/{team}/packs"),
            k,
            serde_json::to_string(&NewPack { tokens: *tokens }),
        ),
    };
    let body = body.expect("JSON");
    let mut stream = tokio::net::TcpStream::connect(&server.addr)
        .await
        .expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\
         Idempotency-Key: {idempotency_key}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let expected = b"HTTP/1.1 201";
    let mut head = [0u8; 12];
    let arrived = async {
        // The whole head comes in one write; until then, wait for more.
        while stream.peek(&mut head).await.expect("peek") < head.len() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), arrived)
        .await
        .expect("the answer arrives");
    assert_eq!(
        &head,
        expected,
        "{op:?}: {}",
        String::from_utf8_lossy(&head)
    );
    stream
}

fn product_key(product: usize) -> String {
    format!("p{product}")
}

fn email(user: usize) -> String {
    format!("user{user}@example.com")
}

/// The clients that send the load: the operator and each user with their token.
struct Clients {
    team: i64,
    op: Client,
    users: Vec<Client>,
}

impl Clients {
    async fn send(&self, op: &Op) -> Result<Answer, ClientError> {
        match op {
            Op::SignIn { user, product, key } => self.users[*user]
                .sign_in(
                    &SignIn {
                        team: self.team,
                        product: product_key(*product),
                        version: None,
                        machine: None,
                    },
                    Some(key),
                )
                .await
                .map(Answer::Session),
            Op::Buy { tokens, key } => self
                .op
                .buy_pack(self.team, &NewPack { tokens: *tokens }, Some(key))
                .await
                .map(Answer::Pack),
        }
    }

    /// The same clients, on another server address.
    fn on(&self, server: &Server, tokens: &[String]) -> Clients {
        Clients {
            team: self.team,
            op: server.client(OPERATOR_KEY),
            users: tokens.iter().map(|t| server.client(t)).collect(),
        }
    }
}

/// What one load task saw.
#[derive(Default)]
struct Seen {
    acknowledged: Vec<(Op, Answer)>,
    /// The request that was cut off by the kill: it may or may not have been applied.
    unanswered: Option<Op>,
    /// Answers that are neither a success nor a cut connection: none are expected.
    errors: Vec<String>,
}

async fn load(
    clients: Arc<Clients>,
    task: usize,
    acked: Arc<AtomicUsize>,
    kill: Arc<tokio::sync::Notify>,
) -> Seen {
    let mut seen = Seen::default();
    for op in plan(task) {
        match clients.send(&op).await {
            Ok(answer) => {
                // A product that started beats at once: heartbeats with nothing due (the clock is
                // frozen) run beside the charges and the kill, and must never charge.
                if let (Op::SignIn { user, .. }, Answer::Session(started)) = (&op, &answer) {
                    let beat = Heartbeat { active: true };
                    match clients.users[*user].heartbeat(started.id, &beat).await {
                        Ok(_) | Err(ClientError::Transport(_) | ClientError::Decode(_)) => {}
                        Err(e) => seen
                            .errors
                            .push(format!("heartbeat of {}: {e}", started.id)),
                    }
                }
                seen.acknowledged.push((op, answer));
                if acked.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                    kill.notify_one();
                }
            }
            // No answer, or part of one: the server is gone. Whether the request was applied is
            // unknown, which is what the retry after the restart is for.
            Err(ClientError::Transport(_) | ClientError::Decode(_)) => {
                seen.unanswered = Some(op);
                break;
            }
            Err(e) => {
                seen.errors.push(format!("{op:?}: {e}"));
                break;
            }
        }
    }
    seen
}

/// Every session of the team: id → (user, product).
async fn stored_sessions(op: &Client, team: i64) -> BTreeMap<i64, (i64, String)> {
    all_sessions(op, team)
        .await
        .into_iter()
        .map(|s| (s.id, (s.user_id, s.product)))
        .collect()
}

/// The packs of the team's purchase events.
async fn purchased_packs(op: &Client, team: i64) -> BTreeSet<i64> {
    all_events(op, team)
        .await
        .into_iter()
        .filter(|e| e.kind == "purchased")
        .map(|e| e.pack_id)
        .collect()
}

async fn crash(db: TestDb) {
    let setup = Setup::new(&db);
    let mut first = Server::start(&setup, 1).await;
    let op = first.client(OPERATOR_KEY);

    // The scene: one team with a large pack (so no sign-in is refused), products, users.
    let team = op
        .create_team(&NewTeam {
            name: "Crash".into(),
        })
        .await
        .unwrap()
        .id;
    let initial = op
        .buy_pack(
            team,
            &NewPack {
                tokens: INITIAL_TOKENS,
            },
            Some("initial"),
        )
        .await
        .unwrap();
    for (i, rate) in RATES.iter().enumerate() {
        op.create_product(&NewProduct {
            key: product_key(i),
            name: format!("Product {i}"),
            daily_rate: *rate,
            result_rates: BTreeMap::new(),
            idle_awareness: false,
            items: Vec::new(),
        })
        .await
        .unwrap();
    }
    let mut user_ids = Vec::new();
    let mut tokens = Vec::new();
    for u in 0..USERS {
        let (user_id, token) = flex_user(&op, team, &email(u), &format!("User {u}")).await;
        user_ids.push(user_id);
        tokens.push(token);
    }
    let lease_key = op.lease_key().await.unwrap();
    let clients = Arc::new(Clients {
        team,
        op: op.clone(),
        users: tokens.iter().map(|t| first.client(t)).collect(),
    });

    // The load, and the kill in the middle of it.
    let acked = Arc::new(AtomicUsize::new(0));
    let kill = Arc::new(tokio::sync::Notify::new());
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| tokio::spawn(load(clients.clone(), task, acked.clone(), kill.clone())))
        .collect();
    tokio::time::timeout(Duration::from_secs(120), kill.notified())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the load never reached {KILL_AFTER} answers:\n{}",
                read_log(&first.log)
            )
        });
    // While the load goes on, requests whose answers are lost; then the kill.
    let mut lost_connections = Vec::new();
    for op in lost() {
        let key = match &op {
            Op::SignIn { user, .. } => &tokens[*user],
            Op::Buy { .. } => OPERATOR_KEY,
        };
        lost_connections.push(send_and_lose_the_answer(&first, team, key, &op).await);
    }
    first.kill_9().await;
    drop(lost_connections);
    let mut acknowledged = Vec::new();
    let mut cut_off = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        let seen = task.await.expect("load task");
        acknowledged.extend(seen.acknowledged);
        cut_off.extend(seen.unanswered);
        errors.extend(seen.errors);
    }
    assert!(
        errors.is_empty(),
        "the server refused requests of the load:\n{}\n{}",
        errors.join("\n"),
        read_log(&first.log)
    );
    assert!(
        acknowledged.len() >= KILL_AFTER,
        "{} acknowledged",
        acknowledged.len()
    );
    // The kill came while the tasks still had requests to send (each has 100, and the kill
    // comes after 120 of 600 in all): some were cut off, at most one per task.
    assert!(
        !cut_off.is_empty() && cut_off.len() <= TASKS,
        "the kill came in the middle of the load: {cut_off:?}"
    );
    let unanswered: Vec<Op> = lost().into_iter().chain(cut_off).collect();

    // The restart, on the same database, data directory and keys.
    let second = Server::start(&setup, 2).await;
    let clients = clients.on(&second, &tokens);
    let op = &clients.op;
    assert_eq!(
        op.lease_key().await.unwrap(),
        lease_key,
        "leases given before the crash still verify"
    );

    // Every acknowledged request, sent again with its key, gets the very answer it got: the
    // session, its charge and its lease, or the pack.
    for (request, answer) in &acknowledged {
        let again = clients.send(request).await.unwrap();
        assert_eq!(&again, answer, "{request:?} replayed after the restart");
    }
    // The requests that got no answer are sent again with their keys: applied before the kill or
    // not, each is applied once now. Which were applied shows in what the database held before
    // the retry.
    let sessions_before = stored_sessions(op, team).await;
    let packs_before = purchased_packs(op, team).await;
    let mut retried = Vec::new();
    let mut applied_before_the_kill = 0;
    for (i, request) in unanswered.iter().enumerate() {
        // The lost answers come first. They were sent, so their requests were applied: the
        // retry must be a replay.
        let was_lost = i < lost().len();
        let answer = clients
            .send(request)
            .await
            .unwrap_or_else(|e| panic!("{request:?} retried after the restart: {e}"));
        let again = clients.send(request).await.unwrap();
        assert_eq!(again, answer, "{request:?} replayed");
        let applied = match &answer {
            Answer::Session(s) => sessions_before.contains_key(&s.id),
            Answer::Pack(p) => packs_before.contains(&p.id),
        };
        assert!(
            applied || !was_lost,
            "{request:?} was applied before the kill"
        );
        if let (true, Answer::Session(s)) = (was_lost, &answer) {
            assert_eq!(
                s.tokens_charged, RATES[LOAD_PRODUCTS] as u64,
                "the first sign-in to the product charged; the replay says so"
            );
        }
        applied_before_the_kill += usize::from(applied);
        retried.push((request.clone(), answer));
    }
    let answered: Vec<&(Op, Answer)> = acknowledged.iter().chain(&retried).collect();

    // What the clients hold: sessions (with their pair and charge) and packs.
    let mut sessions: BTreeMap<i64, (i64, String, u64)> = BTreeMap::new();
    let mut packs: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (request, answer) in &answered {
        match (request, answer) {
            (Op::SignIn { user, product, .. }, Answer::Session(s)) => {
                let pair = (user_ids[*user], product_key(*product), s.tokens_charged);
                let before = sessions.insert(s.id, pair.clone());
                // Two requests (two keys) never share a session.
                assert!(before.is_none(), "session {} given twice", s.id);
            }
            (Op::Buy { tokens, key }, Answer::Pack(p)) => {
                assert_eq!(p.tokens as i64, *tokens, "{key}");
                packs.insert(key.clone(), (p.id, *tokens));
            }
            other => panic!("an answer of the wrong kind: {other:?}"),
        }
    }

    // The sessions stored are exactly those the clients were given, each for its user and
    // product: none lost, none that no request accounts for.
    let stored = stored_sessions(op, team).await;
    let given: BTreeMap<i64, (i64, String)> = sessions
        .iter()
        .map(|(id, (user, product, _))| (*id, (*user, product.clone())))
        .collect();
    let not_stored: Vec<_> = given
        .iter()
        .filter(|(id, pair)| stored.get(id) != Some(pair))
        .collect();
    let unaccounted: Vec<_> = stored
        .iter()
        .filter(|(id, _)| !given.contains_key(id))
        .collect();
    assert!(
        not_stored.is_empty() && unaccounted.is_empty(),
        "sessions given but not stored as given: {not_stored:?}; sessions stored that no answer \
         accounts for: {unaccounted:?}"
    );

    // Per (user, product): exactly one of the answers charged, and charged the daily rate.
    let rate_of = |product: &str| RATES[product[1..].parse::<usize>().unwrap()] as u64;
    let mut charging: BTreeMap<(i64, String), Vec<u64>> = BTreeMap::new();
    for (user, product, charged) in sessions.values() {
        let entry = charging.entry((*user, product.clone())).or_default();
        if *charged > 0 {
            assert_eq!(*charged, rate_of(product), "{user} {product}");
            entry.push(*charged);
        }
    }
    for (pair, charges) in &charging {
        assert_eq!(
            charges.len(),
            1,
            "answers that charged {pair:?}: {charges:?}"
        );
    }
    let pairs: BTreeSet<(i64, String)> = charging.keys().cloned().collect();
    let charged_total: i64 = pairs.iter().map(|(_, p)| rate_of(p) as i64).sum();

    // The ledger: one purchase per idempotency key, one charge per usage period, one usage
    // period per (user, product).
    let events = all_events(op, team).await;
    let mut purchased: BTreeMap<i64, i64> = BTreeMap::new();
    let mut periods: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for e in &events {
        match e.kind.as_str() {
            "purchased" => {
                let before = purchased.insert(e.pack_id, e.amount);
                assert!(before.is_none(), "pack {} bought twice", e.pack_id);
            }
            "charged" => {
                assert!(e.cause.starts_with("period:"), "{e:?}");
                // A charge may be drawn from several packs: one event each.
                let period = periods
                    .entry(e.cause.clone())
                    .or_insert((e.actor.clone(), 0));
                assert_eq!(period.0, e.actor, "one period, one user");
                period.1 -= e.amount;
            }
            other => panic!("no {other} event is caused by this load: {e:?}"),
        }
    }
    let mut expected_packs: BTreeMap<i64, i64> =
        packs.values().map(|(id, tokens)| (*id, *tokens)).collect();
    expected_packs.insert(initial.id, INITIAL_TOKENS);
    assert_eq!(
        purchased, expected_packs,
        "the packs bought are those the clients were given, each once"
    );
    assert_eq!(
        periods.len(),
        pairs.len(),
        "one charged usage period per (user, product) signed in: {periods:?}"
    );
    let mut per_user: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (actor, amount) in periods.values() {
        per_user.entry(actor.clone()).or_default().push(*amount);
    }
    for (user, rates) in &mut per_user {
        rates.sort();
        let id: i64 = user.trim_start_matches("user:").parse().unwrap();
        let mut expected: Vec<i64> = pairs
            .iter()
            .filter(|(u, _)| *u == id)
            .map(|(_, p)| rate_of(p) as i64)
            .collect();
        expected.sort();
        assert_eq!(*rates, expected, "the charges of {user}");
    }

    // The usage rows, written in the same transactions as the charges, agree: one row per
    // (user, product), at its rate.
    let csv = op
        .usage_csv(team, &UsageQuery::default())
        .await
        .expect("usage export");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (email_at, product_at, tokens_at) = (column("email"), column("product"), column("tokens"));
    let mut usage: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        usage
            .entry((record[email_at].to_owned(), record[product_at].to_owned()))
            .or_default()
            .push(record[tokens_at].parse().unwrap());
    }
    let expected_usage: BTreeMap<(String, String), Vec<i64>> = pairs
        .iter()
        .map(|(user, product)| {
            let u = user_ids.iter().position(|id| id == user).unwrap();
            ((email(u), product.clone()), vec![rate_of(product) as i64])
        })
        .collect();
    assert_eq!(usage, expected_usage, "usage rows");

    // The balance is what was bought minus what was charged.
    let bought: i64 = expected_packs.values().sum();
    let balance = op.balance(team).await.unwrap();
    assert_eq!(balance.available as i64, bought - charged_total);
    assert_eq!(balance.total as i64, bought);

    // And the audit, from the command line as an operator runs it, finds the ledger balanced.
    let audit = second.audit(team).await;
    assert_eq!(audit["balanced"], true, "{audit}");
    assert_eq!(audit["events_sum"], bought - charged_total, "{audit}");
    assert_eq!(audit["mismatched_packs"], serde_json::json!([]), "{audit}");
    println!(
        "{} acknowledged before the kill, {} without an answer and retried ({} had been applied); \
         {} sessions, {} pairs charged, {} packs",
        acknowledged.len(),
        retried.len(),
        applied_before_the_kill,
        sessions.len(),
        pairs.len(),
        expected_packs.len()
    );
    drop(second);
}
