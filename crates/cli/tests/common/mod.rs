//! The real `jeton serve` process for the crash tests: started on a test clock, killed with
//! SIGKILL, started again on the same database; and `jeton audit` as an operator runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic
// Each test uses its own part of this.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use jeton_api::{
    AssignRequest, Event, EventsQuery, NewUser, SessionInfo, SessionsQuery, TokenRequest,
};
use jeton_client::Client;
use jeton_store::Backend;
use jeton_store::testing::TestDb;
use tempfile::TempDir;

pub const OPERATOR_KEY: &str = "jeton_op_crash_test_0123456789abcdef";
/// Every start freezes the test clock at this instant: whatever the timing of the load, the kill
/// and the restart, all of it happens at the same moment for the rules.
pub const CLOCK_START: &str = "2026-01-05T08:00:00Z";

/// A `jeton serve` child process.
pub struct Server {
    pub child: tokio::process::Child,
    pub base: String,
    /// host:port
    pub addr: String,
    pub log: PathBuf,
}

/// Where the servers keep their files, and which database they use.
pub struct Setup {
    pub data_dir: TempDir,
    /// `None`: the embedded SQLite database in the data dir.
    pub database_url: Option<String>,
}

impl Setup {
    pub fn new(db: &TestDb) -> Setup {
        Setup {
            data_dir: tempfile::tempdir().expect("a data directory"),
            // SQLite: the embedded database in --data-dir, as `jeton serve` makes it by default.
            database_url: (db.backend == Backend::Postgres).then(|| db.url.clone()),
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Server {
    /// Starts `jeton serve` (the `n`th start on this setup) and waits until it answers.
    pub async fn start(setup: &Setup, n: usize) -> Server {
        let dir = setup.data_dir.path();
        let port = free_port();
        let log = dir.join(format!("server-{n}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_jeton"));
        command
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir)
            // The same lease key and operator key on every start, as an operator's restart has.
            .arg("--lease-key-file")
            .arg(dir.join("lease.key"))
            .args(["--test-clock", "--test-clock-start", CLOCK_START])
            // Nothing from the caller's environment (JETON_*, RUST_LOG) changes what runs.
            .env_clear()
            .env("JETON_OPERATOR_KEY", OPERATOR_KEY)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            // A failing test leaves no server behind.
            .kill_on_drop(true);
        if let Some(url) = &setup.database_url {
            command.args(["--database-url", url]);
        }
        let mut child = command.spawn().expect("run jeton serve");
        let addr = format!("127.0.0.1:{port}");
        let base = format!("http://{addr}");
        let client = Client::new(&base, None).with_timeout(Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if client.health().await.is_ok() {
                break;
            }
            if let Some(status) = child.try_wait().expect("child status") {
                panic!("jeton serve exited ({status}):\n{}", read_log(&log));
            }
            assert!(
                Instant::now() < deadline,
                "jeton serve did not answer within 60 s:\n{}",
                read_log(&log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server {
            child,
            base,
            addr,
            log,
        }
    }

    pub fn client(&self, key: &str) -> Client {
        Client::new(&self.base, Some(key.to_owned())).with_timeout(Duration::from_secs(30))
    }

    /// SIGKILL, and wait until the process is gone.
    pub async fn kill_9(&mut self) {
        self.child.start_kill().expect("SIGKILL the server");
        let status = self.child.wait().await.expect("the server ends");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
        }
    }

    /// `jeton audit --team TEAM --json` against this server, from the command line as an
    /// operator runs it: what it printed, after checking it succeeded.
    pub async fn audit(&self, team: i64) -> serde_json::Value {
        let audit = tokio::process::Command::new(env!("CARGO_BIN_EXE_jeton"))
            .args(["audit", "--team", &team.to_string(), "--json"])
            .args(["--server", &self.base, "--key", OPERATOR_KEY])
            .env_clear()
            .output()
            .await
            .expect("run jeton audit");
        let stdout = String::from_utf8_lossy(&audit.stdout);
        assert!(
            audit.status.success(),
            "jeton audit: {stdout}\n{}",
            String::from_utf8_lossy(&audit.stderr)
        );
        serde_json::from_str(&stdout).expect("audit JSON")
    }
}

/// A user account on `team`, assigned every product, and a user token of theirs: (id, token).
pub async fn flex_user(op: &Client, team: i64, email: &str, name: &str) -> (i64, String) {
    const PASSWORD: &str = "a-good-password";
    let account = op
        .create_user(&NewUser {
            email: email.into(),
            name: name.into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap();
    op.assign(
        team,
        &AssignRequest {
            user_id: Some(account.user_id),
            all: Some(true),
            ..AssignRequest::default()
        },
    )
    .await
    .unwrap();
    let token = op
        .user_token(&TokenRequest {
            email: email.into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap();
    (account.user_id, token.token)
}

/// Every session of a team, ended ones too (these tests keep them to one page).
pub async fn all_sessions(op: &Client, team: i64) -> Vec<SessionInfo> {
    let stored = op
        .sessions(
            team,
            &SessionsQuery {
                open: Some(false),
                limit: Some(1000),
            },
        )
        .await
        .unwrap();
    assert!(stored.len() < 1000, "all sessions fit in one page");
    stored
}

/// Every ledger event of a team (these tests keep them to one page).
pub async fn all_events(op: &Client, team: i64) -> Vec<Event> {
    let events = op
        .events(
            team,
            &EventsQuery {
                limit: Some(10_000),
                ..EventsQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(events.len() < 10_000, "all events fit in one page");
    events
}
