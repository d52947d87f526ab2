//! People: assignment, invitations, product access, import, the downloads view (R-USR-*, R-ACC-*),
//! over real HTTP on both backends. Emails are checked in the outbox here (no SMTP configured);
//! tests/mail.rs checks delivery over a real SMTP server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use common::{Http, RawBody, app, refused, signed_in};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

both_backends! {
    r_usr_1_an_existing_user_is_assigned_by_id_or_email => usr_1,
    r_usr_2_invitees_need_full_name_and_address_and_batches_answer_per_entry => usr_2,
    r_usr_3_invitations_last_seven_days_and_resend_replaces_the_link => usr_3,
    r_usr_4_individual_assignments_are_emailed_imports_are_not => usr_4,
    r_usr_5_import_checks_each_line_and_is_idempotent => usr_5,
    r_usr_6_unassigning_stops_access_and_keeps_history => usr_6,
    r_acc_1_a_selection_limits_what_a_user_may_open => acc_1,
    r_acc_2_all_includes_products_added_later => acc_2,
    r_acc_3_defaults_replace_selections_without_email => acc_3,
    r_acc_4_the_downloads_view_lists_allowed_products_with_items => acc_4,
    admins_cannot_touch_people_of_other_teams => admin_scope,
    r_auth_4_admins_name_by_id_only_people_of_their_teams => auth_4_ids,
    r_auth_4_no_admin_endpoint_taking_a_user_id_tells_about_other_teams => auth_4_endpoints,
    bad_people_input_gets_a_problem_and_changes_nothing => bad_input,
    password_guessing_is_refused_per_address_for_a_while => guessing,
    r_pack_7_a_merge_moves_users_assignments_and_open_invitations => merge_people,
}

/// Catalogue with three products (autocad has a download item) and one team.
async fn scene(http: &Http) -> i64 {
    http.post(
        "/v1/products",
        json!({"key": "autocad", "name": "AutoCAD", "daily_rate": 7,
               "items": [{"version": "2027", "platform": "windows", "url": "https://dl.example.com/acad.exe"}]}),
    )
    .await
    .ok(201);
    http.product("revit", 10).await;
    http.product("maya", 5).await;
    http.team("Design").await
}

async fn invite(http: &Http, team: i64, who: &str, products: Value) -> Value {
    let mut body = json!({"invite": who});
    if products.is_array() {
        body["products"] = products;
    } else if products == json!("all") {
        body["all"] = json!(true);
    }
    http.post(&format!("/v1/teams/{team}/flex/users"), body)
        .await
        .ok(201)
        .clone()
}

/// The outbox, oldest first.
async fn outbox(http: &Http) -> Vec<Value> {
    let mut all = http
        .get("/v1/outbox?limit=1000")
        .await
        .ok(200)
        .as_array()
        .unwrap()
        .clone();
    all.reverse();
    all
}

async fn accept(http: &Http, secret: &str, password: &str) -> common::Answer {
    http.post(
        "/v1/invitations/accept",
        json!({"secret": secret, "password": password}),
    )
    .await
}

async fn my_products(user: &Http) -> Vec<String> {
    user.get("/v1/me/products")
        .await
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap().to_owned())
        .collect()
}

/// Invites and accepts: returns the user's id and an Http signed in as them.
async fn onboard(
    app: &jeton_server::testing::TestApp,
    team: i64,
    who: &str,
    email: &str,
    products: Value,
) -> (i64, Http) {
    let op = Http::new(app);
    let a = invite(&op, team, who, products).await;
    let secret = app.invitation_secret(email).await;
    accept(&op, &secret, "s3cret-password").await.ok(200);
    (
        a["user_id"].as_i64().unwrap(),
        signed_in(app, email, "s3cret-password").await,
    )
}

async fn usr_1(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let design = scene(&op).await;
    let ops = op.team("Ops").await;
    let render = op.team("Render").await;
    let (jane, user) = onboard(
        &app,
        design,
        "Jane Doe <jane@example.com>",
        "jane@example.com",
        json!(["autocad"]),
    )
    .await;

    // By email, compared case-insensitively: one identity, now on two teams, active at once.
    let a = op
        .post(
            &format!("/v1/teams/{ops}/flex/users"),
            json!({"email": "JANE@example.com", "products": ["maya"]}),
        )
        .await;
    assert_eq!(a.ok(201)["user_id"], jane);
    assert_eq!(a.ok(201)["status"], "active");
    // By id.
    let b = op
        .post(
            &format!("/v1/teams/{render}/flex/users"),
            json!({"user_id": jane, "all": true}),
        )
        .await;
    assert_eq!(b.ok(201)["status"], "active");
    assert!(b.ok(201).get("invitation_id").is_none());
    assert_eq!(my_products(&user).await, vec!["autocad", "maya", "revit"]);

    // Again on the same team: a conflict, not a second assignment.
    op.post(
        &format!("/v1/teams/{ops}/flex/users"),
        json!({"user_id": jane}),
    )
    .await
    .problem(409, "already_assigned");
    // Unknown people are not invented from an email alone.
    let d = op
        .post(
            &format!("/v1/teams/{ops}/flex/users"),
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert!(
        d.problem(404, "not_found")
            .contains("Full Name <nobody@example.com>")
    );
    op.post(
        &format!("/v1/teams/{ops}/flex/users"),
        json!({"user_id": 999_999}),
    )
    .await
    .problem(404, "not_found");
    app.shutdown().await;
}

async fn usr_2(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    for bad in [
        "jane@example.com x",
        "Jane Doe",
        "<jane@example.com>",
        "Jane Doe <jane@example>",
    ] {
        let answer = op
            .post(
                &format!("/v1/teams/{team}/flex/users"),
                json!({"invite": bad}),
            )
            .await;
        let detail = answer.problem(400, "invalid_invitee");
        assert!(detail.contains("Full Name <name@example.com>"), "{detail}");
        assert!(
            detail.contains(bad),
            "the message names the entry: {detail}"
        );
    }
    let batch = op
        .post(
            &format!("/v1/teams/{team}/flex/users/batch"),
            json!({"entries": "Jane Doe <jane@example.com>, John Roe <john@example.com>\nnot an entry\nDoe, Ann <ann@example.com>",
                   "products": ["autocad"]}),
        )
        .await;
    let results = batch.ok(200).as_array().unwrap().clone();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["assignment"]["status"], "invited");
    assert_eq!(results[1]["assignment"]["email"], "john@example.com");
    assert_eq!(results[2]["entry"], "not an entry");
    assert_eq!(results[2]["error"]["code"], "invalid_invitee");
    assert_eq!(results[3]["assignment"]["name"], "Doe, Ann");
    let users = op.get(&format!("/v1/teams/{team}/flex/users")).await;
    assert_eq!(
        users.ok(200).as_array().unwrap().len(),
        3,
        "the bad entry stopped nothing"
    );
    app.shutdown().await;
}

