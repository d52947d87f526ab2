//! The product-client layer: what a desktop product does with Jeton (R-SES).
//!
//! A [`ProductClient`] wraps a [`Client`] holding the user's token. [`ProductClient::sign_in`]
//! opens a session and returns a [`SessionHandle`], which keeps the latest verified lease. The
//! product then heartbeats — by hand with [`SessionHandle::heartbeat`], or with a background task
//! from [`SessionHandle::spawn_heartbeats`] — reports results, and signs out.
//!
//! Every heartbeat comes to a [`SessionStatus`]:
//!
//! * [`SessionStatus::Online`]: the server answered and renewed the lease.
//! * [`SessionStatus::Offline`]: the server could not be reached (or answered with a server
//!   error). The product may keep working while its last lease verifies: until the lease's
//!   `valid_until`, at most 24 hours after the last contact (R-SES-7).
//! * [`SessionStatus::Stopped`]: the product must stop — the team could not pay the next period
//!   (`insufficient_tokens`), the server ended the session (`session_ended`: sign in again), the
//!   lease expired while offline (`lease_expired`), or the session was signed out.
//!
//! Time comes from a [`Clock`] (the system clock unless [`ProductClient::with_clock`] says
//! otherwise), so tests move it instead of waiting a day; nothing here reads the wall clock.
//!
//! ```no_run
//! # async fn demo() -> Result<(), jeton_client::ClientError> {
//! use std::time::Duration;
//! use jeton_client::{Client, ProductClient, SessionStatus};
//!
//! let client = Client::new("http://127.0.0.1:8080", Some("user-token".into()));
//! let product = ProductClient::new(client);
//! let session = product.sign_in(1, "autocad", Some("2027.1"), Some("WS-0042")).await?;
//! let mut heartbeats = session.spawn_heartbeats(session.heartbeat_every());
//! // … the product runs; before each unit of work:
//! if let SessionStatus::Stopped { reason } = heartbeats.status() {
//!     eprintln!("stopping: {reason}");
//! }
//! heartbeats.stop().await;
//! session.sign_out().await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jeton_api::{
    AccessKind, Heartbeat, HeartbeatAnswer, NewResult, ResultCharged, SessionStarted, SignIn,
    SignedOut,
};
pub use jeton_core::{Clock, ManualClock, SystemClock};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::lease::{ALGORITHM, Lease, LeaseError, PublicKey};
use crate::{Client, ClientError};

/// How many times a sign-in is sent when the server cannot be reached; every attempt carries the
/// same idempotency key, so a retry never opens a second session.
const SIGN_IN_ATTEMPTS: u32 = 3;
/// The wait before the second attempt; it doubles for each further one.
const SIGN_IN_RETRY_DELAY: Duration = Duration::from_millis(200);

/// Signs a user in to products. Holds the client (with the user's token), the clock, and the
/// server's public lease key once known.
pub struct ProductClient {
    client: Client,
    clock: Arc<dyn Clock>,
    key: Mutex<Option<PublicKey>>,
    /// A key given by the product: never replaced by the server's.
    pinned: bool,
    retry_delay: Duration,
}

impl fmt::Debug for ProductClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProductClient")
            .field("server", &self.client.base_url())
            .field("pinned_key", &self.pinned)
            .finish_non_exhaustive()
    }
}

impl ProductClient {
    /// A product client for `client`, whose key must be a user token (`POST /v1/auth/token`).
    /// Time is the system clock; the lease key is fetched from the server at the first sign-in.
    pub fn new(client: Client) -> ProductClient {
        ProductClient {
            client,
            clock: Arc::new(SystemClock),
            key: Mutex::new(None),
            pinned: false,
            retry_delay: SIGN_IN_RETRY_DELAY,
        }
    }

