//! `jeton outbox`: the emails the server queued, sent or gave up on (R-NOT-2; operator), and
//! `jeton outbox retry ID` to send one it gave up on again.

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use jeton_api::{OutboxMessage, OutboxQuery};

use super::Ctx;
use super::output::{self, table};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct OutboxArgs {
    #[command(subcommand)]
    pub cmd: Option<OutboxCmd>,
    /// Only messages in this state
    #[arg(long, value_parser = ["pending", "sent", "failed"])]
    pub status: Option<String>,
    /// Only messages to this address
    #[arg(long, value_name = "EMAIL")]
    pub recipient: Option<String>,
    /// At most this many, newest first [server default: 100, at most 1000]
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// Send a failed email again, once its cause is fixed (it is queued at once, with a fresh
    /// count of attempts)
    Retry {
        /// The message's id (`jeton outbox --status failed` lists them)
        #[arg(value_name = "ID", required_unless_present = "all_failed")]
        id: Option<i64>,
        /// Every failed message (after an outage of the relay longer than the sender tries)
        #[arg(long, conflicts_with = "id")]
        all_failed: bool,
    },
}

pub async fn run(args: OutboxArgs, ctx: &Ctx) -> Result<()> {
    if let Some(OutboxCmd::Retry {
        all_failed: true, ..
    }) = args.cmd
    {
        let requeued = ctx.client.retry_failed_outbox_messages().await?;
        return ctx.out.print(&requeued, |r| match r.queued {
            0 => "No failed messages: nothing to send again.".to_string(),
            n => format!(
                "{n} failed message(s) queued again; `jeton outbox --status pending` lists them."
            ),
        });
    }
    if let Some(OutboxCmd::Retry { id: Some(id), .. }) = args.cmd {
        let message = ctx
            .client
            .retry_outbox_message(id)
            .await
            .map_err(|e| match e.code() {
                Some("message_not_failed") => anyhow!(
                    "{e}\nhint: `jeton outbox --status failed` lists the messages that can be retried"
                ),
                _ => e.into(),
            })?;
        return ctx.out.print(&message, |m| {
            format!(
                "Message {} to {} is queued again; `jeton outbox --recipient {}` shows when it is sent.",
                m.id, m.to, m.to
            )
        });
    }
    let query = OutboxQuery {
        status: args.status,
        to: args.recipient,
        limit: args.limit,
    };
    let messages = ctx.client.outbox(&query).await?;
    ctx.out.print(&messages, |m| list_table(m, args.limit))
}

fn list_table(messages: &[OutboxMessage], limit: Option<u32>) -> String {
    if messages.is_empty() {
        return "No messages.".into();
    }
    let mut t = table(
        &[
            "id",
            "created",
            "to",
            "kind",
            "status",
            "attempts",
            "subject",
            "sent / error",
        ],
        &[0, 5],
    );
    for m in messages {
        let outcome = match (&m.sent_at, &m.last_error) {
            (Some(at), _) => output::time(at),
            (None, Some(error)) => error.clone(),
            (None, None) => "-".into(),
        };
        t.add_row(vec![
            m.id.to_string(),
            output::time(&m.created_at),
            m.to.clone(),
            m.kind.clone(),
            m.status.clone(),
            m.attempts.to_string(),
            m.subject.clone(),
            outcome,
        ]);
    }
    let shown = messages.len();
    let mut footer = format!("{shown} message(s), newest first; --json shows their bodies.");
    if limit.is_some_and(|l| shown >= l as usize) {
        footer.push_str(" The limit was reached: raise --limit to see more.");
    }
    format!("{t}\n{footer}")
}
