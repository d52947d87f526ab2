//! Reports, alerts, forecast and estimate over real HTTP on both backends (R-REP-*, R-NOT-1).
//! The same fixtures must give the same figures on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use common::{Http, RawBody, app};
use jeton_server::testing::TestApp;
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

both_backends! {
    r_rep_3_every_range_name_with_month_boundaries_and_a_leap_year => ranges,
    r_rep_4_the_export_parses_back_and_sums_to_the_ledger => export,
    r_rep_1_balance_low_follows_the_team_threshold => balance_low,
    r_not_1_low_balance_emails_each_admin_once_per_crossing => low_balance_alerts,
    r_not_1_expiring_packs_warn_at_90_30_and_7_days_once_each => expiry_warnings,
    privacy_switch_shows_stable_pseudonyms => pseudonyms,
    forecast_and_r_rep_5_estimate => forecast_and_estimate,
    bad_report_input_gets_a_problem => bad_input,
}

async fn scene(op: &Http, tokens: i64) -> i64 {
    op.post(
        "/v1/products",
        json!({"key": "autocad", "name": "AutoCAD", "daily_rate": 7, "result_rates": {"render.cloud": 5}}),
    )
    .await
    .ok(201);
    op.post(
        "/v1/products",
        json!({"key": "revit", "name": "Revit", "daily_rate": 10}),
    )
    .await
    .ok(201);
    op.post(
        "/v1/products",
        json!({"key": "maya", "name": "Maya", "daily_rate": 4}),
    )
    .await
    .ok(201);
    let team = op.team("Design").await;
    if tokens > 0 {
        op.buy(team, tokens).await;
    }
    team
}

async fn user(app: &TestApp, team: i64, n: usize) -> Http {
    Http::new(app).flex_user(app, team, n).await.1
}

/// Moves the test clock to `when` (RFC 3339), which must not be in its past.
async fn clock_to(app: &TestApp, op: &Http, when: &str) {
    let target: chrono::DateTime<chrono::Utc> = when.parse().unwrap();
    let now = jeton_core::Clock::now(&*app.clock);
    let secs = (target - now).num_seconds();
    assert!(secs >= 0, "{when} is in the clock's past ({now})");
    if secs > 0 {
        op.advance(secs).await;
    }
}

/// One use of a product: signed in at `when`, used 10 minutes, signed out (no refund).
async fn use_at(app: &TestApp, op: &Http, u: &Http, team: i64, product: &str, when: &str) {
    clock_to(app, op, when).await;
    let s = u
        .post("/v1/sessions", json!({"team": team, "product": product}))
        .await;
    let id = s.ok(201)["id"].as_i64().unwrap();
    op.advance(600).await;
    u.post(
        &format!("/v1/sessions/{id}/heartbeat"),
        json!({"active": true}),
    )
    .await
    .ok(200);
    u.send(Method::DELETE, &format!("/v1/sessions/{id}"), None, &[])
        .await
        .ok(200);
}

/// A use refunded by the grace rule: counts as use with 0 tokens.
async fn quick_use_at(app: &TestApp, op: &Http, u: &Http, team: i64, product: &str, when: &str) {
    clock_to(app, op, when).await;
    let s = u
        .post("/v1/sessions", json!({"team": team, "product": product}))
        .await;
    let id = s.ok(201)["id"].as_i64().unwrap();
    op.advance(120).await;
    let out = u
        .send(Method::DELETE, &format!("/v1/sessions/{id}"), None, &[])
        .await;
    assert!(out.ok(200)["tokens_refunded"].as_i64().unwrap() > 0);
}

async fn report(op: &Http, team: i64, query: &str) -> Value {
    op.get(&format!("/v1/teams/{team}/usage?{query}"))
        .await
        .ok(200)
        .clone()
}

fn summary(r: &Value) -> (i64, i64, i64, i64) {
    let s = &r["summary"];
    (
        s["tokens"].as_i64().unwrap(),
        s["products"].as_i64().unwrap(),
        s["users"].as_i64().unwrap(),
        s["periods"].as_i64().unwrap(),
    )
}

