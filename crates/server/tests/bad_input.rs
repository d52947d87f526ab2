//! Bad input, endpoint by endpoint: every case gets a 4xx problem+json with a stable `code`, and
//! nothing changes (the whole visible state is compared before and after).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use common::{Http, RawBody, app};
use jeton_server::testing::{TEST_START, spawn_without_test_clock};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

both_backends! {
    bad_input_gets_a_problem_with_a_stable_code_and_changes_nothing => bad_input,
    dates_and_times_that_do_not_parse_name_the_field_and_the_form => date_forms,
    the_test_clock_endpoint_exists_only_with_test_clock => no_test_clock,
}

#[derive(Clone, Copy, Debug)]
enum Who {
    Operator,
    Admin,
    Nobody,
    WrongKey,
}

struct Case {
    who: Who,
    method: Method,
    path: String,
    body: Option<RawBody>,
    headers: Vec<(&'static str, &'static str)>,
    status: u16,
    code: &'static str,
}

fn case(
    who: Who,
    method: Method,
    path: impl Into<String>,
    body: Option<RawBody>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        who,
        method,
        path: path.into(),
        body,
        headers: vec![],
        status,
        code,
    }
}

fn j(v: Value) -> Option<RawBody> {
    Some(RawBody::Json(v))
}

fn raw(text: &str) -> Option<RawBody> {
    Some(RawBody::Text(text.to_owned(), "application/json"))
}

/// Everything an operator can see, to compare before and after.
async fn snapshot(http: &Http, teams: &[i64]) -> Value {
    let mut s = json!({
        "products": http.get("/v1/products").await.body,
        "teams": http.get("/v1/teams").await.body,
    });
    for t in teams {
        s[format!("balance-{t}")] = http.get(&format!("/v1/teams/{t}/balance")).await.body;
        s[format!("events-{t}")] = http
            .get(&format!("/v1/teams/{t}/events?from=2000-01-01T00:00:00Z"))
            .await
            .body;
    }
    s
}

