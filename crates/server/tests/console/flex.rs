//! Users › Flex and Tokens over plain HTTP on both backends, at sizes a browser walk does not
//! reach: assigning many people in one form, search and paging, resending an expired
//! invitation, "all products" and unassigning; token events filtered and paged.

use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{self, Http};
use crate::http::Visitor;

both_backends! {
    users_flex_assigns_many_pages_searches_and_resends => users,
    token_events_are_filtered_and_paged_newest_first => events,
}

/// How many rows of a table body a page shows.
fn rows(body: &str) -> usize {
    body.split("<tbody>").nth(1).map_or(0, |b| {
        b.split("</tbody>").next().unwrap().matches("<tr>").count()
    })
}

async fn users(db: TestDb) {
    let app = common::app(db).await;
    let op = Http::new(&app);
    op.product("cad", 5).await;
    op.product("cam", 7).await;
    let team = op.team("Design").await;
    let mut v = Visitor::new(&app);
    v.operator(&app, None).await;
    let base = format!("/console/teams/{team}/users");
    let csrf = v.get(&base).await.csrf();

    let people: String = (0..60)
        .map(|i| format!("Person {i:02} <person{i:02}@example.com>\n"))
        .collect();
    let page = v
        .post(
            &format!("{base}/assign"),
            &[("csrf", &csrf), ("people", &people), ("products", "cad")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let listed = op
        .get(&format!("/v1/teams/{team}/flex/users"))
        .await
        .ok(200)
        .clone();
    assert_eq!(listed.as_array().unwrap().len(), 60);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["products"] == json!(["cad"]))
    );

    let first = v.get(&base).await;
    assert_eq!(rows(&first.body), 50, "50 per page");
    assert!(first.body.contains("Page 1 / 2"));
    let second = v.get(&format!("{base}?page=2")).await;
    assert_eq!(rows(&second.body), 10);
    let found = v.get(&format!("{base}?q=PERSON07")).await;
    assert_eq!(rows(&found.body), 1, "search ignores case");
    assert!(found.body.contains("person07@example.com"));
    let none = v.get(&format!("{base}?q=nobody")).await;
    assert!(none.body.contains("No Flex user matches"));

    // An unknown product is refused beside the products, and nobody is assigned.
    let page = v
        .post(
            &format!("{base}/assign"),
            &[
                ("csrf", &csrf),
                ("people", "Zed <zed@example.com>"),
                ("products", "nope"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"products-error\""), "{}", page.body);
    assert!(
        page.body.contains("Zed &lt;zed@example.com&gt;"),
        "what was typed is kept"
    );
    let listed = op
        .get(&format!("/v1/teams/{team}/flex/users"))
        .await
        .ok(200)
        .clone();
    assert_eq!(listed.as_array().unwrap().len(), 60, "nothing changed");

    // Eight days later the invitations have expired: a Resend button; resending gives a new week.
    op.advance(8 * 86_400).await;
    let page = v.get(&base).await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "a sign-in lasts 12 hours"
    );
    v.operator(&app, None).await;
    let csrf = v.get(&base).await.csrf();
    let page = v.get(&format!("{base}?q=person00")).await;
    assert!(page.body.contains("invitation expired"), "{}", page.body);
    let invitations = op
        .get(&format!("/v1/teams/{team}/invitations"))
        .await
        .ok(200)
        .clone();
    let invitation = invitations
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "person00@example.com")
        .unwrap()
        .clone();
    let id = invitation["id"].as_i64().unwrap();
    assert!(page.body.contains(&format!("/invitations/{id}/resend")));
    let page = v
        .post(
            &format!("/console/teams/{team}/invitations/{id}/resend"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.location(), format!("{base}?done=resent"));
    let invitations = op
        .get(&format!("/v1/teams/{team}/invitations"))
        .await
        .ok(200)
        .clone();
    let renewed: Vec<&Value> = invitations
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["email"] == "person00@example.com" && i["status"] == "pending")
        .collect();
    assert_eq!(renewed.len(), 1, "{invitations}");

    // One person's products: "all products" is stored as all, including future ones.
    let user = listed[0]["user_id"].as_i64().unwrap();
    let page = v
        .post(&format!("{base}/{user}"), &[("csrf", &csrf), ("all", "on")])
        .await;
    assert_eq!(page.location(), format!("{base}/{user}?saved=1"));
    let u = op
        .get(&format!("/v1/teams/{team}/flex/users"))
        .await
        .ok(200)
        .clone();
    let u = u
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == user)
        .unwrap()
        .clone();
    assert_eq!(u["products"], "all");
    // Nothing ticked takes every product away.
    v.post(&format!("{base}/{user}"), &[("csrf", &csrf)]).await;
    let u = op
        .get(&format!("/v1/teams/{team}/flex/users"))
        .await
        .ok(200)
        .clone();
    let u = u
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == user)
        .unwrap()
        .clone();
    assert_eq!(u["products"], json!([]));

    let page = v
        .post(&format!("{base}/{user}/unassign"), &[("csrf", &csrf)])
        .await;
    assert_eq!(page.location(), format!("{base}?done=unassigned"));
    let listed = op
        .get(&format!("/v1/teams/{team}/flex/users"))
        .await
        .ok(200)
        .clone();
    assert_eq!(listed.as_array().unwrap().len(), 59);
    // A person of no team of this console: the 404 page.
    assert_eq!(
        v.get(&format!("{base}/999999")).await.status,
        StatusCode::NOT_FOUND
    );
    app.shutdown().await;
}

