//! The whole authorization matrix, over real HTTP, on both backends: every route of the server ×
//! five callers (no key, the operator, an admin of the team, an admin of another team, a user
//! token), each with the exact status it must get.
//!
//! The list of routes is not ours to forget: it is read from the server's OpenAPI document, which
//! utoipa-axum builds from the very router that serves the API. A route added without a row here
//! fails this test by name, and so does a row whose route is gone. The few routes outside the
//! document (the invitation page behind the emailed link, the document itself and its reference
//! page) are a short fixed list, run the same way.
//!
//! Every request carries a body valid enough to pass parsing, and names real things of team A,
//! so that the status says what the caller may do and not what was wrong with the request.
//! Requests that change what later rows rely on (merging, unassigning, signing out, revoking a
//! key…) work on objects made anew for each request, so the rows may run in any order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Answer, Http, RawBody, app};
use jeton_server::testing::{TEST_PASSWORD, TestApp};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

both_backends! {
    every_route_answers_each_kind_of_caller_as_the_matrix_says => matrix,
}

/// The matrix's columns, in order.
const CALLERS: [&str; 5] = [
    "no key",
    "operator",
    "admin of the team",
    "admin of another team",
    "user token",
];
const USER: usize = 4;

/// One route: who gets what.
struct Row {
    method: &'static str,
    /// As the OpenAPI document writes it; `{name}`s are filled by [`Req::with`] or
    /// [`Scene::default_param`].
    path: &'static str,
    /// The status for each of [`CALLERS`].
    expect: [u16; 5],
    /// What is made anew before each of the five requests.
    fresh: Fresh,
    request: fn(&Scene, &Made) -> Req,
}

fn row(
    method: &'static str,
    path: &'static str,
    expect: [u16; 5],
    fresh: Fresh,
    request: fn(&Scene, &Made) -> Req,
) -> Row {
    Row {
        method,
        path,
        expect,
        fresh,
        request,
    }
}

/// Objects a request uses up or changes in a way later requests must not see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fresh {
    /// Nothing: the request may be repeated as it is.
    Nothing,
    /// Two new teams managed by the admin of team A (a merge closes one).
    Teams,
    /// A new person, Flex user of team A (unassigned, signed out everywhere, given entitlements).
    User,
    /// Like `User`, and the user column sends that person's token: signing out ends it.
    OwnToken,
    /// A new pending invitation on team A (a resend supersedes it, accepting uses it up).
    Invitation,
    /// A new admin of team A: revoking or rotating must not touch the callers' own keys.
    Admin,
    /// A new session of the team's user (signing out ends it).
    Session,
    /// An email the sender gave up on: only those can be retried.
    FailedEmail,
    /// A new person (like `User`) with a subscription: removing it uses it up.
    Subscription,
    /// A new person (like `User`) with a trial.
    Trial,
}

/// What [`Fresh`] made for one request.
#[derive(Default)]
struct Made {
    /// A number no other request has: for names, emails and keys that must be new.
    n: usize,
    team: i64,
    into_team: i64,
    user: i64,
    user_key: Option<String>,
    invitation: i64,
    secret: String,
    admin: i64,
    session: i64,
    message: i64,
    entitlement: i64,
}

/// A request's variable parts.
#[derive(Default)]
struct Req {
    params: Vec<(&'static str, String)>,
    query: String,
    body: Option<RawBody>,
}

impl Req {
    fn none() -> Req {
        Req::default()
    }

    fn json(body: Value) -> Req {
        Req {
            body: Some(RawBody::Json(body)),
            ..Req::default()
        }
    }

    fn text(body: String, content_type: &'static str) -> Req {
        Req {
            body: Some(RawBody::Text(body, content_type)),
            ..Req::default()
        }
    }

    /// Fills `{name}` of the path with `value`.
    fn with(mut self, name: &'static str, value: impl ToString) -> Req {
        self.params.push((name, value.to_string()));
        self
    }