/// The first quarter of 2026: uses on month edges, and a grace refund (0 tokens).
async fn quarter(app: &TestApp, op: &Http) -> (i64, Http, Http) {
    let team = scene(op, 1000).await;
    let u1 = user(app, team, 1).await;
    let u2 = user(app, team, 2).await;
    use_at(app, op, &u1, team, "autocad", "2026-01-05T09:00:00Z").await;
    use_at(app, op, &u2, team, "revit", "2026-01-31T09:00:00Z").await;
    use_at(app, op, &u1, team, "autocad", "2026-02-01T09:00:00Z").await;
    use_at(app, op, &u1, team, "maya", "2026-02-28T09:00:00Z").await;
    use_at(app, op, &u2, team, "autocad", "2026-03-01T09:00:00Z").await;
    use_at(app, op, &u1, team, "autocad", "2026-03-15T09:00:00Z").await;
    quick_use_at(app, op, &u2, team, "revit", "2026-03-15T10:00:00Z").await;
    (team, u1, u2)
}

async fn ranges(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let (team, u1, _) = quarter(&app, &op).await;
    clock_to(&app, &op, "2026-04-10T12:00:00Z").await;

    let r = report(&op, team, "range=past_30_days").await;
    assert_eq!(r["range"]["from"], "2026-03-12");
    assert_eq!(r["range"]["to"], "2026-04-10");
    assert_eq!(
        summary(&r),
        (7, 2, 2, 2),
        "the refunded use counts with 0 tokens"
    );
    assert_eq!(
        summary(&report(&op, team, "").await),
        (7, 2, 2, 2),
        "past 30 days by default"
    );
    for months in [3, 6, 9, 12] {
        let r = report(&op, team, &format!("range=past_{months}_months")).await;
        assert_eq!(
            r["range"]["to"], "2026-03-31",
            "the current month is excluded"
        );
        assert_eq!(summary(&r), (42, 3, 2, 7), "past {months} months");
    }
    let r = report(&op, team, "range=past_3_months").await;
    assert_eq!(r["range"]["from"], "2026-01-01");
    // Month boundaries: the last day of one month and the first of the next.
    let r = report(&op, team, "from=2026-01-31&to=2026-02-01").await;
    assert_eq!(r["range"]["name"], "custom");
    assert_eq!(summary(&r), (17, 2, 2, 2));
    assert_eq!(
        summary(&report(&op, team, "range=custom&from=2026-02-01&to=2026-02-28").await),
        (11, 2, 1, 2)
    );
    assert_eq!(
        summary(&report(&op, team, "from=2026-01-06&to=2026-01-30").await),
        (0, 0, 0, 0)
    );

    let r = report(&op, team, "range=past_3_months&by=product").await;
    let rows: Vec<(String, i64, i64, i64)> = r["by_product"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["product"].as_str().unwrap().to_owned(),
                p["tokens"].as_i64().unwrap(),
                p["users"].as_i64().unwrap(),
                p["days"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("autocad".into(), 28, 2, 4),
            ("maya".into(), 4, 1, 1),
            ("revit".into(), 10, 1, 2),
        ]
    );
    let r = report(&op, team, "range=past_3_months&by=user").await;
    let users = r["by_user"].as_array().unwrap();
    assert_eq!(users[0]["user"], "User 1");
    assert_eq!(users[0]["email"], "user1@example.com");
    assert_eq!(
        (
            users[0]["tokens"].as_i64(),
            users[0]["products"].as_i64(),
            users[0]["days"].as_i64()
        ),
        (Some(25), Some(2), Some(4))
    );
    let weeks: Vec<(String, i64)> = users[0]["weeks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["week"].as_str().unwrap().to_owned(),
                w["days"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weeks,
        vec![
            ("2026-W02".into(), 1),
            ("2026-W05".into(), 1),
            ("2026-W09".into(), 1),
            ("2026-W11".into(), 1)
        ]
    );
    assert_eq!(users[1]["tokens"], 17);
    assert_eq!(users[1]["days"], 3);
    let r = report(&op, team, "from=2026-02-27&to=2026-03-02&by=day").await;
    let days: Vec<(String, i64)> = r["by_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["tokens"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            ("2026-02-27".into(), 0),
            ("2026-02-28".into(), 4),
            ("2026-03-01".into(), 7),
            ("2026-03-02".into(), 0)
        ]
    );

    // A leap year: 29 February 2028 is a day of its own, and February has 29 days.
    clock_to(&app, &op, "2028-02-01T08:00:00Z").await;
    op.buy(team, 100).await;
    use_at(&app, &op, &u1, team, "autocad", "2028-02-29T09:00:00Z").await;
    use_at(&app, &op, &u1, team, "revit", "2028-03-01T09:00:00Z").await;
    clock_to(&app, &op, "2028-04-02T08:00:00Z").await;
    let r = report(&op, team, "range=past_3_months").await;
    assert_eq!(
        (r["range"]["from"].as_str(), r["range"]["to"].as_str()),
        (Some("2028-01-01"), Some("2028-03-31"))
    );
    assert_eq!(r["range"]["days"], 31 + 29 + 31);
    assert_eq!(summary(&r), (17, 2, 1, 2));
    assert_eq!(
        summary(&report(&op, team, "from=2028-02-29&to=2028-02-29").await),
        (7, 1, 1, 1)
    );
    assert_eq!(
        summary(&report(&op, team, "from=2028-02-01&to=2028-02-29").await),
        (7, 1, 1, 1)
    );
    let r = report(&op, team, "range=past_12_months").await;
    assert_eq!(
        (r["range"]["from"].as_str(), r["range"]["to"].as_str()),
        (Some("2027-04-01"), Some("2028-03-31"))
    );
    app.shutdown().await;
}

