//! Imports as background jobs over real HTTP, on both backends (R-USR-5): a large file finishes
//! with every line applied once and its outcomes paged by line; an import a dead server left
//! mid-way is finished by another, without applying a line twice; unfinished imports resume when
//! a server starts; admins see only their teams' imports; bodies over the limit are problem+json.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use common::{Http, RawBody, app};
use jeton_core::ImportId;
use jeton_server::testing::{IMPORT_CHUNK_LINES, IMPORT_LEASE, SpawnOptions, spawn_with_options};
use jeton_store::both_backends;
use jeton_store::flex::Secret;
use jeton_store::imports::Step;
use jeton_store::testing::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

both_backends! {
    r_usr_5_a_large_import_finishes_in_the_background_with_every_line_once => large,
    r_usr_5_an_import_a_dead_server_left_is_finished_by_another => dead_server,
    r_usr_5_unfinished_imports_resume_when_a_server_starts => resume_at_start,
    r_usr_5_an_import_of_a_team_merged_meanwhile_fails_with_the_code => merged_meanwhile,
    admins_see_only_their_own_teams_imports => scope,
    bad_import_queries_get_a_problem => bad_queries,
    bodies_over_the_limit_are_problem_json_naming_the_limit => too_large,
}

async fn scene(op: &Http) -> i64 {
    op.product("autocad", 7).await;
    op.product("revit", 5).await;
    op.team("Design").await
}

/// A file of `n` people after a header: every 1000th line has a bad address (refused when the
/// file is read), every 1500th names a product not in the catalogue (refused when applied).
fn file(n: usize) -> String {
    let mut text = String::from("name,email,products\n");
    for i in 1..=n {
        text.push_str(&if i % 1000 == 0 {
            format!("Person {i},not-an-email-{i}\n")
        } else if i % 1500 == 0 {
            format!("Person {i},p{i}@example.com,photoshop\n")
        } else if i % 2 == 0 {
            format!("Person {i},p{i}@example.com,autocad;revit\n")
        } else {
            format!("Person {i},p{i}@example.com,*\n")
        });
    }
    text
}

/// The file lines [`file`] refuses (the header is line 1).
fn refused_lines(n: usize) -> Vec<u64> {
    (1..=n)
        .filter(|i| i % 1000 == 0 || i % 1500 == 0)
        .map(|i| i as u64 + 1)
        .collect()
}

/// Every outcome of import `id`, following `next_after` page by page.
async fn all_outcomes(op: &Http, team: i64, id: i64, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = op
            .get(&format!(
                "/v1/teams/{team}/flex/imports/{id}?after={after}{query}"
            ))
            .await
            .ok(200)
            .clone();
        all.extend(page["outcomes"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => return all,
        }
    }
}

