//! The product layer against a scripted server (answers in order, whatever was asked) and a
//! manual clock. The same behaviour against the real server is in `tests/product.rs`.

use std::sync::{Arc, Mutex};

use chrono::Duration as Span;
use jeton_api::Problem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::lease::tests::{claims, public, signed, start};

/// One scripted answer.
enum Reply {
    Json(u16, String),
    Problem(u16, &'static str),
    /// Accept, read the request, close without answering: to the client, a transport error.
    Hangup,
}

struct Fake {
    url: String,
    /// The requests seen, head and body, in order.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn request_lines(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.lines().next().unwrap_or_default().to_string())
            .collect()
    }
}

/// A server answering each connection with the next reply; once they run out, it hangs up.
async fn fake(replies: Vec<Reply>) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut replies = replies.into_iter();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let request = read_request(&mut socket).await;
            log.lock().unwrap().push(request);
            let (status, content_type, body) = match replies.next().unwrap_or(Reply::Hangup) {
                Reply::Json(status, body) => (status, "application/json", body),
                Reply::Problem(status, code) => (
                    status,
                    "application/problem+json",
                    serde_json::to_string(&Problem {
                        type_: "about:blank".into(),
                        title: "Refused".into(),
                        status,
                        detail: format!("refused: {code}"),
                        code: code.into(),
                    })
                    .unwrap(),
                ),
                Reply::Hangup => {
                    drop(socket);
                    continue;
                }
            };
            let answer = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\nconnection: close\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.ok();
            socket.shutdown().await.ok();
        }
    });
    Fake { url, seen }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap_or(0);
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
        if n == 0 {
            break;
        }
    }
    String::from_utf8_lossy(&request).to_string()
}

const SEED: u8 = 7;
const SESSION: i64 = 42;

fn lease_key() -> Reply {
    Reply::Json(
        200,
        format!(
            r#"{{"algorithm":"ed25519","public_key":"{}"}}"#,
            public(SEED)
        ),
    )
}

fn started(issued_at: DateTime<Utc>, tokens: u64) -> Reply {
    let body = serde_json::json!({
        "id": SESSION,
        "access": "flex",
        "tokens_charged": tokens,
        "period_ends_at": issued_at + Span::hours(24),
        "lease": signed(SEED, SESSION, issued_at),
        "heartbeat_every_seconds": 300,
    });
    Reply::Json(201, body.to_string())
}

fn beat_answer(issued_at: DateTime<Utc>, tokens: u64) -> Reply {
    let body = serde_json::json!({
        "tokens_charged": tokens,
        "access": "flex",
        "period_ends_at": issued_at + Span::hours(20),
        "lease": signed(SEED, SESSION, issued_at),
    });
    Reply::Json(200, body.to_string())
}

/// A product client of `fake` on a manual clock at [`start`].
fn product(fake: &Fake) -> (ProductClient, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start()));
    let client = Client::new(&fake.url, Some("ju_user".into()));
    let product = ProductClient::new(client)
        .with_clock(clock.clone())
        .with_retry_delay(Duration::from_millis(1));
    (product, clock)
}

/// `error` is what the client says when `fake` hung up on it (a transport error, not an answer).
fn assert_hung_up(fake: &Fake, error: &str) {
    let prefix = format!("the request to the Jeton server at {} failed: ", fake.url);
    assert!(
        error.starts_with(&prefix) && error.len() > prefix.len(),
        "{error}"
    );
}

fn online_until(t: DateTime<Utc>) -> SessionStatus {
    SessionStatus::Online {
        valid_until: t + Span::hours(24),
    }
}