    /// The same, deciding lease validity by `clock` (tests pass a [`ManualClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> ProductClient {
        self.clock = clock;
        self
    }

    /// The same, verifying leases with `key` (e.g. shipped with the product) instead of the key
    /// the server publishes: a server that signs with another key is not trusted.
    pub fn with_public_key(mut self, key: PublicKey) -> ProductClient {
        self.key = Mutex::new(Some(key));
        self.pinned = true;
        self
    }

    /// The same, waiting `delay` (then twice as long) between sign-in attempts.
    pub fn with_retry_delay(mut self, delay: Duration) -> ProductClient {
        self.retry_delay = delay;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The server's public lease key: the pinned one, or `GET /v1/lease-key` (fetched once).
    pub async fn public_key(&self) -> Result<PublicKey, ClientError> {
        if let Some(key) = *lock(&self.key) {
            return Ok(key);
        }
        let key = self.fetch_key().await?;
        *lock(&self.key) = Some(key);
        Ok(key)
    }

    async fn fetch_key(&self) -> Result<PublicKey, ClientError> {
        let published = self.client.lease_key().await?;
        if !published.algorithm.eq_ignore_ascii_case(ALGORITHM) {
            return Err(ClientError::Decode(format!(
                "the server at {} signs leases with {:?}; this client verifies {ALGORITHM} only",
                self.client.base_url(),
                published.algorithm
            )));
        }
        PublicKey::parse(&published.public_key).map_err(|e| {
            ClientError::Decode(format!(
                "the lease key published by {} is unusable: {e}",
                self.client.base_url()
            ))
        })
    }

    /// Signs the user in to `product` on `team` (R-SES-1). Refusals are [`ClientError::Api`] with
    /// the rule's code (`not_assigned`, `insufficient_tokens`, …). The lease in the answer is
    /// verified before the session is handed out; a server that cannot be reached is tried
    /// three times with the same idempotency key.
    pub async fn sign_in(
        &self,
        team: i64,
        product: &str,
        version: Option<&str>,
        machine: Option<&str>,
    ) -> Result<SessionHandle, ClientError> {
        let request = SignIn {
            team,
            product: product.to_string(),
            version: version.map(String::from),
            machine: machine.map(String::from),
        };
        let key = self.public_key().await?;
        let idempotency_key = idempotency_key();
        let mut delay = self.retry_delay;
        let mut attempt = 1;
        let started = loop {
            match self
                .client
                .sign_in(&request, idempotency_key.as_deref())
                .await
            {
                Err(ClientError::Transport(_)) if attempt < SIGN_IN_ATTEMPTS => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => break other?,
            }
        };
        let now = self.clock.now();
        let verified = match key.verify(&started.lease, now) {
            Err(LeaseError::BadSignature) if !self.pinned => {
                // The server may have a new key since it was fetched: fetch it once more.
                let fresh = self.fetch_key().await?;
                *lock(&self.key) = Some(fresh);
                fresh
                    .verify(&started.lease, now)
                    .map(|lease| (fresh, lease))
            }
            other => other.map(|lease| (key, lease)),
        };
        let (key, lease) = match verified {
            Ok(found) => found,
            Err(e) => {
                // Do not leave behind a session the product will not use.
                let _ = self.client.sign_out(started.id).await;
                return Err(ClientError::Decode(format!(
                    "the server at {} signed session {} in, but its lease does not verify ({e}); \
                     the session was signed out",
                    self.client.base_url(),
                    started.id
                )));
            }
        };
        Ok(SessionHandle::new(
            self.client.clone(),
            self.clock.clone(),
            key,
            &request,
            started,
            lease,
        ))
    }
}

/// A random idempotency key for one sign-in (`None` if the system has no randomness, which
/// only costs the retry its protection against a second session).
fn idempotency_key() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("signin-{hex}"))
}

/// Why a product must stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The team's balance could not pay the next usage period; the server ended the session
    /// (R-SES-3).
    InsufficientTokens,
    /// The server ended the session (no heartbeat for too long, access taken away, …): sign in
    /// again to go on.
    SessionEnded,
    /// The server could not be reached and the last lease ran out.
    LeaseExpired { valid_until: DateTime<Utc> },
    /// The product signed out.
    SignedOut,
    /// The server refused the heartbeat for another reason (the user token is no longer valid,
    /// the session is not this user's, …).
    Refused { code: String, detail: String },
}

impl StopReason {
    /// A stable snake_case code: `insufficient_tokens`, `session_ended`, `lease_expired`,
    /// `signed_out`, or the server's code for other refusals.
    pub fn code(&self) -> &str {
        match self {
            StopReason::InsufficientTokens => "insufficient_tokens",
            StopReason::SessionEnded => "session_ended",
            StopReason::LeaseExpired { .. } => "lease_expired",
            StopReason::SignedOut => "signed_out",
            StopReason::Refused { code, .. } => code,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::InsufficientTokens => f.write_str(
                "the team has too few tokens for the next usage period; the session was ended",
            ),
            StopReason::SessionEnded => {
                f.write_str("the server ended the session; sign in again to go on")
            }
            StopReason::LeaseExpired { valid_until } => write!(
                f,
                "the server could not be reached and the offline lease expired at {}",
                valid_until.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            StopReason::SignedOut => f.write_str("signed out"),
            StopReason::Refused { code, detail } => write!(f, "{detail} (code {code})"),
        }
    }
}

/// Where a session stands, as of the last heartbeat and the clock's "now".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStatus {
    /// The last heartbeat (or the sign-in) reached the server; the lease it gave holds until
    /// `valid_until`.
    Online { valid_until: DateTime<Utc> },
    /// The server has not been reached since `since`; the product may keep working until the
    /// last lease's `valid_until`. `error` says what went wrong.
    Offline {
        valid_until: DateTime<Utc>,
        since: DateTime<Utc>,
        error: String,
    },
    /// The product must stop.
    Stopped { reason: StopReason },
}