async fn large(db: TestDb) {
    // 20 chunks and several pages of outcomes; bench/import.sh times far larger files.
    const N: usize = 10_000;
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let refused_lines = refused_lines(N);
    let refused_when_read = (N / 1000) as u64;

    let queued = op.queue_import(team, &file(N), "").await;
    assert_eq!(queued["total"], N as u64);
    assert!(
        queued["status"] == "queued" || queued["status"] == "running",
        "{queued}"
    );
    // Lines refused when the file was read have their outcome at once.
    assert!(
        queued["done"].as_u64().unwrap() >= refused_when_read,
        "{queued}"
    );
    let id = queued["id"].as_i64().unwrap();
    app.run_imports().await;

    let job = op
        .get(&format!("/v1/teams/{team}/flex/imports/{id}?limit=0"))
        .await
        .ok(200)
        .clone();
    let applied = (N - refused_lines.len()) as u64;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(
        (
            job["applied"].as_u64(),
            job["unchanged"].as_u64(),
            job["refused"].as_u64(),
            job["done"].as_u64()
        ),
        (
            Some(applied),
            Some(0),
            Some(refused_lines.len() as u64),
            Some(N as u64)
        ),
        "every line applied once: {job}"
    );
    assert!(
        job["outcomes"].as_array().unwrap().is_empty(),
        "limit=0: counts only"
    );
    assert!(
        job["started_at"].is_string() && job["finished_at"].is_string(),
        "{job}"
    );

    // Paged outcomes: every line once, in line order.
    let outcomes = all_outcomes(&op, team, id, "&limit=3000").await;
    assert_eq!(outcomes.len(), N);
    let lines: Vec<u64> = outcomes
        .iter()
        .map(|o| o["line"].as_u64().unwrap())
        .collect();
    assert!(
        lines.windows(2).all(|w| w[0] < w[1]),
        "in line order, no line twice"
    );
    assert_eq!((lines[0], lines[N - 1]), (2, N as u64 + 1));
    // Only the refusals, a few at a time, with their line numbers and reasons.
    let refusals = all_outcomes(&op, team, id, "&outcome=refused&limit=7").await;
    let got: Vec<u64> = refusals
        .iter()
        .map(|o| o["line"].as_u64().unwrap())
        .collect();
    assert_eq!(got, refused_lines);
    assert!(
        refusals[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not-an-email-1000"),
        "{}",
        refusals[0]
    );
    let unknown = refusals.iter().find(|o| o["line"] == 1501).unwrap();
    assert!(
        unknown["reason"].as_str().unwrap().contains("photoshop"),
        "{unknown}"
    );

    let users = op.get(&format!("/v1/teams/{team}/flex/users")).await;
    assert_eq!(users.ok(200).as_array().unwrap().len() as u64, applied);
    let listed = op.get(&format!("/v1/teams/{team}/flex/imports")).await;
    assert_eq!(listed.ok(200)[0]["id"], id);
    assert_eq!(listed.ok(200)[0]["status"], "done");
    app.shutdown().await;
}

/// Invitation secrets for chunks run straight on the store, distinct within a test.
fn secrets(tag: &str) -> Vec<Secret> {
    (0..IMPORT_CHUNK_LINES)
        .map(|i| Secret {
            secret: format!("{tag}-{i}"),
            hash: format!("{tag}-hash-{i}"),
        })
        .collect()
}

/// A server whose imports only move when the test drives them.
fn without_worker() -> SpawnOptions {
    SpawnOptions {
        import_worker: false,
        ..SpawnOptions::default()
    }
}

async fn dead_server(db: TestDb) {
    const N: usize = 1_600;
    // `db` owns the database and outlives both servers.
    let first = spawn_with_options(db.share(), without_worker()).await;
    let op = Http::new(&first);
    let team = scene(&op).await;
    let queued = op.queue_import(team, &file(N), "").await;
    assert_eq!(queued["status"], "queued");
    let id = queued["id"].as_i64().unwrap();
    // The first server applies one chunk, then dies holding its claim.
    let now = jeton_core::Clock::now(&*first.clock);
    let step = first
        .store
        .run_import_chunk(
            ImportId(id),
            "dead-server",
            &secrets("dead"),
            now,
            IMPORT_LEASE,
        )
        .await
        .unwrap();
    assert!(matches!(step, Step::Applied(..)), "{step:?}");
    first.shutdown().await;

    let second = spawn_with_options(db.share(), SpawnOptions::default()).await;
    let op = Http::new(&second);
    let path = format!("/v1/teams/{team}/flex/imports/{id}?limit=0");
    // While the dead server's lease runs, its import waits: nobody applies it twice.
    assert_eq!(second.run_imports().await, 0);
    let waiting = op.get(&path).await.ok(200).clone();
    assert_eq!(waiting["status"], "running");
    assert_eq!(
        waiting["done"].as_u64(),
        Some(1 + IMPORT_CHUNK_LINES as u64),
        "the line refused when the file was read, and one chunk: {waiting}"
    );
    // Once the lease has passed, the second server takes over.
    op.advance(IMPORT_LEASE.num_seconds()).await;
    second.run_imports().await;
    let done = op.get(&path).await.ok(200).clone();
    let applied = (N - refused_lines(N).len()) as u64;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        (
            done["applied"].as_u64(),
            done["unchanged"].as_u64(),
            done["done"].as_u64()
        ),
        (Some(applied), Some(0), Some(N as u64)),
        "no line applied twice: {done}"
    );
    let invitations = op.get(&format!("/v1/teams/{team}/invitations")).await;
    assert_eq!(
        invitations.ok(200).as_array().unwrap().len() as u64,
        applied,
        "one invitation per person"
    );
    second.shutdown().await;
}

