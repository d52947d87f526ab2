//! Usage reports, the plan and the team settings in the browser, on both backends: the figures
//! the pages show (and the CSV they hand out) add up to the ledger, ranges and views switch,
//! bad input is refused beside its field and changes nothing, and the settings act on the
//! Tokens page and on the reports.

use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::common::Http;
use jeton_server::testing::{SpawnOptions, TestApp, spawn_with_options};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;

both_backends! {
    usage_reports_plan_and_team_settings_in_the_browser => reports_walk,
}

const DAY: i64 = 86_400;

/// One use of a product by `u`: signed in now, used 10 minutes (past the grace), signed out.
async fn use_product(op: &Http, u: &Http, team: i64, product: &str) {
    let id = u
        .post("/v1/sessions", json!({"team": team, "product": product}))
        .await
        .ok(201)["id"]
        .as_i64()
        .unwrap();
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

/// A use signed out within the grace period: charged, then refunded.
async fn refunded_use(op: &Http, u: &Http, team: i64, product: &str) {
    let id = u
        .post("/v1/sessions", json!({"team": team, "product": product}))
        .await
        .ok(201)["id"]
        .as_i64()
        .unwrap();
    op.advance(60).await;
    let out = u
        .send(Method::DELETE, &format!("/v1/sessions/{id}"), None, &[])
        .await;
    assert!(out.ok(200)["tokens_refunded"].as_i64().unwrap() > 0);
}

/// Tokens charged less refunded, from the ledger's events.
async fn ledger_usage(op: &Http, team: i64) -> i64 {
    op.events(team)
        .await
        .iter()
        .filter(|e| e["kind"] == "charged" || e["kind"] == "refunded")
        .map(|e| -e["amount"].as_i64().unwrap())
        .sum()
}

/// Fetches `path` with the browser's own cookies (the pages' CSP lets no script fetch):
/// (status, the Content-Disposition header, the body).
async fn fetch(app: &TestApp, b: &Browser, path: &str) -> (u16, String, String) {
    let cookies: Vec<String> = b
        .client
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    let answer = reqwest::Client::new()
        .get(app.url(path))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let disposition = answer
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, disposition, answer.text().await.unwrap())
}

/// The sum of the CSV's tokens column, and its users.
fn csv_tokens(text: &str) -> (i64, Vec<String>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (tokens, user) = (col("tokens"), col("user"));
    let mut sum = 0;
    let mut users = Vec::new();
    for row in reader.records() {
        let row = row.unwrap();
        sum += row[tokens].parse::<i64>().unwrap();
        users.push(row[user].to_owned());
    }
    (sum, users)
}

/// Sets a field's value the way a person's date picker would (typing into a date field depends
/// on the browser's locale).
async fn set_value(b: &Browser, css: &str, value: &str) {
    let field = b.find(css).await;
    b.client
        .execute(
            "arguments[0].value = arguments[1];",
            vec![serde_json::to_value(&field).unwrap(), json!(value)],
        )
        .await
        .unwrap();
}

async fn settings(op: &Http, team: i64) -> Value {
    op.get(&format!("/v1/teams/{team}/settings"))
        .await
        .ok(200)
        .clone()
}

