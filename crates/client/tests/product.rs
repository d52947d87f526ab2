//! The product layer against the real server (`spawn_app`), sharing the server's manual clock:
//! sign-in, heartbeats, the offline fallback when the server is gone, and the stops.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use jeton_client::api::{
    AccessKind, AssignRequest, NewEntitlement, NewPack, NewProduct, NewTeam, NewUser,
    SessionsQuery, TokenRequest,
};
use jeton_client::lease::{LEASE_VERSION, Lease};
use jeton_client::product::{Clock, ManualClock};
use jeton_client::{Client, ProductClient, SessionStatus, StopReason, verify_lease};
use jeton_core::{SessionId, TeamId, UserId};
use jeton_server::testing::{TestApp, spawn_app};
use jeton_store::Backend;

/// A team with `tokens`, a product `autocad` at 7 tokens a day, and one assigned user; returns
/// the team id, the user id and a client holding the user's token.
async fn setup(app: &TestApp, tokens: i64) -> (i64, i64, Client) {
    let operator = Client::new(&app.base_url, Some(app.operator_key.clone()));
    operator
        .create_product(&NewProduct {
            key: "autocad".into(),
            name: "AutoCAD".into(),
            daily_rate: 7,
            result_rates: [("render.cloud".to_string(), 5)].into(),
            idle_awareness: false,
            items: vec![],
        })
        .await
        .unwrap();
    let team = operator
        .create_team(&NewTeam {
            name: "Design".into(),
        })
        .await
        .unwrap()
        .id;
    operator
        .buy_pack(team, &NewPack { tokens }, None)
        .await
        .unwrap();
    let user = operator
        .create_user(&NewUser {
            email: "jane@example.com".into(),
            name: "Jane Doe".into(),
            password: "correct horse battery".into(),
        })
        .await
        .unwrap();
    operator
        .assign(
            team,
            &AssignRequest {
                user_id: Some(user.user_id),
                all: Some(true),
                ..AssignRequest::default()
            },
        )
        .await
        .unwrap();
    let token = operator
        .user_token(&TokenRequest {
            email: "jane@example.com".into(),
            password: "correct horse battery".into(),
        })
        .await
        .unwrap();
    let client = operator.with_key(Some(token.token));
    (team, user.user_id, client)
}

fn product(client: Client, clock: &Arc<ManualClock>) -> ProductClient {
    ProductClient::new(client).with_clock(clock.clone() as Arc<dyn Clock>)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_ses_7_the_sdk_works_on_its_lease_when_the_server_is_gone_and_stops_at_valid_until() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = spawn_app(backend).await else {
            continue;
        };
        let (team, user, client) = setup(&app, 100).await;
        let clock = app.clock.clone();
        let product = product(client.clone(), &clock);
        let session = product
            .sign_in(team, "autocad", Some("2027.1"), Some("WS-1"))
            .await
            .unwrap();
        let t0 = clock.now();
        assert_eq!(session.tokens_charged(), 7, "{backend:?}");
        assert_eq!(session.access(), AccessKind::Flex);
        let claims = session.lease_claims();
        assert_eq!(
            claims,
            Lease {
                v: LEASE_VERSION,
                session: SessionId(session.id()),
                user: UserId(user),
                team: TeamId(team),
                product: "autocad".into(),
                access: "flex".into(),
                period_ends_at: t0 + Span::hours(24),
                issued_at: t0,
                valid_until: t0 + Span::hours(24),
            }
        );
        assert_eq!(
            session.status(),
            SessionStatus::Online {
                valid_until: t0 + Span::hours(24)
            }
        );
        // The published key verifies the lease without the SDK.
        let key = client.lease_key().await.unwrap();
        assert_eq!(key.algorithm, "ed25519");
        assert_eq!(
            verify_lease(&session.lease(), &key.public_key, t0).unwrap(),
            claims
        );

        // A heartbeat renews the lease.
        let t1 = clock.advance(Span::minutes(5));
        assert_eq!(
            session.heartbeat(true).await,
            SessionStatus::Online {
                valid_until: t1 + Span::hours(24)
            }
        );

        // The server goes away: the lease carries the session.
        app.shutdown().await;
        let t2 = clock.advance(Span::minutes(5));
        let status = session.heartbeat(true).await;
        assert!(
            matches!(&status, SessionStatus::Offline { valid_until, since, .. }
                if *valid_until == t1 + Span::hours(24) && *since == t2),
            "{status:?}"
        );
        clock.set(t1 + Span::hours(24) - Span::seconds(1));
        assert_eq!(session.heartbeat(true).await.name(), "offline");

        // Past valid_until it stops, for good.
        clock.set(t1 + Span::hours(24));
        let stopped = SessionStatus::Stopped {
            reason: StopReason::LeaseExpired {
                valid_until: t1 + Span::hours(24),
            },
        };
        assert_eq!(session.heartbeat(true).await, stopped);
        assert_eq!(session.status(), stopped);
    }
}

/// The heartbeat loop's period here: long enough that a heartbeat in flight (whose deadline is
/// one period) never runs out of time on a slow machine.
const EVERY: Duration = Duration::from_secs(3600);

/// Brings the heartbeat loop's next tick: tokio's clock jumps one period while it is paused, then
/// runs on, so the loop beats when the test says instead of every few milliseconds of real time.
/// Needs a current-thread runtime. The server's own periodic jobs share that clock and may run
/// once too; they work on the server's manual clock, which this does not move.
async fn next_tick() {
    tokio::time::pause();
    tokio::time::advance(EVERY).await;
    tokio::time::resume();
}