async fn usr_3(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let a = invite(&op, team, "Jane Doe <jane@example.com>", json!(["autocad"])).await;
    assert_eq!(a["status"], "invited");
    let first = app.invitation_secret("jane@example.com").await;
    let pending = op.get(&format!("/v1/teams/{team}/invitations")).await;
    let list = pending.ok(200).as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "pending");
    assert_eq!(
        list[0]["expires_at"], "2026-01-12T08:00:00Z",
        "7 days from the invitation"
    );

    // The link page works while the invitation does.
    let page = op.get(&format!("/invitations/accept?secret={first}")).await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(page.body.as_str().unwrap().contains("<form"));

    op.advance(7 * 86_400).await;
    accept(&op, &first, "s3cret-password")
        .await
        .problem(410, "invitation_expired");
    let list = op.get(&format!("/v1/teams/{team}/invitations")).await;
    assert_eq!(list.ok(200)[0]["status"], "expired");
    let page = op.get(&format!("/invitations/accept?secret={first}")).await;
    assert_eq!(page.status.as_u16(), 410);

    let id = a["invitation_id"].as_i64().unwrap();
    let resent = op
        .post(
            &format!("/v1/teams/{team}/invitations/{id}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(
        resent.ok(200)["expires_at"],
        "2026-01-19T08:00:00Z",
        "a new 7-day window"
    );
    let second = app.invitation_secret("jane@example.com").await;
    assert_ne!(first, second);
    accept(&op, &first, "s3cret-password")
        .await
        .problem(410, "invitation_superseded");
    accept(&op, &second, "short")
        .await
        .problem(400, "invalid_password");
    let done = accept(&op, &second, "s3cret-password").await;
    assert_eq!(done.ok(200)["user_id"], a["user_id"]);
    assert_eq!(done.ok(200)["team_id"], team);
    accept(&op, &second, "s3cret-password")
        .await
        .problem(409, "invitation_accepted");
    // The admin has nothing to resend once it was accepted, and is told so plainly; the link
    // that was replaced names the newer invitation.
    let second_id = resent.ok(200)["id"].as_i64().unwrap();
    let detail = op
        .post(
            &format!("/v1/teams/{team}/invitations/{second_id}/resend"),
            json!({}),
        )
        .await
        .problem(409, "invitation_accepted");
    assert_eq!(
        detail,
        "this person already accepted the invitation and has an account; there is nothing to resend"
    );
    op.post(
        &format!("/v1/teams/{team}/invitations/{id}/resend"),
        json!({}),
    )
    .await
    .problem(410, "invitation_superseded");
    let users = op.get(&format!("/v1/teams/{team}/flex/users")).await;
    assert_eq!(users.ok(200)[0]["status"], "active");
    assert!(
        op.get(&format!("/v1/teams/{team}/invitations"))
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .is_empty()
    );
    accept(&op, "not-a-secret", "s3cret-password")
        .await
        .problem(404, "not_found");

    // A person who already has an account links it by proving their password.
    let other = op.team("Other").await;
    invite(&op, other, "Jane Doe <jane@example.com>", json!(null)).await;
    let users = op.get(&format!("/v1/teams/{other}/flex/users")).await;
    assert_eq!(
        users.ok(200)[0]["status"],
        "active",
        "an account holder is active at once"
    );
    app.shutdown().await;
}

