//! R-NOT-2, R-USR-3/4 over a real SMTP server (Python's aiosmtpd; see
//! `jeton_server::testing::smtp`): invitation emails arrive with working links, an SMTP outage
//! and a server restart lose none and send none twice, and several servers sharing one outbox
//! send each email once. Both backends.
//!
//! The sink is a real network peer: waiting for it polls with a real-time timeout. Retries are
//! scheduled on the injected clock, which the tests move.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::Http;
use jeton_core::Clock;
use jeton_server::testing::smtp::{ReceivedMail, SmtpSink};
use jeton_server::testing::{SpawnOptions, TEST_PUBLIC_URL, TestApp, spawn_with_options};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use serde_json::{Value, json};

both_backends! {
    r_not_2_r_usr_3_invitation_email_over_smtp_accept_expire_resend => invitation_over_smtp,
    r_not_2_smtp_outage_and_restart_lose_no_email_and_send_none_twice => outage_and_restart,
    r_not_2_two_servers_one_outbox_each_email_sent_once => two_servers_one_outbox,
    r_not_2_claims_of_a_crashed_sender_run_out_and_the_email_goes_once => crashed_sender,
    r_not_2_an_email_given_up_on_is_sent_again_by_the_operator_once => retry_failed,
}

/// Real time allowed for emails to arrive (they normally take milliseconds).
const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct horse battery staple";

async fn mail_app(db: TestDb, sink: &SmtpSink) -> TestApp {
    spawn_with_options(
        db,
        SpawnOptions {
            smtp_url: Some(sink.url()),
            ..SpawnOptions::default()
        },
    )
    .await
}

async fn outbox(http: &Http) -> Vec<Value> {
    http.get("/v1/outbox?limit=1000")
        .await
        .ok(200)
        .as_array()
        .unwrap()
        .clone()
}