#[tokio::test]
async fn the_heartbeat_loop_reports_online_then_offline_then_stopped() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (team, _user, client) = setup(&app, 100).await;
    let clock = app.clock.clone();
    let session = product(client, &clock)
        .sign_in(team, "autocad", None, None)
        .await
        .unwrap();
    let t0 = clock.now();
    let mut watch = session.watch();
    let heartbeats = session.spawn_heartbeats(EVERY);

    // Online: the loop's heartbeat renews the lease at the server's time.
    let t1 = clock.advance(Span::minutes(5));
    next_tick().await;
    let renewed = SessionStatus::Online {
        valid_until: t1 + Span::hours(24),
    };
    wait(&mut watch, |s| *s == renewed).await;
    assert_ne!(t0, t1);

    app.shutdown().await;
    next_tick().await;
    wait(&mut watch, |s| s.name() == "offline").await;
    assert!(heartbeats.status().is_usable());

    clock.advance(Span::hours(24));
    next_tick().await;
    wait(&mut watch, |s| !s.is_usable()).await;
    assert_eq!(
        heartbeats.stop().await,
        SessionStatus::Stopped {
            reason: StopReason::LeaseExpired {
                valid_until: t1 + Span::hours(24)
            }
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_ses_3_a_period_the_team_cannot_pay_stops_the_session() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    // Exactly one period's worth.
    let (team, _user, client) = setup(&app, 7).await;
    let clock = app.clock.clone();
    let session = product(client.clone(), &clock)
        .sign_in(team, "autocad", None, None)
        .await
        .unwrap();
    // Keep the session alive to the period's end (heartbeats every 10 minutes).
    let mut status = session.status();
    for _ in 0..=(24 * 6) {
        clock.advance(Span::minutes(10));
        status = session.heartbeat(true).await;
        if !status.is_usable() {
            break;
        }
    }
    assert_eq!(
        status,
        SessionStatus::Stopped {
            reason: StopReason::InsufficientTokens
        }
    );
    // The server ended it: a new sign-in is refused for the same reason.
    let err = ProductClient::new(client)
        .with_clock(clock.clone() as Arc<dyn Clock>)
        .sign_in(team, "autocad", None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("insufficient_tokens"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_ses_6_a_session_the_server_ended_says_sign_in_again_and_results_and_sign_out_work() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (team, user, client) = setup(&app, 100).await;
    let clock = app.clock.clone();
    let product = product(client.clone(), &clock);
    let first = product.sign_in(team, "autocad", None, None).await.unwrap();
    let signed_in_at = clock.now();
    let charged = first
        .report_result("render.cloud", 2, "job-1")
        .await
        .unwrap();
    assert_eq!(charged.tokens_charged, 10);
    assert_eq!(
        first
            .report_result("render.cloud", 2, "job-1")
            .await
            .unwrap()
            .tokens_charged,
        10,
        "the same id is the same result"
    );
    assert_eq!(first.tokens_charged(), 7 + 10 + 10, "as answered");

    // No heartbeat for longer than the session lease: the server ends it.
    clock.advance(Span::minutes(20));
    let second = product.sign_in(team, "autocad", None, None).await.unwrap();
    assert_eq!(
        first.heartbeat(true).await,
        SessionStatus::Stopped {
            reason: StopReason::SessionEnded
        }
    );

    let operator = Client::new(&app.base_url, Some(app.operator_key.clone()));
    let open = operator
        .sessions(team, &SessionsQuery::default())
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!((open[0].id, open[0].user_id), (second.id(), user));
    let all = operator
        .sessions(
            team,
            &SessionsQuery {
                open: Some(false),
                limit: Some(10),
            },
        )
        .await
        .unwrap();
    let ended = all
        .iter()
        .find(|s| s.id == first.id())
        .unwrap_or_else(|| panic!("session {} is listed: {all:?}", first.id()));
    // Ended for want of heartbeats, at its last contact (R-SES-6): the sign-in.
    assert_eq!(
        (ended.ended_at, ended.end_reason.as_deref()),
        (Some(signed_in_at), Some("lease_expired")),
        "{ended:?}"
    );

    second.sign_out().await.unwrap();
    assert_eq!(
        second.status(),
        SessionStatus::Stopped {
            reason: StopReason::SignedOut
        }
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_pri_1_a_subscription_pays_instead_of_tokens() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (team, user, client) = setup(&app, 100).await;
    let clock = app.clock.clone();
    let operator = Client::new(&app.base_url, Some(app.operator_key.clone()));
    let now = clock.now();
    let sub = operator
        .add_subscription(
            user,
            &NewEntitlement {
                product: "autocad".into(),
                starts_at: now - Span::days(1),
                ends_at: now + Span::days(30),
            },
        )
        .await
        .unwrap();
    assert_eq!(sub.kind, AccessKind::Subscription);
    let trial = operator
        .add_trial(
            user,
            &NewEntitlement {
                product: "autocad".into(),
                starts_at: now + Span::days(30),
                ends_at: now + Span::days(44),
            },
        )
        .await
        .unwrap();
    assert_eq!(trial.kind, AccessKind::Trial);
    let listed = operator.entitlements(user).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");

    let session = product(client, &clock)
        .sign_in(team, "autocad", None, None)
        .await
        .unwrap();
    assert_eq!(session.access(), AccessKind::Subscription);
    assert_eq!(session.tokens_charged(), 0);
    assert_eq!(operator.balance(team).await.unwrap().available, 100);
    app.shutdown().await;
}

async fn wait(
    watch: &mut tokio::sync::watch::Receiver<SessionStatus>,
    f: impl FnMut(&SessionStatus) -> bool,
) {
    let reached = tokio::time::timeout(Duration::from_secs(10), watch.wait_for(f))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(reached, "the status stayed {:?}", *watch.borrow());
}
