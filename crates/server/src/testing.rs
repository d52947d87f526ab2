//! `spawn_app`: a real server on a random port over a fresh database, on a manual clock, for
//! integration tests (feature `testing`). [`smtp::SmtpSink`]: a real SMTP server to send to.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

pub mod smtp;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jeton_core::{ManualClock, UserId};
use jeton_store::testing::TestDb;
use jeton_store::{Backend, ConnectOptions, Store};
use tokio::net::TcpListener;

use secrecy::SecretString;

use crate::config::{DEFAULT_MAIL_FROM, SmtpSettings};
use crate::keys::{OPERATOR_PREFIX, hash_key, new_key};
use crate::serve::{RunOptions, Running};
use crate::state::AppState;

/// Monday 5 January 2026, 08:00 UTC: where test clocks start.
pub const TEST_START: &str = "2026-01-05T08:00:00Z";
/// The public URL of test servers: the base of links in their emails.
pub const TEST_PUBLIC_URL: &str = "http://jeton.test";
/// How often a test server's mail sender looks at the outbox when nothing woke it: retries
/// become due when a test advances the clock, and this is how soon they go out.
pub const TEST_MAIL_POLL: Duration = Duration::from_millis(100);

/// How long a server's claim on an import keeps other servers away (on the clock).
pub const IMPORT_LEASE: chrono::Duration = crate::imports::LEASE;
/// Lines the import worker applies per transaction.
pub const IMPORT_CHUNK_LINES: usize = crate::imports::CHUNK_LINES;

pub struct TestApp {
    pub base_url: String,
    pub operator_key: String,
    pub clock: Arc<ManualClock>,
    /// The server's own store (its pool).
    pub store: Store,
    pub db: TestDb,
    /// The public half of the key that signs this server's offline leases.
    pub lease_public_key: ed25519_dalek::VerifyingKey,
    importer: crate::imports::Importer,
    running: Option<Running>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Applies every import this server may take now, to the end, before returning: tests
    /// wait for the import worker this way instead of polling. (The background worker runs as
    /// well; the two share the server's claim, and chunks of one import never overlap.)
    pub async fn run_imports(&self) -> usize {
        self.importer.drain(None).await.expect("imports run")
    }

    pub async fn shutdown(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
    }
}

/// A fresh database of `backend` (`None` when PostgreSQL is not configured; the skip is printed).
pub async fn test_db(backend: Backend) -> Option<TestDb> {
    match backend {
        Backend::Sqlite => Some(TestDb::sqlite().await),
        Backend::Postgres => TestDb::postgres().await,
    }
}

/// Starts a server on `db` with a test clock at `start` (a second call on the same db is a second
/// server process sharing it).
pub async fn spawn_on(db: TestDb, start: DateTime<Utc>) -> TestApp {
    spawn_with(db, start, true).await
}

/// Like [`spawn_on`], but the server runs as without `--test-clock`: its clock (still manual, for
/// the test's sake) cannot be moved over HTTP and the advance endpoint does not exist.
pub async fn spawn_without_test_clock(db: TestDb, start: DateTime<Utc>) -> TestApp {
    spawn_with(db, start, false).await
}

/// How to start a test server.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// Where its clock starts.
    pub start: DateTime<Utc>,
    /// Whether it runs as with `--test-clock` (the advance endpoint exists).
    pub test_clock: bool,
    /// `--smtp-url`: where its mail sender delivers; `None`: emails stay in the outbox.
    pub smtp_url: Option<String>,
    /// The offline-lease key's seed; servers sharing a database share it. `None`: a fresh one.
    pub lease_seed: Option<[u8; 32]>,
    /// How long a connection may take to send a request's head.
    pub header_read_timeout: Duration,
    /// Whether the import worker runs in the background; without it imports wait for
    /// [`TestApp::run_imports`] (a test playing a server that dies mid-import).
    pub import_worker: bool,
    /// How often its store writes the quiet heartbeats it answered; `None`: only when told
    /// (`Store::flush_heartbeats`) or at shutdown.
    pub heartbeat_flush_every: Option<Duration>,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        SpawnOptions {
            start: TEST_START.parse().expect("valid start"),
            test_clock: true,
            smtp_url: None,
            lease_seed: None,
            header_read_timeout: crate::serve::HEADER_READ_TIMEOUT,
            import_worker: true,
            heartbeat_flush_every: ConnectOptions::default().heartbeat_flush_every,
        }
    }
}

async fn spawn_with(db: TestDb, start: DateTime<Utc>, test_clock: bool) -> TestApp {
    spawn_with_options(
        db,
        SpawnOptions {
            start,
            test_clock,
            ..SpawnOptions::default()
        },
    )
    .await
}

