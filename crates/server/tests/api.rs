//! The API core of docs/api.md over real HTTP, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use common::{Http, app};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use serde_json::json;

both_backends! {
    walkthrough_products_teams_packs_balance_events_moves => walkthrough,
    r_pack_7_merge_over_http => merge,
    teams_are_renamed_by_their_admins_and_the_operator => rename,
    admins_see_only_their_teams => admin_scope,
    purchase_idempotency_key_over_http => idempotency,
    r_pack_2_test_clock_advance_expires_packs => test_clock_expiry,
    health_metrics_and_openapi => operations,
    openapi_describes_the_error_answers => openapi_errors,
}

async fn walkthrough(db: TestDb) {
    let app = app(db).await;
    let http = Http::new(&app);

    let p = http
        .post(
            "/v1/products",
            json!({"key": "autocad", "name": "AutoCAD", "daily_rate": 7,
                   "result_rates": {"render.cloud": 5}, "idle_awareness": true,
                   "items": [{"version": "2027", "platform": "windows", "url": "https://dl.example.com/acad.exe"}]}),
        )
        .await;
    let p = p.ok(201);
    assert_eq!(p["key"], "autocad");
    assert_eq!(p["result_rates"]["render.cloud"], 5);
    assert_eq!(p["added_at"], "2026-01-05T08:00:00Z");
    let list = http.get("/v1/products").await;
    assert_eq!(list.ok(200).as_array().unwrap().len(), 1);

    // A rate change is recorded with its time (R-CAT-3).
    http.advance(3600).await;
    let changed = http
        .patch("/v1/products/autocad", json!({"daily_rate": 8}))
        .await;
    assert_eq!(changed.ok(200)["daily_rate"], 8);
    let detail = http.get("/v1/products/autocad").await;
    let history = detail.ok(200)["rate_history"].as_array().unwrap().clone();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["at"], "2026-01-05T09:00:00Z");
    assert_eq!(history[1]["daily_rate"], 8);

    let design = http.team("Design").await;
    let ops = http.team("Ops").await;
    let pack = http.buy(design, 1000).await;
    assert_eq!(pack["tokens"], 1000);
    assert_eq!(pack["remaining"], 1000);
    assert_eq!(pack["expires_at"], "2027-01-05T09:00:00Z");

    let balance = http.get(&format!("/v1/teams/{design}/balance")).await;
    let b = balance.ok(200);
    assert_eq!(
        (
            b["available"].as_i64(),
            b["used"].as_i64(),
            b["total"].as_i64()
        ),
        (Some(1000), Some(0), Some(1000))
    );
    assert_eq!(b["low"], false);
    assert_eq!(b["packs"][0]["days_to_expiry"], 365);

    let moved = http
        .post(
            &format!("/v1/teams/{design}/moves"),
            json!({"to_team": ops, "tokens": 900}),
        )
        .await;
    let m = moved.ok(201);
    assert_eq!(m["tokens"], 900);
    assert_eq!(m["packs"][0]["expires_at"], pack["expires_at"]);
    let b = http.get(&format!("/v1/teams/{design}/balance")).await;
    assert_eq!(b.ok(200)["available"], 100);
    assert_eq!(b.ok(200)["low"], false, "total shrinks with what moved out");
    assert_eq!(http.available(ops).await, 900);

    let events = http.events(design).await;
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(kinds, vec![("purchased", 1000), ("moved_out", -900)]);
    assert_eq!(events[1]["cause"], format!("move:{}", m["id"]));
    assert_eq!(events[0]["actor"], "operator");
    let events_ops = http.events(ops).await;
    assert_eq!(events_ops[0]["kind"], "moved_in");

    // Ranges: nothing before the start; `from` after `to` is refused.
    let none = http
        .get(&format!(
            "/v1/teams/{design}/events?to=2026-01-01T00:00:00Z"
        ))
        .await;
    assert!(none.ok(200).as_array().unwrap().is_empty());
    let bad = http
        .get(&format!(
            "/v1/teams/{design}/events?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"
        ))
        .await;
    bad.problem(400, "invalid_range");

    let audit = http.get(&format!("/v1/teams/{design}/audit")).await;
    assert_eq!(audit.ok(200)["balanced"], true);
    app.shutdown().await;
}

