//! `jeton login`, `jeton logout` and `jeton me …`: a user's own account — signing in for a user
//! token, signing out of it or of all of them (R-AUTH-1), and the downloads view (R-ACC-4). Also
//! how every command that needs a password reads it.

use std::io::{IsTerminal, Read};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Args, Subcommand};
use jeton_api::{Me, MyProduct, TokenRequest, TokensEnded};
use jeton_client::ClientError;

use super::output::{self, fields, table};
use super::{Ctx, entitlements};

/// The environment variable a password may come from.
pub const PASSWORD_ENV: &str = "JETON_PASSWORD";

/// How a command gets a password: never from the command line itself.
#[derive(Debug, Clone, Args)]
pub struct PasswordArgs {
    /// Read the password from standard input (a trailing newline is dropped), e.g.
    /// `printf %s "$PW" | jeton login …`. Without it, the password is read from JETON_PASSWORD
    /// (`jeton login` asks for it on a terminal when neither is given)
    #[arg(long)]
    pub password_stdin: bool,

    /// Refused: a password on the command line is visible to other users of the machine
    #[arg(long, hide = true, value_name = "PASSWORD")]
    pub password: Option<String>,
}

impl PasswordArgs {
    /// The password from standard input or `JETON_PASSWORD`.
    pub fn read(&self) -> Result<String> {
        let env = std::env::var(PASSWORD_ENV).ok();
        self.choose(read_stdin, env, Ask::<Prompt>::Never)
    }

    /// Like [`PasswordArgs::read`]; when neither gives a password and standard input is a
    /// terminal, asks for it there without echoing it.
    pub fn read_or_ask(&self, question: &str) -> Result<String> {
        let ask = if std::io::stdin().is_terminal() {
            Ask::Terminal(|| rpassword::prompt_password(question))
        } else {
            Ask::NoTerminal
        };
        self.choose(read_stdin, std::env::var(PASSWORD_ENV).ok(), ask)
    }

    fn choose(
        &self,
        stdin: impl FnOnce() -> std::io::Result<String>,
        env: Option<String>,
        ask: Ask<impl FnOnce() -> std::io::Result<String>>,
    ) -> Result<String> {
        if self.password.is_some() {
            bail!(
                "a password given on the command line is visible to other users of this machine \
                 (and kept in shell history): pipe it in with --password-stdin, or set \
                 {PASSWORD_ENV}"
            );
        }
        if self.password_stdin {
            let text = stdin().context("cannot read the password from standard input")?;
            let password = text.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                bail!("--password-stdin: standard input holds no password");
            }
            return Ok(password.to_string());
        }
        if let Some(password) = env.filter(|p| !p.is_empty()) {
            return Ok(password);
        }
        let ask = match ask {
            Ask::Terminal(ask) => ask,
            Ask::Never => bail!(
                "no password: pipe it in with --password-stdin, or set {PASSWORD_ENV} \
                 (a password is never taken from the command line)"
            ),
            Ask::NoTerminal => bail!(
                "no password: standard input is not a terminal to ask on; pipe the password in \
                 with --password-stdin, or set {PASSWORD_ENV} (a password is never taken from \
                 the command line)"
            ),
        };
        let text = ask().context("cannot read the password from the terminal")?;
        let password = text.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            bail!("no password was typed");
        }
        Ok(password.to_string())
    }
}

/// Whether a command may ask for the password when nothing else gives it.
enum Ask<F> {
    /// It never asks (scripts' commands).
    Never,
    /// It would, but standard input is not a terminal.
    NoTerminal,
    /// It asks on the terminal, without echo.
    Terminal(F),
}

type Prompt = fn() -> std::io::Result<String>;

fn read_stdin() -> std::io::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map(|_| text)
}

#[derive(Debug, Args)]
#[command(
    after_help = "The password comes from standard input with --password-stdin, else from \
    JETON_PASSWORD, else it is asked for on the terminal (not echoed); without a terminal one of \
    the first two is needed.\n\nExamples:\n  jeton login --email jane@example.com\n  \
    printf %s \"$PW\" | jeton login --email jane@example.com --password-stdin"
)]
pub struct LoginArgs {
    /// Your email address
    #[arg(long)]
    pub email: String,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// End every token of yours, on every device, not only this one
    #[arg(long)]
    pub everywhere: bool,
}

#[derive(Debug, Subcommand)]
pub enum MeCmd {
    /// Show who the user token given with --key belongs to
    Show,
    /// List the products you may download and install, with their downloads
    Products,
}

/// `jeton login`: prints the user token alone on stdout (for `$(…)`), what it is on stderr.
pub async fn login(args: LoginArgs, ctx: &Ctx) -> Result<()> {
    let password = args
        .password
        .read_or_ask(&format!("Password for {}: ", args.email.trim()))?;
    let request = TokenRequest {
        email: args.email.trim().to_string(),
        password,
    };
    let token = ctx.client.user_token(&request).await.map_err(|e| {
        if e.code() == Some("invalid_credentials") {
            anyhow!(
                "{e}\nhint: check the email and password; a person who was invited signs in \
                 only after accepting the invitation (`jeton invitations accept`)"
            )
        } else {
            e.into()
        }
    })?;
    if !ctx.out.is_json() {
        eprintln!(
            "Signed in as user {}. This token is valid until {}; give it as --key (or \
             JETON_KEY) to `jeton me products`:",
            token.user_id,
            output::time(&token.expires_at)
        );
    }
    ctx.out.print(&token, |t| t.token.clone())
}

