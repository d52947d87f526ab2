//! Configuration: defaults, then an optional TOML file (`--config`), then `JETON_*` environment
//! variables, then flags. Every value ends up in one [`Config`] passed to the server as state;
//! nothing is global.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;

/// `jeton serve` flags. Each has a `JETON_*` environment variable; both override the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "JETON_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Directory for the embedded SQLite database and the operator key [default: ./jeton-data]
    #[arg(long, env = "JETON_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// PostgreSQL URL (postgres://user@host/db) to use instead of the embedded SQLite database
    #[arg(long, env = "JETON_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,

    /// Database connections per server process [default: 16]
    #[arg(long, env = "JETON_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<u32>,

    /// Run on a manual clock, frozen at start, moved only by POST /v1/test-clock/advance.
    /// For tests and demos only.
    #[arg(long, env = "JETON_TEST_CLOCK")]
    pub test_clock: bool,

    /// Where the test clock starts (RFC 3339) [default: the current time]
    #[arg(
        long,
        env = "JETON_TEST_CLOCK_START",
        value_name = "TIME",
        requires = "test_clock"
    )]
    pub test_clock_start: Option<DateTime<Utc>>,

    /// Seconds between runs of the background jobs (expiry) [default: 30]
    #[arg(long, env = "JETON_JOB_INTERVAL", value_name = "SECONDS")]
    pub job_interval: Option<u64>,

    /// Log format: text or json [default: text]. Levels come from RUST_LOG (default info).
    #[arg(long, env = "JETON_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// SMTP server for outgoing email: smtp://host:port (plain), smtp://host?tls=required
    /// (STARTTLS) or smtps://host (TLS), with user:password@ when it needs a login. Without it,
    /// emails wait in the outbox (GET /v1/outbox)
    #[arg(long, env = "JETON_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,

    /// Sender of Jeton's emails [default: Jeton <jeton@localhost>]
    #[arg(long, env = "JETON_MAIL_FROM", value_name = "ADDRESS")]
    pub mail_from: Option<String>,

    /// The address people use to reach this server, for links in emails
    /// [default: http://<listen address>]
    #[arg(long, env = "JETON_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// File holding the Ed25519 key that signs offline leases (created on first start). Servers
    /// sharing one database must share this file [default: <data-dir>/lease.key]
    #[arg(long, env = "JETON_LEASE_KEY_FILE", value_name = "FILE")]
    pub lease_key_file: Option<PathBuf>,

    /// TOML file with any of the settings above (keys as the flags, with underscores)
    #[arg(long, env = "JETON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The settings file. Unknown keys are an error, so a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    max_connections: Option<u32>,
    test_clock: Option<bool>,
    test_clock_start: Option<DateTime<Utc>>,
    job_interval: Option<u64>,
    log_format: Option<LogFormat>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    public_url: Option<String>,
    lease_key_file: Option<PathBuf>,
}

/// Everything the server needs, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `None`: the embedded SQLite database in `data_dir`.
    pub database_url: Option<String>,
    pub max_connections: u32,
    /// `Some(start)`: run on a manual clock starting there.
    pub test_clock: Option<DateTime<Utc>>,
    pub job_interval: Duration,
    pub log_format: LogFormat,
    pub smtp: Option<SmtpSettings>,
    /// Base of links in emails, without a trailing slash.
    pub public_url: String,
    /// The offline-lease signing key's file.
    pub lease_key_file: PathBuf,
    /// `JETON_OPERATOR_KEY`; when absent the key lives in `<data_dir>/operator.key`.
    pub operator_key: Option<SecretString>,
}

/// Where and as whom to send email.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub url: SecretString,
    pub from: String,
}

pub const DEFAULT_LISTEN: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);
pub const DEFAULT_MAIL_FROM: &str = "Jeton <jeton@localhost>";
pub const DEFAULT_DATA_DIR: &str = "jeton-data";
pub const OPERATOR_KEY_VAR: &str = "JETON_OPERATOR_KEY";
const MAX_JOB_INTERVAL_SECS: u64 = 3600;
const MAX_CONNECTIONS_LIMIT: u32 = 1000;

impl Config {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let test_clock = args.test_clock || file.test_clock.unwrap_or(false);
        let job_interval = args.job_interval.or(file.job_interval).unwrap_or(30);
        anyhow::ensure!(
            (1..=MAX_JOB_INTERVAL_SECS).contains(&job_interval),
            "job_interval must be 1 to {MAX_JOB_INTERVAL_SECS} seconds, got {job_interval}"
        );
        let max_connections = args.max_connections.or(file.max_connections).unwrap_or(16);
        anyhow::ensure!(
            (1..=MAX_CONNECTIONS_LIMIT).contains(&max_connections),
            "max_connections must be 1 to {MAX_CONNECTIONS_LIMIT}, got {max_connections}"
        );
        let operator_key = std::env::var(OPERATOR_KEY_VAR)
            .ok()
            .filter(|k| !k.is_empty())
            .map(SecretString::from);
        if let Some(key) = &operator_key {
            use secrecy::ExposeSecret;
            anyhow::ensure!(
                key.expose_secret().len() >= 16,
                "{OPERATOR_KEY_VAR} must be at least 16 characters: it guards everything"
            );
        }
        let listen = args.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN);
        let public_url = args
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        anyhow::ensure!(
            public_url.starts_with("http://") || public_url.starts_with("https://"),
            "public_url must start with http:// or https://, got {public_url:?}"
        );
        let mail_from = args
            .mail_from
            .or(file.mail_from)
            .unwrap_or_else(|| DEFAULT_MAIL_FROM.to_owned());
        anyhow::ensure!(
            mail_from.parse::<lettre::message::Mailbox>().is_ok(),
            "mail_from must be an address such as \"Jeton <jeton@example.com>\", got {mail_from:?}"
        );
        let smtp = args.smtp_url.or(file.smtp_url).map(|url| SmtpSettings {
            url: SecretString::from(url),
            from: mail_from,
        });
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let lease_key_file = args
            .lease_key_file
            .or(file.lease_key_file)
            .unwrap_or_else(|| data_dir.join("lease.key"));
        Ok(Config {
            listen,
            lease_key_file,
            data_dir,
            database_url: args.database_url.or(file.database_url),
            max_connections,
            test_clock: test_clock.then(|| {
                args.test_clock_start
                    .or(file.test_clock_start)
                    .unwrap_or_else(Utc::now)
            }),
            job_interval: Duration::from_secs(job_interval),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            smtp,
            public_url: public_url.trim_end_matches('/').to_owned(),
            operator_key,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("jeton-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jeton.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\njob_interval = 5\n").unwrap();
        let args = ServeArgs {
            config: Some(file.clone()),
            job_interval: Some(7),
            ..ServeArgs::default()
        };
        let c = Config::resolve(args).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9000", "from the file");
        assert_eq!(c.job_interval, Duration::from_secs(7), "the flag wins");
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR), "the default");
        assert!(c.test_clock.is_none());

        std::fs::write(&file, "listn = \"127.0.0.1:9000\"\n").unwrap();
        let err = Config::resolve(ServeArgs {
            config: Some(file),
            ..ServeArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown field") && err.contains("listn"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        let err = Config::resolve(ServeArgs {
            job_interval: Some(0),
            ..ServeArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("job_interval"));
    }
}