async fn export(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let (team, u1, _) = quarter(&app, &op).await;
    // A result charge, too.
    clock_to(&app, &op, "2026-03-20T09:00:00Z").await;
    let s = u1
        .post("/v1/sessions", json!({"team": team, "product": "autocad"}))
        .await;
    let id = s.ok(201)["id"].as_i64().unwrap();
    u1.post(
        &format!("/v1/sessions/{id}/results"),
        json!({"type": "render.cloud", "quantity": 2, "id": "r1"}),
    )
    .await
    .ok(200);
    op.advance(600).await;
    u1.post(
        &format!("/v1/sessions/{id}/heartbeat"),
        json!({"active": true}),
    )
    .await
    .ok(200);
    u1.send(Method::DELETE, &format!("/v1/sessions/{id}"), None, &[])
        .await
        .ok(200);
    clock_to(&app, &op, "2026-04-10T12:00:00Z").await;

    let answer = op
        .get(&format!("/v1/teams/{team}/usage.csv?range=past_3_months"))
        .await;
    assert_eq!(answer.status.as_u16(), 200);
    assert!(answer.content_type.starts_with("text/csv"));
    let text = answer.body.as_str().unwrap().to_owned();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        &header[..7],
        [
            "date", "user", "email", "product", "tokens", "access", "team"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.len(),
        7 + 1 + 1,
        "one row per usage period and per result"
    );
    let csv_tokens: i64 = rows.iter().map(|r| r[4].parse::<i64>().unwrap()).sum();
    let events = op
        .get(&format!(
            "/v1/teams/{team}/events?from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z"
        ))
        .await;
    let ledger: i64 = events
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "charged" || e["kind"] == "refunded")
        .map(|e| -e["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(csv_tokens, ledger, "charged minus refunded");
    assert_eq!(csv_tokens, 42 + 7 + 10);
    let refunded = rows
        .iter()
        .find(|r| &r[0] == "2026-03-15" && &r[3] == "revit")
        .unwrap();
    assert_eq!(&refunded[4], "0");
    let result = rows.iter().find(|r| &r[7] == "result").unwrap();
    assert_eq!(
        (&result[8], &result[9], &result[4]),
        ("render.cloud", "2", "10")
    );
    assert_eq!(&rows[0][1], "User 1");
    assert_eq!(&rows[0][6], "Design");
    assert_eq!(&rows[0][5], "flex");
    app.shutdown().await;
}

async fn balance_low(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let u = user(&app, team, 1).await;
    for p in ["autocad", "revit", "maya"] {
        u.post("/v1/sessions", json!({"team": team, "product": p}))
            .await
            .ok(201);
    }
    // 79 of 100 left: not low at 20 %, low at 80 %.
    let b = op.get(&format!("/v1/teams/{team}/balance")).await;
    assert_eq!(
        (b.ok(200)["available"].as_i64(), b.ok(200)["low"].as_bool()),
        (Some(79), Some(false))
    );
    op.send(
        Method::PUT,
        &format!("/v1/teams/{team}/settings"),
        Some(RawBody::Json(json!({"low_balance_percent": 80}))),
        &[],
    )
    .await
    .ok(200);
    assert_eq!(
        op.get(&format!("/v1/teams/{team}/balance")).await.ok(200)["low"],
        true
    );
    app.shutdown().await;
}

async fn admins(op: &Http, team: i64) {
    for (email, name) in [
        ("ann@example.com", "Ann Admin"),
        ("bob@example.com", "Bob Admin"),
    ] {
        op.post(
            "/v1/admins",
            json!({"email": email, "name": name, "teams": [team]}),
        )
        .await
        .ok(201);
    }
}

async fn mails(op: &Http, kind: &str) -> Vec<Value> {
    op.get("/v1/outbox?limit=1000")
        .await
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == kind)
        .cloned()
        .collect()
}