impl SessionStatus {
    /// Whether the product may keep running.
    pub fn is_usable(&self) -> bool {
        !matches!(self, SessionStatus::Stopped { .. })
    }

    /// `online`, `offline` or `stopped`.
    pub fn name(&self) -> &'static str {
        match self {
            SessionStatus::Online { .. } => "online",
            SessionStatus::Offline { .. } => "offline",
            SessionStatus::Stopped { .. } => "stopped",
        }
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        match self {
            SessionStatus::Online { valid_until } => {
                write!(f, "online (lease valid until {})", time(valid_until))
            }
            SessionStatus::Offline {
                valid_until, error, ..
            } => write!(
                f,
                "offline, working on the lease until {} ({error})",
                time(valid_until)
            ),
            SessionStatus::Stopped { reason } => write!(f, "stopped: {reason}"),
        }
    }
}

/// An open session: its latest lease and status. Cheap to clone; clones share everything (the
/// heartbeat task holds one).
#[derive(Clone)]
pub struct SessionHandle {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    clock: Arc<dyn Clock>,
    key: PublicKey,
    id: i64,
    team: i64,
    product: String,
    heartbeat_every: Duration,
    /// Whether the user made meaningful use since the last heartbeat (idle awareness, R-SES-5);
    /// what the heartbeat task reports.
    active: AtomicBool,
    state: Mutex<Recorded>,
    status: watch::Sender<SessionStatus>,
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionHandle")
            .field("id", &self.inner.id)
            .field("team", &self.inner.team)
            .field("product", &self.inner.product)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// What the handle knows from the server, and what became of the last contact.
#[derive(Debug, Clone)]
struct Recorded {
    lease_text: String,
    lease: Lease,
    access: AccessKind,
    period_ends_at: DateTime<Utc>,
    /// Charged through this handle: the sign-in, heartbeats that opened periods, results.
    tokens_charged: u64,
    offline: Option<OfflineSince>,
    stopped: Option<StopReason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct OfflineSince {
    since: DateTime<Utc>,
    error: String,
}

/// What one heartbeat came to.
#[derive(Debug)]
enum Contact {
    /// An answer with a lease that verifies.
    Answered {
        answer: HeartbeatAnswer,
        lease: Lease,
    },
    /// No usable answer: the lease carries the session.
    Unreachable(String),
    /// The server says stop.
    Stop(StopReason),
}

/// Sorts a heartbeat's outcome. Transport failures, garbled answers, server errors (5xx), 408
/// and 429 leave the product on its lease; `insufficient_tokens` and `session_ended` stop it, as
/// does any other refusal (the server answered and said no).
fn classify(
    outcome: Result<HeartbeatAnswer, ClientError>,
    key: &PublicKey,
    now: DateTime<Utc>,
) -> Contact {
    match outcome {
        Ok(answer) => match key.verify(&answer.lease, now) {
            Ok(lease) => Contact::Answered { answer, lease },
            Err(e) => Contact::Unreachable(format!("the server's new lease does not verify: {e}")),
        },
        Err(ClientError::Transport(message) | ClientError::Decode(message)) => {
            Contact::Unreachable(message)
        }
        Err(ClientError::Api(problem)) => match (problem.status, problem.code.as_str()) {
            (_, "insufficient_tokens") => Contact::Stop(StopReason::InsufficientTokens),
            (_, "session_ended") | (410, _) => Contact::Stop(StopReason::SessionEnded),
            (408 | 429 | 500.., _) => Contact::Unreachable(ClientError::Api(problem).to_string()),
            _ => Contact::Stop(StopReason::Refused {
                code: problem.code,
                detail: problem.detail,
            }),
        },
    }
}

impl Recorded {
    /// Applies one heartbeat's outcome.
    fn record(&mut self, contact: Contact, now: DateTime<Utc>) {
        if self.stopped.is_some() {
            return;
        }
        match contact {
            Contact::Answered { answer, lease } => {
                self.lease_text = answer.lease;
                self.lease = lease;
                self.access = answer.access;
                self.period_ends_at = answer.period_ends_at;
                self.tokens_charged = self.tokens_charged.saturating_add(answer.tokens_charged);
                self.offline = None;
            }
            Contact::Unreachable(error) => {
                let since = self.offline.as_ref().map_or(now, |o| o.since);
                self.offline = Some(OfflineSince { since, error });
            }
            Contact::Stop(reason) => self.stopped = Some(reason),
        }
    }

