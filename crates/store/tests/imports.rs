//! Imports as background jobs (R-USR-5), on both backends: chunks apply every line exactly once,
//! also when a worker dies mid-way and another takes over, and when two workers run at once;
//! outcomes keep their line numbers; a closed team fails the import; open imports are bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use jeton_core::import::parse_csv;
use jeton_core::ledger::Actor;
use jeton_core::limits::MAX_OPEN_IMPORTS_PER_TEAM;
use jeton_core::{DomainError, ImportId, TeamId, TeamName};
use jeton_store::flex::Secret;
use jeton_store::imports::{ImportJob, ImportStatus, LineOutcome, Step};
use jeton_store::testing::{TestDb, daily_product};
use jeton_store::{Store, StoreError, both_backends};

both_backends! {
    r_usr_5_an_import_resumed_after_a_crash_applies_every_line_once => resume,
    r_usr_5_two_workers_at_once_never_apply_a_line_twice => two_workers,
    r_usr_5_a_closed_team_fails_the_import_and_keeps_what_was_applied => closed_team,
    r_usr_5_open_imports_per_team_are_bounded => bounded,
}

const LEASE: Duration = Duration::minutes(2);
const CHUNK: usize = 500;

fn t0() -> DateTime<Utc> {
    "2026-01-05T08:00:00Z".parse().unwrap()
}

/// Invitation secrets, distinct across the whole test binary (their digests are unique).
fn secrets(n: usize) -> Vec<Secret> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    (0..n)
        .map(|_| {
            let i = NEXT.fetch_add(1, Ordering::Relaxed);
            Secret {
                secret: format!("secret-{i}"),
                hash: format!("hash-{i}"),
            }
        })
        .collect()
}

async fn scene(store: &Store) -> TeamId {
    let draft = daily_product("autocad", "AutoCAD", 7);
    store
        .create_product(&draft, Actor::Operator, t0())
        .await
        .unwrap();
    team(store, "Design").await
}

async fn team(store: &Store, name: &str) -> TeamId {
    store
        .create_team(&TeamName::parse(name).unwrap(), None, t0())
        .await
        .unwrap()
        .id
}

/// A file of `n` lines after a header: every 100th line has a bad address (refused when read),
/// every 250th names a product not in the catalogue (refused when applied).
fn file(n: usize) -> String {
    let mut text = String::from("name,email,products\n");
    for i in 1..=n {
        let line = if i % 100 == 0 {
            format!("Person {i},not-an-email-{i}\n")
        } else if i % 250 == 0 {
            format!("Person {i},p{i}@example.com,photoshop\n")
        } else {
            format!("Person {i},p{i}@example.com,autocad\n")
        };
        text.push_str(&line);
    }
    text
}

/// What [`file`] must give: (applied, refused lines, every line with an outcome).
fn expected(n: usize) -> (u64, Vec<u64>, u64) {
    let refused: Vec<u64> = (1..=n)
        .filter(|i| i % 100 == 0 || i % 250 == 0)
        .map(|i| i as u64 + 1)
        .collect();
    (n as u64 - refused.len() as u64, refused, n as u64)
}

async fn queue(store: &Store, team: TeamId, text: &str) -> ImportJob {
    let (rows, refused) = parse_csv(text.as_bytes(), 1).unwrap();
    store
        .queue_import(team, &rows, &refused, t0())
        .await
        .unwrap()
}

/// Runs chunks of `job` as worker `claim` until it is finished; returns it and the chunks run.
async fn finish(store: &Store, job: i64, claim: &str, now: DateTime<Utc>) -> (ImportJob, usize) {
    for chunks in 1.. {
        match store
            .run_import_chunk(ImportId(job), claim, &secrets(CHUNK), now, LEASE)
            .await
            .unwrap()
        {
            Step::Applied(..) => {}
            Step::Finished(job, _) => return (job, chunks),
            Step::NotClaimed => panic!("{claim} lost import {job}"),
        }
    }
    unreachable!()
}

/// Every outcome of an import, read in pages of `page`, checked to be in strict line order.
async fn outcomes(
    store: &Store,
    team: TeamId,
    job: i64,
    page: usize,
) -> Vec<(u64, LineOutcome, Option<String>)> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let lines = store
            .import_outcomes(team, ImportId(job), after, page, None)
            .await
            .unwrap();
        let Some(last) = lines.last() else {
            return all;
        };
        after = last.line;
        for l in lines {
            if let Some((previous, _, _)) = all.last() {
                assert!(l.line > *previous, "line {} after {previous}", l.line);
            }
            all.push((l.line, l.outcome, l.reason));
        }
    }
}