async fn low_balance_alerts(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 50).await;
    admins(&op, team).await;
    let u1 = user(&app, team, 1).await;
    let u2 = user(&app, team, 2).await;
    let u3 = user(&app, team, 3).await;
    u1.post("/v1/sessions", json!({"team": team, "product": "revit"}))
        .await
        .ok(201); // 40 left
    u1.post("/v1/sessions", json!({"team": team, "product": "autocad"}))
        .await
        .ok(201); // 33
    u1.post("/v1/sessions", json!({"team": team, "product": "maya"}))
        .await
        .ok(201); // 29
    assert!(
        mails(&op, "low_balance").await.is_empty(),
        "29 of 50 is not low"
    );
    u2.post("/v1/sessions", json!({"team": team, "product": "revit"}))
        .await
        .ok(201); // 19
    u2.post("/v1/sessions", json!({"team": team, "product": "maya"}))
        .await
        .ok(201); // 15
    u3.post("/v1/sessions", json!({"team": team, "product": "revit"}))
        .await
        .ok(201); // 5: below 10
    let sent = mails(&op, "low_balance").await;
    assert_eq!(sent.len(), 2, "one email to each admin: {sent:?}");
    let to: Vec<&str> = sent.iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert!(to.contains(&"ann@example.com") && to.contains(&"bob@example.com"));
    assert!(sent[0]["body"].as_str().unwrap().contains("20 %"));
    u3.post("/v1/sessions", json!({"team": team, "product": "maya"}))
        .await
        .ok(201); // 1: still low
    assert_eq!(
        mails(&op, "low_balance").await.len(),
        2,
        "staying below sends none"
    );
    // Topping up: above the threshold again (201 of 250); then crossing again sends again.
    op.buy(team, 200).await;
    assert_eq!(mails(&op, "low_balance").await.len(), 2);
    let mut n = 4;
    while op.available(team).await >= 50 {
        let u = user(&app, team, n).await;
        u.post("/v1/sessions", json!({"team": team, "product": "revit"}))
            .await
            .ok(201);
        n += 1;
    }
    assert_eq!(
        mails(&op, "low_balance").await.len(),
        4,
        "a second crossing: one more each"
    );
    app.shutdown().await;
}

