//! A real SMTP server for tests: Python's `aiosmtpd` (from PyPI) running `smtp_sink.py`, which
//! records every message it accepts, decoded, as a JSON file in a directory.
//!
//! When `aiosmtpd` cannot be imported the SMTP tests print that they were skipped, unless
//! `JETON_TEST_SMTP=required` (CI), when they fail instead.
//!
//! Waiting for a message is polling with a real-time timeout: it waits on a real network peer,
//! not on the domain's clock.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Set to `required` to make SMTP tests fail rather than skip when `aiosmtpd` is missing.
pub const REQUIRED_VAR: &str = "JETON_TEST_SMTP";

const SCRIPT: &str = include_str!("smtp_sink.py");
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// One message as the SMTP server received it, its body decoded (quoted-printable, base64 and
/// charsets undone; line ends `\n`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReceivedMail {
    /// The envelope: `MAIL FROM` and `RCPT TO`.
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// Headers, decoded.
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub date: String,
    pub content_type: String,
    pub transfer_encoding: String,
    pub auto_submitted: String,
    pub body: String,
}

impl ReceivedMail {
    /// The links (`http://…`, `https://…`) in the body, in order.
    pub fn links(&self) -> Vec<String> {
        self.body
            .split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(|w| w.trim_end_matches(['.', ',', ')']).to_owned())
            .collect()
    }
}

/// A running SMTP sink. Killed when dropped; a directory it made itself is removed then too.
pub struct SmtpSink {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    remove_dir: bool,
}

fn aiosmtpd_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

impl SmtpSink {
    /// Starts a sink on a free port of 127.0.0.1 that keeps its mail under `dir`; `None` (after
    /// saying so) when `aiosmtpd` is not installed and [`REQUIRED_VAR`] does not require it.
    pub async fn start(dir: impl Into<PathBuf>) -> Option<SmtpSink> {
        if !aiosmtpd_available() {
            if std::env::var(REQUIRED_VAR).is_ok_and(|v| v == "required") {
                panic!(
                    "{REQUIRED_VAR}=required but Python's aiosmtpd cannot be imported: \
                     install it with `python3 -m pip install aiosmtpd`"
                );
            }
            println!(
                "skipped: Python's aiosmtpd is not installed (python3 -m pip install aiosmtpd), \
                 so this SMTP test did not run"
            );
            return None;
        }
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("mail")).expect("create the sink's directory");
        std::fs::write(dir.join("smtp_sink.py"), SCRIPT).expect("write the sink's script");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut sink = SmtpSink {
            port,
            dir,
            child: None,
            remove_dir: false,
        };
        sink.launch().await;
        Some(sink)
    }

    /// Like [`SmtpSink::start`], in a new directory under the system's temporary directory that
    /// is removed when the sink is dropped.
    pub async fn start_temp() -> Option<SmtpSink> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "jeton-smtp-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        let mut sink = SmtpSink::start(&dir).await?;
        sink.remove_dir = true;
        Some(sink)
    }

    /// `smtp://127.0.0.1:PORT`, for `--smtp-url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.join("mail")
    }

    /// Every message received so far (also before a restart), in the order of arrival.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.mail_dir())
            .expect("read the sink's mail directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).expect("read a received message");
                serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: not a recorded message: {e}", f.display()))
            })
            .collect()
    }

    /// Waits until at least `n` messages have arrived and returns them all; panics with what
    /// did arrive when `timeout` (real time) passes first.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                let subjects: Vec<_> = got.iter().map(|m| (&m.rcpt_to, &m.subject)).collect();
                panic!(
                    "expected {n} emails within {timeout:?}, {} arrived: {subjects:?}",
                    got.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server (an outage: connections are refused until [`SmtpSink::restart`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, keeping the same mail directory.
    pub async fn restart(&mut self) {
        self.stop();
        self.launch().await;
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("sink.log"))
            .expect("open the sink's log");
        let child = Command::new("python3")
            .arg(self.dir.join("smtp_sink.py"))
            .arg("127.0.0.1")
            .arg(self.port.to_string())
            .arg(self.mail_dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start python3");
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let log = std::fs::read_to_string(self.dir.join("sink.log")).unwrap_or_default();
                panic!("the SMTP sink exited at start ({status}):\n{log}");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP sink did not listen on port {} within {STARTUP_TIMEOUT:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_found_in_bodies() {
        let mail = ReceivedMail {
            mail_from: String::new(),
            rcpt_to: vec![],
            from: String::new(),
            to: String::new(),
            subject: String::new(),
            message_id: String::new(),
            date: String::new(),
            content_type: String::new(),
            transfer_encoding: String::new(),
            auto_submitted: String::new(),
            body: "Accept here:\n\n  http://jeton.test/invitations/accept?secret=abc\n\nor <https://x.y/z>."
                .into(),
        };
        assert_eq!(
            mail.links(),
            [
                "http://jeton.test/invitations/accept?secret=abc",
                "https://x.y/z"
            ]
        );
    }
}
