//! Typed async client for Jeton's HTTP API (`shared/API.md`).
//!
//! One method per endpoint; requests and answers are the wire types of [`jeton_api`]. Every
//! failure is a [`ClientError`]: the server's `application/problem+json` answer
//! ([`ClientError::Api`]), a server that could not be reached ([`ClientError::Transport`]), or an
//! answer that is not what the endpoint promises ([`ClientError::Decode`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), jeton_client::ClientError> {
//! use jeton_api::{NewPack, NewTeam};
//! let client = jeton_client::Client::new("http://127.0.0.1:8080", Some("operator-key".into()));
//! let team = client.create_team(&NewTeam { name: "Design".into() }).await?;
//! let pack = client.buy_pack(team.id, &NewPack { tokens: 1000 }, Some("order-42")).await?;
//! println!("pack {} expires {}", pack.id, pack.expires_at);
//! # Ok(()) }
//! ```

pub use jeton_api as api;

use std::time::Duration;

use chrono::SecondsFormat;
use jeton_api::{
    AdminCreated, Audit, Balance, ClockAdvance, ClockNow, Event, EventsQuery, Health,
    IDEMPOTENCY_KEY_HEADER, Merge, MergeRequest, Move, NewAdmin, NewMove, NewPack, NewProduct,
    NewTeam, Pack, Problem, Product, ProductChange, ProductDetail, Team,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error (4xx/5xx). When its body was not problem+json, the
    /// problem is synthesized: code `http_<status>`, the body text as detail.
    #[error("{} (code {}, HTTP {})", .0.detail, .0.code, .0.status)]
    Api(Problem),
    /// The server could not be reached (or the URL is unusable); the message names the URL.
    #[error("{0}")]
    Transport(String),
    /// The server answered with success but not with what the endpoint promises.
    #[error("{0}")]
    Decode(String),
}

impl ClientError {
    /// The server's problem, when it answered with one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Api(p) => Some(p),
            _ => None,
        }
    }

    /// The problem's stable `code`, when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        self.problem().map(|p| p.code.as_str())
    }

    /// The HTTP status of the server's error answer.
    pub fn status(&self) -> Option<u16> {
        self.problem().map(|p| p.status)
    }
}

/// Connect timeout used unless [`Client::with_timeout`] says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A Jeton API client. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