    fn query(mut self, query: String) -> Req {
        self.query = query;
        self
    }
}

const PASSWORD: &str = "a-good-password";

/// Every route of the API document. Columns: no key, operator, admin of the team, admin of
/// another team, user token. Team routes name team A; "another team" is an admin of team B only.
#[rustfmt::skip]
fn api_rows() -> Vec<Row> {
    use Fresh::*;
    const STAFF_OF_TEAM: [u16; 5] = [401, 200, 200, 404, 403];
    const OPERATOR_ONLY: [u16; 5] = [401, 200, 403, 403, 403];
    const USER_ONLY: [u16; 5] = [401, 403, 403, 403, 200];
    const STAFF: [u16; 5] = [401, 200, 200, 200, 403];
    const ANYONE: [u16; 5] = [200, 200, 200, 200, 200];
    vec![
        // The catalogue: the operator writes it, staff read it; a user has GET /v1/me/products.
        row("POST",   "/v1/products",                                [401, 201, 403, 403, 403], Nothing, |_, m| Req::json(json!({"key": format!("new{}", m.n), "name": "New", "daily_rate": 1}))),
        row("GET",    "/v1/products",                                STAFF,                     Nothing, |_, _| Req::none()),
        row("GET",    "/v1/products/{key}",                          STAFF,                     Nothing, |_, _| Req::none()),
        row("PATCH",  "/v1/products/{key}",                          OPERATOR_ONLY,             Nothing, |_, _| Req::json(json!({"name": "CAD"}))),
        // Teams: staff create and list (each admin their own); one team is its admins' only.
        row("POST",   "/v1/teams",                                   [401, 201, 201, 201, 403], Nothing, |_, m| Req::json(json!({"name": format!("Team {}", m.n)}))),
        row("GET",    "/v1/teams",                                   STAFF,                     Nothing, |_, _| Req::none()),
        row("GET",    "/v1/teams/{team}",                            STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        row("PATCH",  "/v1/teams/{team}",                            STAFF_OF_TEAM,             Teams,   |_, m| Req::json(json!({"name": format!("Renamed {}", m.n)})).with("team", m.team)),
        row("POST",   "/v1/teams/{team}/merge",                      STAFF_OF_TEAM,             Teams,   |_, m| Req::json(json!({"into_team": m.into_team})).with("team", m.team)),
        // Tokens: purchases are the operator's; the rest is the team's.
        row("POST",   "/v1/teams/{team}/packs",                      [401, 201, 403, 403, 403], Nothing, |_, _| Req::json(json!({"tokens": 10}))),
        row("GET",    "/v1/teams/{team}/balance",                    STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        row("GET",    "/v1/teams/{team}/events",                     STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        row("POST",   "/v1/teams/{team}/moves",                      [401, 201, 201, 404, 403], Nothing, |s, _| Req::json(json!({"to_team": s.team_a2, "tokens": 1}))),
        row("GET",    "/v1/teams/{team}/audit",                      STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        // Admins and their keys: the operator's alone.
        row("POST",   "/v1/admins",                                  [401, 201, 403, 403, 403], Nothing, |s, m| Req::json(json!({"email": format!("new-admin{}@example.com", m.n), "name": "New Admin", "teams": [s.team_a]}))),
        row("GET",    "/v1/admins",                                  OPERATOR_ONLY,             Nothing, |_, _| Req::none()),
        row("POST",   "/v1/admins/{admin}/revoke",                   OPERATOR_ONLY,             Admin,   |_, m| Req::none().with("admin", m.admin)),
        row("POST",   "/v1/admins/{admin}/rotate",                   OPERATOR_ONLY,             Admin,   |_, m| Req::none().with("admin", m.admin)),
        row("POST",   "/v1/admins/{admin}/password-link",            OPERATOR_ONLY,             Admin,   |_, m| Req::none().with("admin", m.admin)),
        // People of a team: its staff's.
        row("POST",   "/v1/teams/{team}/flex/users",                 [401, 201, 201, 404, 403], Nothing, |_, m| Req::json(json!({"invite": format!("Invited Person <person{}@example.com>", m.n), "all": true}))),
        row("GET",    "/v1/teams/{team}/flex/users",                 STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        row("POST",   "/v1/teams/{team}/flex/users/batch",           STAFF_OF_TEAM,             Nothing, |_, m| Req::json(json!({"entries": format!("Batch Person <batch{}@example.com>", m.n), "all": true}))),
        row("DELETE", "/v1/teams/{team}/flex/users/{user}",          [401, 204, 204, 404, 403], User,    |_, m| Req::none().with("user", m.user)),
        row("PUT",    "/v1/teams/{team}/flex/users/{user}/products", STAFF_OF_TEAM,             Nothing, |_, _| Req::json(json!({"all": true}))),
        row("GET",    "/v1/teams/{team}/flex/defaults",              STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        row("PUT",    "/v1/teams/{team}/flex/defaults",              STAFF_OF_TEAM,             Nothing, |_, _| Req::json(json!({"products": []}))),
        row("POST",   "/v1/teams/{team}/flex/import",                [401, 202, 202, 404, 403], Nothing, |_, m| Req::text(format!("Imported Person,imported{}@example.com\n", m.n), "text/csv")),
        row("GET",    "/v1/teams/{team}/flex/imports",               STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        row("GET",    "/v1/teams/{team}/flex/imports/{id}",          STAFF_OF_TEAM,             Nothing, |s, _| Req::none().with("id", s.import)),
        row("GET",    "/v1/teams/{team}/invitations",                STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        row("POST",   "/v1/teams/{team}/invitations/{id}/resend",    STAFF_OF_TEAM,             Invitation, |_, m| Req::none().with("id", m.invitation)),
        // The secret of the link is the proof; a key, whoever's, changes nothing.
        row("POST",   "/v1/invitations/accept",                      ANYONE,                    Invitation, |_, m| Req::json(json!({"secret": m.secret, "password": PASSWORD}))),
        // Signing in takes a password; what follows is the user's own.
        row("POST",   "/v1/auth/token",                              ANYONE,                    Nothing, |s, _| Req::json(json!({"email": s.user_email, "password": TEST_PASSWORD}))),
        row("GET",    "/v1/me",                                      USER_ONLY,                 Nothing, |_, _| Req::none()),
        row("GET",    "/v1/me/products",                             USER_ONLY,                 Nothing, |_, _| Req::none()),
        row("POST",   "/v1/me/sign-out",                             [401, 403, 403, 403, 204], OwnToken, |_, _| Req::none()),
        row("POST",   "/v1/me/sign-out-everywhere",                  USER_ONLY,                 OwnToken, |_, _| Req::none()),
        // Accounts, entitlements, signing someone out: the operator's; an admin learns nothing
        // about the id (R-AUTH-4), so 403 before any lookup.
        row("POST",   "/v1/users",                                   [401, 201, 403, 403, 403], Nothing, |_, m| Req::json(json!({"email": format!("account{}@example.com", m.n), "name": "An Account", "password": PASSWORD}))),
        row("POST",   "/v1/users/{user}/subscriptions",              [401, 201, 403, 403, 403], User,    |_, m| Req::json(entitlement()).with("user", m.user)),
        row("POST",   "/v1/users/{user}/trials",                     [401, 201, 403, 403, 403], User,    |_, m| Req::json(entitlement()).with("user", m.user)),
        row("GET",    "/v1/users/{user}/entitlements",               OPERATOR_ONLY,             Nothing, |_, _| Req::none()),
        row("DELETE", "/v1/users/{user}/subscriptions/{id}",         OPERATOR_ONLY,             Subscription, |_, m| Req::none().with("user", m.user).with("id", m.entitlement)),
        row("DELETE", "/v1/users/{user}/trials/{id}",                OPERATOR_ONLY,             Trial,   |_, m| Req::none().with("user", m.user).with("id", m.entitlement)),
        row("GET",    "/v1/users",                                   OPERATOR_ONLY,             Nothing, |s, _| Req::none().query(format!("?email={}", s.user_email))),
        row("POST",   "/v1/users/{user}/sign-out-everywhere",        OPERATOR_ONLY,             User,    |_, m| Req::none().with("user", m.user)),
        // Every team's email: the operator's.
        row("GET",    "/v1/outbox",                                  OPERATOR_ONLY,             Nothing, |_, _| Req::none()),
        row("POST",   "/v1/outbox/{id}/retry",                       OPERATOR_ONLY,             FailedEmail, |_, m| Req::none().with("id", m.message)),
        row("POST",   "/v1/outbox/failed/retry",                     OPERATOR_ONLY,             Nothing, |_, _| Req::none()),
        // Product sessions: a user's own; the team's staff see the list.
        row("POST",   "/v1/sessions",                                [401, 403, 403, 403, 201], Nothing, |s, _| Req::json(json!({"team": s.team_a, "product": "cad"}))),
        row("POST",   "/v1/sessions/{id}/heartbeat",                 USER_ONLY,                 Nothing, |s, _| Req::json(json!({"active": true})).with("id", s.session)),
        row("DELETE", "/v1/sessions/{id}",                           USER_ONLY,                 Session, |_, m| Req::none().with("id", m.session)),
        row("POST",   "/v1/sessions/{id}/results",                   USER_ONLY,                 Nothing, |s, m| Req::json(json!({"type": "render.cloud", "quantity": 1, "id": format!("job-{}", m.n)})).with("id", s.session)),
        row("GET",    "/v1/lease-key",                               ANYONE,                    Nothing, |_, _| Req::none()),
        row("GET",    "/v1/teams/{team}/sessions",                   STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        // Reports and settings: the team's.
        row("GET",    "/v1/teams/{team}/usage",                      STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        row("GET",    "/v1/teams/{team}/usage.csv",                  STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        row("GET",    "/v1/teams/{team}/settings",                   STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        row("PUT",    "/v1/teams/{team}/settings",                   STAFF_OF_TEAM,             Nothing, |_, _| Req::json(json!({"low_balance_percent": 20}))),
        row("GET",    "/v1/teams/{team}/forecast",                   STAFF_OF_TEAM,             Nothing, |_, _| Req::none()),
        // Staff may estimate; against a team only their own.
        row("POST",   "/v1/estimate",                                STAFF_OF_TEAM,             Nothing, |s, _| Req::json(json!({"team": s.team_a, "plan": [{"product": "cad", "users": 2, "days_per_month": 5}]}))),
        // Operations: health is public (load balancers have no key); metrics are the business's
        // figures; the test clock is the operator's.
        row("GET",    "/healthz",                                    ANYONE,                    Nothing, |_, _| Req::none()),
        row("GET",    "/metrics",                                    OPERATOR_ONLY,             Nothing, |_, _| Req::none()),
        row("POST",   "/v1/test-clock/advance",                      OPERATOR_ONLY,             Nothing, |_, _| Req::json(json!({"seconds": 1}))),
    ]
}

/// Routes outside the API document: the page behind the invitation link (the secret is the
/// proof), the document itself and its reference page. (`/healthz` and `/metrics` are in the
/// document, so in [`api_rows`].)
#[rustfmt::skip]
fn other_rows() -> Vec<Row> {
    use Fresh::*;
    const ANYONE: [u16; 5] = [200, 200, 200, 200, 200];
    vec![
        row("GET",  "/invitations/accept", ANYONE, Invitation, |_, m| Req::none().query(format!("?secret={}", m.secret))),
        row("POST", "/invitations/accept", ANYONE, Invitation, |_, m| Req::text(format!("secret={}&password={PASSWORD}&again={PASSWORD}", m.secret), "application/x-www-form-urlencoded")),
        row("GET",  "/v1/openapi.json",    ANYONE, Nothing,    |_, _| Req::none()),
        row("GET",  "/docs",               ANYONE, Nothing,    |_, _| Req::none()),
    ]
}

fn entitlement() -> Value {
    json!({"product": "cam", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-12-31T00:00:00Z"})
}

/// Team A (with its admin, a Flex user with a token and an open session, an invitation, an
/// entitlement, emails in the outbox), team A2 (the same admin's, for moves) and team B with its
/// own admin and user.
struct Scene {
    app: TestApp,
    /// In the order of [`CALLERS`].
    callers: [Http; 5],
    team_a: i64,
    team_a2: i64,
    user: i64,
    user_email: String,
    session: i64,
    /// An import of team A's.
    import: i64,
    next: AtomicUsize,
}

async fn admin(op: &Http, email: &str, teams: &[i64]) -> Http {
    let created = op
        .post(
            "/v1/admins",
            json!({"email": email, "name": "An Admin", "teams": teams}),
        )
        .await;
    let mut http = op.clone();
    http.key = Some(created.ok(201)["api_key"].as_str().unwrap().to_owned());
    http
}

async fn scene(db: TestDb) -> Scene {
    let app = app(db).await;
    let op = Http::new(&app);
    op.post(
        "/v1/products",
        json!({"key": "cad", "name": "CAD", "daily_rate": 5, "result_rates": {"render.cloud": 2}}),
    )
    .await
    .ok(201);
    op.product("cam", 3).await;
    let team_a = op.team("Alpha").await;
    let team_a2 = op.team("Alpha Two").await;
    let team_b = op.team("Beta").await;
    for team in [team_a, team_a2, team_b] {
        op.buy(team, 100_000).await;
    }
    let admin_a = admin(&op, "ann@example.com", &[team_a, team_a2]).await;
    let admin_b = admin(&op, "bob@example.com", &[team_b]).await;
    let (user, user_http) = op.flex_user(&app, team_a, 1).await;
    // Team B has people and use of its own: what its admin sees is not an empty team.
    let (_, b_user) = op.flex_user(&app, team_b, 2).await;
    b_user
        .post("/v1/sessions", json!({"team": team_b, "product": "cam"}))
        .await
        .ok(201);
    let session = user_http
        .post("/v1/sessions", json!({"team": team_a, "product": "cad"}))
        .await
        .ok(201)["id"]
        .as_i64()
        .unwrap();
    op.post(
        &format!("/v1/teams/{team_a}/flex/users"),
        json!({"invite": "Ivy Invitee <ivy@example.com>", "all": true}),
    )
    .await
    .ok(201);
    op.post(&format!("/v1/users/{user}/trials"), entitlement())
        .await
        .ok(201);
    let import = op
        .send(
            reqwest::Method::POST,
            &format!("/v1/teams/{team_a}/flex/import"),
            Some(RawBody::Text(
                "Ida Import,ida@example.com\n".into(),
                "text/csv",
            )),
            &[],
        )
        .await
        .ok(202)["id"]
        .as_i64()
        .unwrap();
    let nobody = Http::with_key(&app, None);
    Scene {
        callers: [nobody, op, admin_a, admin_b, user_http],
        app,
        team_a,
        team_a2,
        user,
        user_email: "user1@example.com".into(),
        session,
        import,
        next: AtomicUsize::new(0),
    }
}

impl Scene {
    fn op(&self) -> &Http {
        &self.callers[1]
    }

    /// What `{name}` means when a row does not say: the things of team A.
    fn default_param(&self, name: &str) -> Option<String> {
        match name {
            "team" => Some(self.team_a.to_string()),
            "user" => Some(self.user.to_string()),
            "key" => Some("cad".into()),
            _ => None,
        }
    }

    async fn make(&self, fresh: Fresh) -> Made {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut made = Made {
            n,
            ..Made::default()
        };
        let op = self.op();
        match fresh {
            Fresh::Nothing => {}
            Fresh::Teams => {
                // Made by the admin of team A, who therefore manages both.
                let admin_a = &self.callers[2];
                made.team = admin_a.team(&format!("Merged {n}")).await;
                made.into_team = admin_a.team(&format!("Kept {n}")).await;
            }
            Fresh::User | Fresh::OwnToken => {
                let (id, http) = op.flex_user(&self.app, self.team_a, 1000 + n).await;
                made.user = id;
                made.user_key = http.key;
            }
            Fresh::Invitation => {
                let email = format!("invitee{n}@example.com");
                let answer = op
                    .post(
                        &format!("/v1/teams/{}/flex/users", self.team_a),
                        json!({"invite": format!("Invitee Person <{email}>"), "all": true}),
                    )
                    .await;
                made.invitation = answer.ok(201)["invitation_id"].as_i64().unwrap();
                made.secret = self.app.invitation_secret(&email).await;
            }
            Fresh::Admin => {
                let answer = op
                    .post(
                        "/v1/admins",
                        json!({"email": format!("admin{n}@example.com"), "name": "Another Admin",
                               "teams": [self.team_a]}),
                    )
                    .await;
                made.admin = answer.ok(201)["id"].as_i64().unwrap();
            }
            Fresh::Session => {
                let answer = self.callers[USER]
                    .post(
                        "/v1/sessions",
                        json!({"team": self.team_a, "product": "cad"}),
                    )
                    .await;
                made.session = answer.ok(201)["id"].as_i64().unwrap();
            }
            Fresh::Subscription | Fresh::Trial => {
                let (id, _) = op.flex_user(&self.app, self.team_a, 1000 + n).await;
                made.user = id;
                let kind = if fresh == Fresh::Trial {
                    "trials"
                } else {
                    "subscriptions"
                };
                let answer = op
                    .post(&format!("/v1/users/{id}/{kind}"), entitlement())
                    .await;
                made.entitlement = answer.ok(201)["id"].as_i64().unwrap();
            }
            Fresh::FailedEmail => {
                // As the sender records its last failed attempt (this server sends none: it has
                // no SMTP relay, so the message is ours to claim).
                let store = &self.app.store;
                let now = jeton_core::Clock::now(&*self.app.clock);
                let claimed = store
                    .claim_due_messages(now, chrono::Duration::minutes(5), 1, "authz-test")
                    .await
                    .unwrap();
                let message = claimed.first().expect("a pending email to fail").id;
                assert!(
                    store
                        .mark_message_failed(message, "authz-test", "refused by the test", None)
                        .await
                        .unwrap()
                );
                made.message = message.0;
            }
        }
        made
    }

    /// The row's path with its `{name}`s filled.
    fn path(&self, template: &str, params: &[(&'static str, String)]) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let end = start + rest[start..].find('}').expect("a closing brace");
            let name = &rest[start + 1..end];
            let value = params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .or_else(|| self.default_param(name))
                .unwrap_or_else(|| panic!("{template}: the row gives no value for {{{name}}}"));
            out.push_str(&rest[..start]);
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Sends the row's request as each caller; what differs from the matrix, in words.
    async fn check(&self, row: &Row) -> Vec<String> {
        let mut wrong = Vec::new();
        for (column, &expected) in row.expect.iter().enumerate() {
            let made = self.make(row.fresh).await;
            let mut caller = self.callers[column].clone();
            if column == USER && row.fresh == Fresh::OwnToken {
                caller.key = made.user_key.clone();
            }
            let request = (row.request)(self, &made);
            let path = format!("{}{}", self.path(row.path, &request.params), request.query);
            let method = Method::from_bytes(row.method.as_bytes()).unwrap();
            let answer = caller.send(method, &path, request.body, &[]).await;
            let got = answer.status.as_u16();
            let what = format!("{} {} as {}", row.method, row.path, CALLERS[column]);
            if got != expected {
                wrong.push(format!(
                    "{what}: got {got}, expected {expected} ({})",
                    short(&answer)
                ));
            } else if matches!(got, 401 | 403 | 404) && !is_problem(&answer, got) {
                wrong.push(format!("{what}: {got} is not problem+json ({answer:?})"));
            }
        }
        wrong
    }
}

/// A refusal tells clients why in the API's one error format.
fn is_problem(answer: &Answer, status: u16) -> bool {
    answer.content_type == "application/problem+json"
        && answer.body["status"] == status
        && answer.body["code"].as_str().is_some_and(|c| !c.is_empty())
        && answer.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
}

fn short(answer: &Answer) -> String {
    let text = answer.body.to_string();
    text.chars().take(200).collect()
}

/// (METHOD, path) of every operation in the OpenAPI document.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("a path item").keys() {
            if METHODS.contains(&method.as_str()) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

fn routes_of(rows: &[Row]) -> BTreeSet<(String, String)> {
    let routes: BTreeSet<_> = rows
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(routes.len(), rows.len(), "a route has two rows");
    routes
}

fn listed(routes: &BTreeSet<(String, String)>) -> String {
    routes
        .iter()
        .map(|(m, p)| format!("\n    {m} {p}"))
        .collect()
}

async fn matrix(db: TestDb) {
    let scene = scene(db).await;
    let doc = scene.callers[0].get("/v1/openapi.json").await;
    let documented = documented_routes(doc.ok(200));
    let (api, other) = (api_rows(), other_rows());
    let table = routes_of(&api);

    // The table and the server agree on what the routes are, in both directions.
    let missing: BTreeSet<_> = documented.difference(&table).cloned().collect();
    let gone: BTreeSet<_> = table.difference(&documented).cloned().collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "the authorization matrix and the server's routes differ.\n\
         Routes the server serves without a row (add one, with the status each caller must \
         get):{}\nRows for routes the server no longer has:{}",
        listed(&missing),
        listed(&gone)
    );
    // The fixed list is what the document does not cover; a route in both would be checked twice
    // and could disagree.
    let both: BTreeSet<_> = routes_of(&other)
        .intersection(&documented)
        .cloned()
        .collect();
    assert!(
        both.is_empty(),
        "now in the document, move to api_rows:{}",
        listed(&both)
    );

    let mut wrong = Vec::new();
    for row in api.iter().chain(&other) {
        wrong.extend(scene.check(row).await);
    }
    assert!(
        wrong.is_empty(),
        "{} answers differ from the authorization matrix:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
