//! The web console and the user portal in a real headless Chromium, on both backends, with
//! invitation and password emails over real SMTP: the walk of an admin and a Flex user through
//! the pages the Flex configuration page describes. Screenshots of every page are saved under
//! `docs/screenshots/` (from the SQLite run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod browser;
#[path = "../common/mod.rs"]
mod common;
mod flex;
mod http;
mod operator;
mod reports;

use std::path::PathBuf;
use std::time::Duration;

use browser::Browser;
use common::Http;
use jeton_server::testing::smtp::{ReceivedMail, SmtpSink};
use jeton_server::testing::{SpawnOptions, TEST_PUBLIC_URL, TestApp, spawn_with_options};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use serde_json::{Value, json};

both_backends! {
    the_console_walk_from_a_pack_to_a_red_balance => console_walk,
}

/// Real time allowed for an email to arrive (normally milliseconds).
const MAIL_WAIT: Duration = Duration::from_secs(30);
const ADMIN_PASSWORD: &str = "admin-pass-1234";
const JANE_PASSWORD: &str = "jane-pass-5678";
const JANE_NEW_PASSWORD: &str = "jane-new-pass-9012";

pub(crate) fn screenshots(db: &TestDb) -> Option<PathBuf> {
    (db.backend == jeton_store::Backend::Sqlite)
        .then(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots"))
}

/// A link from an email, pointed at the test server (emails name the public URL).
pub(crate) fn local(app: &TestApp, link: &str) -> String {
    link.replace(TEST_PUBLIC_URL, &app.base_url)
}

/// The first link of the newest email to `to` whose subject has `subject_has`, waiting (real
/// time) for it to arrive.
pub(crate) async fn link_to(sink: &SmtpSink, to: &str, subject_has: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let mails: Vec<ReceivedMail> = sink.messages();
        if let Some(mail) = mails
            .iter()
            .rev()
            .find(|m| m.rcpt_to.iter().any(|r| r == to) && m.subject.contains(subject_has))
        {
            return mail
                .links()
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("no link in {mail:#?}"));
        }
        assert!(
            started.elapsed() < MAIL_WAIT,
            "no email to {to} about {subject_has:?} in {mails:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn product(op: &Http, key: &str, name: &str, rate: i64) {
    op.post(
        "/v1/products",
        json!({"key": key, "name": name, "daily_rate": rate, "items": [
            {"version": "2027", "platform": "windows", "url": format!("https://downloads.example.com/{key}-2027.msi")},
            {"version": "2027", "platform": "macos", "url": format!("https://downloads.example.com/{key}-2027.dmg")},
        ]}),
    )
    .await
    .ok(201);
}

/// The product cards of the portal, by key.
async fn portal_products(b: &Browser) -> Vec<String> {
    let mut keys = Vec::new();
    for card in b.find_all("article[data-product]").await {
        keys.push(card.attr("data-product").await.unwrap().unwrap());
    }
    keys.sort();
    keys
}

/// What a walk through the pages needs: a real SMTP server, a desktop-sized browser (taking
/// screenshots on the SQLite run, which are also answered) and a server mailing to the SMTP
/// server. `None` when SMTP or the browser is missing and not required (the walk is skipped).
pub(crate) async fn walk(db: TestDb) -> Option<(SmtpSink, Browser, TestApp, Option<PathBuf>)> {
    let shots = screenshots(&db);
    let sink = SmtpSink::start_temp().await?;
    let b = Browser::start(1280, 900, shots.clone()).await?;
    let app = spawn_with_options(
        db,
        SpawnOptions {
            smtp_url: Some(sink.url()),
            ..SpawnOptions::default()
        },
    )
    .await;
    Some((sink, b, app, shots))
}

async fn console_walk(db: TestDb) {
    let Some((sink, b, app, shots)) = walk(db).await else {
        return;
    };
    let op = Http::new(&app);
    product(&op, "cad", "CAD Studio", 10).await;
    product(&op, "cam", "CAM Works", 20).await;
    product(&op, "viz", "Viz Render", 85).await;
    let design = op.team("Design").await;
    let other = op.team("Manufacturing").await;

    // The start page, then the operator signs in with the operator key and records a pack.
    b.goto(&app.url("/")).await;
    assert!(b.main_text().await.contains("Administrator console"));
    b.shot("01-start").await;
    // The API reference, linked from the start page, needs no sign-in.
    b.click("a[href='/docs']").await;
    assert!(b.url().await.ends_with("/docs"), "{}", b.url().await);
    let reference = b.find("body").await.text().await.unwrap();
    assert!(reference.contains("/v1/sessions"), "{reference}");
    assert!(reference.contains("Start a product session"), "{reference}");
    b.shot("3k-api-reference").await;
    b.goto(&app.url("/console")).await;
    assert!(
        b.url().await.contains("/console/sign-in"),
        "sent to sign in"
    );
    b.shot("02-console-sign-in").await;
    b.sign_in_as_operator("not-the-key").await;
    assert!(b.main_text().await.contains("not the operator key"));
    b.sign_in_as_operator(&app.operator_key).await;
    assert!(b.url().await.ends_with("/console"), "{}", b.url().await);
    assert!(b.main_text().await.contains("Design"));
    b.shot("03-teams").await;

    b.goto(&app.url(&format!("/console/teams/{design}/tokens")))
        .await;
    b.fill("#pack-tokens", "99999999999").await;
    b.click("form[action$='/packs'] button").await;
    assert!(
        b.find("#tokens-error")
            .await
            .text()
            .await
            .unwrap()
            .contains("tokens must be a whole number from 1 to"),
        "a bad amount is refused beside the field"
    );
    assert_eq!(
        b.find("#pack-tokens")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "99999999999",
        "what was typed is kept"
    );
    assert_eq!(op.available(design).await, 0, "nothing was bought");
    b.fill("#pack-tokens", "100").await;
    b.click("form[action$='/packs'] button").await;
    assert!(b.main_text().await.contains("The pack is recorded"));
    assert_eq!(op.available(design).await, 100);
    b.shot("04-tokens").await;
    b.click("header form button").await; // sign out
    assert!(b.url().await.contains("/console/sign-in"));

    // An admin of Design: created by the operator, chooses a password through the emailed link.
    let created = op
        .post(
            "/v1/admins",
            json!({"email": "ann@example.com", "name": "Ann Admin", "teams": [design]}),
        )
        .await;
    let answered = created.ok(201)["password_link"]
        .as_str()
        .unwrap()
        .to_owned();
    let emailed = link_to(&sink, "ann@example.com", "console password").await;
    assert_eq!(
        emailed, answered,
        "the email carries the link the API answered"
    );
    b.goto(&local(&app, &emailed)).await;
    b.shot("05-choose-password").await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.fill("#again", "something else").await;
    b.click("main form button").await;
    assert!(b.main_text().await.contains("differ"));
    b.fill("#password", ADMIN_PASSWORD).await;
    b.fill("#again", ADMIN_PASSWORD).await;
    b.click("main form button").await;
    assert!(b.main_text().await.contains("password is saved"));
    b.click("main a.button").await;
    b.fill("#email", "ann@example.com").await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click("form:has(#email) button").await;
    assert!(
        b.url()
            .await
            .ends_with(&format!("/console/teams/{design}/tokens")),
        "an admin of one team opens on its tokens: {}",
        b.url().await
    );
    assert!(
        b.find_all("form[action$='/packs']").await.is_empty(),
        "recording packs is the operator's"
    );

    // Another team's page is the same 404 page as a team that does not exist.
    b.goto(&app.url(&format!("/console/teams/{other}/tokens")))
        .await;
    assert!(b.main_text().await.contains("no such page"));
    assert_eq!(b.title().await, "Not found — Jeton");
    b.shot("06-not-found").await;

    // Assign Jane with two of the three products; her invitation arrives over SMTP.
    b.goto(&app.url(&format!("/console/teams/{design}/users")))
        .await;
    b.shot("07-users-empty").await;
    b.fill("#people", "Jane Doe <jane@example.com>\nnot a person")
        .await;
    for key in ["cad", "cam"] {
        b.tick(&format!("input[name=products][value={key}]")).await;
    }
    b.click("form[action$='/assign'] button").await;
    let text = b.main_text().await;
    assert!(
        text.contains("Jane Doe <jane@example.com>: invited"),
        "{text}"
    );
    assert!(
        text.contains("not a person"),
        "the refused line is named: {text}"
    );
    assert!(
        text.contains("The people listed above are assigned")
            && !text.contains("Nothing was changed"),
        "a partly applied form does not claim nothing changed: {text}"
    );
    assert_eq!(
        b.find("#people")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "not a person",
        "only the refused line stays to be corrected"
    );
    b.shot("08-users-assign-refused-line").await;
    b.goto(&app.url(&format!("/console/teams/{design}/users")))
        .await;
    assert!(b.main_text().await.contains("invited"));
    b.shot("09-users").await;

    let invitation = link_to(&sink, "jane@example.com", "invited").await;
    let jane_browser = Browser::start(390, 844, shots.clone()).await.unwrap();
    let j = &jane_browser;
    j.goto(&local(&app, &invitation)).await;
    j.shot("10-phone-accept-invitation").await;
    j.fill("#password", JANE_PASSWORD).await;
    j.fill("#again", "not the same").await;
    j.click("main form button").await;
    assert!(
        j.find("#again-error")
            .await
            .text()
            .await
            .unwrap()
            .contains("differ"),
        "the form again, the message beside the field"
    );
    j.fill("#password", JANE_PASSWORD).await;
    j.fill("#again", JANE_PASSWORD).await;
    j.click("main form button").await;
    assert!(j.url().await.ends_with("/portal"), "{}", j.url().await);
    assert_eq!(
        portal_products(j).await,
        ["cad", "cam"],
        "exactly the two products"
    );
    assert!(j.main_text().await.contains("10 tokens per day of use"));
    j.shot("11-phone-portal").await;

    // One user's products as a checklist.
    let users: Value = op
        .get(&format!("/v1/teams/{design}/flex/users"))
        .await
        .ok(200)
        .clone();
    let jane = users[0]["user_id"].as_i64().unwrap();
    b.goto(&app.url(&format!("/console/teams/{design}/users/{jane}")))
        .await;
    assert!(b.main_text().await.contains("CAD Studio, CAM Works"));
    b.shot("12-user").await;

    // Default assignments: Viz only; Jane's page follows.
    b.goto(&app.url(&format!("/console/teams/{design}/defaults")))
        .await;
    let text = b.main_text().await;
    for sentence in [
        "turns default assignments off",
        "not added here automatically",
        "No email",
    ] {
        assert!(text.contains(sentence), "{sentence}: {text}");
    }
    b.tick("input[name=products][value=viz]").await;
    b.click("main form button").await;
    assert!(b.main_text().await.contains("Default assignments are on"));
    b.shot("13-defaults").await;
    j.goto(&app.url("/portal")).await;
    assert_eq!(
        portal_products(j).await,
        ["viz"],
        "defaults decide what she may open"
    );

    // A form posted without its CSRF token changes nothing.
    b.goto(&app.url(&format!("/console/teams/{design}/defaults")))
        .await;
    b.client
        .execute(
            "window.__jetonOldPage = true; \
             const f = document.querySelector('main form'); \
             f.querySelector('input[name=csrf]').remove(); \
             f.querySelectorAll('input[name=products]').forEach(c => c.checked = false); \
             f.submit();",
            vec![],
        )
        .await
        .unwrap();
    b.wait_for_new_page().await;
    assert!(b.main_text().await.contains("Nothing was changed"));
    b.shot("14-csrf-refused").await;
    let defaults = op.get(&format!("/v1/teams/{design}/flex/defaults")).await;
    assert_eq!(defaults.ok(200)["products"], json!(["viz"]), "unchanged");

    // Charges take the balance under the 20 % threshold: the bar turns red.
    let jane_api = common::signed_in(&app, "jane@example.com", JANE_PASSWORD).await;
    jane_api
        .post(
            "/v1/sessions",
            json!({"team": design, "product": "viz", "version": "2027"}),
        )
        .await
        .ok(201);
    assert_eq!(op.available(design).await, 15);
    b.goto(&app.url(&format!("/console/teams/{design}/tokens")))
        .await;
    let balance = b.find("#balance").await;
    assert_eq!(
        balance.attr("data-low").await.unwrap().as_deref(),
        Some("true")
    );
    assert!(
        balance
            .attr("class")
            .await
            .unwrap()
            .unwrap()
            .contains("low")
    );
    let fill = b.find("#balance svg.meter .fill").await;
    let color = b
        .client
        .execute(
            "return getComputedStyle(arguments[0]).fill",
            vec![serde_json::to_value(&fill).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(color, json!("rgb(180, 35, 24)"), "the bar is red");
    assert!(
        b.main_text().await.contains("charged"),
        "the charge is an event"
    );
    b.shot("15-tokens-low").await;

    // Forgot password: a link by email, which works once.
    j.click("header form button").await;
    assert!(j.url().await.contains("/portal/sign-in"));
    j.click("a[href='/portal/forgot-password']").await;
    j.fill("#email", "jane@example.com").await;
    j.click("main form button").await;
    assert!(j.main_text().await.contains("on its way"));
    j.shot("16-phone-forgot-password").await;
    let reset = link_to(&sink, "jane@example.com", "new Jeton password").await;
    j.goto(&local(&app, &reset)).await;
    j.fill("#password", JANE_NEW_PASSWORD).await;
    j.fill("#again", JANE_NEW_PASSWORD).await;
    j.click("main form button").await;
    assert!(j.main_text().await.contains("password is saved"));
    j.goto(&local(&app, &reset)).await;
    assert!(
        j.main_text().await.contains("already used"),
        "{}",
        j.main_text().await
    );
    j.shot("17-phone-link-used").await;
    j.goto(&app.url("/portal/sign-in")).await;
    j.fill("#email", "jane@example.com").await;
    j.fill("#password", JANE_PASSWORD).await;
    j.click("main form button").await;
    assert!(
        j.main_text().await.contains("wrong"),
        "the old password no longer works"
    );
    j.fill("#password", JANE_NEW_PASSWORD).await;
    j.click("main form button").await;
    assert_eq!(portal_products(j).await, ["viz"]);
    assert!(
        j.main_text().await.contains("not enough tokens on Design"),
        "15 tokens left do not pay a new day of Viz (85)"
    );
    j.shot("18-phone-portal-not-enough-tokens").await;

    jane_browser.close().await;
    b.close().await;
    app.shutdown().await;
}