async fn merge(db: TestDb) {
    let app = app(db).await;
    let http = Http::new(&app);
    let a = http.team("A").await;
    let b = http.team("B").await;
    http.buy(a, 100).await;
    http.buy(b, 10).await;
    let merged = http
        .post(&format!("/v1/teams/{a}/merge"), json!({"into_team": b}))
        .await;
    assert_eq!(merged.ok(200)["tokens"], 100);
    assert_eq!(http.available(b).await, 110);
    let team_a = http.get(&format!("/v1/teams/{a}")).await;
    assert_eq!(team_a.ok(200)["status"], "closed");
    assert_eq!(team_a.ok(200)["merged_into"], b);
    // The target's events include the source's history.
    let events = http.events(b).await;
    assert!(
        events
            .iter()
            .any(|e| e["team_id"] == a && e["kind"] == "purchased")
    );
    assert_eq!(
        events
            .iter()
            .map(|e| e["amount"].as_i64().unwrap())
            .sum::<i64>(),
        110
    );
    http.post(&format!("/v1/teams/{a}/packs"), json!({"tokens": 5}))
        .await
        .problem(422, "team_closed");
    http.post(&format!("/v1/teams/{b}/merge"), json!({"into_team": b}))
        .await
        .problem(422, "same_team");
    app.shutdown().await;
}

async fn rename(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let a = op.team("Design").await;
    let b = op.team("Ops").await;
    let renamed = op
        .patch(
            &format!("/v1/teams/{a}"),
            json!({"name": " Design & Build "}),
        )
        .await;
    assert_eq!(renamed.ok(200)["name"], "Design & Build");
    assert_eq!(renamed.ok(200)["id"], a);
    let listed = op.get("/v1/teams").await;
    assert!(
        listed
            .ok(200)
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Design & Build"),
        "{listed:?}"
    );

    // An admin renames their own team; another team is not found, as everywhere.
    let admin = op.admin_of(a).await;
    admin
        .patch(&format!("/v1/teams/{a}"), json!({"name": "Studio"}))
        .await
        .ok(200);
    admin
        .patch(&format!("/v1/teams/{b}"), json!({"name": "Mine now"}))
        .await
        .problem(404, "not_found");

    // The name is checked as on creation, and nothing changes when it is refused.
    for bad in ["", "   ", "\u{200B}", "\u{202E}Ops"] {
        op.patch(&format!("/v1/teams/{a}"), json!({"name": bad}))
            .await
            .problem(400, "invalid_name");
    }
    op.patch(
        &format!("/v1/teams/{a}"),
        json!({"name": "X", "status": "open"}),
    )
    .await
    .problem(400, "invalid_body");
    op.patch("/v1/teams/999999", json!({"name": "Nobody"}))
        .await
        .problem(404, "not_found");
    assert_eq!(
        op.get(&format!("/v1/teams/{a}")).await.ok(200)["name"],
        "Studio"
    );

    // A merged team keeps the name its history is known by.
    op.post(&format!("/v1/teams/{b}/merge"), json!({"into_team": a}))
        .await
        .ok(200);
    op.patch(&format!("/v1/teams/{b}"), json!({"name": "Ops again"}))
        .await
        .problem(422, "team_closed");
    assert_eq!(
        op.get(&format!("/v1/teams/{b}")).await.ok(200)["name"],
        "Ops"
    );
    app.shutdown().await;
}

async fn admin_scope(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let a = op.team("A").await;
    let a2 = op.team("A2").await;
    let b = op.team("B").await;
    op.buy(a, 100).await;
    op.buy(b, 100).await;
    let created = op
        .post(
            "/v1/admins",
            json!({"email": "ann@example.com", "name": "Ann Admin", "teams": [a, a2]}),
        )
        .await;
    let key = created.ok(201)["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("jeton_adm_"));
    let ann = Http::with_key(&app, Some(key));

    // Her teams work.
    assert_eq!(ann.available(a).await, 100);
    ann.post(
        &format!("/v1/teams/{a}/moves"),
        json!({"to_team": a2, "tokens": 10}),
    )
    .await
    .ok(201);
    let teams = ann.get("/v1/teams").await;
    let ids: Vec<_> = teams
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![a, a2]);

    // Team B does not exist for her: 404 everywhere, nothing changes.
    for path in ["balance", "events", "audit"] {
        ann.get(&format!("/v1/teams/{b}/{path}"))
            .await
            .problem(404, "not_found");
    }
    ann.get(&format!("/v1/teams/{b}"))
        .await
        .problem(404, "not_found");
    ann.post(
        &format!("/v1/teams/{b}/moves"),
        json!({"to_team": a, "tokens": 1}),
    )
    .await
    .problem(404, "not_found");
    ann.post(
        &format!("/v1/teams/{a}/moves"),
        json!({"to_team": b, "tokens": 1}),
    )
    .await
    .problem(404, "not_found");
    ann.post(&format!("/v1/teams/{b}/merge"), json!({"into_team": a}))
        .await
        .problem(404, "not_found");
    ann.post(&format!("/v1/teams/{a}/merge"), json!({"into_team": b}))
        .await
        .problem(404, "not_found");
    assert_eq!(op.available(b).await, 100);
    assert_eq!(op.available(a).await, 90);

    // Operator-only actions are forbidden to admins.
    ann.post(&format!("/v1/teams/{a}/packs"), json!({"tokens": 5}))
        .await
        .problem(403, "forbidden");
    ann.post(
        "/v1/products",
        json!({"key": "x", "name": "X", "daily_rate": 1}),
    )
    .await
    .problem(403, "forbidden");
    ann.post(
        "/v1/admins",
        json!({"email": "e@x.com", "name": "E", "teams": [a]}),
    )
    .await
    .problem(403, "forbidden");

    // A team she creates is hers.
    let c = ann.team("C").await;
    assert_eq!(ann.available(c).await, 0);
    app.shutdown().await;
}