async fn expiry_warnings(db: TestDb) {
    let app = app(db).await; // 2026-01-05 08:00
    let op = Http::new(&app);
    let team = scene(&op, 100).await; // expires 2027-01-05 08:00
    admins(&op, team).await;
    let warned = |n: usize| {
        let op = op.clone();
        async move {
            let m = mails(&op, "tokens_expiring").await;
            assert_eq!(m.len(), n, "{m:?}");
            m
        }
    };
    clock_to(&app, &op, "2026-10-06T07:00:00Z").await; // 91 days left
    warned(0).await;
    clock_to(&app, &op, "2026-10-07T09:00:00Z").await; // under 90 days
    let m = warned(2).await;
    assert!(
        m[0]["subject"].as_str().unwrap().contains("90 days"),
        "{m:?}"
    );
    assert!(m[0]["body"].as_str().unwrap().contains("100 tokens"));
    clock_to(&app, &op, "2026-11-01T00:00:00Z").await;
    warned(2).await;
    clock_to(&app, &op, "2026-12-06T09:00:00Z").await; // under 30 days
    warned(4).await;
    clock_to(&app, &op, "2026-12-29T09:00:00Z").await; // under 7 days
    let m = warned(6).await;
    assert!(
        m.iter()
            .any(|x| x["subject"].as_str().unwrap().contains("7 days"))
    );
    clock_to(&app, &op, "2027-01-06T00:00:00Z").await; // expired
    warned(6).await;
    app.shutdown().await;
}

async fn pseudonyms(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let (team, _, _) = quarter(&app, &op).await;
    clock_to(&app, &op, "2026-04-10T12:00:00Z").await;
    let settings = format!("/v1/teams/{team}/settings");
    assert_eq!(op.get(&settings).await.ok(200)["pseudonyms"], false);
    let on = op
        .send(
            Method::PUT,
            &settings,
            Some(RawBody::Json(json!({"pseudonyms": true}))),
            &[],
        )
        .await;
    assert_eq!(on.ok(200)["pseudonyms"], true);
    let r = report(&op, team, "range=past_3_months&by=user").await;
    assert_eq!(r["pseudonyms"], true);
    let users = r["by_user"].as_array().unwrap().clone();
    let names: Vec<String> = users
        .iter()
        .map(|u| u["user"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("person-")), "{names:?}");
    assert!(
        users
            .iter()
            .all(|u| u.get("email").is_none() && u.get("user_id").is_none())
    );
    let again = report(&op, team, "range=past_3_months&by=user").await;
    assert_eq!(again["by_user"], r["by_user"], "stable");
    let csv = op
        .get(&format!("/v1/teams/{team}/usage.csv?range=past_3_months"))
        .await;
    let text = csv.body.as_str().unwrap().to_owned();
    assert!(
        !text.contains("User 1") && !text.contains("example.com"),
        "{text}"
    );
    assert!(text.contains(&names[0]));
    // Off again, on again: the same pseudonyms.
    op.send(
        Method::PUT,
        &settings,
        Some(RawBody::Json(json!({"pseudonyms": false}))),
        &[],
    )
    .await
    .ok(200);
    assert_eq!(
        report(&op, team, "range=past_3_months&by=user").await["by_user"][0]["user"],
        "User 1"
    );
    op.send(
        Method::PUT,
        &settings,
        Some(RawBody::Json(json!({"pseudonyms": true}))),
        &[],
    )
    .await
    .ok(200);
    assert_eq!(
        report(&op, team, "range=past_3_months&by=user").await["by_user"],
        r["by_user"]
    );
    app.shutdown().await;
}