async fn reports_walk(db: TestDb) {
    let shots = crate::screenshots(&db);
    let Some(b) = Browser::start(1280, 900, shots).await else {
        return;
    };
    let app: TestApp = spawn_with_options(db, SpawnOptions::default()).await;
    let op = Http::new(&app);
    crate::product(&op, "cad", "CAD Studio", 10).await;
    crate::product(&op, "cam", "CAM Works", 20).await;
    crate::product(&op, "viz", "Viz Render <3D> & Co", 85).await;
    let team = op.team("Design").await;
    op.buy(team, 250).await;
    let (_, ann) = op.flex_user(&app, team, 1).await;
    let (_, bob) = op.flex_user(&app, team, 2).await;

    // Use on three days (the clock starts on 2026-01-05): 30 tokens, then 85, then 20 and a
    // use refunded by the grace rule.
    use_product(&op, &ann, team, "cad").await;
    use_product(&op, &bob, team, "cam").await;
    op.advance(DAY).await;
    use_product(&op, &ann, team, "viz").await;
    op.advance(2 * DAY).await;
    use_product(&op, &ann, team, "cad").await;
    use_product(&op, &bob, team, "cad").await;
    refunded_use(&op, &bob, team, "viz").await;
    let used = ledger_usage(&op, team).await;
    assert_eq!(used, 135);
    assert_eq!(op.available(team).await, 250 - 135);

    b.goto(&app.url("/console/sign-in")).await;
    b.sign_in_as_operator(&app.operator_key).await;

    // The summary: one bar per day with use, the total is the ledger's.
    let reports = app.url(&format!("/console/teams/{team}/reports"));
    b.goto(&reports).await;
    assert_eq!(b.title().await, "Usage reports — Jeton");
    let mut days = Vec::new();
    for bar in b.find_all("svg#tokens-per-day rect.bar").await {
        days.push(bar.attr("data-day").await.unwrap().unwrap());
    }
    assert_eq!(days, ["2026-01-05", "2026-01-06", "2026-01-08"]);
    assert_eq!(
        b.attr("#total-tokens", "data-tokens").await,
        used.to_string()
    );
    assert_eq!(
        b.attr("svg#tokens-per-day", "role").await,
        "img",
        "the chart is an image with a title"
    );
    assert_eq!(b.find_all("svg#tokens-per-day > title").await.len(), 1);
    assert_eq!(
        b.find_all("svg#tokens-per-product g.row").await.len(),
        3,
        "one bar per product"
    );
    let source = b.client.source().await.unwrap();
    assert!(
        source.contains("Viz Render &lt;3D&gt; &amp; Co"),
        "names are escaped"
    );
    b.shot("21-reports-summary").await;

    // The CSV from the console is the API's, and sums to the ledger.
    let href = b.attr("#download-csv", "href").await;
    assert!(href.contains("/usage.csv?range=past_30_days"), "{href}");
    let (status, disposition, csv) = fetch(&app, &b, &href).await;
    assert_eq!(status, 200, "{csv}");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let api_csv = op
        .get(&format!("/v1/teams/{team}/usage.csv?range=past_30_days"))
        .await;
    assert_eq!(Some(csv.as_str()), api_csv.body.as_str(), "the same file");
    let (csv_sum, csv_users) = csv_tokens(&csv);
    assert_eq!(csv_sum, used);
    assert!(csv_users.contains(&"User 1".to_owned()));
    // Without the console's cookie, no file.
    let outside = reqwest::get(app.url(&href)).await.unwrap();
    assert_eq!(
        outside.url().path(),
        "/console/sign-in",
        "the download needs the console's sign-in"
    );

    // The views, each with its table; the totals are the ledger's.
    b.click("nav.tabs a[href*='by=product']").await;
    assert_eq!(
        b.attr("#usage-table tfoot [data-total]", "data-total")
            .await,
        used.to_string()
    );
    assert_eq!(b.find_all("#usage-table tbody tr").await.len(), 3);
    b.shot("22-reports-by-product").await;
    b.click("nav.tabs a[href*='by=user']").await;
    let table = b.text("#usage-table").await;
    assert!(table.contains("User 1") && table.contains("user2@example.com"));
    assert!(table.contains("2026-W02"), "days used per week: {table}");
    assert_eq!(
        b.attr("#usage-table tfoot [data-total]", "data-total")
            .await,
        used.to_string()
    );
    b.shot("23-reports-by-user").await;
    b.click("nav.tabs a[href*='by=day']").await;
    assert_eq!(b.find_all("#usage-table tbody tr").await.len(), 3);
    assert_eq!(b.find_all("svg#tokens-per-day rect.bar").await.len(), 3);
    assert_eq!(
        b.attr("#usage-table tfoot [data-total]", "data-total")
            .await,
        used.to_string()
    );
    b.shot("24-reports-by-day").await;

    // Another range keeps the view: the past 3 months are October to December, without use.
    b.find("#range")
        .await
        .select_by_value("past_3_months")
        .await
        .unwrap();
    b.click("form.range-picker button").await;
    assert!(b.url().await.contains("by=day"), "{}", b.url().await);
    assert!(
        b.text("#range-shown")
            .await
            .contains("2025-10-01 to 2025-12-31")
    );
    assert!(
        b.main_text()
            .await
            .contains("No tokens used in this period")
    );
    assert!(b.find_all("svg#tokens-per-day rect.bar").await.is_empty());
    b.shot("25-reports-past-3-months").await;

    // A custom range: its days are used; the end before the start is refused beside the field.
    b.find("#range")
        .await
        .select_by_value("custom")
        .await
        .unwrap();
    set_value(&b, "#from", "2026-01-06").await;
    set_value(&b, "#to", "2026-01-08").await;
    b.click("form.range-picker button").await;
    assert_eq!(
        b.attr("#usage-table tfoot [data-total]", "data-total")
            .await,
        (85 + 20).to_string()
    );
    assert_eq!(b.find_all("svg#tokens-per-day rect.bar").await.len(), 2);
    b.shot("26-reports-custom").await;
    set_value(&b, "#from", "2026-01-08").await;
    set_value(&b, "#to", "2026-01-06").await;
    b.click("form.range-picker button").await;
    let refusal = b.text("#to-error").await;
    assert!(refusal.contains("before"), "{refusal}");
    assert_eq!(b.attr("#to", "aria-invalid").await, "true");
    assert_eq!(
        b.find("#from").await.prop("value").await.unwrap().unwrap(),
        "2026-01-08",
        "what was chosen is kept"
    );
    assert!(b.find_all("#usage-table").await.is_empty(), "no report");
    b.shot("27-reports-custom-refused").await;

    // Plan: the forecast in words and the estimator.
    let forecast = op
        .get(&format!("/v1/teams/{team}/forecast"))
        .await
        .ok(200)
        .clone();
    b.goto(&app.url(&format!("/console/teams/{team}/plan")))
        .await;
    let zero_day = &forecast["balance_zero_at"].as_str().unwrap()[..10];
    let runs_out = b.text("#runs-out").await;
    assert_eq!(
        b.attr("#runs-out time", "datetime").await,
        zero_day,
        "{runs_out} / {forecast}"
    );
    assert!(
        runs_out.contains("used"),
        "by use, at 4.5 a day: {runs_out}"
    );
    assert!(
        b.text("#expiring-unused")
            .await
            .contains("no token expires unused")
    );
    assert_eq!(b.find_all("svg#projected-balance path.line").await.len(), 1);
    b.shot("28-plan").await;

    b.find("#product1")
        .await
        .select_by_value("cad")
        .await
        .unwrap();
    b.fill("#users1", "5").await;
    b.fill("#days1", "8").await;
    b.find("#product2")
        .await
        .select_by_value("cam")
        .await
        .unwrap();
    b.fill("#users2", "2").await;
    b.fill("#days2", "4").await;
    b.click("form.plan-form button").await;
    let estimate = op
        .post(
            "/v1/estimate",
            json!({"team": team, "plan": [{"product": "cad", "users": 5, "days_per_month": 8},
                                          {"product": "cam", "users": 2, "days_per_month": 4}]}),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(estimate["tokens_per_year"], 6720);
    assert_eq!(b.text("#tokens-per-year").await, "6,720 tokens");
    assert_eq!(estimate["team"]["shortfall"], 6720 - 115);
    let shortfall = b.text("#shortfall").await;
    assert!(shortfall.contains("buy 6,605 tokens"), "{shortfall}");
    assert_eq!(b.find_all("svg#estimate-by-product g.row").await.len(), 2);
    b.shot("29-plan-estimate").await;
    b.fill("#users1", "0").await;
    b.fill("#days2", "many").await;
    b.click("form.plan-form button").await;
    let users_error = b.text("#users1-error").await;
    assert!(users_error.contains("users must be"), "{users_error}");
    assert!(b.text("#days2-error").await.contains("not a whole number"));
    assert!(b.find_all("#estimate-answer").await.is_empty());
    assert_eq!(
        b.find("#users1")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "0"
    );
    b.shot("2a-plan-estimate-refused").await;

    // Settings: a threshold of 0 is refused, and nothing changes (not even the switch).
    let tokens_page = app.url(&format!("/console/teams/{team}/tokens"));
    b.goto(&tokens_page).await;
    assert_eq!(
        b.attr("#balance", "data-low").await,
        "false",
        "46 % is not under 20 %"
    );
    b.goto(&app.url(&format!("/console/teams/{team}/settings")))
        .await;
    assert_eq!(
        b.find("#low_balance_percent")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "20"
    );
    b.fill("#low_balance_percent", "0").await;
    b.tick("#pseudonyms").await;
    b.click("form.settings button").await;
    let refusal = b.text("#low_balance_percent-error").await;
    assert!(refusal.contains("1 to 99"), "{refusal}");
    assert_eq!(
        settings(&op, team).await,
        json!({"low_balance_percent": 20, "pseudonyms": false}),
        "unchanged"
    );
    b.shot("2b-settings-refused").await;
    b.fill("#low_balance_percent", "50").await;
    b.tick("#pseudonyms").await; // off again: the threshold alone
    b.click("form.settings button").await;
    assert!(b.main_text().await.contains("settings are saved"));
    assert_eq!(
        settings(&op, team).await,
        json!({"low_balance_percent": 50, "pseudonyms": false})
    );
    b.goto(&tokens_page).await;
    assert_eq!(
        b.attr("#balance", "data-low").await,
        "true",
        "46 % is under 50 %"
    );
    assert!(b.main_text().await.contains("threshold 50 %"));

    // Pseudonyms on: the report and its CSV name no one.
    b.goto(&app.url(&format!("/console/teams/{team}/settings")))
        .await;
    b.tick("#pseudonyms").await;
    b.click("form.settings button").await;
    assert_eq!(settings(&op, team).await["pseudonyms"], true);
    b.shot("2c-settings").await;
    b.goto(&format!("{reports}?by=user")).await;
    let table = b.text("#usage-table").await;
    assert!(
        !table.contains("User 1") && !table.contains("example.com"),
        "{table}"
    );
    let names: Vec<String> = {
        let mut v = Vec::new();
        for cell in b.find_all("#usage-table tbody td.user").await {
            v.push(cell.text().await.unwrap());
        }
        v
    };
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| n.starts_with("person-")), "{names:?}");
    assert!(b.find_all("#pseudonyms-on").await.len() == 1);
    let api_users = op
        .get(&format!("/v1/teams/{team}/usage?by=user"))
        .await
        .ok(200)["by_user"]
        .clone();
    let mut api_names: Vec<String> = api_users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap().to_owned())
        .collect();
    let mut shown = names.clone();
    api_names.sort();
    shown.sort();
    assert_eq!(shown, api_names, "the API's pseudonyms");
    b.shot("2d-reports-pseudonyms").await;
    let href = b.attr("#download-csv", "href").await;
    let (_, _, csv) = fetch(&app, &b, &href).await;
    let (_, csv_users) = csv_tokens(&csv);
    assert!(csv_users.iter().all(|u| u.starts_with("person-")), "{csv}");

    // On a phone.
    b.client.set_window_size(390, 844).await.unwrap();
    b.goto(&reports).await;
    b.shot("2e-phone-reports").await;
    b.client
        .execute(
            "document.querySelector('.charts').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    b.shot("2f-phone-reports-charts").await;

    b.close().await;
    app.shutdown().await;
}
