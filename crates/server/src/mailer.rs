//! R-NOT-2: the mail sender. Changes write their emails to the outbox in their own transaction
//! (`jeton_store::outbox`); this task delivers them over SMTP.
//!
//! * It wakes when a handler says it queued mail ([`AppState::mail_queued`]) and otherwise every
//!   few seconds of real time, and sends what is due at the injected clock's "now".
//! * It **claims** a bounded batch before sending (a lease on the clock), so several servers on
//!   one database never send the same message at the same time, and a server that dies mid-send
//!   only delays its claimed messages until the lease runs out.
//!   Claims are on the injected clock like everything else: with `--test-clock`, moving the clock
//!   past the lease while a message is on the wire makes its claim look abandoned to the other
//!   servers, exactly as if the send had hung that long, and the message may go out twice.
//! * A failed attempt is retried with exponential backoff on the clock
//!   (`jeton_core::mail::retry_at`); after `MAX_SEND_ATTEMPTS` the message is marked `failed` and
//!   stays visible in `GET /v1/outbox`.
//! * Every message carries a `Message-ID` derived from its outbox row, so that the rare resend
//!   (SMTP accepted it, then the server died before recording that) can be recognised by the
//!   receiver as the same message.
//!
//! Message bodies are never logged: invitations carry their accept secret.

use std::time::{Duration, SystemTime};

use jeton_core::mail::retry_at;
use jeton_store::outbox::OutboxRecord;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::config::SmtpSettings;
use crate::state::AppState;

/// The SMTP client: one connection per message (lettre's pool is not enabled), so a server that
/// went away and came back is simply reconnected to.
pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// How often (real time) the sender looks for due messages when nothing woke it: retries become
/// due as the clock passes, and other servers may have queued mail.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Most messages claimed at once.
pub const BATCH: usize = 20;
/// How long (on the clock) a claim keeps other senders away from a message.
pub const LEASE: chrono::Duration = chrono::Duration::minutes(5);
/// One SMTP command may take at most this long (real time) …
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// … and one whole message this long: a message is started only while at least half of its
/// claim's [`LEASE`] is left, so it is done well before another server could take it.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Recording a delivery is retried this often when the database does not answer.
const RECORD_TRIES: u32 = 3;

/// The SMTP transport for `settings`, or a clear error for a URL it cannot use. `jeton serve`
/// calls this before starting, so a bad `--smtp-url` stops it at once.
pub fn transport(settings: &SmtpSettings) -> anyhow::Result<Transport> {
    let url = settings.url.expose_secret();
    let shown = jeton_store::redact_url(url);
    let expected = "expected smtp://host:port (plain), smtp://host?tls=required (STARTTLS) or \
                    smtps://host (TLS), with user:password@ when the server needs a login";
    let builder = Transport::from_url(url).map_err(|e| {
        // lettre files every URL problem under "Connection error"; nothing was connected yet.
        let e = e.to_string();
        let e = e.trim_start_matches("Connection error: ");
        anyhow::anyhow!("invalid SMTP URL {shown:?}: {e}; {expected}")
    })?;
    // lettre accepts `smtp://` without a host, which could never connect.
    let authority = url.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or("")
    });
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    anyhow::ensure!(
        !host.is_empty() && !host.starts_with(':'),
        "invalid SMTP URL {shown:?}: it names no host; {expected}"
    );
    Ok(builder.timeout(Some(SMTP_TIMEOUT)).build())
}

/// The stable `Message-ID` of an outbox message: the same for every attempt to send it, and
/// distinct between installations (the row's creation time is part of it).
pub fn message_id(record: &OutboxRecord, domain: &str) -> String {
    format!(
        "<jeton.outbox.{}.{}@{domain}>",
        record.id,
        record.created_at.timestamp_micros()
    )
}

/// The background sender of one server.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// Right-hand side of Message-IDs: the sender address's domain.
    domain: String,
    /// Marks this sender's claims; random, so two servers never mistake each other's.
    claim_token: String,
    poll: Duration,
}

/// What became of one batch.
#[derive(Debug, Default, PartialEq, Eq)]
struct BatchOutcome {
    claimed: usize,
    /// The SMTP server could not be reached: the rest of the batch was handed back untried.
    unreachable: bool,
    /// The sender was asked to stop, or its claims grew old: the rest was handed back.
    cut_short: bool,
}

enum Attempt {
    Sent,
    /// The server answered with an error about this message (4xx/5xx).
    Refused(String),
    /// No answer about this message: connection, TLS, timeout, protocol.
    Unreachable(String),
    /// The message cannot be built (a bad stored address); retrying would not help.
    Invalid(String),
}

impl Mailer {
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<Mailer> {
        let transport = transport(settings)?;
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid sender address {:?}: {e}", settings.from))?;
        let mut token = [0u8; 16];
        getrandom::fill(&mut token).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(Mailer {
            transport,
            domain: from.email.domain().to_owned(),
            from,
            claim_token: hex::encode(token),
            poll: POLL_INTERVAL,
        })
    }