async fn idempotency(db: TestDb) {
    let app = app(db).await;
    let http = Http::new(&app);
    let team = http.team("T").await;
    let path = format!("/v1/teams/{team}/packs");
    let send = |tokens: i64, key: &'static str| {
        let http = &http;
        let path = path.clone();
        async move {
            http.send(
                reqwest::Method::POST,
                &path,
                Some(common::RawBody::Json(json!({"tokens": tokens}))),
                &[("Idempotency-Key", key)],
            )
            .await
        }
    };
    let first = send(250, "order-1").await;
    let again = send(250, "order-1").await;
    assert_eq!(first.ok(201), again.ok(201));
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert_eq!(http.available(team).await, 250);
    send(300, "order-1")
        .await
        .problem(422, "idempotency_key_reused");
    send(1, "bad key with spaces")
        .await
        .problem(400, "invalid_idempotency_key");
    assert_eq!(http.available(team).await, 250);
    assert_eq!(http.events(team).await.len(), 1);
    app.shutdown().await;
}

async fn test_clock_expiry(db: TestDb) {
    let app = app(db).await;
    let http = Http::new(&app);
    let team = http.team("T").await;
    http.buy(team, 40).await;
    // 364 days later the pack is still good; a year later it has expired and the sweep that
    // the advance triggers has written the event.
    http.advance(364 * 86_400).await;
    assert_eq!(http.available(team).await, 40);
    let now = http.advance(86_400).await;
    assert_eq!(now["now"], "2027-01-05T08:00:00Z");
    // Read the ledger directly, as of a time before the expiry, so that the read itself cannot
    // be what wrote the event: the sweep run by the advance did.
    let before: chrono::DateTime<chrono::Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let far: chrono::DateTime<chrono::Utc> = "2028-01-01T00:00:00Z".parse().unwrap();
    let events = app
        .store
        .events(jeton_core::TeamId(team), before, far, 10, before)
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(http.available(team).await, 0);
    // R-REP-2: by default the last 90 days, so the year-old purchase is not listed.
    let events = http.events(team).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "expired");
    assert_eq!(events[0]["amount"], -40);
    assert_eq!(events[0]["at"], "2027-01-05T08:00:00Z");
    assert_eq!(events[0]["actor"], "system");
    let all = http
        .get(&format!(
            "/v1/teams/{team}/events?from=2026-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(all.ok(200).as_array().unwrap().len(), 2);
    http.post("/v1/test-clock/advance", json!({"seconds": 0}))
        .await
        .problem(400, "invalid_seconds");
    app.shutdown().await;
}

async fn operations(db: TestDb) {
    let backend = db.backend;
    let app = app(db).await;
    let anon = Http::with_key(&app, None);
    let health = anon.get("/healthz").await;
    assert_eq!(health.ok(200)["status"], "ok");
    assert_eq!(health.ok(200)["database"], backend.name());

    let http = Http::new(&app);
    let team = http.team("T").await;
    http.buy(team, 5).await;
    // The figures are the business's: not for anyone who can reach the port.
    anon.get("/metrics").await.problem(401, "unauthorized");
    let admin = http.admin_of(team).await;
    admin.get("/metrics").await.problem(403, "forbidden");
    let gauges = |text: &str| -> Vec<String> {
        [
            "jeton_open_sessions",
            "jeton_emails_pending",
            "jeton_emails_failed",
            "jeton_teams_low_balance",
        ]
        .iter()
        .map(|g| {
            let line = text.lines().find(|l| l.starts_with(&format!("{g} ")));
            line.unwrap_or_else(|| panic!("no {g} in {text}"))
                .to_owned()
        })
        .collect()
    };
    let metrics = http.get("/metrics").await;
    // One content type, the one its body is written in.
    assert_eq!(
        metrics.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = metrics.ok(200).as_str().unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("jeton_http_requests_total{method=\"POST\",route=\"/v1/teams/{team}/packs\",status=\"201\"} 1"), "{text}");
    assert!(
        text.contains("jeton_ledger_tokens_total{kind=\"purchased\"} 5"),
        "{text}"
    );
    // The admin's password link waits in the outbox (no SMTP here).
    assert_eq!(
        gauges(text),
        [
            "jeton_open_sessions 0",
            "jeton_emails_pending 1",
            "jeton_emails_failed 0",
            "jeton_teams_low_balance 0"
        ]
    );
    // A session that spends the team's 5 tokens: one open session, a team under its threshold,
    // and the low-balance email to its admin waiting beside the password link.
    http.product("cad", 5).await;
    let (_, user) = http.flex_user(&app, team, 1).await;
    user.post("/v1/sessions", json!({"team": team, "product": "cad"}))
        .await
        .ok(201);
    let pending = http.get("/v1/outbox?status=pending").await;
    let kinds: Vec<&str> = pending
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"low_balance"), "{kinds:?}");
    let text = http.metrics_text().await;
    assert_eq!(
        gauges(&text),
        [
            "jeton_open_sessions 1".to_owned(),
            format!("jeton_emails_pending {}", kinds.len()),
            "jeton_emails_failed 0".to_owned(),
            "jeton_teams_low_balance 1".to_owned()
        ]
    );
    // The sign-in ran in a batch (of one: nothing else was waiting).
    for line in [
        "jeton_session_batches_total 1",
        "jeton_session_batch_requests_total 1",
        "jeton_session_batch_retries_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in {text}");
    }

    let doc = anon.get("/v1/openapi.json").await;
    let paths = doc.ok(200)["paths"].as_object().unwrap().clone();
    for p in [
        "/v1/products",
        "/v1/products/{key}",
        "/v1/teams",
        "/v1/teams/{team}",
        "/v1/teams/{team}/packs",
        "/v1/teams/{team}/balance",
        "/v1/teams/{team}/events",
        "/v1/teams/{team}/moves",
        "/v1/teams/{team}/merge",
        "/v1/teams/{team}/audit",
        "/v1/admins",
        "/v1/admins/{admin}/revoke",
        "/v1/admins/{admin}/rotate",
        "/v1/me/sign-out",
        "/v1/me/sign-out-everywhere",
        "/v1/users/{user}/sign-out-everywhere",
        "/healthz",
        "/metrics",
        "/v1/test-clock/advance",
    ] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}");
    }
    assert!(doc.body["components"]["schemas"]["Problem"].is_object());
    // docs/api.md, the contract the README points to, names only what the server serves.
    let contract = include_str!("../../../docs/api.md");
    let mut named = 0;
    for line in contract.lines().filter(|l| l.starts_with("| ")) {
        for route in line.split('|').nth(1).unwrap().split(',') {
            let mut words = route.split_whitespace();
            let (Some(method), Some(path)) = (words.next(), words.next()) else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) {
                continue;
            }
            let path = path.split('?').next().unwrap();
            let operation = &doc.body["paths"][path][method.to_lowercase()];
            assert!(
                operation.is_object(),
                "docs/api.md names {method} {path}, which openapi.json lacks"
            );
            named += 1;
        }
    }
    assert!(named > 25, "docs/api.md names {named} routes");
    app.shutdown().await;
}

