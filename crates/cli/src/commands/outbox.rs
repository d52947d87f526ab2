//! `jeton outbox`: the emails the server queued, sent or gave up on (R-NOT-2; operator).

use anyhow::Result;
use clap::Args;
use jeton_api::{OutboxMessage, OutboxQuery};

use super::Ctx;
use super::output::{self, table};

#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// Only messages in this state
    #[arg(long, value_parser = ["pending", "sent", "failed"])]
    pub status: Option<String>,
    /// Only messages to this address
    #[arg(long, value_name = "EMAIL")]
    pub to: Option<String>,
    /// At most this many, newest first [server default: 100, at most 1000]
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
}

pub async fn run(args: OutboxArgs, ctx: &Ctx) -> Result<()> {
    let query = OutboxQuery {
        status: args.status,
        to: args.to,
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