async fn forecast_and_estimate(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 700).await;
    let u = user(&app, team, 1).await;
    // 30 days of AutoCAD, one period a day: 210 tokens in 30 days, 7 a day.
    for day in 0..30 {
        let when = (chrono::DateTime::parse_from_rfc3339("2026-01-06T09:00:00Z").unwrap()
            + chrono::Duration::days(day))
        .to_rfc3339();
        use_at(&app, &op, &u, team, "autocad", &when).await;
    }
    clock_to(&app, &op, "2026-02-04T12:00:00Z").await;
    let f = op.get(&format!("/v1/teams/{team}/forecast")).await;
    let f = f.ok(200).clone();
    assert_eq!(f["available"], 490);
    assert_eq!(f["daily_burn"], 7.0);
    assert_eq!(f["runs_out_by_use"], true);
    assert_eq!(f["expiring_unused"], 0);
    assert_eq!(f["balance_zero_at"], "2026-04-15T12:00:00Z", "70 days of 7");

    let e = op
        .post(
            "/v1/estimate",
            json!({"team": team, "plan": [{"product": "autocad", "users": 5, "days_per_month": 8},
                                          {"product": "revit", "users": 2, "days_per_month": 4}]}),
        )
        .await;
    let e = e.ok(200).clone();
    assert_eq!(e["lines"][0]["tokens_per_month"], 280);
    assert_eq!(e["tokens_per_month"], 360);
    assert_eq!(e["tokens_per_year"], 4320);
    assert_eq!(e["team"]["available"], 490);
    assert_eq!(e["team"]["shortfall"], 4320 - 490);
    assert_eq!(e["team"]["expiring_before_use"], 0);
    op.post(
        "/v1/estimate",
        json!({"plan": [{"product": "nope", "users": 1, "days_per_month": 1}]}),
    )
    .await
    .problem(422, "unknown_product");
    op.post(
        "/v1/estimate",
        json!({"plan": [{"product": "autocad", "users": -1, "days_per_month": 1}]}),
    )
    .await
    .problem(400, "invalid_range");
    op.post("/v1/estimate", json!({"plan": []}))
        .await
        .problem(400, "invalid_range");
    app.shutdown().await;
}

async fn bad_input(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 10).await;
    let other = op.team("Other").await;
    for q in [
        "range=yesterday",
        "range=custom",
        "range=custom&from=2026-02-01&to=2026-01-01",
        "from=2024-01-01&to=2026-01-01",
        "range=past_30_days&from=2026-01-01",
    ] {
        op.get(&format!("/v1/teams/{team}/usage?{q}"))
            .await
            .problem(400, "invalid_range");
    }
    op.get(&format!("/v1/teams/{team}/usage?by=month"))
        .await
        .problem(400, "invalid_query");
    op.get(&format!("/v1/teams/{team}/usage?from=01/02/2026"))
        .await
        .problem(400, "invalid_query");
    op.get(&format!("/v1/teams/{team}/usage.csv?by=product"))
        .await
        .problem(400, "invalid_query");
    op.send(
        Method::PUT,
        &format!("/v1/teams/{team}/settings"),
        Some(RawBody::Json(json!({"low_balance_percent": 0}))),
        &[],
    )
    .await
    .problem(400, "invalid_range");
    op.send(
        Method::PUT,
        &format!("/v1/teams/{team}/settings"),
        Some(RawBody::Json(json!({"low_balance_percent": 100}))),
        &[],
    )
    .await
    .problem(400, "invalid_range");
    let ann = op.admin_of(team).await;
    ann.get(&format!("/v1/teams/{team}/usage")).await.ok(200);
    for path in ["usage", "usage.csv", "settings", "forecast"] {
        ann.get(&format!("/v1/teams/{other}/{path}"))
            .await
            .problem(404, "not_found");
    }
    ann.post(
        "/v1/estimate",
        json!({"team": other, "plan": [{"product": "autocad", "users": 1, "days_per_month": 1}]}),
    )
    .await
    .problem(404, "not_found");
    assert_eq!(
        op.get(&format!("/v1/teams/{team}/settings")).await.ok(200)["low_balance_percent"],
        20
    );
    app.shutdown().await;
}