/// Every answer the document lists has a description, every error answer is
/// `application/problem+json` (what the server sends), and every operation lists the errors that
/// shared code gives: 401 wherever a key is needed, 403 wherever a key of the wrong kind is
/// refused, 400 wherever a path, query or JSON body is parsed, 413 and 415 wherever a JSON body
/// is read. `.ci/fuzz` checks the answers themselves.
async fn openapi_errors(db: TestDb) {
    let app = app(db).await;
    let doc = Http::with_key(&app, None).get("/v1/openapi.json").await;
    let doc = doc.ok(200).clone();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                // Required by OpenAPI 3.1.
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{name} {status} has no description"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    let types: Vec<_> = response["content"]
                        .as_object()
                        .map(|c| c.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    assert_eq!(types, ["application/problem+json"], "{name} {status}");
                    assert_eq!(
                        response["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{name} {status}"
                    );
                }
            }
            let has = |status: &str| responses.contains_key(status);
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                assert!(has("401"), "{name} lacks 401");
                // Any key may read the catalogue; every other operation refuses some kind.
                if !(method == "get" && path.starts_with("/v1/products")) {
                    assert!(has("403"), "{name} lacks 403");
                }
            }
            let parameters = op["parameters"].as_array().cloned().unwrap_or_default();
            let parsed = parameters
                .iter()
                .any(|p| p["in"] == "path" || p["in"] == "query");
            let json_body = op["requestBody"]["content"]
                .get("application/json")
                .is_some();
            if parsed || json_body {
                assert!(has("400"), "{name} lacks 400");
            }
            if json_body {
                assert!(has("413") && has("415"), "{name} lacks 413 or 415");
            }
            operations += 1;
        }
    }
    assert!(operations > 50, "{operations} operations");
    app.shutdown().await;
}
