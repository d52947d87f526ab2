//! What each command does. One module per command group; `output` holds the printing shared by
//! all of them.

pub mod account;
pub mod admins;
pub mod clock;
pub mod defaults;
pub mod entitlements;
pub mod import;
pub mod invitations;
pub mod ledger;
pub mod local;
pub mod outbox;
pub mod output;
pub mod packs;
pub mod planning;
pub mod product_client;
pub mod products;
pub mod reports;
pub mod sessions;
pub mod simulate;
pub mod teams;
pub mod users;

use std::path::Path;

use anyhow::{Context as _, Result, anyhow};
use jeton_client::{Client, ClientError};

use crate::cli::{Command, Conn, OPERATOR_KEY_FILE};
use output::Output;

/// Runs one command to its end.
pub async fn run(command: Command) -> Result<()> {
    let (conn, action) = match command {
        Command::Serve(args) => return jeton_server::run(args).await,
        Command::Completions(args) => return local::completions(args),
        Command::Man(args) => return local::man(args),
        Command::Health(conn) => (conn, Action::Health),
        Command::Products(g) => (g.conn, Action::Products(g.cmd)),
        Command::Teams(g) => (g.conn, Action::Teams(g.cmd)),
        Command::Packs(g) => (g.conn, Action::Packs(g.cmd)),
        Command::Balance(l) => (l.conn, Action::Balance(l.args)),
        Command::Events(l) => (l.conn, Action::Events(l.args)),
        Command::Move(l) => (l.conn, Action::Move(l.args)),
        Command::Audit(l) => (l.conn, Action::Audit(l.args)),
        Command::Report(g) => (g.conn, Action::Report(g.cmd)),
        Command::Estimate(l) => (l.conn, Action::Estimate(l.args)),
        Command::Forecast(l) => (l.conn, Action::Forecast(l.args)),
        Command::Admins(g) => (g.conn, Action::Admins(g.cmd)),
        Command::Clock(g) => (g.conn, Action::Clock(g.cmd)),
        Command::Users(g) => (g.conn, Action::Users(g.cmd)),
        Command::Defaults(g) => (g.conn, Action::Defaults(g.cmd)),
        Command::Import(l) => (l.conn, Action::Import(l.args)),
        Command::Invitations(g) => (g.conn, Action::Invitations(g.cmd)),
        Command::Outbox(l) => (l.conn, Action::Outbox(l.args)),
        Command::Login(l) => (l.conn, Action::Login(l.args)),
        Command::Logout(l) => (l.conn, Action::Logout(l.args)),
        Command::Me(g) => (g.conn, Action::Me(g.cmd)),
        Command::Subscriptions(g) => (g.conn, Action::Subscriptions(g.cmd)),
        Command::Trials(g) => (g.conn, Action::Trials(g.cmd)),
        Command::Entitlements(l) => (l.conn, Action::Entitlements(l.args)),
        Command::Client(g) => (g.conn, Action::Client(g.cmd)),
        Command::Sessions(l) => (l.conn, Action::Sessions(l.args)),
        Command::Simulate(l) => (l.conn, Action::Simulate(l.args)),
    };
    let ctx = Ctx::new(&conn)?;
    let result = match action {
        Action::Health => health(&ctx).await,
        Action::Products(cmd) => products::run(cmd, &ctx).await,
        Action::Teams(cmd) => teams::run(cmd, &ctx).await,
        Action::Packs(cmd) => packs::run(cmd, &ctx).await,
        Action::Balance(args) => ledger::balance(args, &ctx).await,
        Action::Events(args) => ledger::events(args, &ctx).await,
        Action::Move(args) => ledger::move_tokens(args, &ctx).await,
        Action::Audit(args) => ledger::audit(args, &ctx).await,
        Action::Report(cmd) => reports::run(cmd, &ctx).await,
        Action::Estimate(args) => planning::estimate(args, &ctx).await,
        Action::Forecast(args) => planning::forecast(args, &ctx).await,
        Action::Admins(cmd) => admins::run(cmd, &ctx).await,
        Action::Clock(cmd) => clock::run(cmd, &ctx).await,
        Action::Users(cmd) => users::run(cmd, &ctx).await,
        Action::Defaults(cmd) => defaults::run(cmd, &ctx).await,
        Action::Import(args) => import::run(args, &ctx).await,
        Action::Invitations(cmd) => invitations::run(cmd, &ctx).await,
        Action::Outbox(args) => outbox::run(args, &ctx).await,
        Action::Login(args) => account::login(args, &ctx).await,
        Action::Logout(args) => account::logout(args, &ctx).await,
        Action::Me(cmd) => account::me(cmd, &ctx).await,
        Action::Subscriptions(cmd) => entitlements::subscriptions(cmd, &ctx).await,
        Action::Trials(cmd) => entitlements::trials(cmd, &ctx).await,
        Action::Entitlements(args) => entitlements::list(args, &ctx).await,
        Action::Client(cmd) => product_client::run(cmd, &ctx).await,
        Action::Sessions(args) => sessions::run(args, &ctx).await,
        Action::Simulate(args) => simulate::run(args, &ctx).await,
    };
    result.map_err(|e| with_hint(e, &ctx.client))
}