async fn events(db: TestDb) {
    let app = common::app(db).await;
    let op = Http::new(&app);
    let team = op.team("Design").await;
    let other = op.team("Other").await;
    for _ in 0..60 {
        op.buy(team, 10).await;
    }
    op.post(
        &format!("/v1/teams/{team}/moves"),
        json!({"to_team": other, "tokens": 25}),
    )
    .await
    .ok(201);
    let mut v = Visitor::new(&app);
    v.operator(&app, None).await;
    let base = format!("/console/teams/{team}/tokens");
    let page = v.get(&base).await;
    assert_eq!(rows_after(&page.body, "id=\"events\""), 50);
    let table = page.body.split("id=\"events\"").nth(1).unwrap();
    let table = table.split("<tbody>").nth(1).unwrap();
    assert!(
        table.find("moved_out").unwrap() < table.find("purchased").unwrap(),
        "newest first"
    );
    let older = page
        .body
        .split("href=\"")
        .find(|s| s.contains("before="))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let page = v.get(&older).await;
    // 60 purchases and 3 moved_out draws (25 tokens from packs of 10), 50 on the first page.
    assert_eq!(rows_after(&page.body, "id=\"events\""), 13, "{older}");
    assert!(!page.body.contains("before="), "the last page");

    let page = v.get(&format!("{base}?kind=moved_out")).await;
    assert_eq!(rows_after(&page.body, "id=\"events\""), 3);
    let page = v.get(&format!("{base}?from=2026-13-01")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("is not a day like 2026-12-31"),
        "beside the filter"
    );
    let page = v.get(&format!("{base}?kind=stolen")).await;
    assert!(page.body.contains("id=\"kind-error\""));
    let page = v
        .get(&format!("{base}?from=2026-02-01&to=2026-01-01"))
        .await;
    assert!(page.body.contains("the first day must be before the last"));

    // Packs that expire within 90 days are flagged; not before.
    assert!(!v.get(&base).await.body.contains("expires within 90 days"));
    op.advance(280 * 86_400).await;
    v.operator(&app, None).await;
    assert!(v.get(&base).await.body.contains("expires within 90 days"));
    app.shutdown().await;
}

/// Table rows after a marker (the events section of the tokens page).
fn rows_after(body: &str, marker: &str) -> usize {
    rows(body.split(marker).nth(1).unwrap_or(""))
}