async fn resume_at_start(db: TestDb) {
    // `db` owns the database and outlives both servers.
    let first = spawn_with_options(db.share(), without_worker()).await;
    let op = Http::new(&first);
    let team = scene(&op).await;
    let id = op
        .queue_import(
            team,
            "Ann Bee,ann@example.com,autocad\nBob Cee,bob@example.com\n",
            "",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    first.shutdown().await;

    // A server starting on the database finishes it by itself, with no request about imports.
    let second = spawn_with_options(db.share(), SpawnOptions::default()).await;
    let op = Http::new(&second);
    let path = format!("/v1/teams/{team}/flex/imports/{id}");
    let done = wait_until_over(&op, &path).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["applied"], 2);
    second.shutdown().await;
}

async fn merged_meanwhile(db: TestDb) {
    let app = spawn_with_options(db, without_worker()).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let into = op.team("Operations").await;
    let id = op
        .queue_import(team, "name,email\nAnn Bee,ann@example.com\nbad\n", "")
        .await["id"]
        .as_i64()
        .unwrap();
    op.post(
        &format!("/v1/teams/{team}/merge"),
        json!({"into_team": into}),
    )
    .await
    .ok(200);
    app.run_imports().await;
    let failed = op
        .get(&format!("/v1/teams/{team}/flex/imports/{id}"))
        .await
        .ok(200)
        .clone();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "team_closed", "{failed}");
    assert!(failed["finished_at"].is_string(), "{failed}");
    // The line refused when the file was read keeps its outcome; Ann's line was not applied.
    assert_eq!(
        (failed["done"].as_u64(), failed["total"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(failed["outcomes"][0]["line"], 3);
    let users = op.get(&format!("/v1/teams/{into}/flex/users")).await;
    assert!(
        users.ok(200).as_array().unwrap().is_empty(),
        "{:?}",
        users.body
    );
    app.shutdown().await;
}

/// Polls an import until it is over. Only for waiting on a background worker that nothing else
/// can drive (a server's start): real time, in short steps, with a generous bound.
async fn wait_until_over(op: &Http, path: &str) -> Value {
    for _ in 0..1500 {
        let job = op.get(path).await.ok(200).clone();
        if job["status"] == "done" || job["status"] == "failed" {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{path} did not finish within 30 s");
}

async fn scope(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let mine = scene(&op).await;
    let theirs = op.team("Operations").await;
    let theirs_import = op
        .import(&app, theirs, "Eve Eff,eve@example.com\n", "")
        .await["id"]
        .as_i64()
        .unwrap();
    let ann = op.admin_of(mine).await;
    // Ann imports into her team and follows it …
    let own = ann
        .import(&app, mine, "Ann Bee,ann@example.com\n", "")
        .await;
    let own_id = own["id"].as_i64().unwrap();
    ann.get(&format!("/v1/teams/{mine}/flex/imports"))
        .await
        .ok(200);
    // … but another team's imports do not exist for her, by either path.
    for path in [
        format!("/v1/teams/{theirs}/flex/imports"),
        format!("/v1/teams/{theirs}/flex/imports/{theirs_import}"),
        format!("/v1/teams/{mine}/flex/imports/{theirs_import}"),
    ] {
        ann.get(&path).await.problem(404, "not_found");
    }
    ann.send(
        Method::POST,
        &format!("/v1/teams/{theirs}/flex/import"),
        Some(RawBody::Text("Eve,eve@example.com\n".into(), "text/csv")),
        &[],
    )
    .await
    .problem(404, "not_found");
    // The operator sees both.
    op.get(&format!("/v1/teams/{mine}/flex/imports/{own_id}"))
        .await
        .ok(200);
    let theirs_listed = op.get(&format!("/v1/teams/{theirs}/flex/imports")).await;
    assert_eq!(theirs_listed.ok(200).as_array().unwrap().len(), 1);
    app.shutdown().await;
}

async fn bad_queries(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let id = op.import(&app, team, "Ann Bee,ann@example.com\n", "").await["id"]
        .as_i64()
        .unwrap();
    let base = format!("/v1/teams/{team}/flex/imports");
    for (path, status, code) in [
        (format!("{base}/{id}?limit=10001"), 400, "invalid_query"),
        (format!("{base}/{id}?outcome=lost"), 400, "invalid_query"),
        (format!("{base}/{id}?after=-1"), 400, "invalid_query"),
        (format!("{base}/x"), 400, "invalid_path"),
        (format!("{base}/999999"), 404, "not_found"),
        (format!("{base}?limit=0"), 400, "invalid_query"),
        ("/v1/teams/999999/flex/imports".to_owned(), 404, "not_found"),
    ] {
        op.get(&path).await.problem(status, code);
    }
    // The routes and their answers are in the OpenAPI document.
    let doc = op.get("/v1/openapi.json").await.ok(200).clone();
    let post = &doc["paths"]["/v1/teams/{team}/flex/import"]["post"]["responses"];
    assert!(post["202"].is_object() && post["413"].is_object(), "{post}");
    for path in [
        "/v1/teams/{team}/flex/imports",
        "/v1/teams/{team}/flex/imports/{id}",
    ] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "openapi.json lacks {path}"
        );
    }
    for schema in ["ImportJob", "ImportDetail", "ImportLine"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }

    // A part of a file cannot start past any line number a file has.
    op.send(
        Method::POST,
        &format!("/v1/teams/{team}/flex/import?first_line=18446744073709551615"),
        Some(RawBody::Text("Eve,eve@example.com\n".into(), "text/csv")),
        &[],
    )
    .await
    .problem(400, "invalid_query");

    let closed = op.team("Closed").await;
    op.post(
        &format!("/v1/teams/{closed}/merge"),
        json!({"into_team": team}),
    )
    .await
    .ok(200);
    op.send(
        Method::POST,
        &format!("/v1/teams/{closed}/flex/import"),
        Some(RawBody::Text("Eve,eve@example.com\n".into(), "text/csv")),
        &[],
    )
    .await
    .problem(422, "team_closed");
    app.shutdown().await;
}

async fn too_large(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    // An import over 10 MiB: the limit and how to send more are in the problem.
    let line = "Some Person,someone@example.com,autocad\n";
    let big = line.repeat(10 * 1024 * 1024 / line.len() + 1);
    let answer = op
        .send(
            Method::POST,
            &format!("/v1/teams/{team}/flex/import"),
            Some(RawBody::Text(big, "text/csv")),
            &[],
        )
        .await;
    let detail = answer.problem(413, "body_too_large");
    assert!(
        detail.contains("10 MiB") && detail.contains("jeton import") && detail.contains("parts"),
        "{detail}"
    );
    assert!(
        op.get(&format!("/v1/teams/{team}/flex/imports"))
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was queued"
    );
    // Elsewhere the limit is 64 KiB (tests/bad_input.rs checks the other extractors).
    let answer = op
        .send(
            Method::POST,
            "/v1/teams",
            Some(RawBody::Json(json!({"name": "x".repeat(70 * 1024)}))),
            &[],
        )
        .await;
    assert!(answer.problem(413, "body_too_large").contains("64 KiB"));
    app.shutdown().await;
}
