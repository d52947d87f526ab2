//! The console's protections, checked over plain HTTP (no browser) on both backends: sign-in
//! required, cookies ended on the server at sign-out, forged and foreign CSRF tokens refused,
//! the 10-tries rule, revoked admins out, no open redirect, and the pages' security headers.

use jeton_server::testing::TestApp;
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::common::{self, Http};

both_backends! {
    console_pages_need_a_sign_in_that_the_server_can_end => sign_in_and_out,
    console_forms_refuse_missing_and_foreign_csrf_tokens => csrf,
    console_sign_in_counts_attempts_like_the_api => attempts,
    a_revoked_admin_is_out_of_the_console => revoked_admin,
}

/// A browser without a cookie jar: cookies are carried by hand, redirects not followed.
pub(crate) struct Visitor {
    client: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the hidden `csrf` field of the page's (first) form.
    pub(crate) fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field")
            + 19;
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

impl Visitor {
    pub(crate) fn new(app: &TestApp) -> Visitor {
        Visitor {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base_url.clone(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for h in headers.get_all(SET_COOKIE) {
            let h = h.to_str().unwrap();
            let pair = h.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() && !h.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.page(r).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        self.page(r).await
    }

    async fn page(&mut self, r: reqwest::Response) -> Page {
        let status = r.status();
        let headers = r.headers().clone();
        self.keep_cookies(&headers);
        Page {
            status,
            headers,
            body: r.text().await.unwrap(),
        }
    }

    /// Signs in to the console as the operator; answers the page's redirect.
    pub(crate) async fn operator(&mut self, app: &TestApp, next: Option<&str>) -> Page {
        let page = self
            .get(&format!(
                "/console/sign-in{}",
                next.map(|n| format!("?next={n}")).unwrap_or_default()
            ))
            .await;
        let csrf = page.csrf();
        let mut form = vec![("csrf", csrf.as_str()), ("operator_key", &app.operator_key)];
        if let Some(n) = next {
            form.push(("next", n));
        }
        self.post("/console/sign-in", &form).await
    }
}

async fn sign_in_and_out(db: TestDb) {
    let app = common::app(db).await;
    let team = Http::new(&app).team("Design").await;
    let mut v = Visitor::new(&app);
    let page = v.get(&format!("/console/teams/{team}/tokens")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location(),
        format!("/console/sign-in?next=%2Fconsole%2Fteams%2F{team}%2Ftokens")
    );
    // A made-up cookie is no sign-in.
    v.cookies.push(("jeton_console".into(), "0".repeat(64)));
    let page = v.get("/console").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    v.cookies.clear();

    // After signing in, back where the person was going; never to another site.
    let signed = v
        .operator(&app, Some(&format!("/console/teams/{team}/tokens")))
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location(), format!("/console/teams/{team}/tokens"));
    let cookie = signed
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|h| h.to_str().unwrap().to_owned())
        .find(|h| h.starts_with("jeton_console="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "http public URL: {cookie}");
    let page = v.get(&format!("/console/teams/{team}/tokens")).await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(
        !page.body.contains("style=\""),
        "no inline style: the CSP would block it"
    );

    let mut other = Visitor::new(&app);
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let page = other.operator(&app, Some(next)).await;
        assert_eq!(page.location(), "/console", "{next}");
    }

    // A form posted after the sign-in ended comes back to its page after signing in, not to the
    // form's address (which answers only POST); another site's page is never the way back.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let host = app.base_url.trim_start_matches("http://").to_owned();
    for (referer, back) in [
        (
            app.url(&format!("/console/teams/{team}/defaults")),
            format!("%2Fconsole%2Fteams%2F{team}%2Fdefaults"),
        ),
        ("https://evil.example/x".to_owned(), "%2Fconsole".to_owned()),
    ] {
        let answer = r
            .post(app.url(&format!("/console/teams/{team}/defaults")))
            .header("host", &host)
            .header("referer", referer)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("products=cad")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            answer.headers()[LOCATION],
            format!("/console/sign-in?next={back}").as_str()
        );
    }

    // Signing out ends the sign-in on the server: the same cookie, replayed, is refused.
    let kept = v.cookies.clone();
    let page = v.get("/console").await;
    let out = v.post("/console/sign-out", &[("csrf", &page.csrf())]).await;
    assert_eq!(out.location(), "/console/sign-in");
    v.cookies = kept;
    let page = v.get("/console").await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "the copied cookie no longer works"
    );