    /// The status at `now`: stopped once stopped; otherwise the last lease decides — while it
    /// verifies the product runs (online or offline), once it does not the product stops, for
    /// good.
    fn evaluate(&mut self, key: &PublicKey, now: DateTime<Utc>) -> SessionStatus {
        if let Some(reason) = &self.stopped {
            return SessionStatus::Stopped {
                reason: reason.clone(),
            };
        }
        match key.verify(&self.lease_text, now) {
            Ok(lease) => match &self.offline {
                None => SessionStatus::Online {
                    valid_until: lease.valid_until,
                },
                Some(o) => SessionStatus::Offline {
                    valid_until: lease.valid_until,
                    since: o.since,
                    error: o.error.clone(),
                },
            },
            Err(e) => {
                let valid_until = match e {
                    LeaseError::Expired(t) => t,
                    _ => self.lease.valid_until,
                };
                let reason = StopReason::LeaseExpired { valid_until };
                self.stopped = Some(reason.clone());
                SessionStatus::Stopped { reason }
            }
        }
    }
}

impl SessionHandle {
    fn new(
        client: Client,
        clock: Arc<dyn Clock>,
        key: PublicKey,
        request: &SignIn,
        started: SessionStarted,
        lease: Lease,
    ) -> SessionHandle {
        let every = u64::try_from(started.heartbeat_every_seconds)
            .ok()
            .filter(|s| *s > 0)
            .unwrap_or(jeton_core::session::HEARTBEAT_EVERY_SECONDS as u64);
        let recorded = Recorded {
            lease_text: started.lease,
            access: started.access,
            period_ends_at: started.period_ends_at,
            tokens_charged: started.tokens_charged,
            offline: None,
            stopped: None,
            lease,
        };
        let status = SessionStatus::Online {
            valid_until: recorded.lease.valid_until,
        };
        SessionHandle {
            inner: Arc::new(Inner {
                client,
                clock,
                key,
                id: started.id,
                team: request.team,
                product: request.product.clone(),
                heartbeat_every: Duration::from_secs(every),
                active: AtomicBool::new(true),
                state: Mutex::new(recorded),
                status: watch::Sender::new(status),
            }),
        }
    }

    pub fn id(&self) -> i64 {
        self.inner.id
    }

    pub fn team(&self) -> i64 {
        self.inner.team
    }

    pub fn product(&self) -> &str {
        &self.inner.product
    }

    /// How often the server wants heartbeats.
    pub fn heartbeat_every(&self) -> Duration {
        self.inner.heartbeat_every
    }

    /// The latest lease, as the server signed it (to store, or to show).
    pub fn lease(&self) -> String {
        lock(&self.inner.state).lease_text.clone()
    }

    /// What the latest lease says (it verified when it arrived).
    pub fn lease_claims(&self) -> Lease {
        lock(&self.inner.state).lease.clone()
    }

    /// How the session is paid: Flex, a subscription or a trial (R-PRI).
    pub fn access(&self) -> AccessKind {
        lock(&self.inner.state).access
    }

    /// When the current usage period ends (R-SES-2).
    pub fn period_ends_at(&self) -> DateTime<Utc> {
        lock(&self.inner.state).period_ends_at
    }

    /// Tokens charged through this handle: the sign-in, heartbeats that opened a period, and
    /// results. Periods the server opens on its own at a period's end (R-SES-3) are not seen.
    pub fn tokens_charged(&self) -> u64 {
        lock(&self.inner.state).tokens_charged
    }

    /// The status now (by the clock): a lease that ran out while offline stops the session.
    pub fn status(&self) -> SessionStatus {
        let now = self.inner.clock.now();
        let status = lock(&self.inner.state).evaluate(&self.inner.key, now);
        self.publish(&status);
        status
    }

    /// Every change of status, as it happens (the heartbeat task's beats included).
    pub fn watch(&self) -> watch::Receiver<SessionStatus> {
        self.inner.status.subscribe()
    }

    /// Whether the user made meaningful use lately: what the heartbeat task reports (idle
    /// awareness, R-SES-5). True from sign-in on.
    pub fn set_active(&self, active: bool) {
        self.inner.active.store(active, Ordering::Relaxed);
    }

