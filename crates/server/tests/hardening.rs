//! What a hostile or unlucky client found, kept found: each test here failed before its fix.
//! Over real HTTP, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use common::{Http, RawBody, app};
use jeton_server::testing::{SpawnOptions, TEST_START, spawn_on, spawn_with_options};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use reqwest::Method;
use serde_json::json;

both_backends! {
    password_hashing_is_bounded_and_the_excess_is_told_to_come_back => sign_in_flood,
    times_and_days_outside_the_bounds_are_a_400_not_a_500 => out_of_range_dates,
    control_characters_are_refused_alike_on_both_backends => control_characters,
    names_that_show_nothing_or_turn_text_around_are_refused => deceptive_names,
    csv_cells_never_open_as_spreadsheet_formulas => csv_formulas,
    concurrent_writes_through_every_kind_of_endpoint_never_fail_with_5xx => concurrent_writes,
    a_client_that_never_finishes_its_headers_is_disconnected => slow_headers,
    idempotency_keys_are_each_users_own_and_conflicts_quote_nobody_else => idempotency_privacy,
    a_form_that_a_browser_would_not_send_is_a_problem_not_plain_text => bad_forms,
    a_trial_starting_at_the_instant_of_a_sign_in_takes_over_cleanly => trial_at_sign_in,
}

fn metric(text: &str, name: &str) -> i64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in {text}"))
}

/// 300 sign-ins at once with addresses nobody has (so the per-address limit never applies):
/// each is answered, either 401 after its password check or 503 `busy` with `Retry-After`; never
/// more hashes run at once than the server has slots (one per core), which bounds its memory.
async fn sign_in_flood(db: TestDb) {
    let app = app(db).await;
    let anon = Http::with_key(&app, None);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let anon = anon.clone();
        tasks.push(tokio::spawn(async move {
            anon.post(
                "/v1/auth/token",
                json!({"email": format!("nobody{i}@example.com"), "password": "not-a-password"}),
            )
            .await
        }));
    }
    let (mut refused, mut busy) = (0, 0);
    let mut turned_away = None;
    for (i, t) in tasks.into_iter().enumerate() {
        let a = t.await.unwrap();
        match a.status.as_u16() {
            401 => {
                a.problem(401, "invalid_credentials");
                refused += 1;
            }
            503 => {
                let detail = a.problem(503, "busy");
                assert!(detail.contains("try again"), "{detail}");
                assert_eq!(a.headers["retry-after"], "1", "{a:?}");
                busy += 1;
                turned_away = Some(i);
            }
            _ => panic!("a sign-in under load answered {a:?}"),
        }
    }
    assert_eq!(refused + busy, 300);
    assert!(refused > 0, "some passwords were checked");
    assert!(
        busy > 0,
        "300 at once is past the queue: the excess is turned away"
    );

    let text = Http::new(&app).metrics_text().await;
    let slots = std::thread::available_parallelism().map_or(2, |n| n.get()) as i64;
    let peak = metric(&text, "jeton_password_hashes_peak");
    assert!(
        (1..=slots).contains(&peak),
        "at most {slots} hashes at once, saw {peak}"
    );
    assert_eq!(metric(&text, "jeton_password_hashes"), 0, "all finished");

    // A busy answer spent none of the address's 10 attempts: an address that was turned away
    // still gets its password checked ten times (401), and only the eleventh is a 429.
    let email = format!("nobody{}@example.com", turned_away.unwrap());
    let attempt = || {
        anon.post(
            "/v1/auth/token",
            json!({"email": email, "password": "not-a-password"}),
        )
    };
    for _ in 0..10 {
        attempt().await.problem(401, "invalid_credentials");
    }
    attempt().await.problem(429, "too_many_sign_in_attempts");
    app.shutdown().await;
}

