//! Raw HTTP helpers for the server's integration tests: requests go over a real socket and
//! answers are checked as JSON, so these tests pin the wire contract itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic
#![allow(dead_code)] // each test binary uses a different part

use jeton_server::testing::{TEST_START, TestApp, spawn_on};
use jeton_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub async fn app(db: TestDb) -> TestApp {
    spawn_on(db, TEST_START.parse().unwrap()).await
}

/// Signs `email` in with `password` (`POST /v1/auth/token`): a client acting as that user.
pub async fn signed_in(app: &TestApp, email: &str, password: &str) -> Http {
    let token = Http::with_key(app, None)
        .post(
            "/v1/auth/token",
            json!({"email": email, "password": password}),
        )
        .await
        .ok(200)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    Http::with_key(app, Some(token))
}

#[derive(Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// Asserts a problem+json answer with this status and code, and returns its detail.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "status of {self:?}");
        assert_eq!(self.content_type, "application/problem+json", "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        assert_eq!(self.body["status"], status, "{self:?}");
        let detail = self.body["detail"].as_str().unwrap_or_default().to_owned();
        assert!(!detail.is_empty(), "a problem says what is wrong: {self:?}");
        detail
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        &self.body
    }
}

impl Http {
    pub fn new(app: &TestApp) -> Http {
        Http::with_key(app, Some(app.operator_key.clone()))
    }

    pub fn with_key(app: &TestApp, key: Option<String>) -> Http {
        Http {
            client: reqwest::Client::new(),
            base: app.base_url.clone(),
            key,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<RawBody>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        match body {
            Some(RawBody::Json(v)) => req = req.json(&v),
            Some(RawBody::Text(t, ct)) => req = req.header("content-type", ct).body(t),
            None => {}
        }
        let res = req.send().await.expect("server answers");
        let status = res.status();
        let headers = res.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            content_type,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(RawBody::Json(body)), &[])
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(RawBody::Json(body)), &[])
            .await
    }

    /// `GET /metrics` as this caller (the operator), its OpenMetrics text.
    pub async fn metrics_text(&self) -> String {
        self.get("/metrics")
            .await
            .ok(200)
            .as_str()
            .unwrap()
            .to_owned()
    }

    // Shortcuts for setting up a scene.

    pub async fn product(&self, key: &str, rate: i64) -> Value {
        self.post(
            "/v1/products",
            json!({"key": key, "name": key.to_uppercase(), "daily_rate": rate}),
        )
        .await
        .ok(201)
        .clone()
    }

    pub async fn team(&self, name: &str) -> i64 {
        self.post("/v1/teams", json!({"name": name})).await.ok(201)["id"]
            .as_i64()
            .unwrap()
    }

    pub async fn buy(&self, team: i64, tokens: i64) -> Value {
        self.post(
            &format!("/v1/teams/{team}/packs"),
            json!({"tokens": tokens}),
        )
        .await
        .ok(201)
        .clone()
    }

    pub async fn available(&self, team: i64) -> i64 {
        self.get(&format!("/v1/teams/{team}/balance")).await.ok(200)["available"]
            .as_i64()
            .unwrap()
    }

    pub async fn events(&self, team: i64) -> Vec<Value> {
        self.get(&format!("/v1/teams/{team}/events"))
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .clone()
    }

    /// A new user with an account (password `TEST_PASSWORD`), assigned to Flex on `team` with
    /// every product by this operator; their id and an Http signed in as them.
    pub async fn flex_user(&self, app: &TestApp, team: i64, n: usize) -> (i64, Http) {
        let (id, token) = app
            .user_with_token(&format!("user{n}@example.com"), &format!("User {n}"))
            .await;
        self.post(
            &format!("/v1/teams/{team}/flex/users"),
            json!({"user_id": id, "all": true}),
        )
        .await
        .ok(201);
        (id.0, Http::with_key(app, Some(token)))
    }

    /// A new admin of `team` (created with this caller's operator key), as a client.
    pub async fn admin_of(&self, team: i64) -> Http {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let created = self
            .post(
                "/v1/admins",
                json!({"email": format!("admin{n}@example.com"), "name": "An Admin", "teams": [team]}),
            )
            .await;
        Http {
            client: self.client.clone(),
            base: self.base.clone(),
            key: Some(created.ok(201)["api_key"].as_str().unwrap().to_owned()),
        }
    }

    /// POSTs `csv` as an import into `team` (`query` is `?first_line=N` or empty): asserts the
    /// `202 Accepted` with the import's `Location`, and returns the queued import.
    pub async fn queue_import(&self, team: i64, csv: &str, query: &str) -> Value {
        let answer = self
            .send(
                Method::POST,
                &format!("/v1/teams/{team}/flex/import{query}"),
                Some(RawBody::Text(csv.to_owned(), "text/csv")),
                &[],
            )
            .await;
        let job = answer.ok(202).clone();
        let id = job["id"].as_i64().unwrap();
        assert_eq!(
            answer.headers["location"],
            format!("/v1/teams/{team}/flex/imports/{id}").as_str()
        );
        assert_eq!(job["team_id"], team);
        job
    }

    /// Imports `csv` into `team` and lets the server's worker finish it (driven from here, no
    /// waiting on time): the finished import with every outcome, which must be `done`.
    pub async fn import(&self, app: &TestApp, team: i64, csv: &str, query: &str) -> Value {
        let job = self.queue_import(team, csv, query).await;
        app.run_imports().await;
        let id = job["id"].as_i64().unwrap();
        let done = self
            .get(&format!("/v1/teams/{team}/flex/imports/{id}?limit=10000"))
            .await
            .ok(200)
            .clone();
        assert_eq!(done["status"], "done", "{done}");
        assert_eq!(done["done"], done["total"], "{done}");
        done
    }

    pub async fn advance(&self, seconds: i64) -> Value {
        self.post("/v1/test-clock/advance", json!({"seconds": seconds}))
            .await
            .ok(200)
            .clone()
    }
}

/// The refused lines of an import's outcomes: (line, reason).
pub fn refused(import: &Value) -> Vec<(u64, String)> {
    import["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["outcome"] == "refused")
        .map(|o| {
            (
                o["line"].as_u64().unwrap(),
                o["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub enum RawBody {
    Json(Value),
    Text(String, &'static str),
}