    /// Looks for due messages this often when nothing wakes it (default [`POLL_INTERVAL`]).
    pub fn poll_every(mut self, interval: Duration) -> Mailer {
        self.poll = interval.max(Duration::from_millis(10));
        self
    }

    /// Sends until `stop` turns true. A message being sent when it does is finished and
    /// recorded; the rest of its batch is handed back for any server to send.
    pub async fn run(self, state: AppState, mut stop: watch::Receiver<bool>) {
        tracing::info!(from = %self.from, "mail sender started");
        let mut ticker = tokio::time::interval(self.poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Full batches are followed at once by the next one, until the due mail is out.
            loop {
                if *stop.borrow() {
                    break;
                }
                let outcome = self.send_due(&state, &stop).await;
                if outcome.claimed < BATCH || outcome.unreachable || outcome.cut_short {
                    break;
                }
            }
            tokio::select! {
                _ = state.mail_wakeup.notified() => {}
                _ = ticker.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
        }
        tracing::info!("mail sender stopped");
    }

    /// Claims one batch of due messages and tries to send each.
    async fn send_due(&self, state: &AppState, stop: &watch::Receiver<bool>) -> BatchOutcome {
        let claimed_at = state.now();
        let batch = match state
            .store
            .claim_due_messages(claimed_at, LEASE, BATCH, &self.claim_token)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                state.metrics.mail_errors.inc();
                tracing::error!(error = %e, "cannot read the outbox; will try again");
                return BatchOutcome::default();
            }
        };
        let mut outcome = BatchOutcome {
            claimed: batch.len(),
            ..BatchOutcome::default()
        };
        let mut messages = batch.into_iter();
        for message in messages.by_ref() {
            // Half the lease is left for the send itself: a claim must never run out while the
            // message is on the wire, or another server could send it too.
            if *stop.borrow() || state.now() >= claimed_at + LEASE / 2 {
                outcome.cut_short = true;
                self.release(state, &message).await;
                break;
            }
            match self.attempt(&message).await {
                Attempt::Sent => self.record_sent(state, &message).await,
                Attempt::Refused(error) => self.record_failure(state, &message, &error).await,
                Attempt::Invalid(error) => self.give_up(state, &message, &error).await,
                Attempt::Unreachable(error) => {
                    self.record_failure(state, &message, &error).await;
                    // The others would fail the same way: they stay due and are tried one per
                    // wake-up, without spending attempts, until the server answers again.
                    outcome.unreachable = true;
                    break;
                }
            }
        }
        for message in messages {
            self.release(state, &message).await;
        }
        outcome
    }

    fn compose(&self, record: &OutboxRecord) -> Result<Message, String> {
        let address: Address = record
            .to
            .parse()
            .map_err(|e| format!("invalid recipient address: {e}"))?;
        let name = Some(record.to_name.trim().to_owned()).filter(|n| !n.is_empty());
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(name, address))
            .subject(record.subject.clone())
            .message_id(Some(message_id(record, &self.domain)))
            .date(SystemTime::from(record.created_at))
            // RFC 3834: no auto-replies (vacation notices) to a machine.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_owned(),
            ))
            .header(ContentType::TEXT_PLAIN)
            // A String body: lettre picks 7bit for plain ASCII, quoted-printable otherwise.
            .body(record.body.clone())
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    async fn attempt(&self, record: &OutboxRecord) -> Attempt {
        let message = match self.compose(record) {
            Ok(m) => m,
            Err(e) => return Attempt::Invalid(e),
        };
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => Attempt::Sent,
            Ok(Err(e)) if e.is_transient() || e.is_permanent() => Attempt::Refused(e.to_string()),
            Ok(Err(e)) => Attempt::Unreachable(e.to_string()),
            Err(_) => Attempt::Unreachable(format!(
                "the SMTP server did not finish within {SEND_TIMEOUT:?}"
            )),
        }
    }

    async fn record_sent(&self, state: &AppState, record: &OutboxRecord) {
        state
            .metrics
            .mail_sent
            .get_or_create(&crate::metrics::KindLabels {
                kind: record.kind.clone(),
            })
            .inc();
        for attempt in 1..=RECORD_TRIES {
            match state
                .store
                .mark_message_sent(record.id, &self.claim_token, state.now())
                .await
            {
                Ok(true) => {
                    tracing::info!(outbox_id = %record.id, kind = %record.kind, "email sent");
                    return;
                }
                Ok(false) => {
                    // Only when the claim ran out mid-send and another server took the message.
                    tracing::warn!(
                        outbox_id = %record.id,
                        "email sent, but this server no longer held its claim: it may arrive twice \
                         (with the same Message-ID)"
                    );
                    return;
                }
                Err(e) if attempt < RECORD_TRIES => {
                    tracing::warn!(outbox_id = %record.id, error = %e, "cannot record a sent email; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    state.metrics.mail_errors.inc();
                    tracing::error!(
                        outbox_id = %record.id,
                        error = %e,
                        "email sent but not recorded: it will be sent again (same Message-ID) \
                         when its claim runs out"
                    );
                }
            }
        }
    }

    async fn record_failure(&self, state: &AppState, record: &OutboxRecord, error: &str) {
        let Some(at) = retry_at(state.now(), record.attempts) else {
            return self.give_up(state, record, error).await;
        };
        state.metrics.mail_failures.inc();
        tracing::warn!(
            outbox_id = %record.id,
            kind = %record.kind,
            attempt = record.attempts + 1,
            retry_at = %at,
            error,
            "email not sent; will retry"
        );
        if let Err(e) = state
            .store
            .mark_message_failed(record.id, &self.claim_token, error, Some(at))
            .await
        {
            state.metrics.mail_errors.inc();
            tracing::error!(outbox_id = %record.id, error = %e, "cannot record a failed attempt");
        }
    }

    async fn give_up(&self, state: &AppState, record: &OutboxRecord, error: &str) {
        state.metrics.mail_failures.inc();
        state.metrics.mail_given_up.inc();
        tracing::error!(
            outbox_id = %record.id,
            kind = %record.kind,
            attempts = record.attempts + 1,
            error,
            "giving up on an email: it stays in the outbox as failed"
        );
        if let Err(e) = state
            .store
            .mark_message_failed(record.id, &self.claim_token, error, None)
            .await
        {
            state.metrics.mail_errors.inc();
            tracing::error!(outbox_id = %record.id, error = %e, "cannot record a failed email");
        }
    }

    async fn release(&self, state: &AppState, record: &OutboxRecord) {
        if let Err(e) = state
            .store
            .release_message(record.id, &self.claim_token)
            .await
        {
            // Harmless: the claim runs out by itself.
            tracing::warn!(outbox_id = %record.id, error = %e, "cannot hand back a claimed email");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use jeton_core::TeamId;
    use jeton_store::outbox::OutboxStatus;
    use secrecy::SecretString;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn settings(url: &str) -> SmtpSettings {
        SmtpSettings {
            url: SecretString::from(url.to_owned()),
            from: "Jeton <jeton@example.com>".into(),
        }
    }

    #[test]
    fn r_not_2_message_id_is_stable_per_outbox_row() {
        let mailer = Mailer::new(&settings("smtp://127.0.0.1:2525")).unwrap();
        let record = OutboxRecord {
            id: jeton_core::MessageId(42),
            team: TeamId(1),
            kind: "invitation".into(),
            to: "jane@example.com".into(),
            to_name: "Jane Doé".into(),
            subject: "You are invited".into(),
            body: "Hello Jane Doé,\n\n  http://jeton.test/invitations/accept?secret=abc\n".into(),
            status: OutboxStatus::Pending,
            attempts: 0,
            created_at: at("2026-01-05T08:00:00Z"),
            next_attempt_at: at("2026-01-05T08:00:00Z"),
            sent_at: None,
            last_error: None,
        };
        let id = message_id(&record, "example.com");
        assert_eq!(id, "<jeton.outbox.42.1767600000000000@example.com>");
        let one = String::from_utf8(mailer.compose(&record).unwrap().formatted()).unwrap();
        let two = String::from_utf8(mailer.compose(&record).unwrap().formatted()).unwrap();
        assert_eq!(one, two, "every attempt sends the same bytes");
        assert!(one.contains(&format!("Message-ID: {id}\r\n")), "{one}");
        assert!(
            one.contains("Date: Mon, 05 Jan 2026 08:00:00 +0000\r\n"),
            "{one}"
        );
        assert!(
            one.contains("Content-Type: text/plain; charset=utf-8\r\n"),
            "{one}"
        );
        assert!(
            one.contains("Content-Transfer-Encoding: quoted-printable\r\n"),
            "{one}"
        );
        assert!(one.contains("Auto-Submitted: auto-generated\r\n"), "{one}");
        let other = OutboxRecord {
            id: jeton_core::MessageId(43),
            ..record.clone()
        };
        assert_ne!(message_id(&other, "example.com"), id);
        let bad = OutboxRecord {
            to: "not an address".into(),
            ..record
        };
        assert!(mailer.compose(&bad).is_err());
    }

    #[test]
    fn bad_smtp_urls_are_refused_with_the_expected_form() {
        for url in [
            "nonsense",
            "http://mail.example.com",
            "smtp://",
            "smtp://:25",
        ] {
            let err = transport(&settings(url)).unwrap_err().to_string();
            assert!(err.contains("invalid SMTP URL"), "{url}: {err}");
            assert!(err.contains("smtp://host:port"), "{url}: {err}");
        }
        let err = transport(&settings("ftp://user:hunter2@mail.example.com"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "the password is not shown: {err}");
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.com?tls=required",
            "smtps://user:pass@mail.example.com",
        ] {
            assert!(transport(&settings(url)).is_ok(), "{url}");
        }
    }
}