/// `jeton logout`: ends the user token given with --key, or with `--everywhere` all of the
/// user's tokens. Either way the token is refused from now on.
pub async fn logout(args: LogoutArgs, ctx: &Ctx) -> Result<()> {
    if args.everywhere {
        let ended = ctx
            .client
            .sign_out_everywhere()
            .await
            .map_err(user_token_hint)?;
        return ctx.out.print(&ended, signed_out_everywhere);
    }
    ctx.client.sign_out_token().await.map_err(user_token_hint)?;
    let done = LoggedOut { signed_out: true };
    ctx.out.print(&done, |_| {
        "Signed out: this token no longer works. Your other tokens still do \
         (`jeton logout --everywhere` ends them all)."
            .into()
    })
}

/// What `logout --json` prints (the server answers 204, no body).
#[derive(Debug, serde::Serialize)]
struct LoggedOut {
    signed_out: bool,
}

/// The line for a user signed out everywhere, by themselves or by the operator.
pub fn signed_out_everywhere(ended: &TokensEnded) -> String {
    let tokens = match ended.ended {
        1 => "1 token".to_string(),
        n => format!("{n} tokens"),
    };
    format!(
        "Signed user {} out everywhere: {tokens} ended; each is refused from now on. \
         Signing in again with the password gives a new one.",
        ended.user_id
    )
}

pub async fn me(cmd: MeCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        MeCmd::Show => {
            let me = ctx.client.me().await.map_err(user_token_hint)?;
            ctx.out.print(&me, describe)
        }
        MeCmd::Products => {
            let products = ctx.client.my_products().await.map_err(user_token_hint)?;
            ctx.out.print(&products, |p| downloads(p))
        }
    }
}

/// `/v1/me…` needs a user token: say how to get one when the key is missing or not one.
fn user_token_hint(e: ClientError) -> anyhow::Error {
    match e.status() {
        Some(401 | 403) => anyhow!(
            "{e}\nhint: give your user token as --key or JETON_KEY; `jeton login --email EMAIL \
             --password-stdin` prints one"
        ),
        _ => e.into(),
    }
}

fn describe(me: &Me) -> String {
    fields(&[
        ("user", me.user_id.to_string()),
        ("name", me.name.clone()),
        ("email", me.email.clone()),
        (
            "teams",
            if me.teams.is_empty() {
                "- (not a Flex user of any team)".to_owned()
            } else {
                me.teams
                    .iter()
                    .map(|t| format!("{} (id {})", t.name, t.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
    ])
}

fn downloads(products: &[MyProduct]) -> String {
    if products.is_empty() {
        return "No products for you yet: your administrator chooses them.".into();
    }
    let mut t = table(&["key", "name", "access", "teams", "downloads"], &[]);
    for p in products {
        let items = if p.items.is_empty() {
            "-".to_string()
        } else {
            p.items
                .iter()
                .map(|i| format!("{} {}: {}", i.version, i.platform, i.url))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let teams = if p.teams.is_empty() {
            "-".to_string()
        } else {
            output::ids(&p.teams)
        };
        t.add_row(vec![
            p.key.clone(),
            p.name.clone(),
            entitlements::kind(p.access).to_string(),
            teams,
            items,
        ]);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(stdin: bool, on_command_line: Option<&str>) -> PasswordArgs {
        PasswordArgs {
            password_stdin: stdin,
            password: on_command_line.map(String::from),
        }
    }

    fn no_stdin() -> std::io::Result<String> {
        panic!("stdin must not be read")
    }

    fn never() -> Ask<Prompt> {
        Ask::Never
    }

    #[test]
    fn login_asks_on_a_terminal_only_when_nothing_else_gives_the_password() {
        let asked = args(false, None)
            .choose(
                no_stdin,
                None,
                Ask::Terminal(|| Ok("typed pw\n".to_string())),
            )
            .unwrap();
        assert_eq!(asked, "typed pw");
        let from_env = args(false, None)
            .choose(
                no_stdin,
                Some("env-pw".into()),
                Ask::Terminal(|| -> std::io::Result<String> { panic!("not asked") }),
            )
            .unwrap();
        assert_eq!(from_env, "env-pw");
        let err = args(false, None)
            .choose(no_stdin, None, Ask::<Prompt>::NoTerminal)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a terminal")
                && err.contains("--password-stdin")
                && err.contains(PASSWORD_ENV),
            "{err}"
        );
        let err = args(false, None)
            .choose(no_stdin, None, Ask::Terminal(|| Ok("\n".to_string())))
            .unwrap_err();
        assert!(err.to_string().contains("no password was typed"), "{err}");
    }

    #[test]
    fn passwords_come_from_stdin_or_the_environment() {
        let from_stdin = args(true, None)
            .choose(
                || Ok("correct horse\r\n".into()),
                Some("env-pw".into()),
                never(),
            )
            .unwrap();
        assert_eq!(
            from_stdin, "correct horse",
            "stdin wins, without its newline"
        );
        let from_env = args(false, None)
            .choose(no_stdin, Some("env pw ".into()), never())
            .unwrap();
        assert_eq!(from_env, "env pw ", "kept as set");
        let err = args(true, None)
            .choose(|| Ok("\n".into()), None, never())
            .unwrap_err();
        assert!(err.to_string().contains("no password"), "{err}");
        let err = args(false, None)
            .choose(no_stdin, Some(String::new()), never())
            .unwrap_err();
        assert!(
            err.to_string().contains("--password-stdin") && err.to_string().contains(PASSWORD_ENV),
            "{err}"
        );
    }

    #[test]
    fn a_password_on_the_command_line_is_refused() {
        let err = args(true, Some("hunter22"))
            .choose(no_stdin, Some("env".into()), never())
            .unwrap_err()
            .to_string();
        assert!(err.contains("visible to other users"), "{err}");
        assert!(
            !err.contains("hunter22"),
            "the password is not repeated: {err}"
        );
    }
}