async fn usr_4(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    onboard(
        &app,
        team,
        "Jane Doe <jane@example.com>",
        "jane@example.com",
        json!(["autocad", "revit"]),
    )
    .await;
    let mails = outbox(&op).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["kind"], "invitation");
    let body = mails[0]["body"].as_str().unwrap();
    assert!(
        body.contains("AutoCAD") && body.contains("REVIT") && !body.contains("MAYA"),
        "{body}"
    );
    // The operator sees that there is a link, never its secret: it is Jane's password to choose.
    assert!(
        body.contains("http://jeton.test/invitations/accept?secret=(hidden)\n"),
        "{body}"
    );

    // An individual assignment of an existing account: "access granted", naming the products.
    let ops = op.team("Ops").await;
    op.post(
        &format!("/v1/teams/{ops}/flex/users"),
        json!({"email": "jane@example.com", "products": ["maya"]}),
    )
    .await
    .ok(201);
    let mails = outbox(&op).await;
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1]["kind"], "access_granted");
    assert_eq!(mails[1]["to"], "jane@example.com");
    assert!(mails[1]["body"].as_str().unwrap().contains("MAYA"));

    // Imports send nothing, for new and existing people alike.
    let import = op
        .import(
            &app,
            ops,
            "Bob Bee,bob@example.com,autocad\nJane Doe,jane@example.com,*\n",
            "",
        )
        .await;
    assert_eq!(import["applied"], 2);
    assert_eq!(outbox(&op).await.len(), 2, "no email for imported users");
    app.shutdown().await;
}