/// Ends a command with an exit status of its own instead of 1, after it printed its answer:
/// `message` is the last line, on stderr.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// A command that talks to the server, once its connection options are taken off.
enum Action {
    Health,
    Products(products::ProductsCmd),
    Teams(teams::TeamsCmd),
    Packs(packs::PacksCmd),
    Balance(ledger::BalanceArgs),
    Events(ledger::EventsArgs),
    Move(ledger::MoveArgs),
    Audit(ledger::AuditArgs),
    Report(reports::ReportCmd),
    Estimate(planning::EstimateArgs),
    Forecast(planning::ForecastArgs),
    Admins(admins::AdminsCmd),
    Clock(clock::ClockCmd),
    Users(users::UsersCmd),
    Defaults(defaults::DefaultsCmd),
    Import(import::ImportArgs),
    Invitations(invitations::InvitationsCmd),
    Outbox(outbox::OutboxArgs),
    Login(account::LoginArgs),
    Logout(account::LogoutArgs),
    Me(account::MeCmd),
    Subscriptions(entitlements::SubscriptionsCmd),
    Trials(entitlements::TrialsCmd),
    Entitlements(entitlements::ListArgs),
    Client(product_client::ClientCmd),
    Sessions(sessions::SessionsArgs),
    Simulate(simulate::SimulateArgs),
}

/// What every command needs: the client and the way to print.
pub struct Ctx {
    pub client: Client,
    pub out: Output,
}

impl Ctx {
    fn new(conn: &Conn) -> Result<Ctx> {
        let key = resolve_key(conn.key.clone(), &conn.data_dir)?;
        Ok(Ctx {
            client: Client::new(&conn.server, key),
            out: Output::new(conn.json),
        })
    }
}

/// The API key to send: `--key`/`JETON_KEY`, else the operator key that `jeton serve` wrote to
/// `<data_dir>/operator.key`, when that file exists.
pub fn resolve_key(given: Option<String>, data_dir: &Path) -> Result<Option<String>> {
    if let Some(key) = given
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
    {
        return Ok(Some(key));
    }
    let path = data_dir.join(OPERATOR_KEY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read the operator key from {} (give --key or JETON_KEY instead)",
            path.display()
        )
    })?;
    let key = text.trim();
    Ok((!key.is_empty()).then(|| key.to_string()))
}

/// Adds what to do next to errors whose cause is likely on this side.
fn with_hint(error: anyhow::Error, client: &Client) -> anyhow::Error {
    let client_error = error.downcast_ref::<ClientError>();
    if client_error.and_then(ClientError::code) == Some("key_revoked") {
        return anyhow!(
            "{error:#}\nhint: the operator revoked this admin key; they can issue a new one with \
             `jeton admins rotate`"
        );
    }
    let hint = match client_error.and_then(ClientError::status) {
        Some(401) if !client.has_key() => {
            "no API key was given: use --key or JETON_KEY, or run where <--data-dir>/operator.key \
             exists (the server writes it there on first start)"
        }
        Some(401) => "the server does not know this API key: check --key or JETON_KEY",
        Some(403) => "this API key may not do that: the operator key can do everything",
        _ => return error,
    };
    anyhow!("{error:#}\nhint: {hint}")
}

async fn health(ctx: &Ctx) -> Result<()> {
    let health = ctx.client.health().await?;
    ctx.out.print(&health, |h| {
        format!(
            "{} — database {}, server version {} at {}",
            h.status,
            h.database,
            h.version,
            ctx.client.base_url()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("jeton-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_operator_key_file_is_used_when_no_key_is_given() {
        let dir = temp_dir("keyfile");
        std::fs::write(dir.join("operator.key"), "op-secret-key-123\n").unwrap();
        assert_eq!(
            resolve_key(None, &dir).unwrap().as_deref(),
            Some("op-secret-key-123"),
            "read and trimmed"
        );
        assert_eq!(
            resolve_key(Some("given".into()), &dir).unwrap().as_deref(),
            Some("given"),
            "a given key wins over the file"
        );
        assert_eq!(
            resolve_key(Some("  ".into()), &dir).unwrap().as_deref(),
            Some("op-secret-key-123"),
            "an empty JETON_KEY counts as not given"
        );
        std::fs::write(dir.join("operator.key"), "\n").unwrap();
        assert_eq!(
            resolve_key(None, &dir).unwrap(),
            None,
            "an empty file is no key"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_key_or_file_there_is_no_key() {
        let dir = temp_dir("nokey");
        assert_eq!(resolve_key(None, &dir).unwrap(), None);
        assert_eq!(resolve_key(None, &dir.join("missing")).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreadable_key_file_is_an_error_naming_it() {
        let dir = temp_dir("badkey");
        // A directory where the file should be cannot be read as one.
        std::fs::create_dir_all(dir.join("operator.key")).unwrap();
        let err = format!("{:#}", resolve_key(None, &dir).unwrap_err());
        assert!(
            err.contains("operator.key") && err.contains("--key"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
