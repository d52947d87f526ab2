//! `jeton invitations …`: listing and resending a team's invitations, and accepting one
//! (R-USR-3).

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use jeton_api::{AcceptInvitation, Invitation, InvitationStatus};

use super::account::PasswordArgs;
use super::output::{self, table};
use super::{Ctx, teams};

#[derive(Debug, Subcommand)]
pub enum InvitationsCmd {
    /// List a team's open invitations (pending and expired)
    List {
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
    },
    /// Send an invitation again: a new link valid 7 days; the old link stops working
    Resend {
        /// The invitation's id (`jeton invitations list` shows them)
        #[arg(value_name = "ID")]
        id: i64,
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
    },
    /// Accept an invitation and choose your password (no API key needed)
    #[command(
        after_help = "SECRET is the `secret` of the link in the invitation email; the \
        whole link may be given instead. The password (8 to 256 characters; for an existing \
        account, its password) is read with --password-stdin or from JETON_PASSWORD.\n\n\
        Example:\n  printf %s \"$PW\" | jeton invitations accept 'https://jeton.example.com/invitations/accept?secret=…' --password-stdin"
    )]
    Accept {
        /// The secret from the invitation link, or the whole link
        #[arg(value_name = "SECRET")]
        secret: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
}

pub async fn run(cmd: InvitationsCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        InvitationsCmd::List { team } => {
            let team = teams::named(ctx, &team).await?;
            let list = ctx.client.invitations(team.id).await?;
            ctx.out.print(&list, |l| list_table(&team, l))
        }
        InvitationsCmd::Resend { id, team } => {
            let team = teams::resolve(ctx, &team).await?;
            let invitation = ctx.client.resend_invitation(team, id).await?;
            ctx.out.print(&invitation, |i| resent(id, i))
        }
        InvitationsCmd::Accept { secret, password } => {
            let secret = secret_of(&secret)?;
            let password = password.read()?;
            let accepted = ctx
                .client
                .accept_invitation(&AcceptInvitation { secret, password })
                .await
                .map_err(|e| match e.code() {
                    Some("invitation_expired" | "invitation_superseded") => anyhow!(
                        "{e}\nhint: ask a team admin for a new link \
                         (`jeton invitations resend ID --team TEAM`)"
                    ),
                    _ => e.into(),
                })?;
            ctx.out.print(&accepted, |a| {
                format!(
                    "Accepted: user {} is now active on team {}. Sign in with \
                     `jeton login --email EMAIL --password-stdin`.",
                    a.user_id, a.team_id
                )
            })
        }
    }
}

/// The secret itself, or the `secret` query parameter of an invitation link.
pub fn secret_of(given: &str) -> Result<String> {
    let given = given.trim();
    let secret = if given.contains("://") || given.contains('?') {
        let query = given.split_once('?').map(|(_, q)| q).unwrap_or("");
        let query = query.split('#').next().unwrap_or("");
        let value = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("secret="))
            .ok_or_else(|| anyhow!("the link {given:?} holds no secret=… part"))?;
        percent_decode(value)
    } else {
        given.to_string()
    };
    if secret.is_empty() {
        bail!("the invitation secret is empty: give the secret or the whole link from the email");
    }
    Ok(secret)
}

/// `%XX` escapes and `+` (a space) of a query value; malformed escapes stay as they are.
fn percent_decode(value: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn resent(id: i64, i: &Invitation) -> String {
    let who = output::person(&i.name, &i.email);
    let until = output::time(&i.expires_at);
    if i.id == id {
        format!(
            "Resent invitation {id} to {who}: the new link works until {until}; the old one no \
             longer does."
        )
    } else {
        format!(
            "Resent invitation {id} to {who} as invitation {}: its link works until {until}; \
             the old link no longer does.",
            i.id
        )
    }
}

fn status(i: &Invitation) -> String {
    match i.status {
        InvitationStatus::Expired => "expired: resend it".into(),
        other => output::invitation_status(other).into(),
    }
}

fn list_table(team: &teams::Named, list: &[Invitation]) -> String {
    if list.is_empty() {
        return format!("No open invitations on team {team}.");
    }
    let mut t = table(
        &[
            "id", "user", "name", "email", "status", "sent", "expires", "emailed",
        ],
        &[0, 1],
    );
    for i in list {
        t.add_row(vec![
            i.id.to_string(),
            i.user_id.to_string(),
            i.name.clone(),
            i.email.clone(),
            status(i),
            output::time(&i.created_at),
            output::time(&i.expires_at),
            if i.emailed {
                "yes".into()
            } else {
                "no (import)".to_string()
            },
        ]);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_taken_alone_or_from_the_link() {
        assert_eq!(secret_of(" abc123 ").unwrap(), "abc123");
        assert_eq!(
            secret_of("http://jeton.test/invitations/accept?secret=abc123").unwrap(),
            "abc123"
        );
        assert_eq!(
            secret_of("https://j.example/invitations/accept?x=1&secret=a%2Bb+c#top").unwrap(),
            "a+b c"
        );
        assert_eq!(percent_decode("100%"), "100%", "a broken escape stays");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%é%C3%A9"), "%éé", "never cuts a character");
        let err = secret_of("https://j.example/invitations/accept?x=1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no secret"), "{err}");
        assert!(secret_of("  ").is_err());
    }
}
