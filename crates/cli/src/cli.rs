//! The command line: what `jeton --help` shows. Each group's own arguments live beside its code
//! in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{
    account, admins, clock, defaults, entitlements, import, invitations, ledger, local, outbox,
    packs, planning, product_client, products, reports, sessions, simulate, teams, users,
};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "jeton-data";
pub const OPERATOR_KEY_FILE: &str = "operator.key";
/// What `jeton --version` prints after the name: `0.1.0 (3288c49 2026-12-06)`, the revision
/// coming from build.rs.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("JETON_REVISION"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "jeton",
    version = VERSION,
    about = "Jeton: token-based pay-per-use licensing. Run the server, or manage it from here.",
    after_help = "Commands other than `serve`, `completions` and `man` talk to a server and take:\n  \
        --server URL   the server [env: JETON_SERVER] [default: http://127.0.0.1:8080]\n  \
        --key KEY      an operator or admin API key, or a user token for `jeton me`,\n                 \
        `jeton logout` and `jeton client` [env: JETON_KEY]; without one, the\n                 \
        operator key is read from <--data-dir>/operator.key when that file\n                 \
        exists [--data-dir env: JETON_DATA_DIR, default: ./jeton-data]\n  \
        --json         print the server's answer as JSON, for scripts\n\n\
        Teams are given by id or by exact name. Start with `jeton serve`, then e.g.\n  \
        jeton products add autocad --name AutoCAD --daily-rate 7\n  \
        jeton teams create Design\n  \
        jeton packs buy --team Design 1000\n  \
        jeton balance --team Design\n  \
        jeton report usage --team Design --by product\n  \
        jeton estimate --team Design --plan autocad:5:8\n  \
        jeton users assign --team Design \"Jane Doe <jane@example.com>\" --products autocad\n  \
        jeton import people.csv --team Design\n  \
        jeton client sign-in --team 1 --product autocad --key USER_TOKEN"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Jeton server (HTTP API and background jobs)
    Serve(jeton_server::ServeArgs),
    /// Check that the server answers and reaches its database
    Health(Conn),
    /// Manage the product catalogue: add, list, show, update
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Products(Group<products::ProductsCmd>),
    /// Manage teams: create, list, show, merge, settings
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Teams(Group<teams::TeamsCmd>),
    /// Record token pack purchases
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Packs(Group<packs::PacksCmd>),
    /// Show a team's balance and its active packs
    Balance(Leaf<ledger::BalanceArgs>),
    /// List a team's token events (the ledger) over a time range
    Events(Leaf<ledger::EventsArgs>),
    /// Move tokens from one team to another (they keep their expiry dates)
    Move(Leaf<ledger::MoveArgs>),
    /// Check that a team's ledger adds up to its packs (exits 1 when it does not)
    Audit(Leaf<ledger::AuditArgs>),
    /// Usage reports over a range of days: usage by product, user or day; events; CSV export
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Report(Group<reports::ReportCmd>),
    /// Estimate the tokens a plan of use needs for a year (and compare it with a team's balance)
    Estimate(Leaf<planning::EstimateArgs>),
    /// Forecast a team's balance at its recent burn rate: when it reaches zero, what expires unused
    Forecast(Leaf<planning::ForecastArgs>),
    /// Assign and invite a team's Flex users, choose their products, remove them
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Users(Group<users::UsersCmd>),
    /// Show or set a team's default assignments (products every Flex user gets)
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Defaults(Group<defaults::DefaultsCmd>),
    /// Import a team's Flex users from a CSV file (name,email[,products])
    Import(Leaf<import::ImportArgs>),
    /// List and resend a team's invitations; accept one
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Invitations(Group<invitations::InvitationsCmd>),
    /// Create and list team admins; revoke or rotate their API keys (operator)
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Admins(Group<admins::AdminsCmd>),
    /// List the emails the server queued, sent or gave up on, and send failed ones again (operator)
    Outbox(Leaf<outbox::OutboxArgs>),
    /// Sign in as a user and print a user token (for `jeton me`)
    Login(Leaf<account::LoginArgs>),
    /// Sign out: end the user token given with --key (--everywhere: all of your tokens)
    Logout(Leaf<account::LogoutArgs>),
    /// Your own account, with a user token as --key: who you are, your downloads
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Me(Group<account::MeCmd>),
    /// A user's single-user subscriptions, which pay for a product instead of tokens: add, list,
    /// remove (operator)
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Subscriptions(Group<entitlements::SubscriptionsCmd>),
    /// A user's trials of a product, free while they run: add, list, remove (operator)
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Trials(Group<entitlements::TrialsCmd>),
    /// List a user's subscriptions and trials (operator)
    Entitlements(Leaf<entitlements::ListArgs>),
    /// Act as a product with a user token: sign in, heartbeat, results, sign out, leases
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Client(Group<product_client::ClientCmd>),
    /// List a team's product sessions: open ones, or all
    Sessions(Leaf<sessions::SessionsArgs>),
    /// Simulate product use for demos (--days, on a --test-clock server) or load (--load)
    #[command(
        after_help = "Needs only the operator key: it creates its own team, products \
        (keys sim-TEAM-…), a pack and users (sim-TEAM-uN@example.com) — so run it against a test \
        server, not one with real data. The progress bar goes to stderr; --json prints the \
        summary as JSON.\n\nExamples:\n  \
        jeton simulate --load --users 200 --concurrency 16 --duration 20\n  \
        jeton serve --test-clock --data-dir /tmp/demo &   # then:\n  \
        jeton simulate --days 5 --users 20 --seed 7 --data-dir /tmp/demo"
    )]
    Simulate(Leaf<simulate::SimulateArgs>),
    /// Move the clock of a server started with --test-clock
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Clock(Group<clock::ClockCmd>),
    /// Print a shell completion script (bash, zsh, fish, …) to stdout
    Completions(local::CompletionsArgs),
    /// Write the man pages (jeton.1 and one per subcommand), or print jeton.1
    Man(local::ManArgs),
}

