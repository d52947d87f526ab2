//! R-AUTH-1 over real HTTP, on both backends: the operator lists team admins and revokes or
//! rotates their keys; a user signs out of one token or of all of them, and the operator can sign
//! a user out everywhere. A revoked or ended key is refused (401) at once, on every server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use common::{Answer, Http, RawBody, app, signed_in};
use jeton_server::testing::{TEST_PASSWORD, TEST_START, spawn_on};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

both_backends! {
    r_auth_1_a_revoked_admin_key_is_refused_at_once_on_every_server => revoked,
    r_auth_1_a_rotated_key_replaces_the_old_one => rotated,
    r_auth_1_only_the_operator_lists_revokes_and_rotates_admin_keys => operator_only,
    r_auth_1_signing_out_everywhere_ends_every_token_of_that_user_and_no_other => sign_out,
}

/// Creates an admin of `teams`; their id and a client with their key.
async fn admin(op: &Http, email: &str, teams: &[i64]) -> (i64, Http) {
    let created = op
        .post(
            "/v1/admins",
            json!({"email": email, "name": "An Admin", "teams": teams}),
        )
        .await;
    let body = created.ok(201);
    let mut http = op.clone();
    http.key = Some(body["api_key"].as_str().unwrap().to_owned());
    (body["id"].as_i64().unwrap(), http)
}

/// What an admin of `team` does every day: reads and writes of its own team.
async fn daily_requests(http: &Http, team: i64) -> Vec<Answer> {
    vec![
        http.get("/v1/teams").await,
        http.get(&format!("/v1/teams/{team}/balance")).await,
        http.get(&format!("/v1/teams/{team}/flex/users")).await,
        http.send(
            Method::PUT,
            &format!("/v1/teams/{team}/flex/defaults"),
            Some(RawBody::Json(json!({"products": []}))),
            &[],
        )
        .await,
        http.post(
            &format!("/v1/teams/{team}/flex/users/batch"),
            json!({"entries": "Eve Eff <eve@example.com>"}),
        )
        .await,
    ]
}

#[track_caller]
fn all_refused(answers: &[Answer], code: &str) {
    for a in answers {
        let detail = a.problem(401, code);
        assert_eq!(
            a.headers.get("www-authenticate").unwrap(),
            "Bearer",
            "{a:?}"
        );
        if code == "key_revoked" {
            assert!(detail.contains("revoked"), "{detail}");
        }
    }
}

async fn admins(op: &Http) -> Vec<Value> {
    op.get("/v1/admins")
        .await
        .ok(200)
        .as_array()
        .unwrap()
        .clone()
}

async fn revoked(db: TestDb) {
    let shared = db.share();
    let one = app(db).await;
    let two = spawn_on(shared, TEST_START.parse().unwrap()).await;
    let op = Http::new(&one);
    let design = op.team("Design").await;
    let ops = op.team("Ops").await;
    let (ann_id, ann) = admin(&op, "ann@example.com", &[design]).await;
    let (_, bob) = admin(&op, "bob@example.com", &[ops]).await;
    let ann_key = ann.key.clone().unwrap();
    // The same key, sent to the second server.
    let ann_on_two = Http::with_key(&two, Some(ann_key.clone()));
    all_work(&daily_requests(&ann, design).await);
    ann_on_two
        .get(&format!("/v1/teams/{design}/balance"))
        .await
        .ok(200);

    // The listing: teams, times and key state, never the key.
    let list = op.get("/v1/admins").await;
    assert!(!list.body.to_string().contains(&ann_key), "{:?}", list.body);
    let list = list.ok(200).as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], ann_id);
    assert_eq!(list[0]["email"], "ann@example.com");
    assert_eq!(list[0]["teams"], json!([design]));
    assert_eq!(list[0]["created_at"], "2026-01-05T08:00:00Z");
    assert_eq!(list[0]["key_status"], "active");
    assert_eq!(list[0]["key_created_at"], "2026-01-05T08:00:00Z");
    assert!(list[0].get("key_revoked_at").is_none(), "{}", list[0]);
    for field in ["api_key", "key_hash", "key"] {
        assert!(list[0].get(field).is_none(), "{field} in {}", list[0]);
    }

    op.advance(3600).await;
    let answer = op
        .post(&format!("/v1/admins/{ann_id}/revoke"), json!({}))
        .await;
    let r = answer.ok(200);
    assert_eq!(r["key_status"], "revoked");
    assert_eq!(r["key_revoked_at"], "2026-01-05T09:00:00Z");

    // Refused at once, for reads and writes, on both servers.
    let users = format!("/v1/teams/{design}/flex/users");
    let before = op.get(&users).await.body;
    all_refused(&daily_requests(&ann, design).await, "key_revoked");
    all_refused(&daily_requests(&ann_on_two, design).await, "key_revoked");
    assert_eq!(
        op.get(&users).await.body,
        before,
        "a refused invitation invited nobody"
    );
    // Other admins are untouched.
    all_work(&daily_requests(&bob, ops).await);

    // Revoking again changes nothing; the listing says since when.
    op.advance(60).await;
    let again = op
        .post(&format!("/v1/admins/{ann_id}/revoke"), json!({}))
        .await;
    assert_eq!(again.ok(200)["key_revoked_at"], "2026-01-05T09:00:00Z");
    let list = admins(&op).await;
    assert_eq!(list[0]["key_status"], "revoked");
    assert_eq!(list[1]["key_status"], "active");
    one.shutdown().await;
    two.shutdown().await;
}