/// Starts a server on `db` as `options` say (a second call on the same db, through
/// [`TestDb::share`], is a second server process sharing it).
pub async fn spawn_with_options(db: TestDb, options: SpawnOptions) -> TestApp {
    let SpawnOptions {
        start,
        test_clock,
        smtp_url,
        lease_seed,
        header_read_timeout,
        import_worker,
        heartbeat_flush_every,
    } = options;
    let lease_key = match lease_seed {
        Some(seed) => jeton_core::lease::signing_key(&seed),
        None => crate::keys::ephemeral_lease_key().expect("randomness"),
    };
    let store = db
        .store_with(ConnectOptions {
            heartbeat_flush_every,
            ..ConnectOptions::default()
        })
        .await;
    let clock = Arc::new(ManualClock::new(start));
    let operator_key = new_key(OPERATOR_PREFIX).expect("randomness");
    let exposed = test_clock.then(|| clock.clone());
    let state = AppState::new(
        store.clone(),
        clock.clone(),
        exposed,
        hash_key(&operator_key),
        TEST_PUBLIC_URL.into(),
        lease_key.clone(),
    )
    .expect("state");
    let importer = state.importer.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
    let options = RunOptions {
        // Jobs also run at every clock advance; the real-time tick is only a backstop here.
        job_interval: Duration::from_secs(3600),
        smtp: smtp_url.map(|url| SmtpSettings {
            url: SecretString::from(url),
            from: DEFAULT_MAIL_FROM.to_owned(),
        }),
        mail_poll: TEST_MAIL_POLL,
        header_read_timeout,
        import_worker,
    };
    let running = Running::start(state, listener, options).expect("start");
    TestApp {
        base_url: format!("http://{}", running.addr),
        operator_key,
        clock,
        store,
        db,
        lease_public_key: lease_key.verifying_key(),
        importer,
        running: Some(running),
    }
}

/// A server on a fresh database of `backend`, its clock at [`TEST_START`].
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    let db = test_db(backend).await?;
    Some(spawn_on(db, TEST_START.parse().expect("valid start")).await)
}

impl TestApp {
    /// The secret of the newest invitation email to `email` that is still waiting to go out, read
    /// from the store: the API never shows link secrets (a test has no mailbox without SMTP).
    pub async fn invitation_secret(&self, email: &str) -> String {
        let mails = self
            .store
            .outbox(&jeton_store::outbox::OutboxFilter {
                status: None,
                to: Some(email.to_owned()),
                limit: 1000,
            })
            .await
            .expect("read the outbox");
        let mail = mails
            .iter()
            .find(|m| m.kind == "invitation")
            .unwrap_or_else(|| panic!("an invitation email to {email}"));
        let start = mail.body.find("secret=").expect("a link with a secret") + "secret=".len();
        let secret = mail.body[start..]
            .split_whitespace()
            .next()
            .unwrap_or_default();
        assert_ne!(
            secret,
            jeton_core::mail::HIDDEN,
            "the email was sent already"
        );
        secret.to_owned()
    }

    /// An admin of `team` and their API key, made straight in the store: no password-link email
    /// is queued (for tests that count the outbox's messages).
    pub async fn admin_key(&self, email: &str, team: i64) -> String {
        let key = new_key(crate::keys::ADMIN_PREFIX).expect("randomness");
        let now = jeton_core::Clock::now(&*self.clock);
        self.store
            .create_admin(
                &jeton_core::Email::parse(email).expect("valid email"),
                &jeton_core::PersonName::parse("An Admin").expect("valid name"),
                &[jeton_core::TeamId(team)],
                &hash_key(&key),
                now,
            )
            .await
            .expect("create admin");
        key
    }

    /// A person with an account and a user token, made straight in the store (no argon2 per
    /// user, no email): for tests that need many users. Their password is `TEST_PASSWORD`.
    pub async fn user_with_token(&self, email: &str, name: &str) -> (UserId, String) {
        static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let hash = HASH
            .get_or_init(|| async {
                let password = jeton_core::Password::parse(TEST_PASSWORD).expect("valid password");
                crate::passwords::Passwords::new(1, &crate::metrics::Metrics::new())
                    .slot()
                    .await
                    .expect("a free slot")
                    .hash(&password)
                    .await
                    .expect("hash")
            })
            .await;
        let now = jeton_core::Clock::now(&*self.clock);
        let user = self
            .store
            .create_user(
                &jeton_core::Email::parse(email).expect("valid email"),
                &jeton_core::PersonName::parse(name).expect("valid name"),
                hash,
                now,
            )
            .await
            .expect("create user");
        let token = new_key(crate::keys::USER_PREFIX).expect("randomness");
        self.store
            .create_user_token(
                user.id,
                &hash_key(&token),
                now,
                now + chrono::Duration::days(3650),
            )
            .await
            .expect("token");
        (user.id, token)
    }
}

/// The password of users made by [`TestApp::user_with_token`].
pub const TEST_PASSWORD: &str = "test-password-1";