/// A command group talking to the server: its subcommands plus the connection options.
#[derive(Debug, Args)]
pub struct Group<T: Subcommand> {
    #[command(subcommand)]
    pub cmd: T,
    #[command(flatten)]
    pub conn: Conn,
}

/// A single command talking to the server: its arguments plus the connection options.
#[derive(Debug, Args)]
pub struct Leaf<T: Args> {
    #[command(flatten)]
    pub args: T,
    #[command(flatten)]
    pub conn: Conn,
}

/// How to reach the server, and how to print its answers.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server options")]
pub struct Conn {
    /// URL of the Jeton server
    #[arg(long, global = true, env = "JETON_SERVER", value_name = "URL", default_value = DEFAULT_SERVER)]
    pub server: String,

    /// API key (operator or team admin), or a user token for `jeton me`, `jeton logout` and
    /// `jeton client`. Without one, the operator key is read from <DATA_DIR>/operator.key when
    /// that file exists
    #[arg(
        long,
        global = true,
        env = "JETON_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub key: Option<String>,

    /// The server's data directory, where `jeton serve` wrote operator.key
    #[arg(long, global = true, env = "JETON_DATA_DIR", value_name = "DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Print the server's answer as JSON (for scripts)
    #[arg(long, global = true)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command but the local ones (`serve`, `completions`, `man`) takes --server, --key,
    /// --data-dir and --json (an argument of the same id in a subcommand would silently shadow a
    /// global option).
    #[test]
    fn every_remote_command_takes_the_connection_options() {
        fn leaves(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
            let subs: Vec<_> = cmd
                .get_subcommands()
                .filter(|s| s.get_name() != "help")
                .collect();
            if subs.is_empty() {
                out.push((path.clone(), cmd.clone()));
            }
            for sub in subs {
                leaves(sub, format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut cli = Cli::command();
        cli.build();
        let mut all = Vec::new();
        leaves(&cli, "jeton".into(), &mut all);
        assert!(all.len() > 10, "{} commands", all.len());
        let local = ["jeton serve", "jeton completions", "jeton man"];
        for (path, cmd) in all.iter().filter(|(p, _)| !local.contains(&p.as_str())) {
            for option in ["server", "key", "data-dir", "json"] {
                let found = cmd.get_arguments().any(|a| {
                    a.get_long() == Some(option) && a.get_id() == option.replace('-', "_").as_str()
                });
                assert!(found, "`{path}` lacks --{option}");
            }
            let about = cmd.get_about().map(ToString::to_string).unwrap_or_default();
            assert!(!about.trim().is_empty(), "`{path}` has no one-line help");
        }
    }

    /// One vocabulary: a team is always named by an option ending in `team` (`--team`,
    /// `--to-team`, `--into-team`), never by position; `--from`/`--to` are always dates.
    #[test]
    fn teams_are_options_and_from_to_are_dates() {
        fn walk(cmd: &clap::Command, path: &str, found: &mut usize) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                let value = a.get_value_names().map(|v| v.join(" ")).unwrap_or_default();
                if id.ends_with("team") || value == "TEAM" {
                    *found += 1;
                    let long = a.get_long().unwrap_or_default();
                    assert!(
                        long.ends_with("team"),
                        "`{path}` takes a team as {:?}, not as --…team",
                        a.get_long().map_or(format!("<{id}>"), |l| format!("--{l}"))
                    );
                }
                if matches!(a.get_long(), Some("from" | "to")) {
                    assert_eq!(value, "DATE", "`{path}` --{id} is not a date");
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), found);
            }
        }
        let mut cli = Cli::command();
        cli.build();
        let mut found = 0;
        walk(&cli, "jeton", &mut found);
        assert!(found > 20, "{found} team arguments");
    }

    #[test]
    fn connection_options_go_before_or_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "jeton",
            "products",
            "--json",
            "list",
            "--server",
            "http://h:1",
        ])
        .unwrap();
        let Command::Products(group) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert!(group.conn.json);
        assert_eq!(group.conn.server, "http://h:1");
    }
}