    /// Sends one heartbeat and returns the status it comes to. Never fails: a server that
    /// cannot be reached is [`SessionStatus::Offline`] while the lease holds; a stopped session
    /// sends nothing.
    pub async fn heartbeat(&self, active: bool) -> SessionStatus {
        self.beat(active, None).await
    }

    /// A heartbeat that counts as unanswered after `deadline`.
    async fn beat(&self, active: bool, deadline: Option<Duration>) -> SessionStatus {
        let current = self.status();
        if !current.is_usable() {
            return current;
        }
        let heartbeat = Heartbeat { active };
        let call = self.inner.client.heartbeat(self.inner.id, &heartbeat);
        let outcome = match deadline {
            None => call.await,
            Some(limit) => tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
                Err(ClientError::Transport(format!(
                    "the Jeton server at {} did not answer the heartbeat within {} s",
                    self.inner.client.base_url(),
                    limit.as_secs_f64()
                )))
            }),
        };
        let now = self.inner.clock.now();
        let contact = classify(outcome, &self.inner.key, now);
        let status = {
            let mut state = lock(&self.inner.state);
            state.record(contact, now);
            state.evaluate(&self.inner.key, now)
        };
        self.publish(&status);
        status
    }

    /// Signs out (R-SES-4: the answer says what the grace rule refunded). The session is then
    /// stopped.
    pub async fn sign_out(&self) -> Result<SignedOut, ClientError> {
        let out = self.inner.client.sign_out(self.inner.id).await?;
        let status = {
            let mut state = lock(&self.inner.state);
            if state.stopped.is_none() {
                state.stopped = Some(StopReason::SignedOut);
            }
            state.evaluate(&self.inner.key, self.inner.clock.now())
        };
        self.publish(&status);
        Ok(out)
    }

    /// Reports a result such as a cloud render (R-SES-8). `id` is the product's own id for it:
    /// sending the same id again charges nothing more, so a failed call may be repeated.
    pub async fn report_result(
        &self,
        result_type: &str,
        quantity: i64,
        id: &str,
    ) -> Result<ResultCharged, ClientError> {
        let result = NewResult {
            result_type: result_type.to_string(),
            quantity,
            id: id.to_string(),
        };
        let charged = self
            .inner
            .client
            .report_result(self.inner.id, &result)
            .await?;
        let mut state = lock(&self.inner.state);
        state.tokens_charged = state.tokens_charged.saturating_add(charged.tokens_charged);
        Ok(charged)
    }

    /// Starts a task that sends a heartbeat every `every` (reporting [`Self::set_active`]) until
    /// it is stopped or the session stops. A heartbeat unanswered within `every` counts as
    /// offline. Needs a Tokio runtime.
    pub fn spawn_heartbeats(&self, every: Duration) -> HeartbeatLoop {
        let every = every.max(Duration::from_millis(1));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let session = self.clone();
        // The first heartbeat is due `every` after this call, not after the task first runs.
        let start = tokio::time::Instant::now() + every;
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(start, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = ticks.tick() => {}
                }
                let active = session.inner.active.load(Ordering::Relaxed);
                tokio::select! {
                    _ = &mut stopped => return,
                    status = session.beat(active, Some(every)) => {
                        if !status.is_usable() {
                            return;
                        }
                    }
                }
            }
        });
        HeartbeatLoop {
            session: self.clone(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn publish(&self, status: &SessionStatus) {
        self.inner.status.send_if_modified(|current| {
            if current == status {
                false
            } else {
                *current = status.clone();
                true
            }
        });
    }
}

/// The heartbeat task of a session. Dropping it stops the task (the session stays open).
#[derive(Debug)]
pub struct HeartbeatLoop {
    session: SessionHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl HeartbeatLoop {
    /// The session's status now (re-checked against the clock).
    pub fn status(&self) -> SessionStatus {
        self.session.status()
    }

    pub fn session(&self) -> &SessionHandle {
        &self.session
    }

    /// Every change of status, as it happens.
    pub fn watch(&self) -> watch::Receiver<SessionStatus> {
        self.session.watch()
    }

    /// Whether the task ended (the session stopped, or the loop was stopped).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the task (a heartbeat in flight is abandoned) and returns the session's status.
    /// The session stays open: sign out with [`SessionHandle::sign_out`].
    pub async fn stop(mut self) -> SessionStatus {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.session.status()
    }
}

impl Drop for HeartbeatLoop {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A poisoned lock only means a thread panicked while holding it; the data is still whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