async fn out_of_range_dates(db: TestDb) {
    let app = app(db).await;
    let http = Http::new(&app);
    let team = http.team("Design").await;
    http.buy(team, 100).await;
    let user = app.user_with_token("jane@example.com", "Jane Doe").await.0;
    http.product("autocad", 7).await;

    let far = "range=custom&from=%2B262142-12-01&to=%2B262142-12-31";
    let mut paths = vec![
        format!("/v1/teams/{team}/events?to=-262143-01-01T00:00:00Z"),
        format!("/v1/teams/{team}/events?from=%2B262142-01-01T00:00:00Z"),
        format!("/v1/teams/{team}/events?to=1969-12-31T23:59:59Z"),
        format!("/v1/teams/{team}/usage.csv?{far}"),
        format!("/v1/teams/{team}/usage?range=custom&from=1969-12-01&to=1969-12-31"),
    ];
    for by in ["summary", "product", "user", "day"] {
        paths.push(format!("/v1/teams/{team}/usage?{far}&by={by}"));
    }
    for path in &paths {
        let a = http.get(path).await;
        let detail = a.problem(400, "invalid_query");
        assert!(
            detail.contains("1970-01-01") && detail.contains("9999-12-31"),
            "{path}: {detail}"
        );
    }
    for (starts, ends) in [
        ("-262143-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        ("2026-01-01T00:00:00Z", "+262142-12-31T00:00:00Z"),
    ] {
        let a = http
            .post(
                &format!("/v1/users/{user}/subscriptions"),
                json!({"product": "autocad", "starts_at": starts, "ends_at": ends}),
            )
            .await;
        let detail = a.problem(400, "invalid_body");
        assert!(detail.contains("9999-12-31"), "{detail}");
    }
    let entitlements = http.get(&format!("/v1/users/{user}/entitlements")).await;
    assert_eq!(entitlements.ok(200), &json!([]), "nothing was added");

    // The ends of the range are fine, and a year-long export of an empty range is a header.
    http.get(&format!(
        "/v1/teams/{team}/events?from=1970-01-01T00:00:00Z&to=9999-12-31T23:59:59Z"
    ))
    .await
    .ok(200);
    let csv = http
        .get(&format!(
            "/v1/teams/{team}/usage.csv?range=custom&from=9999-01-01&to=9999-12-31"
        ))
        .await;
    assert_eq!(csv.status.as_u16(), 200, "{csv:?}");
    let text = csv.body.as_str().unwrap();
    assert!(text.starts_with("date,user,"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    app.shutdown().await;
}

async fn control_characters(db: TestDb) {
    let app = app(db).await;
    let http = Http::new(&app);
    let team = http.team("Design").await;
    http.product("cad", 7).await;
    let (_, jane) = http.flex_user(&app, team, 1).await;
    http.buy(team, 100).await;

    // At sign-in, in the product key: refused before any rule or statement.
    let a = jane
        .post(
            "/v1/sessions",
            json!({"team": team, "product": "cad\u{0000}"}),
        )
        .await;
    let detail = a.problem(400, "invalid_body");
    assert!(
        detail.contains("product") && detail.contains("U+0000"),
        "{detail}"
    );
    // … deep in a body, and in an object's key.
    let a = http
        .post(
            &format!("/v1/teams/{team}/flex/users/batch"),
            json!({"entries": ["Ann Bee <ann@example.com>", "Bob\u{0007} <bob@example.com>"]}),
        )
        .await;
    let detail = a.problem(400, "invalid_body");
    assert!(
        detail.contains("entries[1]") && detail.contains("U+0007"),
        "{detail}"
    );
    http.post("/v1/teams", json!({"name\u{0000}": "x"}))
        .await
        .problem(400, "invalid_body");
    // In query strings.
    for path in [
        "/v1/outbox?to=%00".to_owned(),
        "/v1/outbox?status=sent%01".to_owned(),
        format!("/v1/teams/{team}/usage?range=past_30_days%00"),
    ] {
        let detail = http.get(&path).await.problem(400, "invalid_query");
        assert!(detail.contains("control characters"), "{path}: {detail}");
    }
    // Line breaks and tabs are text that some fields hold (a list of invitees, one per line).
    let a = http
        .post(
            &format!("/v1/teams/{team}/flex/users/batch"),
            json!({"entries": ["Ann Bee <ann@example.com>\n\tBob Roe <bob@example.com>"]}),
        )
        .await;
    assert_ne!(a.status.as_u16(), 500, "{a:?}");
    // Nothing was charged or created by the refusals.
    assert_eq!(http.available(team).await, 100);
    let teams = http.get("/v1/teams").await;
    assert_eq!(teams.ok(200).as_array().unwrap().len(), 1);
    app.shutdown().await;
}

async fn deceptive_names(db: TestDb) {
    let app = app(db).await;
    let http = Http::new(&app);
    for name in [
        "\u{200B}\u{200B}",
        "\u{3164}",
        "Ann\u{202E}nimdA",
        "\u{2066}Ops",
    ] {
        http.post("/v1/teams", json!({"name": name}))
            .await
            .problem(400, "invalid_name");
    }
    let team = http.team("Design").await;
    for who in [
        "\u{200B} <ghost@example.com>",
        "Admin\u{202E}lanoitaN <eve@example.com>",
    ] {
        let a = http
            .post(
                &format!("/v1/teams/{team}/flex/users"),
                json!({"invite": who, "all": true}),
            )
            .await;
        assert_eq!(a.status.as_u16(), 400, "{who}: {a:?}");
    }
    let users = http.get(&format!("/v1/teams/{team}/flex/users")).await;
    assert_eq!(users.ok(200), &json!([]));
    app.shutdown().await;
}

async fn csv_formulas(db: TestDb) {
    let app = app(db).await;
    let http = Http::new(&app);
    let team = http.team("=HYPERLINK(\"http://evil\")").await;
    http.product("cad", 7).await;
    http.buy(team, 100).await;
    let (id, token) = app
        .user_with_token("formula@example.com", "=1+2 Evil")
        .await;
    http.post(
        &format!("/v1/teams/{team}/flex/users"),
        json!({"user_id": id, "all": true}),
    )
    .await
    .ok(201);
    let user = Http::with_key(&app, Some(token));
    user.post("/v1/sessions", json!({"team": team, "product": "cad"}))
        .await
        .ok(201);
    let csv = http.get(&format!("/v1/teams/{team}/usage.csv")).await;
    let text = csv.body.as_str().unwrap().to_owned();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let row = rows.records().next().expect("one usage row").unwrap();
    assert_eq!(&row[1], "'=1+2 Evil", "{text}");
    assert_eq!(&row[6], "'=HYPERLINK(\"http://evil\")", "{text}");
    assert_eq!(&row[4], "7", "numbers stay numbers");
    app.shutdown().await;
}

/// Two servers on one database (on SQLite: two processes on one file, whose writers only the
/// database's lock keeps apart) and every kind of write at once: purchases, moves, subscriptions,
/// trials, invitations and their resends, selections, settings, sign-ins. Before write
/// transactions took SQLite's lock first, a transaction that read and then wrote could fail with
/// "database is locked" when the other process had committed in between.
async fn concurrent_writes(db: TestDb) {
    let shared = db.share();
    let one = spawn_on(db, TEST_START.parse().unwrap()).await;
    let two = spawn_on(shared, TEST_START.parse().unwrap()).await;
    let (h1, h2) = (Http::new(&one), Http::new(&two));
    h1.product("cad", 7).await;
    let teams = [h1.team("A").await, h1.team("B").await];
    for t in teams {
        h1.buy(t, 100_000).await;
    }
    let mut users = Vec::new();
    for n in 0..4 {
        users.push(h1.flex_user(&one, teams[n % 2], n).await);
    }
    let mut invitations = Vec::new();
    for n in 0..4 {
        let a = h1
            .post(
                &format!("/v1/teams/{}/flex/users", teams[0]),
                json!({"invite": format!("Person {n} <person{n}@example.com>"), "all": true}),
            )
            .await;
        invitations.push(a.ok(201)["invitation_id"].as_i64().unwrap());
    }

    let mut tasks = Vec::new();
    for i in 0..240usize {
        let http = if i % 2 == 0 { h1.clone() } else { h2.clone() };
        let team = teams[i % 2];
        let other = teams[(i + 1) % 2];
        let (user, user_http) = users[i % users.len()].clone();
        let invitation = invitations[i % invitations.len()];
        tasks.push(tokio::spawn(async move {
            let day = 1 + i % 28;
            let (method, path, body, caller) = match i % 8 {
                0 => (
                    Method::POST,
                    format!("/v1/teams/{team}/packs"),
                    json!({"tokens": 10}),
                    &http,
                ),
                1 => (
                    Method::POST,
                    format!("/v1/teams/{team}/moves"),
                    json!({"to_team": other, "tokens": 1}),
                    &http,
                ),
                2 => (
                    Method::POST,
                    format!("/v1/users/{user}/subscriptions"),
                    json!({"product": "cad", "starts_at": format!("2027-02-{day:02}T00:00:00Z"),
                           "ends_at": "2027-03-01T00:00:00Z"}),
                    &http,
                ),
                3 => (
                    Method::POST,
                    format!("/v1/teams/{}/invitations/{invitation}/resend", teams[0]),
                    json!({}),
                    &http,
                ),
                4 => (
                    Method::PUT,
                    format!("/v1/teams/{team}/settings"),
                    json!({"low_balance_percent": 10 + i % 20}),
                    &http,
                ),
                5 => (
                    Method::POST,
                    "/v1/sessions".to_owned(),
                    json!({"team": team, "product": "cad"}),
                    &user_http,
                ),
                6 => (
                    Method::PUT,
                    format!("/v1/teams/{team}/flex/defaults"),
                    json!({"products": ["cad"]}),
                    &http,
                ),
                _ => (
                    Method::POST,
                    format!("/v1/users/{user}/trials"),
                    json!({"product": "cad", "starts_at": format!("2027-05-{day:02}T00:00:00Z"),
                           "ends_at": "2027-06-01T00:00:00Z"}),
                    &http,
                ),
            };
            let a = caller
                .send(method, &path, Some(RawBody::Json(body)), &[])
                .await;
            assert!(a.status.as_u16() < 500, "{path}: {a:?}");
            a.status.as_u16()
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        *statuses
            .entry(t.await.expect("no request task panicked"))
            .or_default() += 1;
    }
    assert_eq!(statuses.values().sum::<usize>(), 240);
    assert!(
        statuses.get(&201).copied().unwrap_or(0) >= 60,
        "most writes succeed: {statuses:?}"
    );
    // The ledger still adds up on both teams after it all.
    for t in teams {
        let audit = h2.get(&format!("/v1/teams/{t}/audit")).await;
        assert_eq!(audit.ok(200)["balanced"], true, "{audit:?}");
    }
    one.shutdown().await;
    two.shutdown().await;
}

/// A connection that trickles a request head and never ends it is closed by the server once the
/// header read timeout has passed (here 300 ms, to keep the test short); requests that are
/// complete are served as usual meanwhile.
async fn slow_headers(db: TestDb) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_with_options(
        db,
        SpawnOptions {
            header_read_timeout: std::time::Duration::from_millis(300),
            ..SpawnOptions::default()
        },
    )
    .await;
    let addr = app.base_url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        .await
        .unwrap();
    let opened = std::time::Instant::now();
    // Meanwhile a whole request on another connection is answered.
    Http::with_key(&app, None).get("/healthz").await.ok(200);
    // Waits for the server's move, not for time: the read ends when the server closes (a 408
    // answer may come first). The outer bound only keeps a broken server from hanging the test.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        slow.read_to_end(&mut answer),
    )
    .await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "the server kept a connection with an unfinished head open for 20 s"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(opened.elapsed() >= std::time::Duration::from_millis(250));
    app.shutdown().await;
}

async fn idempotency_privacy(db: TestDb) {
    let app = app(db).await;
    let http = Http::new(&app);
    let team = http.team("Design").await;
    http.product("cad", 7).await;
    http.product("secretproject", 5).await;
    http.buy(team, 100).await;
    let (_, jane) = http.flex_user(&app, team, 1).await;
    let (_, john) = http.flex_user(&app, team, 2).await;
    let open = |who: &Http, product: &str| {
        let who = who.clone();
        let body = json!({"team": team, "product": product, "machine": "WS-SECRET-42"});
        async move {
            who.send(
                Method::POST,
                "/v1/sessions",
                Some(RawBody::Json(body)),
                &[("Idempotency-Key", "launch-1")],
            )
            .await
        }
    };
    let jane_session = open(&jane, "secretproject").await.ok(201).clone();
    // John picks the same key: his own sign-in, not a conflict and never Jane's answer.
    let john_session = open(&john, "cad").await;
    let john_session = john_session.ok(201).clone();
    assert!(john_session["id"].is_i64());
    assert_ne!(john_session["id"], jane_session["id"]);
    assert_eq!(http.available(team).await, 100 - 5 - 7);
    // His own key reused for something else: refused, quoting his request only.
    let detail = open(&john, "secretproject")
        .await
        .problem(422, "idempotency_key_reused");
    assert!(detail.contains("\"secretproject\""), "{detail}");
    let jane_detail = open(&jane, "cad")
        .await
        .problem(422, "idempotency_key_reused");
    assert!(
        jane_detail.contains("\"cad\"") && !jane_detail.contains("secretproject"),
        "the conflict tells Jane about her request, not about the one remembered: {jane_detail}"
    );
    app.shutdown().await;
}

async fn bad_forms(db: TestDb) {
    let app = app(db).await;
    let anon = Http::with_key(&app, None);
    let form = "application/x-www-form-urlencoded";
    for (body, needle) in [
        ("secret=abc", "password"),
        ("secret=abc&password=a%00b", "U+0000"),
        ("password=a-good-password", "secret"),
    ] {
        let a = anon
            .send(
                Method::POST,
                "/invitations/accept",
                Some(RawBody::Text(body.into(), form)),
                &[],
            )
            .await;
        let detail = a.problem(400, "invalid_form");
        assert!(detail.contains(needle), "{body}: {detail}");
    }
    let a = anon
        .send(
            Method::POST,
            "/invitations/accept",
            Some(RawBody::Text("{}".into(), "application/json")),
            &[],
        )
        .await;
    a.problem(415, "unsupported_media_type");
    app.shutdown().await;
}

/// A trial that starts at the very instant a paid sign-in opened its period (the test clock makes
/// the instant exact): the next steps of that session and new sign-ins at that same instant are
/// answered, not a 500.
async fn trial_at_sign_in(db: TestDb) {
    let app = app(db).await;
    let http = Http::new(&app);
    let team = http.team("Design").await;
    http.product("cad", 7).await;
    http.buy(team, 100).await;
    let (jane_id, jane) = http.flex_user(&app, team, 1).await;
    let first = jane
        .post("/v1/sessions", json!({"team": team, "product": "cad"}))
        .await;
    let session = first.ok(201)["id"].as_i64().unwrap();
    assert_eq!(first.body["tokens_charged"], 7);
    let now = jeton_core::Clock::now(&*app.clock).to_rfc3339();
    for kind in ["trials", "subscriptions"] {
        http.post(
            &format!("/v1/users/{jane_id}/{kind}"),
            json!({"product": "cad", "starts_at": now, "ends_at": "2026-03-01T00:00:00Z"}),
        )
        .await
        .ok(201);
        let again = jane
            .post("/v1/sessions", json!({"team": team, "product": "cad"}))
            .await;
        assert_eq!(again.status.as_u16(), 201, "{kind}: {again:?}");
        assert_eq!(again.body["tokens_charged"], 0, "{kind}: {again:?}");
        let beat = jane
            .post(
                &format!("/v1/sessions/{session}/heartbeat"),
                json!({"active": true}),
            )
            .await;
        assert_eq!(beat.status.as_u16(), 200, "{kind}: {beat:?}");
    }
    assert_eq!(
        http.available(team).await,
        93,
        "the Flex period stays paid once"
    );
    app.shutdown().await;
}