async fn rotated(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let design = op.team("Design").await;
    let ops = op.team("Ops").await;
    let (ann_id, old) = admin(&op, "ann@example.com", &[design]).await;
    op.advance(86_400).await;

    let answer = op
        .post(&format!("/v1/admins/{ann_id}/rotate"), json!({}))
        .await;
    let rotated = answer.ok(200);
    let new_key = rotated["api_key"].as_str().unwrap().to_owned();
    assert!(new_key.starts_with("jeton_adm_"), "{new_key}");
    assert_ne!(Some(&new_key), old.key.as_ref());
    assert_eq!(rotated["admin"]["id"], ann_id);
    assert_eq!(rotated["admin"]["key_status"], "active");
    assert_eq!(rotated["admin"]["key_created_at"], "2026-01-06T08:00:00Z");
    assert_eq!(
        rotated["admin"]["created_at"], "2026-01-05T08:00:00Z",
        "the admin stays the same person"
    );
    assert_eq!(rotated["admin"]["teams"], json!([design]));

    // The old key is refused at once, the new one sees what the old one saw.
    all_refused(&daily_requests(&old, design).await, "unauthorized");
    let mut new = old.clone();
    new.key = Some(new_key.clone());
    all_work(&daily_requests(&new, design).await);
    new.get(&format!("/v1/teams/{ops}/balance"))
        .await
        .problem(404, "not_found");

    // A revoked admin gets a working key again only by a rotation.
    op.post(&format!("/v1/admins/{ann_id}/revoke"), json!({}))
        .await
        .ok(200);
    all_refused(&daily_requests(&new, design).await, "key_revoked");
    let third = op
        .post(&format!("/v1/admins/{ann_id}/rotate"), json!({}))
        .await;
    let third = third.ok(200).clone();
    assert_eq!(third["admin"]["key_status"], "active");
    assert!(third["admin"].get("key_revoked_at").is_none(), "{third}");
    let mut newest = new.clone();
    newest.key = Some(third["api_key"].as_str().unwrap().to_owned());
    newest
        .get(&format!("/v1/teams/{design}/balance"))
        .await
        .ok(200);
    all_refused(&daily_requests(&new, design).await, "unauthorized");
    all_refused(&daily_requests(&old, design).await, "unauthorized");
    app.shutdown().await;
}

async fn operator_only(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let design = op.team("Design").await;
    let (ann_id, ann) = admin(&op, "ann@example.com", &[design]).await;
    let (bob_id, _bob) = admin(&op, "bob@example.com", &[design]).await;
    let (_, token) = app.user_with_token("jane@example.com", "Jane Doe").await;
    let jane = Http::with_key(&app, Some(token));
    let nobody = Http::with_key(&app, None);
    let before = admins(&op).await;

    for who in [&ann, &jane] {
        who.get("/v1/admins").await.problem(403, "forbidden");
        for id in [ann_id, bob_id, 987_654] {
            for action in ["revoke", "rotate"] {
                who.post(&format!("/v1/admins/{id}/{action}"), json!({}))
                    .await
                    .problem(403, "forbidden");
            }
        }
    }
    nobody.get("/v1/admins").await.problem(401, "unauthorized");
    nobody
        .post(&format!("/v1/admins/{ann_id}/revoke"), json!({}))
        .await
        .problem(401, "unauthorized");
    for action in ["revoke", "rotate"] {
        let detail = op
            .post(&format!("/v1/admins/987654/{action}"), json!({}))
            .await
            .problem(404, "not_found");
        assert!(detail.contains("admin 987654"), "{detail}");
        op.post(&format!("/v1/admins/ann/{action}"), json!({}))
            .await
            .problem(400, "invalid_path");
        op.post(
            &format!("/v1/admins/99999999999999999999/{action}"),
            json!({}),
        )
        .await
        .problem(400, "invalid_path");
    }
    assert_eq!(admins(&op).await, before, "nothing changed");
    ann.get(&format!("/v1/teams/{design}/balance"))
        .await
        .ok(200);
    app.shutdown().await;
}

/// What a signed-in user does: who am I, my downloads, a heartbeat of an open session.
async fn user_requests(user: &Http, session: i64) -> Vec<Answer> {
    vec![
        user.get("/v1/me").await,
        user.get("/v1/me/products").await,
        user.post(
            &format!("/v1/sessions/{session}/heartbeat"),
            json!({"active": true}),
        )
        .await,
    ]
}

