//! Two server processes on one database (two servers, two independent pools): concurrent moves in
//! both directions and retried purchases never lose, create or double-count a token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use common::{Http, RawBody};

use jeton_server::testing::{TEST_START, spawn_on};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use reqwest::Method;
use serde_json::json;

both_backends! {
    two_servers_share_one_ledger_exactly => two_servers,
}

async fn two_servers(db: TestDb) {
    // The second server connects to the same database with its own pool.
    let shared = db.share();
    let one = spawn_on(db, TEST_START.parse().unwrap()).await;
    let two = spawn_on(shared, TEST_START.parse().unwrap()).await;
    let h1 = Http::new(&one);
    let h2 = Http::new(&two);
    let teams = [h1.team("A").await, h1.team("B").await, h1.team("C").await];
    for t in teams {
        h1.buy(t, 10_000).await;
    }

    // 300 moves of 1..=40 tokens in every direction, alternating servers, all at once.
    let mut tasks = Vec::new();
    for i in 0..300usize {
        let http = if i % 2 == 0 { h1.clone() } else { h2.clone() };
        let from = teams[i % 3];
        let to = teams[(i / 3 + 1 + i % 3) % 3];
        let tokens = (i % 40 + 1) as i64;
        tasks.push(tokio::spawn(async move {
            if from == to {
                return 0;
            }
            let a = http
                .post(
                    &format!("/v1/teams/{from}/moves"),
                    json!({"to_team": to, "tokens": tokens}),
                )
                .await;
            assert_eq!(a.status.as_u16(), 201, "{a:?}");
            tokens
        }));
    }
    // Meanwhile, the same purchase retried 20 times through both servers.
    for i in 0..20usize {
        let http = if i % 2 == 0 { h1.clone() } else { h2.clone() };
        let team = teams[0];
        tasks.push(tokio::spawn(async move {
            let a = http
                .send(
                    Method::POST,
                    &format!("/v1/teams/{team}/packs"),
                    Some(RawBody::Json(json!({"tokens": 500}))),
                    &[("Idempotency-Key", "po-4711")],
                )
                .await;
            assert_eq!(a.status.as_u16(), 201, "{a:?}");
            0
        }));
    }
    let mut moved = 0;
    for t in tasks {
        moved += t.await.unwrap();
    }
    assert!(moved > 0);

    let mut total = 0;
    for t in teams {
        total += h2.available(t).await;
        let audit = h2.get(&format!("/v1/teams/{t}/audit")).await;
        assert_eq!(audit.ok(200)["balanced"], true, "{audit:?}");
    }
    assert_eq!(
        total,
        30_000 + 500,
        "moves conserve tokens and the retried purchase counted once"
    );
    // Every event of the team: the moves write hundreds (one per pack drawn), more than the
    // default page of 1,000 on some interleavings.
    let events = h1
        .get(&format!("/v1/teams/{}/events?limit=10000", teams[0]))
        .await
        .ok(200)
        .as_array()
        .unwrap()
        .clone();
    assert!(events.len() < 10_000, "one page holds them all");
    let purchases = events
        .into_iter()
        .filter(|e| e["kind"] == "purchased")
        .count();
    assert_eq!(purchases, 2);
    one.shutdown().await;
    two.shutdown().await;
}