/// For calls without a request body.
const NO_BODY: Option<&()> = None;

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`), sending `key` as
    /// `Authorization: Bearer <key>` when given.
    pub fn new(base_url: &str, key: Option<String>) -> Client {
        Client {
            http: http_client(None),
            base: base_url.trim().trim_end_matches('/').to_string(),
            key: key.filter(|k| !k.is_empty()),
        }
    }

    /// The same client, giving up on any call that takes longer than `timeout` in all.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.http = http_client(Some(timeout));
        self
    }

    /// The server's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether calls carry an API key.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    // ------------------------------------------------------------ operations

    /// `GET /healthz`: liveness and database reachability.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.call(Method::GET, "/healthz", &[], NO_BODY, &[]).await
    }

    /// `POST /v1/test-clock/advance` (servers started with `--test-clock` only).
    pub async fn advance_clock(&self, seconds: i64) -> Result<ClockNow, ClientError> {
        let body = ClockAdvance { seconds };
        self.call(
            Method::POST,
            "/v1/test-clock/advance",
            &[],
            Some(&body),
            &[],
        )
        .await
    }

    // ------------------------------------------------------------ catalogue

    /// `POST /v1/products` (operator).
    pub async fn create_product(&self, product: &NewProduct) -> Result<Product, ClientError> {
        self.call(Method::POST, "/v1/products", &[], Some(product), &[])
            .await
    }

    /// `GET /v1/products`.
    pub async fn list_products(&self) -> Result<Vec<Product>, ClientError> {
        self.call(Method::GET, "/v1/products", &[], NO_BODY, &[])
            .await
    }

    /// `GET /v1/products/{key}`: the product with its rate history.
    pub async fn product(&self, key: &str) -> Result<ProductDetail, ClientError> {
        let path = format!("/v1/products/{}", path_segment(key));
        self.call(Method::GET, &path, &[], NO_BODY, &[]).await
    }

    /// `PATCH /v1/products/{key}` (operator): fields left `None` stay as they are.
    pub async fn update_product(
        &self,
        key: &str,
        change: &ProductChange,
    ) -> Result<Product, ClientError> {
        let path = format!("/v1/products/{}", path_segment(key));
        self.call(Method::PATCH, &path, &[], Some(change), &[])
            .await
    }

    // ------------------------------------------------------------ teams

    /// `POST /v1/teams`.
    pub async fn create_team(&self, team: &NewTeam) -> Result<Team, ClientError> {
        self.call(Method::POST, "/v1/teams", &[], Some(team), &[])
            .await
    }

    /// `GET /v1/teams`: the teams the caller may see.
    pub async fn list_teams(&self) -> Result<Vec<Team>, ClientError> {
        self.call(Method::GET, "/v1/teams", &[], NO_BODY, &[]).await
    }

    /// `GET /v1/teams/{id}`.
    pub async fn team(&self, id: i64) -> Result<Team, ClientError> {
        let path = format!("/v1/teams/{id}");
        self.call(Method::GET, &path, &[], NO_BODY, &[]).await
    }

    /// `POST /v1/teams/{team}/packs` (operator). With an idempotency key, repeating the call
    /// returns the first pack instead of buying another.
    pub async fn buy_pack(
        &self,
        team: i64,
        pack: &NewPack,
        idempotency_key: Option<&str>,
    ) -> Result<Pack, ClientError> {
        let path = format!("/v1/teams/{team}/packs");
        let headers: Vec<(&str, &str)> = idempotency_key
            .map(|k| (IDEMPOTENCY_KEY_HEADER, k))
            .into_iter()
            .collect();
        self.call(Method::POST, &path, &[], Some(pack), &headers)
            .await
    }

    /// `GET /v1/teams/{team}/balance` (R-REP-1).
    pub async fn balance(&self, team: i64) -> Result<Balance, ClientError> {
        let path = format!("/v1/teams/{team}/balance");
        self.call(Method::GET, &path, &[], NO_BODY, &[]).await
    }

    /// `GET /v1/teams/{team}/events?from&to&limit` (R-REP-2).
    pub async fn events(&self, team: i64, query: &EventsQuery) -> Result<Vec<Event>, ClientError> {
        let path = format!("/v1/teams/{team}/events");
        self.call(Method::GET, &path, &events_query(query), NO_BODY, &[])
            .await
    }

    /// `POST /v1/teams/{team}/moves` (R-PACK-6).
    pub async fn move_tokens(&self, team: i64, request: &NewMove) -> Result<Move, ClientError> {
        let path = format!("/v1/teams/{team}/moves");
        self.call(Method::POST, &path, &[], Some(request), &[])
            .await
    }

    /// `POST /v1/teams/{team}/merge` (R-PACK-7): `team` is closed into `request.into_team`.
    pub async fn merge(&self, team: i64, request: &MergeRequest) -> Result<Merge, ClientError> {
        let path = format!("/v1/teams/{team}/merge");
        self.call(Method::POST, &path, &[], Some(request), &[])
            .await
    }

    /// `GET /v1/teams/{team}/audit`: the ledger reconciled with the packs.
    pub async fn audit(&self, team: i64) -> Result<Audit, ClientError> {
        let path = format!("/v1/teams/{team}/audit");
        self.call(Method::GET, &path, &[], NO_BODY, &[]).await
    }

    // ------------------------------------------------------------ admins

    /// `POST /v1/admins` (operator). The answer holds the admin's API key, shown only once.
    pub async fn create_admin(&self, admin: &NewAdmin) -> Result<AdminCreated, ClientError> {
        self.call(Method::POST, "/v1/admins", &[], Some(admin), &[])
            .await
    }

    // ------------------------------------------------------------ plumbing

    /// Sends one request and reads its answer: `T` on success, the server's problem otherwise.
    async fn call<B, T>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        headers: &[(&str, &str)],
    ) -> Result<T, ClientError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        if !status.is_success() {
            return Err(ClientError::Api(problem_from_answer(status, &bytes)));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::Decode(format!(
                "unexpected answer to {method} {path} from the Jeton server at {}: {e} \
                 (is that a Jeton server of a matching version?)",
                self.base
            ))
        })
    }

    fn transport(&self, error: &reqwest::Error) -> ClientError {
        let base = &self.base;
        let cause = root_cause(error);
        ClientError::Transport(if base.starts_with("https://") {
            format!(
                "cannot use {base:?} as the Jeton server URL: this client speaks plain HTTP only \
                 (expected http://HOST:PORT, e.g. http://127.0.0.1:8080)"
            )
        } else if error.is_builder() || !base.starts_with("http://") {
            format!(
                "cannot use {base:?} as the Jeton server URL: {cause} \
                 (expected http://HOST:PORT, e.g. http://127.0.0.1:8080)"
            )
        } else if error.is_timeout() {
            format!("the Jeton server at {base} did not answer in time: {cause}")
        } else if error.is_connect() {
            format!(
                "cannot reach the Jeton server at {base}: {cause} — is `jeton serve` running? \
                 (set --server or JETON_SERVER)"
            )
        } else {
            format!("the request to the Jeton server at {base} failed: {cause}")
        })
    }
}

fn http_client(timeout: Option<Duration>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("jeton-client/", env!("CARGO_PKG_VERSION")));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    // Building only fails on TLS back-end set-up, which this crate does not use.
    builder.build().unwrap_or_default()
}

/// The innermost cause of a transport error, in words (no `os error` numbers).
fn root_cause(error: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = error;
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => "connection reset".into(),
                std::io::ErrorKind::TimedOut => "timed out".into(),
                _ => io.to_string(),
            };
        }
        last = e;
        current = e.source();
    }
    last.to_string()
}

/// The problem in an error answer; a synthesized one when the body is not problem+json.
fn problem_from_answer(status: StatusCode, body: &[u8]) -> Problem {
    if let Ok(problem) = serde_json::from_slice::<Problem>(body) {
        return problem;
    }
    let title = status
        .canonical_reason()
        .unwrap_or("Unexpected status")
        .to_string();
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    const MAX_DETAIL: usize = 500;
    let detail = if text.is_empty() {
        title.clone()
    } else if text.chars().count() > MAX_DETAIL {
        format!("{}…", text.chars().take(MAX_DETAIL).collect::<String>())
    } else {
        text.to_string()
    };
    Problem {
        type_: "about:blank".into(),
        title,
        status: status.as_u16(),
        detail,
        code: format!("http_{}", status.as_u16()),
    }
}

/// `from`, `to` (RFC 3339, UTC) and `limit`, leaving out those not given.
fn events_query(query: &EventsQuery) -> Vec<(&'static str, String)> {
    let time = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let mut pairs = Vec::new();
    if let Some(from) = &query.from {
        pairs.push(("from", time(from)));
    }
    if let Some(to) = &query.to {
        pairs.push(("to", time(to)));
    }
    if let Some(limit) = query.limit {
        pairs.push(("limit", limit.to_string()));
    }
    pairs
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn problem_json_bodies_are_kept_as_sent() {
        let body = br#"{"type":"https://jeton.dev/problems/insufficient_tokens","title":"Not enough tokens","status":422,"detail":"team 3 has 2 tokens, 7 needed","code":"insufficient_tokens"}"#;
        let p = problem_from_answer(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(p.code, "insufficient_tokens");
        assert_eq!(p.status, 422);
        assert_eq!(
            ClientError::Api(p).to_string(),
            "team 3 has 2 tokens, 7 needed (code insufficient_tokens, HTTP 422)"
        );
    }

    #[test]
    fn other_error_bodies_become_a_synthesized_problem() {
        let p = problem_from_answer(StatusCode::BAD_GATEWAY, b"  upstream down\n");
        assert_eq!(p.code, "http_502");
        assert_eq!(p.status, 502);
        assert_eq!(p.title, "Bad Gateway");
        assert_eq!(p.detail, "upstream down");
        assert_eq!(
            ClientError::Api(p).to_string(),
            "upstream down (code http_502, HTTP 502)"
        );

        let empty = problem_from_answer(StatusCode::NOT_FOUND, b"");
        assert_eq!(
            empty.detail, "Not Found",
            "an empty body still says something"
        );
        assert_eq!(empty.code, "http_404");

        // JSON, but not a problem: kept as text.
        let json = problem_from_answer(StatusCode::BAD_REQUEST, br#"{"error":"nope"}"#);
        assert_eq!(json.code, "http_400");
        assert_eq!(json.detail, r#"{"error":"nope"}"#);

        let long = "x".repeat(2000);
        let cut = problem_from_answer(StatusCode::INTERNAL_SERVER_ERROR, long.as_bytes());
        assert!(cut.detail.chars().count() <= 501, "long bodies are cut");
    }

    #[test]
    fn events_query_leaves_out_what_is_not_given_and_uses_rfc3339() {
        assert!(events_query(&EventsQuery::default()).is_empty());
        let q = EventsQuery {
            from: Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()),
            to: None,
            limit: Some(50),
        };
        assert_eq!(
            events_query(&q),
            vec![
                ("from", "2026-03-01T00:00:00Z".to_string()),
                ("limit", "50".to_string())
            ]
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("autocad"), "autocad");
        assert_eq!(path_segment("render.cloud-2_x~"), "render.cloud-2_x~");
        assert_eq!(path_segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(path_segment("é"), "%C3%A9");
    }

    #[test]
    fn base_urls_lose_their_trailing_slash_and_empty_keys_are_no_keys() {
        let c = Client::new("http://127.0.0.1:8080/", Some(String::new()));
        assert_eq!(c.base_url(), "http://127.0.0.1:8080");
        assert!(!c.has_key());
    }

    /// A port that was free a moment ago: nothing listens there.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_transport_error_naming_the_url() {
        let base = format!("http://127.0.0.1:{}", closed_port());
        let err = Client::new(&base, None).health().await.unwrap_err();
        let ClientError::Transport(message) = &err else {
            panic!("expected a transport error, got {err:?}");
        };
        assert!(message.contains(&base), "{message}");
        assert!(message.contains("connection refused"), "{message}");
        assert!(message.contains("JETON_SERVER"), "{message}");
    }

    #[tokio::test]
    async fn a_bad_server_url_says_what_is_expected() {
        let err = Client::new("localhost:8080", None)
            .health()
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
        assert!(err.to_string().contains("http://HOST:PORT"), "{err}");
        let err = Client::new("https://127.0.0.1:1", None)
            .health()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("plain HTTP only"), "{err}");
    }

    /// A one-shot HTTP server answering with `answer`; returns its URL and the request it saw.
    async fn one_answer(
        status: &str,
        content_type: &str,
        body: &str,
    ) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\nconnection: close\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the body (Content-Length) of one request.
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            socket.write_all(answer.as_bytes()).await.unwrap();
            socket.shutdown().await.ok();
            String::from_utf8_lossy(&request).to_string()
        });
        (url, seen)
    }

    #[tokio::test]
    async fn requests_carry_the_key_the_idempotency_key_and_a_json_body() {
        let (url, seen) = one_answer(
            "201 Created",
            "application/json",
            r#"{"id":5,"team_id":3,"tokens":100,"remaining":100,"purchased_at":"2026-03-01T00:00:00Z","expires_at":"2027-03-01T00:00:00Z"}"#,
        )
        .await;
        let client = Client::new(&url, Some("k-123".into()));
        let pack = client
            .buy_pack(3, &NewPack { tokens: 100 }, Some("order-9"))
            .await
            .unwrap();
        assert_eq!((pack.id, pack.tokens), (5, 100));
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("POST /v1/teams/3/packs HTTP/1.1"),
            "{request}"
        );
        let lower = request.to_ascii_lowercase();
        assert!(lower.contains("authorization: bearer k-123"), "{request}");
        assert!(lower.contains("idempotency-key: order-9"), "{request}");
        assert!(request.ends_with(r#"{"tokens":100}"#), "{request}");
    }

    #[tokio::test]
    async fn query_parameters_are_sent_and_a_wrong_answer_is_a_decode_error() {
        let (url, seen) = one_answer("200 OK", "text/plain", "hello").await;
        let q = EventsQuery {
            from: Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()),
            to: Some(Utc.with_ymd_and_hms(2026, 4, 1, 12, 30, 0).unwrap()),
            limit: None,
        };
        let err = Client::new(&url, None).events(7, &q).await.unwrap_err();
        assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
        assert!(err.to_string().contains("/v1/teams/7/events"), "{err}");
        let request = seen.await.unwrap();
        assert!(
            request.starts_with(
                "GET /v1/teams/7/events?from=2026-03-01T00%3A00%3A00Z&to=2026-04-01T12%3A30%3A00Z HTTP/1.1"
            ),
            "{request}"
        );
        assert!(
            !request.to_ascii_lowercase().contains("authorization"),
            "no key, no header"
        );
    }
}