#[track_caller]
fn all_work(answers: &[Answer]) {
    for a in answers {
        assert!(a.status.is_success(), "{a:?}");
    }
}

async fn sign_out(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    op.product("autocad", 7).await;
    let design = op.team("Design").await;
    op.buy(design, 100).await;
    let (jane_id, jane1) = op.flex_user(&app, design, 1).await;
    let (bob_id, bob) = op.flex_user(&app, design, 2).await;
    let jane2 = signed_in(&app, "user1@example.com", TEST_PASSWORD).await;
    let jane3 = signed_in(&app, "user1@example.com", TEST_PASSWORD).await;
    let session = jane1
        .post(
            "/v1/sessions",
            json!({"team": design, "product": "autocad"}),
        )
        .await
        .ok(201)["id"]
        .as_i64()
        .unwrap();
    let bob_session = bob
        .post(
            "/v1/sessions",
            json!({"team": design, "product": "autocad"}),
        )
        .await
        .ok(201)["id"]
        .as_i64()
        .unwrap();
    for jane in [&jane1, &jane2, &jane3] {
        all_work(&user_requests(jane, session).await);
    }

    // Signing out here ends this token only.
    let out = jane1.post("/v1/me/sign-out", json!({})).await;
    assert_eq!(out.status.as_u16(), 204, "{out:?}");
    all_refused(&user_requests(&jane1, session).await, "unauthorized");
    jane1
        .post("/v1/me/sign-out", json!({}))
        .await
        .problem(401, "unauthorized");
    all_work(&user_requests(&jane2, session).await);

    // Everywhere: every other token of Jane's too, and none of Bob's.
    let all = jane2.post("/v1/me/sign-out-everywhere", json!({})).await;
    assert_eq!(all.ok(200)["user_id"], jane_id);
    assert_eq!(all.ok(200)["ended"], 2, "jane2 and jane3");
    for jane in [&jane1, &jane2, &jane3] {
        all_refused(&user_requests(jane, session).await, "unauthorized");
        jane.post(
            "/v1/sessions",
            json!({"team": design, "product": "autocad"}),
        )
        .await
        .problem(401, "unauthorized");
    }
    all_work(&user_requests(&bob, bob_session).await);

    // She signs in again with her password, and that token works.
    let jane4 = signed_in(&app, "user1@example.com", TEST_PASSWORD).await;
    all_work(&user_requests(&jane4, session).await);

    // The operator signs Bob out everywhere; Jane's new token stays.
    let answer = op
        .post(
            &format!("/v1/users/{bob_id}/sign-out-everywhere"),
            json!({}),
        )
        .await;
    assert_eq!(answer.ok(200)["user_id"], bob_id);
    assert_eq!(answer.ok(200)["ended"], 1);
    all_refused(&user_requests(&bob, bob_session).await, "unauthorized");
    all_work(&user_requests(&jane4, session).await);
    // Nothing left to end: 0, not an error.
    let again = op
        .post(
            &format!("/v1/users/{bob_id}/sign-out-everywhere"),
            json!({}),
        )
        .await;
    assert_eq!(again.ok(200)["ended"], 0);

    // Expired tokens are not counted as ended.
    op.advance(31 * 86_400).await;
    let jane5 = signed_in(&app, "user1@example.com", TEST_PASSWORD).await;
    let answer = op
        .post(
            &format!("/v1/users/{jane_id}/sign-out-everywhere"),
            json!({}),
        )
        .await;
    assert_eq!(answer.ok(200)["ended"], 1, "jane4 expired after 30 days");
    jane5.get("/v1/me").await.problem(401, "unauthorized");

    // Who may do what.
    op.post("/v1/users/987654/sign-out-everywhere", json!({}))
        .await
        .problem(404, "not_found");
    op.post("/v1/users/jane/sign-out-everywhere", json!({}))
        .await
        .problem(400, "invalid_path");
    let (_, ann) = admin(&op, "ann@example.com", &[design]).await;
    let bob2 = signed_in(&app, "user2@example.com", TEST_PASSWORD).await;
    for who in [&ann, &bob2] {
        who.post(
            &format!("/v1/users/{jane_id}/sign-out-everywhere"),
            json!({}),
        )
        .await
        .problem(403, "forbidden");
    }
    for who in [&op, &ann] {
        who.post("/v1/me/sign-out-everywhere", json!({}))
            .await
            .problem(403, "forbidden");
        who.post("/v1/me/sign-out", json!({}))
            .await
            .problem(403, "forbidden");
    }
    bob2.get("/v1/me").await.ok(200);
    let nobody = Http::with_key(&app, None);
    nobody
        .send(Method::POST, "/v1/me/sign-out-everywhere", None, &[])
        .await
        .problem(401, "unauthorized");
    app.shutdown().await;
}
