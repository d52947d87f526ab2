//! The operator's areas in a real headless Chromium, on both backends: teams (created, renamed,
//! merged), products (added, changed, with their rate history), admins (created with the key
//! and password link shown once and emailed over SMTP, kept out of the operator's pages, revoked,
//! given a new key), the outbox (a failed email sent again), and a CSV import uploaded through
//! the file input and followed to its end. Screenshots `3…` from the SQLite run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use serde_json::Value;

use crate::browser::Browser;
use crate::common::Http;
use crate::{link_to, local, product};

both_backends! {
    the_operator_walk_through_teams_products_admins_import_and_the_outbox => operator_walk,
}

const BOB_PASSWORD: &str = "bob-pass-3456";
/// Real time allowed for the server's background work that the test waits on (the mail sender
/// giving up, an import page refreshing itself).
const WAIT: Duration = Duration::from_secs(60);

async fn outbox(op: &Http) -> Vec<Value> {
    op.get("/v1/outbox?limit=1000")
        .await
        .ok(200)
        .as_array()
        .unwrap()
        .clone()
}

/// A file for the upload field, in a directory of this run's own.
fn file(dir: &PathBuf, name: &str, bytes: &[u8]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Drives the mail sender to give up on the newest email to `to` (the relay is down): the clock
/// moves on after each attempt, as the back-off asks. Returns the message's id.
async fn fail_newest_to(op: &Http, to: &str) -> i64 {
    let started = Instant::now();
    let mut seen = (0, Instant::now());
    loop {
        let all = outbox(op).await;
        let m = all.iter().find(|m| m["to"] == to).unwrap();
        if m["status"] == "failed" {
            return m["id"].as_i64().unwrap();
        }
        let attempts = m["attempts"].as_u64().unwrap();
        // After an attempt, or when the last move of the clock did not reach the next one.
        if attempts > seen.0 || seen.1.elapsed() > Duration::from_millis(500) {
            seen = (attempts, Instant::now());
            if attempts > 0 {
                op.advance(3600).await;
            }
        }
        assert!(
            started.elapsed() < WAIT,
            "the sender did not give up on {to}: {m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn operator_walk(db: TestDb) {
    let backend = format!("{:?}", db.backend).to_lowercase();
    let Some((mut sink, b, app, shots)) = crate::walk(db).await else {
        return;
    };
    let op = Http::new(&app);
    product(&op, "cad", "CAD Studio", 10).await;
    let design = op.team("Design").await;
    b.goto(&app.url("/console/operator/teams")).await;
    b.sign_in_as_operator(&app.operator_key).await;
    assert!(
        b.url().await.ends_with("/console/operator/teams"),
        "back where the operator was going: {}",
        b.url().await
    );

    // ---- All teams: a name without a visible character is refused beside the field.
    assert!(b.main_text().await.contains("Design"));
    b.shot("31-operator-teams").await;
    b.client
        .execute(
            "document.querySelector('#name').value = '\\u200b \\u200b';",
            vec![],
        )
        .await
        .unwrap();
    b.click("form[action='/console/operator/teams'] button")
        .await;
    assert!(
        b.text("#name-error").await.contains("no visible character"),
        "{}",
        b.main_text().await
    );
    assert_eq!(b.value("#name").await, "\u{200b} \u{200b}", "kept as typed");
    b.shot("32-operator-team-refused").await;
    let teams_before = op.get("/v1/teams").await.ok(200).as_array().unwrap().len();
    assert_eq!(teams_before, 1, "nothing was created");
    b.fill("#name", "Studio").await;
    b.click("form[action='/console/operator/teams'] button")
        .await;
    assert!(b.main_text().await.contains("The team is created"));
    let studio: i64 = b
        .url()
        .await
        .split("/console/operator/teams/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .parse()
        .unwrap();
    b.fill("#name", "Studio North").await;
    b.click("form[action$='/rename'] button").await;
    assert!(b.main_text().await.contains("The team is renamed"));
    assert_eq!(
        op.get(&format!("/v1/teams/{studio}")).await.ok(200)["name"],
        "Studio North"
    );
    b.shot("33-operator-team").await;

    // ---- Products: a bad key is refused beside it, and everything typed is kept.
    b.goto(&app.url("/console/operator/products")).await;
    assert!(
        b.find("tr[data-product=cad]")
            .await
            .text()
            .await
            .unwrap()
            .contains("CAD Studio")
    );
    b.shot("34-operator-products").await;
    b.tick("details.card summary").await;
    b.fill("#key", "Viz Render!").await;
    b.fill("#name", "Viz Render").await;
    b.fill("#daily_rate", "85").await;
    b.fill("#result_rates", "render.cloud=5").await;
    b.fill(
        "#items",
        "2027 | windows | https://downloads.example.com/viz-2027.msi",
    )
    .await;
    b.click("form[action='/console/operator/products'] button")
        .await;
    assert!(
        b.text("#key-error").await.contains("is not valid"),
        "{}",
        b.main_text().await
    );
    assert_eq!(b.value("#key").await, "Viz Render!");
    assert_eq!(b.value("#name").await, "Viz Render");
    assert_eq!(b.value("#daily_rate").await, "85");
    assert_eq!(b.value("#result_rates").await, "render.cloud=5");
    assert!(b.value("#items").await.ends_with("viz-2027.msi"));
    b.shot("35-operator-product-refused").await;
    op.get("/v1/products/viz").await.problem(404, "not_found");
    b.fill("#key", "viz").await;
    b.click("form[action='/console/operator/products'] button")
        .await;
    assert!(b.url().await.contains("/console/operator/products/viz"));
    assert!(b.main_text().await.contains("added to the catalogue"));

    // An hour later: a negative rate and a link that is not a web address, both named and
    // nothing changed; then a new rate, which the history shows beside the first.
    op.advance(3600).await;
    b.fill("#daily_rate", "-5").await;
    b.fill(
        "#items",
        "2027 | windows | ftp://downloads.example.com/viz.msi",
    )
    .await;
    b.click("main form button").await;
    assert!(b.text("#daily_rate-error").await.contains("from 0 to"));
    assert!(b.text("#items-error").await.contains("line 1"));
    assert_eq!(b.value("#daily_rate").await, "-5");
    b.fill("#daily_rate", "90").await;
    b.fill(
        "#items",
        "2027 | windows | https://downloads.example.com/viz-2027.msi\n\
         2027 | macos | https://downloads.example.com/viz-2027.dmg",
    )
    .await;
    b.click("main form button").await;
    assert!(b.main_text().await.contains("Saved"));
    let history = b.find_all("tr.rate-change").await;
    assert_eq!(history.len(), 2, "the first rate and the change");
    assert!(history[0].text().await.unwrap().contains("90"));
    assert!(history[1].text().await.unwrap().contains("85"));
    b.shot("36-operator-product").await;
    let viz = op.get("/v1/products/viz").await;
    assert_eq!(viz.ok(200)["daily_rate"], 90);
    assert_eq!(viz.ok(200)["items"].as_array().unwrap().len(), 2);
    assert_eq!(viz.ok(200)["rate_history"].as_array().unwrap().len(), 2);

    // ---- Admins: the key and the password link are shown once; the link is emailed too.
    b.goto(&app.url("/console/operator/admins")).await;
    assert!(b.main_text().await.contains("No team admin yet"));
    b.shot("37-operator-admins-empty").await;
    b.fill("#email", "bob@example.com").await;
    b.fill("#name", "Bob Admin").await;
    b.click("form[action='/console/operator/admins'] button")
        .await;
    assert!(b.text("#teams-error").await.contains("at least one"));
    assert_eq!(b.value("#email").await, "bob@example.com");
    b.tick(&format!("input[name=teams][value='{design}']"))
        .await;
    b.click("form[action='/console/operator/admins'] button")
        .await;
    let key = b.value("#api-key").await;
    let shown_link = b.value("#password-link").await;
    assert!(key.starts_with("jeton_adm_"), "{key}");
    assert!(
        b.main_text()
            .await
            .contains("It was also emailed to bob@example.com"),
        "{}",
        b.main_text().await
    );
    b.shot("38-operator-admin-created").await;
    let emailed = link_to(&sink, "bob@example.com", "console password").await;
    assert_eq!(emailed, shown_link, "the email carries the link shown");
    let bob_api = Http::with_key(&app, Some(key.clone()));
    bob_api.get(&format!("/v1/teams/{design}")).await.ok(200);
    let bob = op.get("/v1/admins").await.ok(200)[0]["id"]
        .as_i64()
        .unwrap();

    // Bob chooses his password through the link and signs in: the operator's pages refuse him.
    let a = Browser::start(1280, 900, shots.clone()).await.unwrap();
    a.goto(&local(&app, &emailed)).await;
    a.fill("#password", BOB_PASSWORD).await;
    a.fill("#again", BOB_PASSWORD).await;
    a.click("main form button").await;
    a.goto(&app.url("/console/sign-in")).await;
    a.fill("#email", "bob@example.com").await;
    a.fill("#password", BOB_PASSWORD).await;
    a.click("form:has(#email) button").await;
    assert!(
        a.url()
            .await
            .ends_with(&format!("/console/teams/{design}/tokens")),
        "{}",
        a.url().await
    );
    for page in [
        "/console/operator/teams".to_owned(),
        format!("/console/operator/teams/{design}"),
        "/console/operator/products".to_owned(),
        "/console/operator/products/viz".to_owned(),
        "/console/operator/admins".to_owned(),
        "/console/operator/outbox".to_owned(),
    ] {
        a.goto(&app.url(&page)).await;
        assert_eq!(a.title().await, "Not allowed — Jeton", "{page}");
        assert!(a.main_text().await.contains("operator"), "{page}");
    }
    a.shot("39-admin-on-operator-page").await;
    // His own team's import page is his.
    a.goto(&app.url(&format!("/console/teams/{design}/import")))
        .await;
    assert_eq!(a.title().await, "Import users — Jeton");
    assert!(
        a.find_all("nav.side a[href='/console/operator/teams']")
            .await
            .is_empty(),
        "no operator navigation for an admin"
    );

    // Revoking his key keeps him out of the console too; a new key is shown once.
    b.goto(&app.url("/console/operator/admins")).await;
    b.click(&format!("tr[data-admin='{bob}'] button.revoke"))
        .await;
    assert!(b.main_text().await.contains("Bob Admin no longer works"));
    assert!(
        b.find(&format!("tr[data-admin='{bob}']"))
            .await
            .text()
            .await
            .unwrap()
            .contains("revoked")
    );
    b.shot("3a-operator-admin-revoked").await;
    bob_api
        .get(&format!("/v1/teams/{design}"))
        .await
        .problem(401, "key_revoked");
    a.goto(&app.url(&format!("/console/teams/{design}/tokens")))
        .await;
    assert!(
        a.url().await.contains("/console/sign-in"),
        "signed out: {}",
        a.url().await
    );
    a.fill("#email", "bob@example.com").await;
    a.fill("#password", BOB_PASSWORD).await;
    a.click("form:has(#email) button").await;
    assert!(
        a.text("#email-error").await.contains("revoked"),
        "{}",
        a.main_text().await
    );
    b.click(&format!("tr[data-admin='{bob}'] button.rotate"))
        .await;
    let new_key = b.value("#api-key").await;
    assert!(new_key.starts_with("jeton_adm_") && new_key != key);
    b.shot("3b-operator-admin-new-key").await;
    Http::with_key(&app, Some(new_key))
        .get(&format!("/v1/teams/{design}"))
        .await
        .ok(200);
    bob_api
        .get(&format!("/v1/teams/{design}"))
        .await
        .problem(401, "unauthorized");

    // ---- Import: three lines, one bad; the outcomes are shown and no email goes.
    b.goto(&app.url(&format!("/console/teams/{design}/import")))
        .await;
    let page = b.main_text().await;
    assert!(page.contains("An import sends no email"), "{page}");
    for column in ["name", "email", "products"] {
        assert!(page.contains(column), "{column}: {page}");
    }
    b.shot("3c-import").await;
    let dir = std::env::temp_dir().join(format!(
        "jeton-console-import-{}-{backend}",
        std::process::id()
    ));
    let not_csv = file(&dir, "people.xlsx", b"PK\x03\x04\x00\x00binary");
    b.find("#file").await.send_keys(&not_csv).await.unwrap();
    b.click("form[enctype] button").await;
    assert!(
        b.text("#file-error").await.contains("not CSV text"),
        "{}",
        b.main_text().await
    );
    b.shot("3d-import-refused").await;
    assert!(
        op.get(&format!("/v1/teams/{design}/flex/imports"))
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was queued"
    );
    let mut big = b"name,email\n".to_vec();
    while big.len() <= 10 * 1024 * 1024 {
        big.extend_from_slice(b"Someone Else,someone@example.com\n");
    }
    let too_large = file(&dir, "everyone.csv", &big);
    drop(big);
    b.find("#file").await.send_keys(&too_large).await.unwrap();
    b.click("form[enctype] button").await;
    assert!(
        b.text("#file-error").await.contains("larger than 10 MiB"),
        "{}",
        b.main_text().await
    );
    // An upload without its CSRF token is refused before anything is read from it.
    b.fill("#text", "Eve Doe,eve@example.com").await;
    b.client
        .execute(
            "window.__jetonOldPage = true; \
             const f = document.querySelector('form[enctype]'); \
             f.querySelector('input[name=csrf]').remove(); \
             f.submit();",
            vec![],
        )
        .await
        .unwrap();
    b.wait_for_new_page().await;
    assert_eq!(b.title().await, "This form has expired — Jeton");
    let mails_before = outbox(&op).await.len();
    assert!(
        op.get(&format!("/v1/teams/{design}/flex/imports"))
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was queued"
    );
    b.goto(&app.url(&format!("/console/teams/{design}/import")))
        .await;
    let csv = file(
        &dir,
        "people.csv",
        b"name,email,products\nJane Doe,jane@example.com,cad\nJohn Roe,john@example.com,*\nNot Valid,not-an-email,cad\n",
    );
    b.find("#file").await.send_keys(&csv).await.unwrap();
    b.click("form[enctype] button").await;
    assert!(
        b.url()
            .await
            .contains(&format!("/console/teams/{design}/import/")),
        "{}",
        b.url().await
    );
    app.run_imports().await;
    // The page refreshes itself while the import runs.
    let started = Instant::now();
    while b.find_all("[data-status=done]").await.is_empty() {
        assert!(
            started.elapsed() < WAIT,
            "the import page did not reach done: {}",
            b.main_text().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        b.find("#progress")
            .await
            .attr("value")
            .await
            .unwrap()
            .as_deref(),
        Some("3")
    );
    assert_eq!(b.text("#applied").await, "2");
    assert_eq!(b.text("#refused").await, "1");
    for (line, outcome) in [(2, "applied"), (3, "applied"), (4, "refused")] {
        b.find(&format!("tr[data-line='{line}'][data-outcome='{outcome}']"))
            .await;
    }
    assert!(
        b.text("tr[data-line='4']").await.contains("not-an-email"),
        "the reason is shown"
    );
    assert!(
        b.find_all("meta[http-equiv=refresh]").await.is_empty(),
        "a finished import's page stays still"
    );
    b.shot("3e-import-done").await;
    b.click("a[href$='outcome=refused#lines']").await;
    assert_eq!(b.find_all("tr[data-line]").await.len(), 1);
    // Lines pasted instead of a file go the same way.
    b.click("a[href$='/import']").await;
    b.fill("#text", "Ann Lee,ann@example.com,viz").await;
    b.click("form[enctype] button").await;
    app.run_imports().await;
    b.goto(&b.url().await).await;
    b.find("tr[data-line='1'][data-outcome='applied']").await;
    let users = op.get(&format!("/v1/teams/{design}/flex/users")).await;
    assert_eq!(users.ok(200).as_array().unwrap().len(), 3);
    assert_eq!(
        outbox(&op).await.len(),
        mails_before,
        "an import sends no email"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // ---- Merge: what it means is said before the button; the source closes.
    b.goto(&app.url(&format!("/console/operator/teams/{studio}")))
        .await;
    assert!(b.main_text().await.contains("cannot be undone"));
    b.find(&format!("#into_team option[value='{design}']"))
        .await
        .click()
        .await
        .unwrap();
    b.click("form[action$='/merge'] button").await;
    assert!(b.main_text().await.contains("merged and closed"));
    assert!(b.text("#team-status").await.contains("closed"));
    assert!(b.text("#team-status").await.contains("Design"));
    assert!(b.find_all("form[action$='/rename']").await.is_empty());
    b.shot("3f-operator-team-merged").await;
    let closed = op.get(&format!("/v1/teams/{studio}")).await;
    assert_eq!(closed.ok(200)["status"], "closed");
    assert_eq!(closed.ok(200)["merged_into"], design);

    // ---- Outbox: the relay is down, the sender gives up on a password link; sent again.
    b.goto(&app.url("/console/operator/admins")).await;
    let received = sink.messages().len();
    b.click(&format!("tr[data-admin='{bob}'] button.link"))
        .await;
    let second_link = b.value("#password-link").await;
    assert!(b.main_text().await.contains("also emailed"));
    b.shot("3g-operator-password-link").await;
    sink.wait_for(received + 1, WAIT).await;
    assert_eq!(
        link_to(&sink, "bob@example.com", "console password").await,
        second_link
    );
    sink.stop();
    b.click("a.button[href='/console/operator/admins']").await;
    b.click(&format!("tr[data-admin='{bob}'] button.link"))
        .await;
    let third_link = b.value("#password-link").await;
    let failed = fail_newest_to(&op, "bob@example.com").await;
    sink.restart().await;
    // More than the 12 hours of a console sign-in went by: the operator signs in again.
    b.goto(&app.url("/console/operator/outbox?status=failed"))
        .await;
    assert!(b.url().await.contains("/console/sign-in"));
    b.sign_in_as_operator(&app.operator_key).await;
    assert!(
        b.url()
            .await
            .ends_with("/console/operator/outbox?status=failed")
    );
    let row = b.find(&format!("tr[data-message='{failed}']")).await;
    assert_eq!(
        row.attr("data-status").await.unwrap().as_deref(),
        Some("failed")
    );
    assert!(b.main_text().await.contains("1 email failed"));
    let source = b.client.source().await.unwrap();
    assert!(
        source.contains("secret=(hidden)"),
        "bodies hide link secrets"
    );
    let secret = third_link.split("secret=").nth(1).unwrap();
    assert!(!source.contains(secret), "the secret is not on the page");
    b.shot("3h-operator-outbox-failed").await;
    let sent_before = sink.messages().len();
    b.click(&format!("tr[data-message='{failed}'] button"))
        .await;
    assert!(b.main_text().await.contains("queued again"));
    sink.wait_for(sent_before + 1, WAIT).await;
    assert_eq!(
        link_to(&sink, "bob@example.com", "console password").await,
        third_link,
        "the failed email arrives as it was written"
    );
    let started = Instant::now();
    loop {
        let all = outbox(&op).await;
        let m = all.iter().find(|m| m["id"] == failed).unwrap();
        if m["status"] == "sent" {
            break;
        }
        assert!(started.elapsed() < WAIT, "not recorded as sent: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.goto(&app.url("/console/operator/outbox?to=bob@example.com"))
        .await;
    let rows = b.find_all("tr[data-message]").await;
    assert_eq!(rows.len(), 3, "Bob's three password links");
    assert!(b.find_all("tr[data-status=failed]").await.is_empty());
    b.client
        .execute(
            "document.querySelector('tr[data-message] details').open = true;",
            vec![],
        )
        .await
        .unwrap();
    b.shot("3i-operator-outbox").await;
    b.goto(&app.url("/console/operator/outbox?status=lost&limit=0"))
        .await;
    assert!(
        b.text("#status-error")
            .await
            .contains("pending, sent or failed")
    );
    assert!(b.text("#limit-error").await.contains("1 to 1000"));

    // The list of every team, with the closed one, on a phone.
    let phone = Browser::start(390, 844, shots.clone()).await.unwrap();
    phone.goto(&app.url("/console/sign-in")).await;
    phone.sign_in_as_operator(&app.operator_key).await;
    phone.goto(&app.url("/console/operator/teams")).await;
    let studio_row = phone.find(&format!("tr[data-team='{studio}']")).await;
    assert!(studio_row.text().await.unwrap().contains("merged into"));
    phone.shot("3j-phone-operator-teams").await;
    // The API reference on a phone: its areas become a row of links above the operations.
    phone.goto(&app.url("/docs")).await;
    assert!(phone.main_text().await.contains("/v1/sessions"));
    phone.shot("3l-phone-api-reference").await;

    phone.close().await;
    a.close().await;
    b.close().await;
    app.shutdown().await;
}