/// Waits (real time) until the outbox holds `n` messages that satisfy `done`.
async fn wait_outbox(
    http: &Http,
    n: usize,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let all = outbox(http).await;
        if all.len() == n && all.iter().all(&done) {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not reach {n} messages {what} within {WAIT:?}: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_all_sent(http: &Http, n: usize) -> Vec<Value> {
    wait_outbox(http, n, "sent", |m| m["status"] == "sent").await
}

/// The accept link of an invitation email, and its secret.
fn accept_link(mail: &ReceivedMail) -> (String, String) {
    let prefix = format!("{TEST_PUBLIC_URL}/invitations/accept?secret=");
    let link = mail
        .links()
        .into_iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no accept link in {mail:#?}"));
    let secret = link[prefix.len()..].to_owned();
    assert!(!secret.is_empty());
    (link, secret)
}

/// GET of a link from an email, against this test server.
async fn open_link(app: &TestApp, link: &str) -> common::Answer {
    let path = link
        .strip_prefix(TEST_PUBLIC_URL)
        .expect("a link to this server");
    Http::with_key(app, None).get(path).await
}

async fn accept(app: &TestApp, secret: &str) -> common::Answer {
    Http::with_key(app, None)
        .post(
            "/v1/invitations/accept",
            json!({"secret": secret, "password": PASSWORD}),
        )
        .await
}

/// Signs in and returns the keys of `/v1/me/products`.
async fn my_products(app: &TestApp, email: &str, team: i64) -> BTreeSet<String> {
    let anon = Http::with_key(app, None);
    let token = anon
        .post(
            "/v1/auth/token",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    let token = token.ok(200)["token"].as_str().unwrap().to_owned();
    let user = Http::with_key(app, Some(token));
    let products = user.get("/v1/me/products").await;
    let products = products.ok(200).as_array().unwrap().clone();
    for p in &products {
        assert_eq!(p["access"], "flex", "{p}");
        assert_eq!(p["teams"], json!([team]), "{p}");
    }
    products
        .iter()
        .map(|p| p["key"].as_str().unwrap().to_owned())
        .collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

/// Asserts that `mails` hold exactly one message per outbox row (by Message-ID), and that their
/// recipients are `recipients` (in any order).
#[track_caller]
fn exactly_once(mails: &[ReceivedMail], outbox: &[Value], recipients: &[String]) {
    let mut by_id: BTreeMap<&str, usize> = BTreeMap::new();
    for m in mails {
        *by_id.entry(m.message_id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = by_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(mails.len(), outbox.len(), "one email per outbox message");
    for row in outbox {
        let marker = format!("<jeton.outbox.{}.", row["id"]);
        let found = mails
            .iter()
            .filter(|m| m.message_id.starts_with(&marker))
            .count();
        assert_eq!(found, 1, "outbox message {row} arrived {found} times");
    }
    let mut got: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    got.sort();
    let mut expected = recipients.to_vec();
    expected.sort();
    assert_eq!(got, expected, "recipients");
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn mails_sent_metric(app: &TestApp) -> u64 {
    let text = Http::new(app).metrics_text().await;
    metric(&text, "jeton_mail_sent_total{kind=\"invitation\"}")
}

async fn invitation_over_smtp(db: TestDb) {
    let Some(sink) = SmtpSink::start_temp().await else {
        return;
    };
    let app = mail_app(db, &sink).await;
    let http = Http::new(&app);
    for key in ["autocad", "revit", "maya"] {
        http.product(key, 5).await;
    }
    let team = http.team("Design").await;

    // Invite: one email, delivered over SMTP at once.
    let jane = http
        .post(
            &format!("/v1/teams/{team}/flex/users"),
            json!({"invite": "Jane Doe <jane@example.com>", "products": ["autocad", "revit"]}),
        )
        .await;
    let jane = jane.ok(201).clone();
    assert_eq!(jane["status"], "invited", "{jane}");
    assert!(jane["invitation_id"].is_i64(), "{jane}");
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = &mails[0];
    assert_eq!(mail.rcpt_to, ["jane@example.com"]);
    assert_eq!(mail.to, "Jane Doe <jane@example.com>");
    assert_eq!(mail.mail_from, "jeton@localhost");
    assert!(mail.content_type.starts_with("text/plain"), "{mail:#?}");
    assert_eq!(mail.auto_submitted, "auto-generated");
    let sent = wait_all_sent(&http, 1).await;
    assert_eq!(sent[0]["kind"], "invitation");
    assert_eq!(sent[0]["to"], "jane@example.com");
    assert_eq!(sent[0]["attempts"], 1);
    assert_eq!(sent[0]["subject"], mail.subject.as_str());
    // What arrives, decoded, is the text in the outbox, whose link secret went to Jane only:
    // the operator's view hides it, and once sent the stored body no longer holds it.
    let (_, secret) = accept_link(mail);
    assert_eq!(
        sent[0]["body"].as_str().unwrap().trim_end(),
        mail.body
            .replace(&secret, jeton_core::mail::HIDDEN)
            .trim_end()
    );
    let stored = app
        .store
        .outbox(&jeton_store::outbox::OutboxFilter {
            status: None,
            to: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(!stored[0].body.contains(&secret), "{:?}", stored[0]);
    assert!(
        stored[0].body.contains("secret=(hidden)"),
        "{:?}",
        stored[0]
    );
    assert_eq!(
        mail.message_id,
        format!(
            "<jeton.outbox.{}.{}@localhost>",
            sent[0]["id"],
            chrono::DateTime::parse_from_rfc3339(sent[0]["created_at"].as_str().unwrap())
                .unwrap()
                .timestamp_micros()
        )
    );

    // The link opens a page with a form; accepting makes the account.
    let (link, secret) = accept_link(mail);
    let page = open_link(&app, &link).await;
    assert_eq!(page.status.as_u16(), 200, "{page:?}");
    assert!(page.content_type.starts_with("text/html"), "{page:?}");
    assert!(page.body.as_str().unwrap().contains("<form"), "{page:?}");
    let accepted = accept(&app, &secret).await;
    assert_eq!(accepted.ok(200)["team_id"], team);
    assert_eq!(accepted.body["user_id"], jane["user_id"]);
    assert_eq!(
        my_products(&app, "jane@example.com", team).await,
        set(&["autocad", "revit"])
    );

    // A second invitation is left for 7 days: its link no longer works.
    let john = http
        .post(
            &format!("/v1/teams/{team}/flex/users"),
            json!({"invite": "John Roe <john@example.com>", "products": ["maya"]}),
        )
        .await;
    let invitation = john.ok(201)["invitation_id"].as_i64().unwrap();
    let mails = sink.wait_for(2, WAIT).await;
    assert_eq!(mails[1].rcpt_to, ["john@example.com"]);
    let (old_link, old_secret) = accept_link(&mails[1]);
    assert_ne!(old_secret, secret);
    http.advance(7 * 86_400).await;
    accept(&app, &old_secret)
        .await
        .problem(410, "invitation_expired");
    assert_eq!(open_link(&app, &old_link).await.status.as_u16(), 410);

    // Resend: a new email with a new link valid 7 more days; the old link stays dead.
    let resent = http
        .post(
            &format!("/v1/teams/{team}/invitations/{invitation}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(
        resent.ok(200)["expires_at"],
        "2026-01-19T08:00:00Z",
        "{resent:?}"
    );
    let mails = sink.wait_for(3, WAIT).await;
    assert_eq!(mails.len(), 3, "{mails:#?}");
    assert_eq!(mails[2].rcpt_to, ["john@example.com"]);
    assert_ne!(mails[2].message_id, mails[1].message_id);
    let (new_link, new_secret) = accept_link(&mails[2]);
    assert_ne!(new_secret, old_secret);
    assert_eq!(open_link(&app, &new_link).await.status.as_u16(), 200);
    assert_eq!(accept(&app, &old_secret).await.status.as_u16(), 410);
    assert_eq!(open_link(&app, &old_link).await.status.as_u16(), 410);
    accept(&app, &new_secret).await.ok(200);
    assert_eq!(
        my_products(&app, "john@example.com", team).await,
        set(&["maya"])
    );
    // Used once, the link is done.
    assert_ne!(accept(&app, &new_secret).await.status.as_u16(), 200);

    let outbox = wait_all_sent(&http, 3).await;
    exactly_once(
        &sink.messages(),
        &outbox,
        &[
            "jane@example.com".into(),
            "john@example.com".into(),
            "john@example.com".into(),
        ],
    );
    assert_eq!(mails_sent_metric(&app).await, 3);
    app.shutdown().await;
}

async fn outage_and_restart(db: TestDb) {
    let Some(mut sink) = SmtpSink::start_temp().await else {
        return;
    };
    let first = mail_app(db.share(), &sink).await;
    let http = Http::new(&first);
    http.product("autocad", 5).await;
    let team = http.team("Design").await;

    // SMTP is down while several emails are caused.
    sink.stop();
    let people: Vec<String> = (1..=6).map(|i| format!("p{i}@example.com")).collect();
    for (i, email) in people.iter().enumerate() {
        http.post(
            &format!("/v1/teams/{team}/flex/users"),
            json!({"invite": format!("Person {i} <{email}>"), "products": ["autocad"]}),
        )
        .await
        .ok(201);
    }
    // The sender tries each, fails, and schedules a retry on the clock.
    wait_outbox(&http, people.len(), "attempted and pending", |m| {
        m["status"] == "pending" && m["attempts"].as_u64() >= Some(1) && m["last_error"].is_string()
    })
    .await;
    assert!(sink.messages().is_empty());

    // A restart: another server process on the same database, its clock where the first one's was.
    let now = first.clock.now();
    first.shutdown().await;
    let second = spawn_with_options(
        db.share(),
        SpawnOptions {
            start: now,
            smtp_url: Some(sink.url()),
            ..SpawnOptions::default()
        },
    )
    .await;
    let http = Http::new(&second);
    sink.restart().await;
    // The retries fall due as the clock passes.
    http.advance(3600).await;
    sink.wait_for(people.len(), WAIT).await;
    let outbox = wait_all_sent(&http, people.len()).await;
    for m in &outbox {
        assert!(m["attempts"].as_u64() >= Some(2), "failed, then sent: {m}");
        assert!(
            m.get("last_error").is_none() || m["last_error"].is_null(),
            "{m}"
        );
    }
    // Once the outbox says sent, every delivery has happened (a message is recorded sent only
    // after the SMTP server accepted it), and a sent message is never claimed again.
    exactly_once(&sink.messages(), &outbox, &people);
    assert_eq!(mails_sent_metric(&second).await, people.len() as u64);
    // Later clock ticks send nothing more.
    http.advance(86_400).await;
    let again = wait_all_sent(&http, people.len()).await;
    assert_eq!(again, outbox);
    assert_eq!(sink.messages().len(), people.len());
    second.shutdown().await;
    drop(db);
}

async fn two_servers_one_outbox(db: TestDb) {
    let Some(mut sink) = SmtpSink::start_temp().await else {
        return;
    };
    let one = mail_app(db.share(), &sink).await;
    let two = mail_app(db.share(), &sink).await;
    let h1 = Http::new(&one);
    let h2 = Http::new(&two);
    h1.product("autocad", 5).await;
    let team = h1.team("Design").await;

    // Some emails go out while SMTP is up, from both servers at once …
    let mut people = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let http = if i % 2 == 0 { h1.clone() } else { h2.clone() };
        let email = format!("a{i}@example.com");
        people.push(email.clone());
        tasks.push(tokio::spawn(async move {
            http.post(
                &format!("/v1/teams/{team}/flex/users"),
                json!({"invite": format!("Early {i} <{email}>"), "products": ["autocad"]}),
            )
            .await
            .ok(201);
        }));
    }
    for t in tasks.drain(..) {
        t.await.unwrap();
    }
    sink.wait_for(20, WAIT).await;
    wait_all_sent(&h1, 20).await;

    // … and a pile of them waits out an outage, then both servers race for it.
    sink.stop();
    for i in 0..40 {
        let http = if i % 2 == 0 { h1.clone() } else { h2.clone() };
        let email = format!("b{i}@example.com");
        people.push(email.clone());
        tasks.push(tokio::spawn(async move {
            http.post(
                &format!("/v1/teams/{team}/flex/users"),
                json!({"invite": format!("Late {i} <{email}>"), "products": ["autocad"]}),
            )
            .await
            .ok(201);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Each has been tried once and waits for its retry: no send is in flight when the clocks
    // jump (a jump past the lease during a send would look like a hung sender to the other).
    wait_outbox(&h1, people.len(), "sent or tried once", |m| {
        m["status"] == "sent" || (m["status"] == "pending" && m["attempts"] == 1)
    })
    .await;
    sink.restart().await;
    h1.advance(3600).await;
    h2.advance(3600).await;
    sink.wait_for(people.len(), WAIT).await;
    let outbox = wait_all_sent(&h2, people.len()).await;
    exactly_once(&sink.messages(), &outbox, &people);
    let (s1, s2) = (mails_sent_metric(&one).await, mails_sent_metric(&two).await);
    println!("server one sent {s1}, server two sent {s2}");
    assert_eq!(
        s1 + s2,
        people.len() as u64,
        "each server counts what it sent"
    );
    one.shutdown().await;
    two.shutdown().await;
    drop(db);
}

async fn crashed_sender(db: TestDb) {
    let Some(sink) = SmtpSink::start_temp().await else {
        return;
    };
    // A server without SMTP queues emails …
    let quiet = spawn_with_options(db.share(), SpawnOptions::default()).await;
    let http = Http::new(&quiet);
    http.product("autocad", 5).await;
    let team = http.team("Design").await;
    let people: Vec<String> = (1..=3).map(|i| format!("c{i}@example.com")).collect();
    for (i, email) in people.iter().enumerate() {
        http.post(
            &format!("/v1/teams/{team}/flex/users"),
            json!({"invite": format!("Person {i} <{email}>"), "products": ["autocad"]}),
        )
        .await
        .ok(201);
    }
    // … and a sender claims them, then dies without a word (its claims stay behind).
    let now = quiet.clock.now();
    let claimed = quiet
        .store
        .claim_due_messages(now, chrono::Duration::minutes(5), 100, "a-sender-that-died")
        .await
        .unwrap();
    assert_eq!(claimed.len(), people.len());
    quiet.shutdown().await;

    // A server with SMTP takes them over once the dead sender's lease has run out.
    let app = spawn_with_options(
        db.share(),
        SpawnOptions {
            start: now,
            smtp_url: Some(sink.url()),
            ..SpawnOptions::default()
        },
    )
    .await;
    let http = Http::new(&app);
    http.advance(5 * 60).await;
    sink.wait_for(people.len(), WAIT).await;
    let outbox = wait_all_sent(&http, people.len()).await;
    exactly_once(&sink.messages(), &outbox, &people);
    app.shutdown().await;
    drop(db);
}

async fn retry_failed(db: TestDb) {
    let Some(mut sink) = SmtpSink::start_temp().await else {
        return;
    };
    let app = mail_app(db.share(), &sink).await;
    let http = Http::new(&app);
    http.product("autocad", 5).await;
    let team = http.team("Design").await;

    // The relay is down for good: the sender tries, backs off on the clock, and gives up.
    sink.stop();
    for invitee in ["Jane Doe <jane@example.com>", "John Roe <john@example.com>"] {
        http.post(
            &format!("/v1/teams/{team}/flex/users"),
            json!({"invite": invitee, "products": ["autocad"]}),
        )
        .await
        .ok(201);
    }
    let mut attempts = 0;
    let failed = loop {
        let all = wait_outbox(&http, 2, "attempted again", |m| {
            m["status"] == "failed" || m["attempts"].as_u64() > Some(attempts)
        })
        .await;
        if all.iter().all(|m| m["status"] == "failed") {
            break all;
        }
        attempts = all
            .iter()
            .filter_map(|m| m["attempts"].as_u64())
            .min()
            .unwrap();
        assert!(attempts < 100, "the sender never gives up: {all:?}");
        http.advance(3600).await;
    };
    for m in &failed {
        assert_eq!(m["attempts"], 20, "{m}");
        assert!(m["last_error"].is_string(), "{m}");
    }
    let to = |m: &Value| m["to"].as_str().unwrap().to_owned();
    let jane = failed.iter().find(|m| to(m) == "jane@example.com").unwrap();
    let id = jane["id"].as_i64().unwrap();

    // Nothing happens to a failed message on its own. (Less than the invitation's 7 days have
    // passed, so its link still works when it finally arrives.)
    http.advance(2 * 86_400).await;
    assert_eq!(outbox(&http).await, failed);
    // What an operator's alert reads: every one of them failed, none pending.
    let text = http.metrics_text().await;
    assert_eq!(
        metric(&text, "jeton_emails_failed "),
        failed.len() as u64,
        "{text}"
    );
    assert_eq!(metric(&text, "jeton_emails_pending "), 0, "{text}");

    // What cannot be retried is refused and changes nothing.
    http.post("/v1/outbox/999999/retry", json!({}))
        .await
        .problem(404, "not_found");
    http.post("/v1/outbox/x/retry", json!({}))
        .await
        .problem(400, "invalid_path");
    // An admin made without the password-link email, which would be one more message here.
    let admin = Http::with_key(&app, Some(app.admin_key("ann@example.com", team).await));
    admin
        .post(&format!("/v1/outbox/{id}/retry"), json!({}))
        .await
        .problem(403, "forbidden");
    admin
        .post("/v1/outbox/failed/retry", json!({}))
        .await
        .problem(403, "forbidden");
    assert_eq!(outbox(&http).await, failed);

    // The relay is fixed; the operator sends Jane's again: queued at once, with a fresh count.
    sink.restart().await;
    let queued = http
        .post(&format!("/v1/outbox/{id}/retry"), json!({}))
        .await
        .ok(200)
        .clone();
    assert_eq!(queued["status"], "pending", "{queued}");
    assert_eq!(queued["attempts"], 0, "{queued}");
    let text = http.metrics_text().await;
    assert_eq!(
        metric(&text, "jeton_emails_failed "),
        failed.len() as u64 - 1,
        "{text}"
    );
    sink.wait_for(1, WAIT).await;
    wait_outbox(&http, 2, "with Jane's sent", |m| {
        m["status"]
            == if to(m) == "jane@example.com" {
                "sent"
            } else {
                "failed"
            }
    })
    .await;
    let (_, secret) = accept_link(&sink.messages()[0]);
    accept(&app, &secret).await.ok(200);

    // A sent message is never queued twice; the rest go in one call, once.
    http.post(&format!("/v1/outbox/{id}/retry"), json!({}))
        .await
        .problem(409, "message_not_failed");
    let all = http.post("/v1/outbox/failed/retry", json!({})).await;
    assert_eq!(all.ok(200)["queued"], 1);
    sink.wait_for(2, WAIT).await;
    let outbox = wait_all_sent(&http, 2).await;
    let again = http.post("/v1/outbox/failed/retry", json!({})).await;
    assert_eq!(again.ok(200)["queued"], 0);
    http.advance(86_400).await;
    assert_eq!(wait_all_sent(&http, 2).await, outbox);
    exactly_once(
        &sink.messages(),
        &outbox,
        &["jane@example.com".into(), "john@example.com".into()],
    );

    app.shutdown().await;
    drop(db);
}