async fn resume(db: TestDb) {
    const N: usize = 1_234;
    let first = db.store().await;
    let team = scene(&first).await;
    let job = queue(&first, team, &file(N)).await;
    assert_eq!(job.status, ImportStatus::Queued);
    let (applied, refused_lines, total) = expected(N);
    assert_eq!(job.total, total);
    let refused_when_read = (N / 100) as u64;
    assert_eq!(
        (job.done, job.refused),
        (refused_when_read, refused_when_read)
    );

    // A worker applies one chunk, then its server dies without a word.
    let Step::Applied(after_one, chunk) = first
        .run_import_chunk(job.id, "first", &secrets(CHUNK), t0(), LEASE)
        .await
        .unwrap()
    else {
        panic!("one chunk of many")
    };
    assert_eq!(after_one.status, ImportStatus::Running);
    assert_eq!(
        chunk.applied + chunk.unchanged + chunk.refused,
        CHUNK as u64
    );
    assert_eq!(after_one.done, refused_when_read + CHUNK as u64);
    assert_eq!(after_one.started_at, Some(t0()));
    first.close().await;

    // Another server (its own pool) leaves the import alone while the dead one's lease runs …
    let second = db.store().await;
    assert!(
        second
            .claimable_imports("second", t0() + Duration::seconds(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        second
            .run_import_chunk(job.id, "second", &secrets(CHUNK), t0(), LEASE)
            .await
            .unwrap(),
        Step::NotClaimed
    );
    // … and takes it over once the lease has passed, resuming at the first line left.
    let later = t0() + LEASE;
    assert_eq!(
        second.claimable_imports("second", later, 10).await.unwrap(),
        vec![job.id]
    );
    let (done, chunks) = finish(&second, job.id.0, "second", later).await;
    assert_eq!(chunks, 2, "the 722 lines left take two chunks");
    assert_eq!(done.status, ImportStatus::Done);
    assert_eq!(done.finished_at, Some(later));
    // Applied exactly once: a line applied twice would count as unchanged.
    assert_eq!(
        (done.applied, done.unchanged, done.refused, done.done),
        (applied, 0, refused_lines.len() as u64, total)
    );

    let all = outcomes(&second, team, job.id.0, 300).await;
    assert_eq!(all.len() as u64, total, "one outcome per line");
    let refused: Vec<u64> = all
        .iter()
        .filter(|(_, o, _)| *o == LineOutcome::Refused)
        .map(|(line, _, _)| *line)
        .collect();
    assert_eq!(refused, refused_lines);
    let reason = |line: u64| all.iter().find(|(l, _, _)| *l == line).unwrap().2.clone();
    assert!(
        reason(101).unwrap().contains("not-an-email-100"),
        "{:?}",
        reason(101)
    );
    assert!(
        reason(251).unwrap().contains("photoshop"),
        "{:?}",
        reason(251)
    );
    let only_refused = second
        .import_outcomes(team, job.id, 0, 1000, Some(LineOutcome::Refused))
        .await
        .unwrap();
    assert_eq!(
        only_refused.iter().map(|l| l.line).collect::<Vec<_>>(),
        refused_lines
    );
    let users = second.flex_users(team).await.unwrap();
    assert_eq!(users.len() as u64, applied);
    let invitations = second.invitations(team, later).await.unwrap();
    assert_eq!(
        invitations.len() as u64,
        applied,
        "one invitation per person"
    );

    // The dead server, back, finds the import over.
    let revived = db.store().await;
    assert_eq!(
        revived
            .run_import_chunk(job.id, "first", &secrets(CHUNK), later, LEASE)
            .await
            .unwrap(),
        Step::NotClaimed
    );
    // The same file again changes nothing.
    let again = queue(&revived, team, &file(N)).await;
    let (again, _) = finish(&revived, again.id.0, "first", later).await;
    assert_eq!(
        (again.applied, again.unchanged, again.refused),
        (0, applied, refused_lines.len() as u64)
    );
}

async fn two_workers(db: TestDb) {
    const N: usize = 3_000;
    let one = db.store().await;
    let two = db.store().await;
    let team = scene(&one).await;
    let job = queue(&one, team, &file(N)).await;
    // Two processes of one server share its claim: their chunks run at the same time, each
    // taking the lines the other has not.
    let run = |store: Store, claim: &'static str| async move {
        let mut chunks = 0;
        loop {
            match store
                .run_import_chunk(job.id, claim, &secrets(100), t0(), LEASE)
                .await
                .unwrap()
            {
                Step::Applied(..) => chunks += 1,
                Step::Finished(..) | Step::NotClaimed => return chunks,
            }
        }
    };
    // A third, another server, never gets in while the lease is held.
    let other = db.store().await;
    let outsider = async move {
        let mut tries = 0;
        for _ in 0..20 {
            let step = other
                .run_import_chunk(job.id, "other", &secrets(100), t0(), LEASE)
                .await
                .unwrap();
            assert_eq!(step, Step::NotClaimed);
            tries += 1;
            tokio::task::yield_now().await;
        }
        tries
    };
    let first = one
        .run_import_chunk(job.id, "server", &secrets(100), t0(), LEASE)
        .await
        .unwrap();
    assert!(matches!(first, Step::Applied(..)), "{first:?}");
    let (a, b, tries) = tokio::join!(
        tokio::spawn(run(one.clone(), "server")),
        tokio::spawn(run(two.clone(), "server")),
        outsider
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(tries, 20);
    assert!(a + b >= 28, "the 2,870 lines left took {a} + {b} chunks");
    let done = one.import_job(team, job.id).await.unwrap();
    let (applied, refused, total) = expected(N);
    assert_eq!(done.status, ImportStatus::Done);
    assert_eq!(
        (done.applied, done.unchanged, done.refused, done.done),
        (applied, 0, refused.len() as u64, total)
    );
    assert_eq!(
        outcomes(&two, team, job.id.0, 10_000).await.len() as u64,
        total
    );
}

async fn closed_team(db: TestDb) {
    let store = db.store().await;
    let team = scene(&store).await;
    let into = self::team(&store, "Operations").await;
    let job = queue(&store, team, &file(1_200)).await;
    let untouched = queue(&store, team, "Ann Bee,ann@example.com\n").await;
    let step = store
        .run_import_chunk(job.id, "w", &secrets(CHUNK), t0(), LEASE)
        .await
        .unwrap();
    assert!(matches!(step, Step::Applied(..)), "{step:?}");
    // A worker that stops hands its imports back: another takes over at once, lease or not.
    assert_eq!(store.release_imports("w").await.unwrap(), 1);
    let Step::Applied(after_two, _) = store
        .run_import_chunk(job.id, "w2", &secrets(CHUNK), t0(), LEASE)
        .await
        .unwrap()
    else {
        panic!("two chunks of three")
    };
    store
        .merge_teams(team, into, Actor::Operator, t0())
        .await
        .unwrap();
    let err = store
        .run_import_chunk(job.id, "w2", &secrets(CHUNK), t0(), LEASE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Domain(DomainError::TeamClosed { .. })),
        "{err:?}"
    );
    assert!(
        !store
            .fail_import(job.id, "w", "team_closed", &err.to_string(), t0())
            .await
            .unwrap(),
        "only the holder of a live claim records the failure"
    );
    assert!(
        store
            .fail_import(job.id, "w2", "team_closed", &err.to_string(), t0())
            .await
            .unwrap()
    );
    // An import no worker had claimed yet fails alike.
    let err = store
        .run_import_chunk(untouched.id, "w", &secrets(CHUNK), t0(), LEASE)
        .await
        .unwrap_err();
    assert!(
        store
            .fail_import(untouched.id, "w", "team_closed", &err.to_string(), t0())
            .await
            .unwrap()
    );
    assert_eq!(
        store.import_job(team, untouched.id).await.unwrap().status,
        ImportStatus::Failed
    );
    let failed = store.import_job(team, job.id).await.unwrap();
    assert_eq!(failed.status, ImportStatus::Failed);
    assert_eq!(failed.error.as_ref().unwrap().0, "team_closed");
    assert_eq!(
        failed.done, after_two.done,
        "the failed chunk wrote nothing"
    );
    assert_eq!(failed.applied, after_two.applied);
    assert_eq!(
        outcomes(&store, team, job.id.0, 1000).await.len() as u64,
        failed.done
    );
    // A failed import is over: no worker takes it again.
    assert!(
        store
            .claimable_imports("w", t0() + LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (rows, refused) = parse_csv(b"Ann Bee,ann@example.com\n", 1).unwrap();
    let closed = store
        .queue_import(team, &rows, &refused, t0())
        .await
        .unwrap_err();
    assert!(
        matches!(closed, StoreError::Domain(DomainError::TeamClosed { .. })),
        "{closed:?}"
    );
}

async fn bounded(db: TestDb) {
    let store = db.store().await;
    let team = scene(&store).await;
    let other = self::team(&store, "Operations").await;
    // A file with no good line is done at once, and does not count.
    let nothing = queue(&store, team, "name,email\nbad line\n").await;
    assert_eq!(nothing.status, ImportStatus::Done);
    assert_eq!((nothing.total, nothing.refused), (1, 1));
    let mut ids = Vec::new();
    for i in 0..MAX_OPEN_IMPORTS_PER_TEAM {
        ids.push(
            queue(&store, team, &format!("P {i},p{i}@example.com\n"))
                .await
                .id,
        );
    }
    let (rows, refused) = parse_csv(b"Ann Bee,ann@example.com\n", 1).unwrap();
    let err = store
        .queue_import(team, &rows, &refused, t0())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Domain(DomainError::TooManyImports { .. })),
        "{err:?}"
    );
    // Other teams are not affected, and a finished import frees a place.
    store
        .queue_import(other, &rows, &refused, t0())
        .await
        .unwrap();
    finish(&store, (ids[0]).0, "w", t0()).await;
    store
        .queue_import(team, &rows, &refused, t0())
        .await
        .unwrap();
    // Listing: newest first; another team's import is not found.
    let listed = store.import_jobs(team, 5).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.windows(2).all(|w| w[0].id > w[1].id));
    assert!(matches!(
        store.import_job(other, ids[0]).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(
        store
            .import_outcomes(other, ids[0], 0, 10, None)
            .await
            .unwrap()
            .is_empty()
    );
}