async fn bad_input(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    op.product("autocad", 7).await;
    let a = op.team("A").await;
    let b = op.team("B").await;
    let other = op.team("Other").await;
    op.buy(a, 100).await;
    let admin_key = op
        .post(
            "/v1/admins",
            json!({"email": "ann@example.com", "name": "Ann", "teams": [a, b]}),
        )
        .await
        .ok(201)["api_key"]
        .as_str()
        .unwrap()
        .to_owned();

    use Method as M;
    use Who::*;
    let packs = format!("/v1/teams/{a}/packs");
    let moves = format!("/v1/teams/{a}/moves");
    let merge = format!("/v1/teams/{a}/merge");
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024));
    let mut cases = vec![
        // Authentication, on a read and on a write.
        case(Nobody, M::GET, "/v1/products", None, 401, "unauthorized"),
        case(WrongKey, M::GET, "/v1/products", None, 401, "unauthorized"),
        case(
            Nobody,
            M::POST,
            &packs,
            j(json!({"tokens": 5})),
            401,
            "unauthorized",
        ),
        case(
            WrongKey,
            M::POST,
            &packs,
            j(json!({"tokens": 5})),
            401,
            "unauthorized",
        ),
        // POST /v1/products
        case(
            Operator,
            M::POST,
            "/v1/products",
            j(json!({"key": "autocad", "name": "Again", "daily_rate": 7})),
            409,
            "duplicate_product",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            j(json!({"key": "Auto CAD", "name": "X", "daily_rate": 7})),
            400,
            "invalid_product_key",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            j(json!({"key": "revit", "name": " ", "daily_rate": 7})),
            400,
            "invalid_name",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            j(json!({"key": "revit", "name": "Revit", "daily_rate": -1})),
            400,
            "invalid_rate",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            j(json!({"key": "revit", "name": "Revit", "daily_rate": 10_000_000})),
            400,
            "invalid_rate",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            raw(r#"{"key": "revit", "name": "Revit", "daily_rate": 1e30}"#),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            j(json!({"key": "revit", "name": "Revit", "daily_rate": "7"})),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            j(json!({"key": "revit", "name": "Revit"})),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            j(json!({"key": "revit", "name": "Revit", "daily_rate": 7, "colour": "red"})),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            j(
                json!({"key": "revit", "name": "Revit", "daily_rate": 7, "result_rates": {"render.cloud": -5}}),
            ),
            400,
            "invalid_rate",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            j(
                json!({"key": "revit", "name": "Revit", "daily_rate": 7, "items": [{"version": "1", "platform": "win", "url": "file:///etc/passwd"}]}),
            ),
            400,
            "invalid_item",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            raw(r#"{"key": "revit","#),
            400,
            "invalid_json",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            Some(RawBody::Text(
                r#"{"key":"revit","name":"R","daily_rate":1}"#.into(),
                "text/plain",
            )),
            415,
            "unsupported_media_type",
        ),
        case(
            Operator,
            M::POST,
            "/v1/products",
            Some(RawBody::Text(big, "application/json")),
            413,
            "body_too_large",
        ),
        // A form (the invitation page's) over the limit: axum's own extractor answers it.
        case(
            Nobody,
            M::POST,
            "/invitations/accept",
            Some(RawBody::Text(
                format!("secret={}&password=x", "a".repeat(70 * 1024)),
                "application/x-www-form-urlencoded",
            )),
            413,
            "body_too_large",
        ),
        case(
            Admin,
            M::POST,
            "/v1/products",
            j(json!({"key": "revit", "name": "Revit", "daily_rate": 7})),
            403,
            "forbidden",
        ),
        // GET/PATCH /v1/products/{key}
        case(
            Operator,
            M::GET,
            "/v1/products/revit",
            None,
            404,
            "not_found",
        ),
        case(
            Operator,
            M::GET,
            "/v1/products/NOT%20A%20KEY",
            None,
            404,
            "not_found",
        ),
        case(
            Operator,
            M::PATCH,
            "/v1/products/autocad",
            j(json!({})),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::PATCH,
            "/v1/products/autocad",
            j(json!({"daily_rate": -3})),
            400,
            "invalid_rate",
        ),
        case(
            Operator,
            M::PATCH,
            "/v1/products/autocad",
            j(json!({"name": ""})),
            400,
            "invalid_name",
        ),
        case(
            Operator,
            M::PATCH,
            "/v1/products/revit",
            j(json!({"daily_rate": 3})),
            404,
            "not_found",
        ),
        case(
            Admin,
            M::PATCH,
            "/v1/products/autocad",
            j(json!({"daily_rate": 3})),
            403,
            "forbidden",
        ),
        // POST /v1/teams, GET /v1/teams/{team}
        case(
            Operator,
            M::POST,
            "/v1/teams",
            j(json!({"name": ""})),
            400,
            "invalid_name",
        ),
        case(
            Operator,
            M::POST,
            "/v1/teams",
            j(json!({"name": "x".repeat(201)})),
            400,
            "invalid_name",
        ),
        case(
            Operator,
            M::POST,
            "/v1/teams",
            j(json!({"name": "a\nb"})),
            400,
            "invalid_name",
        ),
        case(
            Operator,
            M::POST,
            "/v1/teams",
            j(json!({})),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::POST,
            "/v1/teams",
            j(json!(["A"])),
            400,
            "invalid_body",
        ),
        case(Operator, M::GET, "/v1/teams/abc", None, 400, "invalid_path"),
        case(Operator, M::GET, "/v1/teams/999999", None, 404, "not_found"),
        case(
            Admin,
            M::GET,
            format!("/v1/teams/{other}"),
            None,
            404,
            "not_found",
        ),
        // POST /v1/teams/{team}/packs
        case(
            Operator,
            M::POST,
            &packs,
            j(json!({"tokens": 0})),
            400,
            "invalid_tokens",
        ),
        case(
            Operator,
            M::POST,
            &packs,
            j(json!({"tokens": -5})),
            400,
            "invalid_tokens",
        ),
        case(
            Operator,
            M::POST,
            &packs,
            j(json!({"tokens": 1_000_000_001})),
            400,
            "invalid_tokens",
        ),
        case(
            Operator,
            M::POST,
            &packs,
            j(json!({"tokens": i64::MAX})),
            400,
            "invalid_tokens",
        ),
        case(
            Operator,
            M::POST,
            &packs,
            raw(r#"{"tokens": 100000000000000000000000000000}"#),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::POST,
            &packs,
            j(json!({"tokens": 1.5})),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::POST,
            &packs,
            j(json!({"tokens": "10"})),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::POST,
            &packs,
            j(json!({"tokns": 10})),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::POST,
            &packs,
            raw("tokens=10"),
            400,
            "invalid_json",
        ),
        case(
            Operator,
            M::POST,
            "/v1/teams/999999/packs",
            j(json!({"tokens": 10})),
            404,
            "not_found",
        ),
        case(
            Operator,
            M::POST,
            "/v1/teams/x/packs",
            j(json!({"tokens": 10})),
            400,
            "invalid_path",
        ),
        case(
            Admin,
            M::POST,
            &packs,
            j(json!({"tokens": 10})),
            403,
            "forbidden",
        ),
        // GET balance and events
        case(
            Operator,
            M::GET,
            "/v1/teams/999999/balance",
            None,
            404,
            "not_found",
        ),
        case(
            Admin,
            M::GET,
            format!("/v1/teams/{other}/balance"),
            None,
            404,
            "not_found",
        ),
        case(
            Operator,
            M::GET,
            format!("/v1/teams/{a}/events?from=yesterday"),
            None,
            400,
            "invalid_query",
        ),
        case(
            Operator,
            M::GET,
            format!("/v1/teams/{a}/events?limit=0"),
            None,
            400,
            "invalid_query",
        ),
        case(
            Operator,
            M::GET,
            format!("/v1/teams/{a}/events?limit=100001"),
            None,
            400,
            "invalid_query",
        ),
        case(
            Operator,
            M::GET,
            format!("/v1/teams/{a}/events?limit=-1"),
            None,
            400,
            "invalid_query",
        ),
        case(
            Operator,
            M::GET,
            format!("/v1/teams/{a}/events?colour=red"),
            None,
            400,
            "invalid_query",
        ),
        case(
            Operator,
            M::GET,
            format!("/v1/teams/{a}/events?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"),
            None,
            400,
            "invalid_range",
        ),
        case(
            Operator,
            M::GET,
            "/v1/teams/999999/events",
            None,
            404,
            "not_found",
        ),
        // POST moves
        case(
            Operator,
            M::POST,
            &moves,
            j(json!({"to_team": b, "tokens": 0})),
            400,
            "invalid_tokens",
        ),
        case(
            Operator,
            M::POST,
            &moves,
            j(json!({"to_team": b, "tokens": -1})),
            400,
            "invalid_tokens",
        ),
        case(
            Operator,
            M::POST,
            &moves,
            j(json!({"to_team": b, "tokens": 5_000_000_000i64})),
            400,
            "invalid_tokens",
        ),
        case(
            Operator,
            M::POST,
            &moves,
            j(json!({"to_team": b, "tokens": 101})),
            422,
            "insufficient_tokens",
        ),
        case(
            Operator,
            M::POST,
            &moves,
            j(json!({"to_team": a, "tokens": 1})),
            422,
            "same_team",
        ),
        case(
            Operator,
            M::POST,
            &moves,
            j(json!({"to_team": 999999, "tokens": 1})),
            404,
            "not_found",
        ),
        case(
            Operator,
            M::POST,
            &moves,
            j(json!({"tokens": 1})),
            400,
            "invalid_body",
        ),
        case(
            Admin,
            M::POST,
            &moves,
            j(json!({"to_team": other, "tokens": 1})),
            404,
            "not_found",
        ),
        // POST merge
        case(
            Operator,
            M::POST,
            &merge,
            j(json!({"into_team": a})),
            422,
            "same_team",
        ),
        case(
            Operator,
            M::POST,
            &merge,
            j(json!({"into_team": 999999})),
            404,
            "not_found",
        ),
        case(
            Operator,
            M::POST,
            &merge,
            j(json!({"into": b})),
            400,
            "invalid_body",
        ),
        case(
            Admin,
            M::POST,
            &merge,
            j(json!({"into_team": other})),
            404,
            "not_found",
        ),
        // POST /v1/admins
        case(
            Operator,
            M::POST,
            "/v1/admins",
            j(json!({"email": "not-an-email", "name": "X", "teams": [a]})),
            400,
            "invalid_email",
        ),
        case(
            Operator,
            M::POST,
            "/v1/admins",
            j(json!({"email": "x@example.com", "name": "", "teams": [a]})),
            400,
            "invalid_name",
        ),
        case(
            Operator,
            M::POST,
            "/v1/admins",
            j(json!({"email": "x@example.com", "name": "X", "teams": []})),
            400,
            "invalid_body",
        ),
        case(
            Operator,
            M::POST,
            "/v1/admins",
            j(json!({"email": "x@example.com", "name": "X", "teams": [999999]})),
            404,
            "not_found",
        ),
        case(
            Operator,
            M::POST,
            "/v1/admins",
            j(json!({"email": "ANN@example.com", "name": "Ann 2", "teams": [a]})),
            409,
            "duplicate_admin",
        ),
        case(
            Admin,
            M::POST,
            "/v1/admins",
            j(json!({"email": "y@example.com", "name": "Y", "teams": [a]})),
            403,
            "forbidden",
        ),
        // The test clock.
        case(
            Operator,
            M::POST,
            "/v1/test-clock/advance",
            j(json!({"seconds": 0})),
            400,
            "invalid_seconds",
        ),
        case(
            Operator,
            M::POST,
            "/v1/test-clock/advance",
            j(json!({"seconds": -60})),
            400,
            "invalid_seconds",
        ),
        case(
            Operator,
            M::POST,
            "/v1/test-clock/advance",
            j(json!({"seconds": i64::MAX})),
            400,
            "invalid_seconds",
        ),
        case(
            Admin,
            M::POST,
            "/v1/test-clock/advance",
            j(json!({"seconds": 60})),
            403,
            "forbidden",
        ),
        // Removing subscriptions and trials; finding accounts.
        case(
            Operator,
            M::DELETE,
            "/v1/users/999999/subscriptions/1",
            None,
            404,
            "not_found",
        ),
        case(
            Operator,
            M::DELETE,
            "/v1/users/999999/trials/999999",
            None,
            404,
            "not_found",
        ),
        case(
            Operator,
            M::DELETE,
            "/v1/users/1/trials/first",
            None,
            400,
            "invalid_path",
        ),
        case(
            Admin,
            M::DELETE,
            "/v1/users/999999/subscriptions/1",
            None,
            403,
            "forbidden",
        ),
        case(Operator, M::GET, "/v1/users", None, 400, "invalid_query"),
        case(
            Operator,
            M::GET,
            "/v1/users?email=nobody",
            None,
            400,
            "invalid_email",
        ),
        case(
            Operator,
            M::GET,
            "/v1/users?email=a@example.com&name=x",
            None,
            400,
            "invalid_query",
        ),
        // Routing.
        case(Operator, M::GET, "/v1/nothing-here", None, 404, "not_found"),
        case(
            Operator,
            M::DELETE,
            "/v1/products",
            None,
            405,
            "method_not_allowed",
        ),
    ];
    let mut with_header = case(
        Operator,
        M::POST,
        &packs,
        j(json!({"tokens": 5})),
        400,
        "invalid_idempotency_key",
    );
    with_header.headers.push(("Idempotency-Key", ""));
    cases.push(with_header);

    let before = snapshot(&op, &[a, b, other]).await;
    let admin = Http::with_key(&app, Some(admin_key));
    let nobody = Http::with_key(&app, None);
    let wrong = Http::with_key(&app, Some("jeton_adm_0000".into()));
    for c in cases {
        let http = match c.who {
            Operator => &op,
            Admin => &admin,
            Nobody => &nobody,
            WrongKey => &wrong,
        };
        let answer = http
            .send(c.method.clone(), &c.path, c.body, &c.headers)
            .await;
        assert_eq!(
            (answer.status.as_u16(), answer.body["code"].as_str()),
            (c.status, Some(c.code)),
            "{:?} {} {}: {answer:?}",
            c.who,
            c.method,
            c.path
        );
        answer.problem(c.status, c.code);
    }
    let after = snapshot(&op, &[a, b, other]).await;
    assert_eq!(before, after, "a refused request changed something");
    app.shutdown().await;
}

/// A date-only field asks for a date, a time field for a time: each names the field, the form
/// it takes and what was given, and the request changes nothing.
async fn date_forms(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    op.product("autocad", 7).await;
    let team = op.team("A").await;
    let (user, _) = op.flex_user(&app, team, 1).await;
    let before = snapshot(&op, &[team]).await;
    for path in [
        format!("/v1/teams/{team}/usage?range=custom&from=2026-13-01&to=2026-12-31"),
        format!("/v1/teams/{team}/usage.csv?range=custom&from=2026-13-01&to=2026-12-31"),
        format!("/v1/teams/{team}/usage?from=2026-13-01"),
    ] {
        let detail = op.get(&path).await.problem(400, "invalid_query");
        assert!(
            detail.contains("from: expected a date as YYYY-MM-DD, got 2026-13-01"),
            "{path}: {detail}"
        );
        assert!(
            !detail.contains("RFC 3339"),
            "a date is not a time: {detail}"
        );
    }
    let detail = op
        .get(&format!(
            "/v1/teams/{team}/usage?range=custom&from=2026-01-01&to=2026-01-01T00:00:00Z"
        ))
        .await
        .problem(400, "invalid_query");
    assert!(
        detail.contains("to: expected a date as YYYY-MM-DD, got 2026-01-01T00:00:00Z"),
        "{detail}"
    );
    let detail = op
        .get(&format!("/v1/teams/{team}/events?from=yesterday"))
        .await
        .problem(400, "invalid_query");
    assert!(
        detail.contains("from: expected a time as RFC 3339") && detail.contains("got yesterday"),
        "{detail}"
    );
    let detail = op
        .post(
            &format!("/v1/users/{user}/trials"),
            json!({"product": "autocad", "starts_at": "2026-01-01", "ends_at": "2026-02-01T00:00:00Z"}),
        )
        .await
        .problem(400, "invalid_body");
    assert!(
        detail.contains("expected a time as RFC 3339") && detail.contains("got 2026-01-01"),
        "{detail}"
    );
    let list = op.get(&format!("/v1/users/{user}/entitlements")).await;
    assert_eq!(list.ok(200), &json!([]), "nothing was added");
    assert_eq!(before, snapshot(&op, &[team]).await);
    app.shutdown().await;
}

async fn no_test_clock(db: TestDb) {
    let app = spawn_without_test_clock(db, TEST_START.parse().unwrap()).await;
    let op = Http::new(&app);
    op.post("/v1/test-clock/advance", json!({"seconds": 60}))
        .await
        .problem(404, "not_found");
    let doc = op.get("/v1/openapi.json").await;
    assert!(doc.ok(200)["paths"].get("/v1/test-clock/advance").is_none());
    app.shutdown().await;
}