async fn usr_5(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let csv = "name,email,products\n\
               Jane Doe,jane@example.com,autocad;revit\n\
               John Roe,john@example.com,*\n\
               ,nobody@example.com\n\
               Ann Bee,not-an-email\n\
               Carl Dee,carl@example.com\n\
               Dan Eff,dan@example.com,autocad;photoshop\n\
               Jane Twice,JANE@example.com,maya\n";
    let first = op.import(&app, team, csv, "").await;
    assert_eq!(
        (first["applied"].as_u64(), first["unchanged"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(
        (first["refused"].as_u64(), first["total"].as_u64()),
        (Some(4), Some(7))
    );
    let rejected = refused(&first);
    assert_eq!(
        rejected.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![4, 5, 7, 8]
    );
    assert!(rejected[0].1.contains("name"), "{rejected:?}");
    assert!(rejected[1].1.contains("not-an-email"), "{rejected:?}");
    assert!(rejected[2].1.contains("photoshop"), "{rejected:?}");
    assert!(rejected[3].1.contains("line 2"), "{rejected:?}");
    // Every line that is not blank or the header has its outcome, in line order.
    let lines: Vec<(u64, &str)> = first["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["line"].as_u64().unwrap(), o["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (2, "applied"),
            (3, "applied"),
            (4, "refused"),
            (5, "refused"),
            (6, "applied"),
            (7, "refused"),
            (8, "refused")
        ]
    );

    let users = op.get(&format!("/v1/teams/{team}/flex/users")).await;
    let users = users.ok(200).as_array().unwrap().clone();
    let by_email = |e: &str| users.iter().find(|u| u["email"] == e).unwrap().clone();
    assert_eq!(
        by_email("jane@example.com")["products"],
        json!(["autocad", "revit"])
    );
    assert_eq!(by_email("john@example.com")["products"], "all");
    assert_eq!(by_email("carl@example.com")["products"], json!([]));
    assert_eq!(by_email("jane@example.com")["status"], "invited");

    // The same file again changes nothing.
    let before = op.get(&format!("/v1/teams/{team}/flex/users")).await.body;
    let again = op.import(&app, team, csv, "").await;
    assert_eq!(
        (again["applied"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(
        op.get(&format!("/v1/teams/{team}/flex/users")).await.body,
        before
    );
    assert!(outbox(&op).await.is_empty());

    // A file in parts keeps the file's line numbers.
    let part = op
        .import(&app, team, "Eve,broken\n", "?first_line=1001")
        .await;
    assert_eq!(refused(&part)[0].0, 1001);
    app.shutdown().await;
}

async fn usr_6(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let (jane, user) = onboard(
        &app,
        team,
        "Jane Doe <jane@example.com>",
        "jane@example.com",
        json!(["autocad"]),
    )
    .await;
    assert_eq!(my_products(&user).await, vec!["autocad"]);
    let bob = invite(&op, team, "Bob Bee <bob@example.com>", json!(null)).await;
    let bob_secret = app.invitation_secret("bob@example.com").await;

    let removed = op
        .send(
            Method::DELETE,
            &format!("/v1/teams/{team}/flex/users/{jane}"),
            None,
            &[],
        )
        .await;
    assert_eq!(removed.status.as_u16(), 204);
    assert!(my_products(&user).await.is_empty(), "access stops at once");
    let bob_id = bob["user_id"].as_i64().unwrap();
    op.send(
        Method::DELETE,
        &format!("/v1/teams/{team}/flex/users/{bob_id}"),
        None,
        &[],
    )
    .await;
    accept(&op, &bob_secret, "s3cret-password")
        .await
        .problem(410, "invitation_superseded");
    let users = op.get(&format!("/v1/teams/{team}/flex/users")).await;
    assert!(users.ok(200).as_array().unwrap().is_empty());
    op.send(
        Method::DELETE,
        &format!("/v1/teams/{team}/flex/users/{jane}"),
        None,
        &[],
    )
    .await
    .problem(404, "not_found");

    // Assigned again later: the same identity, the same account.
    let again = op
        .post(
            &format!("/v1/teams/{team}/flex/users"),
            json!({"user_id": jane, "products": ["revit"]}),
        )
        .await;
    assert_eq!(again.ok(201)["status"], "active");
    assert_eq!(my_products(&user).await, vec!["revit"]);
    app.shutdown().await;
}

async fn acc_1(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let (jane, user) = onboard(
        &app,
        team,
        "Jane Doe <jane@example.com>",
        "jane@example.com",
        json!([]),
    )
    .await;
    assert!(my_products(&user).await.is_empty(), "nothing selected yet");
    let path = format!("/v1/teams/{team}/flex/users/{jane}/products");
    let set = op
        .send(
            Method::PUT,
            &path,
            Some(RawBody::Json(json!({"products": ["revit", "autocad"]}))),
            &[],
        )
        .await;
    assert_eq!(set.ok(200)["products"], json!(["autocad", "revit"]));
    assert_eq!(
        set.ok(200)["effective_products"],
        json!(["autocad", "revit"])
    );
    assert_eq!(my_products(&user).await, vec!["autocad", "revit"]);
    let access = outbox(&op)
        .await
        .into_iter()
        .filter(|m| m["kind"] == "access_granted")
        .count();
    assert_eq!(access, 1, "adding products tells the user which");
    let cleared = op
        .send(
            Method::PUT,
            &path,
            Some(RawBody::Json(json!({"products": []}))),
            &[],
        )
        .await;
    assert_eq!(cleared.ok(200)["products"], json!([]));
    assert!(my_products(&user).await.is_empty());
    op.send(
        Method::PUT,
        &path,
        Some(RawBody::Json(json!({"products": ["photoshop"]}))),
        &[],
    )
    .await
    .problem(422, "unknown_product");
    app.shutdown().await;
}

async fn acc_2(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let (jane, user) = onboard(
        &app,
        team,
        "Jane Doe <jane@example.com>",
        "jane@example.com",
        json!("all"),
    )
    .await;
    assert_eq!(my_products(&user).await, vec!["autocad", "maya", "revit"]);
    op.product("inventor", 6).await;
    assert_eq!(
        my_products(&user).await,
        vec!["autocad", "inventor", "maya", "revit"],
        "added later, included"
    );
    let users = op.get(&format!("/v1/teams/{team}/flex/users")).await;
    let u = users
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == jane)
        .unwrap()
        .clone();
    assert_eq!(u["products"], "all", "stored as all, not as a list");
    assert_eq!(
        u["effective_products"],
        json!(["autocad", "inventor", "maya", "revit"])
    );
    app.shutdown().await;
}

async fn acc_3(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let (_, jane) = onboard(
        &app,
        team,
        "Jane Doe <jane@example.com>",
        "jane@example.com",
        json!(["autocad"]),
    )
    .await;
    let (_, john) = onboard(
        &app,
        team,
        "John Roe <john@example.com>",
        "john@example.com",
        json!("all"),
    )
    .await;
    let mails = outbox(&op).await.len();
    let defaults = format!("/v1/teams/{team}/flex/defaults");
    let on = op
        .send(
            Method::PUT,
            &defaults,
            Some(RawBody::Json(json!({"products": ["maya"]}))),
            &[],
        )
        .await;
    assert_eq!(on.ok(200)["enabled"], true);
    assert_eq!(my_products(&jane).await, vec!["maya"]);
    assert_eq!(
        my_products(&john).await,
        vec!["maya"],
        "exactly the defaults, even for 'all'"
    );
    op.product("inventor", 6).await;
    assert_eq!(
        my_products(&john).await,
        vec!["maya"],
        "new products are not added to the defaults"
    );
    let users = op.get(&format!("/v1/teams/{team}/flex/users")).await;
    for u in users.ok(200).as_array().unwrap() {
        assert_eq!(u["effective_products"], json!(["maya"]));
    }
    assert_eq!(
        outbox(&op).await.len(),
        mails,
        "changing defaults sends no email"
    );

    let off = op
        .send(
            Method::PUT,
            &defaults,
            Some(RawBody::Json(json!({"products": []}))),
            &[],
        )
        .await;
    assert_eq!(off.ok(200)["enabled"], false);
    assert_eq!(
        my_products(&jane).await,
        vec!["autocad"],
        "own selections apply again"
    );
    assert_eq!(
        my_products(&john).await,
        vec!["autocad", "inventor", "maya", "revit"]
    );
    assert_eq!(op.get(&defaults).await.ok(200)["products"], json!([]));
    op.send(
        Method::PUT,
        &defaults,
        Some(RawBody::Json(json!({"products": ["nope"]}))),
        &[],
    )
    .await
    .problem(422, "unknown_product");
    app.shutdown().await;
}

async fn acc_4(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let other = op.team("Other").await;
    let (jane, user) = onboard(
        &app,
        team,
        "Jane Doe <jane@example.com>",
        "jane@example.com",
        json!(["autocad"]),
    )
    .await;
    op.post(
        &format!("/v1/teams/{other}/flex/users"),
        json!({"user_id": jane, "products": ["autocad", "maya"]}),
    )
    .await
    .ok(201);
    let view = user.get("/v1/me/products").await;
    let view = view.ok(200).as_array().unwrap().clone();
    assert_eq!(view.len(), 2);
    assert_eq!(view[0]["key"], "autocad");
    assert_eq!(view[0]["name"], "AutoCAD");
    assert_eq!(view[0]["access"], "flex");
    assert_eq!(view[0]["teams"], json!([team, other]));
    assert_eq!(
        view[0]["items"][0]["url"],
        "https://dl.example.com/acad.exe"
    );
    assert_eq!(view[1]["key"], "maya");
    let me = user.get("/v1/me").await;
    assert_eq!(me.ok(200)["email"], "jane@example.com");
    // Her teams by name: what a product client lets her choose from.
    let mut teams = Vec::new();
    for t in [team, other] {
        let name = op.get(&format!("/v1/teams/{t}")).await.ok(200)["name"].clone();
        teams.push(json!({"id": t, "name": name}));
    }
    assert_eq!(me.ok(200)["teams"], json!(teams));
    // Someone merely invited sees nothing yet; a user token cannot reach admin endpoints.
    user.get(&format!("/v1/teams/{team}/flex/users"))
        .await
        .problem(403, "forbidden");
    op.get("/v1/me/products").await.problem(403, "forbidden");
    Http::with_key(&app, None)
        .get("/v1/me/products")
        .await
        .problem(401, "unauthorized");
    Http::with_key(&app, Some("jeton_usr_0000".into()))
        .get("/v1/me/products")
        .await
        .problem(401, "unauthorized");
    let anon = Http::with_key(&app, None);
    anon.post(
        "/v1/auth/token",
        json!({"email": "jane@example.com", "password": "wrong-password"}),
    )
    .await
    .problem(401, "invalid_credentials");
    anon.post(
        "/v1/auth/token",
        json!({"email": "ghost@example.com", "password": "wrong-password"}),
    )
    .await
    .problem(401, "invalid_credentials");
    app.shutdown().await;
}

async fn admin_scope(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let a = scene(&op).await;
    let b = op.team("B").await;
    invite(&op, b, "Bob Bee <bob@example.com>", json!(null)).await;
    let ann = op.admin_of(a).await;
    invite(&ann, a, "Jane Doe <jane@example.com>", json!(["autocad"])).await;
    assert_eq!(
        ann.get(&format!("/v1/teams/{a}/flex/users"))
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let before = op.get(&format!("/v1/teams/{b}/flex/users")).await.body;
    ann.get(&format!("/v1/teams/{b}/flex/users"))
        .await
        .problem(404, "not_found");
    ann.post(
        &format!("/v1/teams/{b}/flex/users"),
        json!({"invite": "Eve <eve@example.com>"}),
    )
    .await
    .problem(404, "not_found");
    ann.post(
        &format!("/v1/teams/{b}/flex/users/batch"),
        json!({"entries": "Eve <eve@example.com>"}),
    )
    .await
    .problem(404, "not_found");
    ann.send(
        Method::POST,
        &format!("/v1/teams/{b}/flex/import"),
        Some(RawBody::Text("Eve,eve@example.com\n".into(), "text/csv")),
        &[],
    )
    .await
    .problem(404, "not_found");
    ann.get(&format!("/v1/teams/{b}/invitations"))
        .await
        .problem(404, "not_found");
    ann.post(&format!("/v1/teams/{b}/invitations/1/resend"), json!({}))
        .await
        .problem(404, "not_found");
    ann.get(&format!("/v1/teams/{b}/flex/defaults"))
        .await
        .problem(404, "not_found");
    ann.get("/v1/outbox").await.problem(403, "forbidden");
    assert_eq!(
        op.get(&format!("/v1/teams/{b}/flex/users")).await.body,
        before
    );
    app.shutdown().await;
}

/// `detail` with the first number equal to `id` (the id the request named, which the messages
/// give before any other number) written `ID`.
fn without_id(detail: &str, id: i64) -> String {
    let id = id.to_string();
    let mut start = None;
    for (i, c) in detail.char_indices().chain([(detail.len(), ' ')]) {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if detail[s..i] == id {
                    return format!("{}ID{}", &detail[..s], &detail[i..]);
                }
                start = None;
            }
            _ => {}
        }
    }
    detail.to_owned()
}

/// Asserts that `a` (about id `id_a`) and `b` (about `id_b`) are the same answer: status, code
/// and detail, once the id each one names is set aside.
#[track_caller]
fn same_answer(a: &common::Answer, id_a: i64, b: &common::Answer, id_b: i64) {
    let code = a.body["code"].as_str().expect("a problem").to_owned();
    let detail_a = a.problem(a.status.as_u16(), &code);
    let detail_b = b.problem(a.status.as_u16(), &code);
    assert_eq!(
        without_id(&detail_a, id_a),
        without_id(&detail_b, id_b),
        "the details differ beyond the id: {a:?} / {b:?}"
    );
}

/// An id no user has.
const NOBODY: i64 = 987_654;

/// Two teams: Design (Ann is its admin, with Lab) and B. Bob is only invited on B, Carol is only
/// an active user on B. Returns (design, lab, b, bob, carol, ann).
async fn two_teams(app: &jeton_server::testing::TestApp) -> (i64, i64, i64, i64, i64, Http) {
    let op = Http::new(app);
    let design = scene(&op).await;
    let lab = op.team("Lab").await;
    let b = op.team("B").await;
    let bob = invite(&op, b, "Bob Bee <bob@example.com>", json!(null)).await["user_id"]
        .as_i64()
        .unwrap();
    let (carol, _) = app.user_with_token("carol@example.com", "Carol Sea").await;
    op.post(
        &format!("/v1/teams/{b}/flex/users"),
        json!({"user_id": carol, "all": true}),
    )
    .await
    .ok(201);
    let key = op
        .post(
            "/v1/admins",
            json!({"email": "ann@example.com", "name": "Ann Admin", "teams": [design, lab]}),
        )
        .await
        .ok(201)["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    (design, lab, b, bob, carol.0, Http::with_key(app, Some(key)))
}

/// No answer an admin gets names a person of another team.
#[track_caller]
fn tells_no_address(answer: &common::Answer) {
    let text = answer.body.to_string();
    for address in [
        "bob@example.com",
        "carol@example.com",
        "Bob Bee",
        "Carol Sea",
    ] {
        assert!(!text.contains(address), "{address} leaked: {text}");
    }
}

async fn auth_4_ids(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let (design, lab, b, bob, carol, ann) = two_teams(&app).await;
    let users = format!("/v1/teams/{design}/flex/users");
    let snapshot = || async {
        json!({
            "design": op.get(&format!("/v1/teams/{design}/flex/users")).await.body,
            "b": op.get(&format!("/v1/teams/{b}/flex/users")).await.body,
            "invitations": op.get(&format!("/v1/teams/{design}/invitations")).await.body,
            "outbox": outbox(&op).await,
        })
    };
    let before = snapshot().await;

    // One by one: someone only on another team is answered like nobody, whatever their state.
    let nobody = ann
        .post(&users, json!({"user_id": NOBODY, "all": true}))
        .await;
    let detail = nobody.problem(404, "not_found");
    assert!(detail.contains(&NOBODY.to_string()), "{detail}");
    for other in [bob, carol] {
        let answer = ann
            .post(&users, json!({"user_id": other, "all": true}))
            .await;
        same_answer(&nobody, NOBODY, &answer, other);
        tells_no_address(&answer);
        // With a selection that would be refused too: the id is still what is answered first.
        let answer = ann
            .post(&users, json!({"user_id": other, "products": ["nope"]}))
            .await;
        same_answer(&nobody, NOBODY, &answer, other);
    }

    // In a batch, entry by entry.
    let batch = ann
        .post(
            &format!("{users}/batch"),
            json!({"entries": format!("{NOBODY}\n{bob}\n{carol}"), "all": true}),
        )
        .await;
    tells_no_address(&batch);
    let results = batch.ok(200).as_array().unwrap().clone();
    assert_eq!(results.len(), 3);
    for (result, id) in results.iter().zip([NOBODY, bob, carol]) {
        assert!(result.get("assignment").is_none(), "{result}");
        assert_eq!(result["error"]["code"], "not_found", "{result}");
        assert_eq!(
            without_id(result["error"]["detail"].as_str().unwrap(), id),
            without_id(results[0]["error"]["detail"].as_str().unwrap(), NOBODY),
        );
    }
    assert_eq!(snapshot().await, before, "nothing changed, no email queued");

    // People Ann can see: invited on Lab, and once assigned on Design but removed since.
    let dan = ann
        .post(
            &format!("/v1/teams/{lab}/flex/users"),
            json!({"invite": "Dan Dee <dan@example.com>"}),
        )
        .await
        .ok(201)["user_id"]
        .as_i64()
        .unwrap();
    let eve = ann
        .post(&users, json!({"invite": "Eve Eff <eve@example.com>"}))
        .await
        .ok(201)["user_id"]
        .as_i64()
        .unwrap();
    ann.send(Method::DELETE, &format!("{users}/{eve}"), None, &[])
        .await
        .ok(204);
    let a = ann.post(&users, json!({"user_id": dan, "all": true})).await;
    assert_eq!(a.ok(201)["email"], "dan@example.com");
    let a = ann
        .post(
            &format!("{users}/batch"),
            json!({"entries": eve.to_string()}),
        )
        .await;
    assert_eq!(a.ok(200)[0]["assignment"]["email"], "eve@example.com");
    // By email, anyone with an account: the admin already knows the address.
    let a = ann
        .post(
            &format!("/v1/teams/{lab}/flex/users"),
            json!({"email": "carol@example.com"}),
        )
        .await;
    assert_eq!(a.ok(201)["user_id"], carol);

    // The operator names anyone by id.
    let a = op.post(&users, json!({"user_id": bob, "all": true})).await;
    assert_eq!(a.ok(201)["email"], "bob@example.com");
    app.shutdown().await;
}

async fn auth_4_endpoints(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let (design, _lab, b, bob, carol, ann) = two_teams(&app).await;
    let bob_invitation = op.get(&format!("/v1/teams/{b}/invitations")).await.ok(200)[0]["id"]
        .as_i64()
        .unwrap();
    let before = json!({
        "b": op.get(&format!("/v1/teams/{b}/flex/users")).await.body,
        "invitations": op.get(&format!("/v1/teams/{b}/invitations")).await.body,
        "outbox": outbox(&op).await,
    });
    let period = json!({"product": "autocad", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-02-01T00:00:00Z"});
    // Each request names a user (or an invitation) by id; `{id}` is replaced.
    let requests: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::DELETE,
            format!("/v1/teams/{design}/flex/users/{{id}}"),
            None,
        ),
        (
            Method::PUT,
            format!("/v1/teams/{design}/flex/users/{{id}}/products"),
            Some(json!({"all": true})),
        ),
        (
            Method::POST,
            "/v1/users/{id}/subscriptions".into(),
            Some(period.clone()),
        ),
        (Method::POST, "/v1/users/{id}/trials".into(), Some(period)),
        (Method::GET, "/v1/users/{id}/entitlements".into(), None),
        (
            Method::POST,
            "/v1/users/{id}/sign-out-everywhere".into(),
            None,
        ),
    ];
    for (method, path, body) in &requests {
        let send = |id: i64| {
            let path = path.replace("{id}", &id.to_string());
            let body = body.clone().map(RawBody::Json);
            let ann = ann.clone();
            let method = method.clone();
            async move { ann.send(method, &path, body, &[]).await }
        };
        let nobody = send(NOBODY).await;
        assert!(
            nobody.status.is_client_error(),
            "{method} {path}: {nobody:?}"
        );
        for other in [bob, carol] {
            let answer = send(other).await;
            same_answer(&nobody, NOBODY, &answer, other);
            tells_no_address(&answer);
        }
    }
    // An invitation of another team, resent through the admin's own team.
    let nobody = ann
        .post(
            &format!("/v1/teams/{design}/invitations/{NOBODY}/resend"),
            json!({}),
        )
        .await;
    let answer = ann
        .post(
            &format!("/v1/teams/{design}/invitations/{bob_invitation}/resend"),
            json!({}),
        )
        .await;
    nobody.problem(404, "not_found");
    same_answer(&nobody, NOBODY, &answer, bob_invitation);
    tells_no_address(&answer);
    // The team's lists hold only its own people.
    for path in [
        format!("/v1/teams/{design}/flex/users"),
        format!("/v1/teams/{design}/invitations"),
        format!("/v1/teams/{design}/sessions?open=false"),
    ] {
        tells_no_address(&ann.get(&path).await);
    }
    let after = json!({
        "b": op.get(&format!("/v1/teams/{b}/flex/users")).await.body,
        "invitations": op.get(&format!("/v1/teams/{b}/invitations")).await.body,
        "outbox": outbox(&op).await,
    });
    assert_eq!(after, before, "nothing changed");
    app.shutdown().await;
}

async fn bad_input(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op).await;
    let (jane, _) = onboard(
        &app,
        team,
        "Jane Doe <jane@example.com>",
        "jane@example.com",
        json!(["autocad"]),
    )
    .await;
    let users = format!("/v1/teams/{team}/flex/users");
    let products = format!("/v1/teams/{team}/flex/users/{jane}/products");
    let snapshot = || async {
        json!({
            "users": op.get(&users).await.body,
            "invitations": op.get(&format!("/v1/teams/{team}/invitations")).await.body,
            "outbox": op.get("/v1/outbox").await.body,
            "defaults": op.get(&format!("/v1/teams/{team}/flex/defaults")).await.body,
        })
    };
    let before = snapshot().await;
    let cases: Vec<(Method, String, RawBody, u16, &str)> = vec![
        (
            Method::POST,
            users.clone(),
            RawBody::Json(json!({})),
            400,
            "invalid_body",
        ),
        (
            Method::POST,
            users.clone(),
            RawBody::Json(json!({"invite": "A <a@example.com>", "user_id": 1})),
            400,
            "invalid_body",
        ),
        (
            Method::POST,
            users.clone(),
            RawBody::Json(json!({"invite": "A <a@example.com>, B <b@example.com>"})),
            400,
            "invalid_invitee",
        ),
        (
            Method::POST,
            users.clone(),
            RawBody::Json(json!({"email": "not an email"})),
            400,
            "invalid_email",
        ),
        (
            Method::POST,
            users.clone(),
            RawBody::Json(json!({"invite": "A <a@example.com>", "all": true, "products": []})),
            400,
            "invalid_selection",
        ),
        (
            Method::POST,
            users.clone(),
            RawBody::Json(json!({"invite": "A <a@example.com>", "products": ["Bad Key"]})),
            400,
            "invalid_product_key",
        ),
        (
            Method::POST,
            users.clone(),
            RawBody::Json(json!({"invite": "A <a@example.com>", "products": ["photoshop"]})),
            422,
            "unknown_product",
        ),
        (
            Method::POST,
            users.clone(),
            RawBody::Json(json!({"invite": "Jane Doe <jane@example.com>"})),
            409,
            "already_assigned",
        ),
        (
            Method::POST,
            format!("{users}/batch"),
            RawBody::Json(json!({"entries": " \n , "})),
            400,
            "invalid_invitee",
        ),
        (
            Method::PUT,
            products.clone(),
            RawBody::Json(json!({})),
            400,
            "invalid_selection",
        ),
        (
            Method::PUT,
            products.clone(),
            RawBody::Json(json!({"all": false})),
            400,
            "invalid_selection",
        ),
        (
            Method::PUT,
            format!("{users}/999999/products"),
            RawBody::Json(json!({"all": true})),
            404,
            "not_found",
        ),
        (
            Method::PUT,
            format!("/v1/teams/{team}/flex/defaults"),
            RawBody::Json(json!({"products": "maya"})),
            400,
            "invalid_body",
        ),
        (
            Method::POST,
            format!("/v1/teams/{team}/flex/import"),
            RawBody::Json(json!({"rows": []})),
            415,
            "unsupported_media_type",
        ),
        (
            Method::POST,
            format!("/v1/teams/{team}/flex/import?first_line=0"),
            RawBody::Text("A,a@example.com".into(), "text/csv"),
            400,
            "invalid_query",
        ),
        // Line numbers past the largest integer: this answered 500 (an overflow) before.
        (
            Method::POST,
            format!("/v1/teams/{team}/flex/import?first_line=18446744073709551615"),
            RawBody::Text("A,a@example.com\nB,b@example.com".into(), "text/csv"),
            400,
            "invalid_query",
        ),
        (
            Method::POST,
            format!("/v1/teams/{team}/invitations/999999/resend"),
            RawBody::Json(json!({})),
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/v1/invitations/accept".into(),
            RawBody::Json(json!({"secret": "x"})),
            400,
            "invalid_body",
        ),
        (
            Method::POST,
            "/v1/auth/token".into(),
            RawBody::Json(json!({"email": "jane@example.com"})),
            400,
            "invalid_body",
        ),
        (
            Method::GET,
            "/v1/outbox?status=lost".into(),
            RawBody::Text(String::new(), "text/plain"),
            400,
            "invalid_query",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let body = match body {
            RawBody::Text(t, _) if t.is_empty() => None,
            other => Some(other),
        };
        let answer = op.send(method.clone(), &path, body, &[]).await;
        assert_eq!(
            (answer.status.as_u16(), answer.body["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {answer:?}"
        );
        answer.problem(status, code);
    }
    assert_eq!(
        snapshot().await,
        before,
        "a refused request changed something"
    );
    app.shutdown().await;
}

async fn merge_people(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let source = scene(&op).await;
    let target = op.team("Target").await;
    let (jane, user) = onboard(
        &app,
        source,
        "Jane Doe <jane@example.com>",
        "jane@example.com",
        json!(["revit"]),
    )
    .await;
    // John is on both teams: the target keeps its own assignment of him.
    let (john, john_user) = onboard(
        &app,
        target,
        "John Roe <john@example.com>",
        "john@example.com",
        json!(["maya"]),
    )
    .await;
    op.post(
        &format!("/v1/teams/{source}/flex/users"),
        json!({"user_id": john, "all": true}),
    )
    .await
    .ok(201);
    invite(&op, source, "Bob Bee <bob@example.com>", json!(["autocad"])).await;
    let bob_secret = app.invitation_secret("bob@example.com").await;

    op.post(
        &format!("/v1/teams/{source}/merge"),
        json!({"into_team": target}),
    )
    .await
    .ok(200);

    let users = op.get(&format!("/v1/teams/{target}/flex/users")).await;
    let users = users.ok(200).as_array().unwrap().clone();
    let find = |id: i64| users.iter().find(|u| u["user_id"] == id).cloned();
    assert_eq!(
        find(jane).unwrap()["products"],
        json!(["revit"]),
        "assignment and selection move"
    );
    assert_eq!(
        find(john).unwrap()["products"],
        json!(["maya"]),
        "the target's own assignment stays"
    );
    assert_eq!(users.len(), 3);
    assert_eq!(my_products(&user).await, vec!["revit"]);
    assert_eq!(my_products(&john_user).await, vec!["maya"]);
    // Bob's open invitation now belongs to the target, and still works.
    let done = accept(&op, &bob_secret, "s3cret-password").await;
    assert_eq!(done.ok(200)["team_id"], target);
    let source_users = op.get(&format!("/v1/teams/{source}/flex/users")).await;
    assert!(source_users.ok(200).as_array().unwrap().is_empty());
    app.shutdown().await;
}

/// `jeton_core::sign_in`: 10 attempts per address in 15 minutes, then 429 for 15 minutes, even
/// with the right password; addresses without an account are treated alike; a success starts
/// afresh.
async fn guessing(db: TestDb) {
    let app = app(db).await;
    let (jane_id, _) = app.user_with_token("jane@example.com", "Jane Doe").await;
    app.user_with_token("john@example.com", "John Doe").await;
    let anon = Http::with_key(&app, None);
    let sign_in = |email: &'static str, password: &'static str| {
        let anon = anon.clone();
        async move {
            anon.post(
                "/v1/auth/token",
                json!({"email": email, "password": password}),
            )
            .await
        }
    };
    let right = jeton_server::testing::TEST_PASSWORD;
    for email in ["jane@example.com", "ghost@example.com"] {
        for _ in 0..10 {
            sign_in(email, "wrong-password")
                .await
                .problem(401, "invalid_credentials");
        }
        let refused = sign_in(email, right).await;
        let detail = refused.problem(429, "too_many_sign_in_attempts");
        assert!(detail.contains("try again in 15 minutes"), "{detail}");
        assert_eq!(refused.headers["retry-after"], "900", "{refused:?}");
    }
    // The address is what counts, in any case; other people sign in as usual.
    sign_in("JANE@example.com", right)
        .await
        .problem(429, "too_many_sign_in_attempts");
    assert!(sign_in("john@example.com", right).await.ok(200)["token"].is_string());

    // Five minutes later the wait is shorter; fifteen minutes after the last counted attempt,
    // the right password works again.
    app.clock.advance(chrono::Duration::minutes(5));
    let refused = sign_in("jane@example.com", right).await;
    assert_eq!(refused.headers["retry-after"], "600", "{refused:?}");
    app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(
        sign_in("jane@example.com", right).await.ok(200)["user_id"],
        jane_id.0
    );

    // A success starts afresh: nine mistakes and the right password, again and again.
    for _ in 0..3 {
        for _ in 0..9 {
            sign_in("jane@example.com", "wrong-password")
                .await
                .problem(401, "invalid_credentials");
        }
        sign_in("jane@example.com", right).await.ok(200);
    }
    app.shutdown().await;
}