    // Unknown console addresses are a page for browsers, problem+json for API clients.
    let r = reqwest::Client::new()
        .get(app.url("/console/nothing-here"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<title>Not found — Jeton</title>")
    );
    let r = reqwest::Client::new()
        .get(app.url("/v1/nothing"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    app.shutdown().await;
}

async fn csrf(db: TestDb) {
    let app = common::app(db).await;
    let op = Http::new(&app);
    let team = op.team("Design").await;
    op.product("cad", 5).await;
    let mut ann = Visitor::new(&app);
    ann.operator(&app, None).await;
    let mut bob = Visitor::new(&app);
    bob.operator(&app, None).await;
    let bobs = bob.get("/console").await.csrf();
    let path = format!("/console/teams/{team}/defaults");
    for form in [
        vec![("products", "cad")],
        vec![("products", "cad"), ("csrf", "")],
        vec![("products", "cad"), ("csrf", bobs.as_str())],
    ] {
        let page = ann.post(&path, &form).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{form:?}");
        assert!(page.body.contains("Nothing was changed"));
    }
    let defaults = op.get(&format!("/v1/teams/{team}/flex/defaults")).await;
    assert_eq!(defaults.ok(200)["products"], json!([]), "nothing changed");
    let mine = ann.get(&path).await.csrf();
    let page = ann
        .post(&path, &[("products", "cad"), ("csrf", &mine)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let defaults = op.get(&format!("/v1/teams/{team}/flex/defaults")).await;
    assert_eq!(defaults.ok(200)["products"], json!(["cad"]));

    // The sign-in form is protected too: without the browser's own form token it is refused.
    let mut fresh = Visitor::new(&app);
    let page = fresh
        .post("/console/sign-in", &[("operator_key", &app.operator_key)])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    app.shutdown().await;
}

async fn attempts(db: TestDb) {
    let app = common::app(db).await;
    let op = Http::new(&app);
    let team = op.team("Design").await;
    let created = op
        .post(
            "/v1/admins",
            json!({"email": "ann@example.com", "name": "Ann Admin", "teams": [team]}),
        )
        .await;
    let link = created.ok(201)["password_link"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = link.split("secret=").nth(1).unwrap().to_owned();
    let mut v = Visitor::new(&app);
    let page = v.get(&format!("/password?secret={secret}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let short = v
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("secret", &secret),
                ("password", "short"),
                ("again", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        short.body.contains("id=\"password-error\""),
        "beside the field"
    );
    let good = "a-long-password";
    let saved = v
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("secret", &secret),
                ("password", good),
                ("again", good),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK);
    let again = v
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("secret", &secret),
                ("password", good),
                ("again", good),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::GONE, "a link works once");
    assert!(again.body.contains("already used"));

    let csrf = v.get("/console/sign-in").await.csrf();
    for _ in 0..10 {
        let page = v
            .post(
                "/console/sign-in",
                &[
                    ("csrf", &csrf),
                    ("email", "ann@example.com"),
                    ("password", "wrong-password"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("the email or the password is wrong"));
        assert!(
            page.body.contains("value=\"ann@example.com\""),
            "the email is kept"
        );
    }
    let page = v
        .post(
            "/console/sign-in",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", good),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("too many sign-in attempts"),
        "even with the right password"
    );
    // The same address, through the API: the same count.
    Http::with_key(&app, None)
        .post(
            "/v1/auth/token",
            json!({"email": "ann@example.com", "password": good}),
        )
        .await
        .problem(429, "too_many_sign_in_attempts");
    app.shutdown().await;
}

async fn revoked_admin(db: TestDb) {
    let app = common::app(db).await;
    let op = Http::new(&app);
    let team = op.team("Design").await;
    let created = op
        .post(
            "/v1/admins",
            json!({"email": "ann@example.com", "name": "Ann Admin", "teams": [team]}),
        )
        .await;
    let body = created.ok(201).clone();
    let admin = body["id"].as_i64().unwrap();
    let secret = body["password_link"]
        .as_str()
        .unwrap()
        .split("secret=")
        .nth(1)
        .unwrap()
        .to_owned();
    let mut v = Visitor::new(&app);
    let csrf = v.get(&format!("/password?secret={secret}")).await.csrf();
    let pw = "a-long-password";
    v.post(
        "/password",
        &[
            ("csrf", &csrf),
            ("secret", &secret),
            ("password", pw),
            ("again", pw),
        ],
    )
    .await;
    let csrf = v.get("/console/sign-in").await.csrf();
    let page = v
        .post(
            "/console/sign-in",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(page.location(), "/console");
    assert_eq!(
        v.get(&format!("/console/teams/{team}/users")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        v.get("/console/teams/999/users").await.status,
        StatusCode::NOT_FOUND
    );

    op.post(&format!("/v1/admins/{admin}/revoke"), json!({}))
        .await
        .ok(200);
    let page = v.get(&format!("/console/teams/{team}/users")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "out at once");
    let csrf = v.get("/console/sign-in").await.csrf();
    let page = v
        .post(
            "/console/sign-in",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("revoked"),
        "and told why when signing in again"
    );
    app.shutdown().await;
}