#[tokio::test]
async fn r_ses_7_sign_in_verifies_the_lease_and_heartbeats_renew_it() {
    let t0 = start();
    let t1 = t0 + Span::minutes(5);
    let fake = fake(vec![lease_key(), started(t0, 7), beat_answer(t1, 0)]).await;
    let (product, clock) = product(&fake);
    let session = product
        .sign_in(1, "autocad", Some("2027.1"), Some("WS-1"))
        .await
        .unwrap();
    assert_eq!(
        (session.id(), session.team(), session.product()),
        (SESSION, 1, "autocad")
    );
    assert_eq!(session.tokens_charged(), 7);
    assert_eq!(session.access(), AccessKind::Flex);
    assert_eq!(session.heartbeat_every(), Duration::from_secs(300));
    assert_eq!(session.status(), online_until(t0));
    assert_eq!(session.lease_claims().valid_until, t0 + Span::hours(24));

    clock.advance(Span::minutes(5));
    assert_eq!(session.heartbeat(false).await, online_until(t1));
    assert_eq!(
        session.lease(),
        signed(SEED, SESSION, t1),
        "the latest lease is kept"
    );
    assert_eq!(session.period_ends_at(), t1 + Span::hours(20));

    let requests = fake.requests();
    assert!(
        requests[0].starts_with("GET /v1/lease-key "),
        "{requests:?}"
    );
    assert!(
        !requests[0].to_ascii_lowercase().contains("authorization"),
        "the lease key needs no token"
    );
    assert!(
        requests[1].starts_with("POST /v1/sessions "),
        "{}",
        requests[1]
    );
    assert!(
        requests[1]
            .ends_with(r#"{"team":1,"product":"autocad","version":"2027.1","machine":"WS-1"}"#),
        "{}",
        requests[1]
    );
    assert!(
        requests[1]
            .to_ascii_lowercase()
            .contains("idempotency-key: signin-"),
        "{}",
        requests[1]
    );
    assert!(requests[2].starts_with("POST /v1/sessions/42/heartbeat "));
    assert!(
        requests[2].ends_with(r#"{"active":false}"#),
        "{}",
        requests[2]
    );
}

#[tokio::test]
async fn r_ses_7_offline_the_lease_carries_the_session_until_valid_until_then_it_stops() {
    let t0 = start();
    let fake = fake(vec![lease_key(), started(t0, 7)]).await;
    let (product, clock) = product(&fake);
    let session = product.sign_in(1, "autocad", None, None).await.unwrap();

    clock.advance(Span::minutes(5));
    let SessionStatus::Offline {
        valid_until,
        since,
        error,
    } = session.heartbeat(true).await
    else {
        panic!("expected offline, got {:?}", session.status());
    };
    assert_eq!(valid_until, t0 + Span::hours(24), "the sign-in's lease");
    assert_eq!(since, t0 + Span::minutes(5));
    assert_hung_up(&fake, &error);

    // Still offline 23 hours on: since stays the first failure.
    clock.advance(Span::hours(23));
    let SessionStatus::Offline {
        valid_until,
        since,
        error,
    } = session.heartbeat(true).await
    else {
        panic!("expected offline, got {:?}", session.status());
    };
    assert_eq!(
        (valid_until, since),
        (t0 + Span::hours(24), t0 + Span::minutes(5))
    );
    assert_hung_up(&fake, &error);

    // At valid_until the session stops, even before the next heartbeat.
    clock.set(t0 + Span::hours(24));
    let stopped = SessionStatus::Stopped {
        reason: StopReason::LeaseExpired {
            valid_until: t0 + Span::hours(24),
        },
    };
    assert_eq!(session.status(), stopped);
    let sent = fake.requests().len();
    assert_eq!(session.heartbeat(true).await, stopped);
    assert_eq!(
        fake.requests().len(),
        sent,
        "a stopped session sends nothing"
    );
    assert_eq!(
        session.status().to_string().split(':').next(),
        Some("stopped")
    );
}

#[tokio::test]
async fn r_ses_7_back_online_the_new_lease_replaces_the_old_one() {
    let t0 = start();
    let t2 = t0 + Span::hours(3);
    let fake = fake(vec![
        lease_key(),
        started(t0, 7),
        Reply::Hangup,
        Reply::Problem(503, "unavailable"),
        beat_answer(t2, 0),
    ])
    .await;
    let (product, clock) = product(&fake);
    let session = product.sign_in(1, "autocad", None, None).await.unwrap();
    clock.advance(Span::hours(1));
    assert_eq!(session.heartbeat(true).await.name(), "offline");
    clock.advance(Span::hours(1));
    let status = session.heartbeat(true).await;
    assert!(
        matches!(&status, SessionStatus::Offline { error, .. } if error.contains("503")),
        "a server error leaves the product on its lease: {status:?}"
    );
    clock.set(t2);
    assert_eq!(session.heartbeat(true).await, online_until(t2));
    // The new lease counts: 24 hours after t0 the session still runs.
    clock.set(t0 + Span::hours(25));
    assert_eq!(session.status(), online_until(t2));
}

#[tokio::test]
async fn r_ses_3_a_refused_heartbeat_stops_the_session() {
    for (reply, reason, code) in [
        (
            Reply::Problem(422, "insufficient_tokens"),
            StopReason::InsufficientTokens,
            "insufficient_tokens",
        ),
        (
            Reply::Problem(410, "session_ended"),
            StopReason::SessionEnded,
            "session_ended",
        ),
        (
            Reply::Problem(401, "unauthorized"),
            StopReason::Refused {
                code: "unauthorized".into(),
                detail: "refused: unauthorized".into(),
            },
            "unauthorized",
        ),
    ] {
        let fake = fake(vec![lease_key(), started(start(), 7), reply]).await;
        let (product, _clock) = product(&fake);
        let session = product.sign_in(1, "autocad", None, None).await.unwrap();
        let mut watch = session.watch();
        let status = session.heartbeat(true).await;
        assert_eq!(
            status,
            SessionStatus::Stopped {
                reason: reason.clone()
            }
        );
        assert!(watch.has_changed().unwrap(), "watchers hear of it");
        assert_eq!(*watch.borrow_and_update(), status);
        assert_eq!(session.status(), status, "stopped for good");
        assert_eq!(reason.code(), code);
    }
}

#[tokio::test]
async fn sign_in_retries_with_the_same_idempotency_key_and_refusals_are_errors() {
    let fake = fake(vec![lease_key(), Reply::Hangup, started(start(), 7)]).await;
    let (client, _clock) = product(&fake);
    let session = client.sign_in(1, "autocad", None, None).await.unwrap();
    assert_eq!(session.id(), SESSION, "the retry's answer is the session");
    let keys: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST /v1/sessions "))
        .map(|r| {
            r.lines()
                .find(|l| l.to_ascii_lowercase().starts_with("idempotency-key:"))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(keys.len(), 2, "{:?}", fake.request_lines());
    assert_eq!(keys[0], keys[1]);

    let fake = fake_refusing().await;
    let (client, _clock) = product(&fake);
    let err = client.sign_in(1, "autocad", None, None).await.unwrap_err();
    assert_eq!(err.code(), Some("not_assigned"));
}

async fn fake_refusing() -> Fake {
    fake(vec![lease_key(), Reply::Problem(422, "not_assigned")]).await
}

#[tokio::test]
async fn a_lease_that_does_not_verify_is_refused_and_its_session_signed_out() {
    // The server publishes key 7 but signs with key 8 (twice: the key is fetched again once).
    let other = serde_json::json!({
        "id": SESSION,
        "access": "flex",
        "tokens_charged": 7,
        "period_ends_at": start() + Span::hours(24),
        "lease": signed(8, SESSION, start()),
        "heartbeat_every_seconds": 300,
    });
    let fake = fake(vec![
        lease_key(),
        Reply::Json(201, other.to_string()),
        lease_key(),
        Reply::Json(200, r#"{"tokens_refunded":7}"#.into()),
    ])
    .await;
    let (product, _clock) = product(&fake);
    let err = product.sign_in(1, "autocad", None, None).await.unwrap_err();
    assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("does not verify"), "{err}");
    assert_eq!(
        fake.request_lines()
            .iter()
            .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        [
            "GET /v1/lease-key",
            "POST /v1/sessions",
            "GET /v1/lease-key",
            "DELETE /v1/sessions/42"
        ]
    );
}

#[tokio::test]
async fn a_pinned_key_is_used_without_asking_the_server() {
    let fake = fake(vec![started(start(), 7)]).await;
    let (client, _clock) = product(&fake);
    let client = client.with_public_key(public(SEED).parse().unwrap());
    let session = client.sign_in(1, "autocad", None, None).await.unwrap();
    assert_eq!(
        session.status(),
        online_until(start()),
        "the lease verified"
    );
    assert_eq!(session.lease_claims(), claims(SESSION, start()));
    assert_eq!(fake.request_lines().len(), 1, "{:?}", fake.request_lines());
}

#[tokio::test]
async fn sign_out_and_results() {
    let fake = fake(vec![
        lease_key(),
        started(start(), 7),
        Reply::Json(200, r#"{"tokens_charged":10}"#.into()),
        Reply::Json(200, r#"{"tokens_refunded":0}"#.into()),
    ])
    .await;
    let (product, _clock) = product(&fake);
    let session = product.sign_in(1, "autocad", None, None).await.unwrap();
    let charged = session
        .report_result("render.cloud", 2, "job-1")
        .await
        .unwrap();
    assert_eq!(charged.tokens_charged, 10);
    assert_eq!(session.tokens_charged(), 17);
    session.sign_out().await.unwrap();
    assert_eq!(
        session.status(),
        SessionStatus::Stopped {
            reason: StopReason::SignedOut
        }
    );
    let requests = fake.requests();
    assert!(requests[2].starts_with("POST /v1/sessions/42/results "));
    assert!(
        requests[2].ends_with(r#"{"type":"render.cloud","quantity":2,"id":"job-1"}"#),
        "{}",
        requests[2]
    );
    assert!(requests[3].starts_with("DELETE /v1/sessions/42 "));
}

/// Waits until the status satisfies `f`: for the event, not for a time. The bound only keeps a
/// broken loop from hanging the test.
async fn until(
    watch: &mut watch::Receiver<SessionStatus>,
    what: &str,
    f: impl FnMut(&SessionStatus) -> bool,
) -> SessionStatus {
    let found = match tokio::time::timeout(Duration::from_secs(10), watch.wait_for(f)).await {
        Ok(Ok(status)) => Some(status.clone()),
        _ => None,
    };
    found.unwrap_or_else(|| panic!("never {what}; the status is {:?}", *watch.borrow()))
}

/// The heartbeat loops' period in these tests: long enough that a heartbeat in flight (whose
/// deadline is one period) never runs out of time on a slow machine.
const EVERY: Duration = Duration::from_secs(3600);

/// Brings the heartbeat loop's next tick: tokio's clock jumps one period while it is paused, then
/// runs on. Only the wait for the tick is skipped; the heartbeat then goes over a real socket.
/// Needs a current-thread runtime (`#[tokio::test]`).
async fn next_tick() {
    tokio::time::pause();
    tokio::time::advance(EVERY).await;
    tokio::time::resume();
}

/// Waits for the loop's task to end by itself (it is not stopped); the bound only keeps a loop
/// that never ends from hanging the test.
async fn ended_by_itself(heartbeats: &mut HeartbeatLoop) {
    let task = heartbeats.task.take().expect("the loop's task");
    let ended = tokio::time::timeout(Duration::from_secs(10), task).await;
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the loop's task did not end by itself: {ended:?}"
    );
}

#[tokio::test]
async fn the_heartbeat_loop_goes_online_offline_then_stops_when_the_lease_runs_out() {
    let t0 = start();
    let t1 = t0 + Span::minutes(5);
    // One answered heartbeat, then the server is gone.
    let fake = fake(vec![lease_key(), started(t0, 7), beat_answer(t1, 0)]).await;
    let (product, clock) = product(&fake);
    let session = product.sign_in(1, "autocad", None, None).await.unwrap();
    let mut watch = session.watch();
    clock.set(t1);
    session.set_active(false);
    let mut heartbeats = session.spawn_heartbeats(EVERY);
    assert_eq!(
        fake.requests().len(),
        2,
        "no heartbeat before the first tick"
    );

    next_tick().await;
    let online = until(&mut watch, "renewed", |s| *s == online_until(t1)).await;
    assert_eq!(online, online_until(t1));
    assert_eq!(fake.requests().len(), 3, "one heartbeat per tick");

    next_tick().await;
    let offline = until(&mut watch, "offline", |s| s.name() == "offline").await;
    let SessionStatus::Offline {
        valid_until,
        since,
        error,
    } = offline
    else {
        unreachable!("waited for offline");
    };
    assert_eq!((valid_until, since), (t1 + Span::hours(24), t1));
    assert_hung_up(&fake, &error);
    assert!(!heartbeats.is_finished(), "offline, the loop goes on");

    // The lease runs out: at the next tick the loop finds the session stopped, and ends.
    clock.set(t1 + Span::hours(24));
    next_tick().await;
    let stopped = until(&mut watch, "stopped", |s| !s.is_usable()).await;
    assert_eq!(
        stopped,
        SessionStatus::Stopped {
            reason: StopReason::LeaseExpired {
                valid_until: t1 + Span::hours(24)
            }
        }
    );
    ended_by_itself(&mut heartbeats).await;
    assert_eq!(heartbeats.stop().await, stopped);
    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "a stopped session sends nothing more");
    assert!(
        requests[2].ends_with(r#"{"active":false}"#),
        "the loop reports set_active: {}",
        requests[2]
    );
}

#[tokio::test]
async fn a_stopped_loop_sends_nothing_more_and_the_session_stays_open() {
    let t0 = start();
    let fake = fake(vec![lease_key(), started(t0, 7)]).await;
    let (product, _clock) = product(&fake);
    let session = product.sign_in(1, "autocad", None, None).await.unwrap();
    let heartbeats = session.spawn_heartbeats(EVERY);
    let status = heartbeats.stop().await;
    assert_eq!(status, online_until(t0));
    // Nothing is left that could send: the loop's task held the only other handle on the
    // session, and `stop` waited for the task to end.
    assert_eq!(
        Arc::strong_count(&session.inner),
        1,
        "the loop's task still holds the session"
    );
    // Not even once its tick is due.
    next_tick().await;
    tokio::task::yield_now().await;
    assert_eq!(fake.request_lines().len(), 2, "no heartbeat was sent");
    assert_eq!(session.status(), online_until(t0), "the session stays open");
}

#[test]
fn heartbeat_outcomes_are_sorted_into_online_offline_and_stop() {
    let key: PublicKey = public(SEED).parse().unwrap();
    let now = start();
    let problem = |status: u16, code: &str| {
        Err(ClientError::Api(Problem {
            type_: "about:blank".into(),
            title: "t".into(),
            status,
            detail: "d".into(),
            code: code.into(),
        }))
    };
    let name = |c: Contact| match c {
        Contact::Answered { .. } => "answered".to_string(),
        Contact::Unreachable(_) => "unreachable".to_string(),
        Contact::Stop(r) => format!("stop:{}", r.code()),
    };
    let answer = |seed: u8, at: DateTime<Utc>| {
        Ok(HeartbeatAnswer {
            tokens_charged: 0,
            access: AccessKind::Flex,
            period_ends_at: at,
            lease: signed(seed, SESSION, at),
        })
    };
    assert_eq!(name(classify(answer(SEED, now), &key, now)), "answered");
    assert_eq!(
        name(classify(answer(8, now), &key, now)),
        "unreachable",
        "a lease that does not verify is no answer"
    );
    assert_eq!(
        name(classify(
            Err(ClientError::Transport("down".into())),
            &key,
            now
        )),
        "unreachable"
    );
    assert_eq!(
        name(classify(Err(ClientError::Decode("html".into())), &key, now)),
        "unreachable"
    );
    for (status, code, expected) in [
        (422, "insufficient_tokens", "stop:insufficient_tokens"),
        (410, "session_ended", "stop:session_ended"),
        (410, "gone", "stop:session_ended"),
        (404, "not_found", "stop:not_found"),
        (401, "unauthorized", "stop:unauthorized"),
        (500, "internal", "unreachable"),
        (502, "http_502", "unreachable"),
        (429, "too_many_requests", "unreachable"),
        (408, "timeout", "unreachable"),
    ] {
        assert_eq!(
            name(classify(problem(status, code), &key, now)),
            expected,
            "{status} {code}"
        );
    }
}
