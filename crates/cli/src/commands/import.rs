//! `jeton import`: a CSV file of users (R-USR-5). The server stores the file as an import and
//! applies it in the background; this command sends it (in parts when it is larger than one
//! request takes, with file line numbers), shows a progress bar while the server works, and
//! prints the summary. `jeton import status` and `jeton import list` follow imports later.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use jeton_api::{
    ImportDetail, ImportJob, ImportLine, ImportLineOutcome, ImportOutcomesQuery, ImportQuery,
    ImportRejection, ImportResult, ImportStatus, ImportsQuery,
};
use jeton_client::ClientError;
use jeton_core::import;

use super::Ctx;
use super::output::{self, blocks, table};
use super::teams::{self, Named};

/// Most lines the server takes in one request.
pub const MAX_CHUNK_LINES: u32 = import::MAX_IMPORT_LINES as u32;
/// Most bytes per request: the server takes 10 MiB; a part stays well below.
pub const MAX_CHUNK_BYTES: usize = 8 * 1024 * 1024;
/// How often (real time) the command asks the server how its imports are doing.
const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "The file has one person per line: `name,email[,products]`, with \
    products separated by `;`, or `*` for all products (later ones included); without products \
    a user's selection stays as it is. A header line `name,email,products` may come first. Each \
    line is checked on its own: good lines are applied, bad ones are listed with their line \
    number and the reason. Importing the same file again changes nothing. Imported people get no \
    email; new ones get an invitation that `jeton invitations resend` emails.\n\n\
    The server stores the file as an import (files larger than one request takes are sent in \
    parts of --chunk-lines lines, one import each) and applies it in the background; this \
    command waits with a progress bar on stderr (not with --json or when stderr is not a \
    terminal) and prints the summary. With --no-wait it prints the import ids and returns; \
    `jeton import status ID --team TEAM` shows an import's progress and outcome at any time, \
    also after this command was stopped.\n\n\
    Exit status: 0 when every line was applied (or already so); 3 when some lines were refused: \
    the others were applied, and the last line says how many were refused; 1 when the file \
    could not be read, sent or applied (the summary says what was applied; importing the file \
    again is safe); 2 for a wrong command line. With --no-wait: 0 once the file is sent.\n\n\
    Examples:\n  jeton import people.csv --team Design\n  \
    jeton import people.csv --team Design --no-wait\n  \
    jeton import status 12 --team Design\n  \
    jeton import list --team Design"
)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub cmd: Option<ImportCmd>,
    /// The CSV file to import
    #[arg(value_name = "FILE.csv", required = true)]
    pub file: Option<PathBuf>,
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM", required = true)]
    pub team: Option<String>,
    /// Most lines per request (1 to 100000); larger files are sent in parts
    #[arg(long, value_name = "N", default_value_t = MAX_CHUNK_LINES,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CHUNK_LINES)))]
    pub chunk_lines: u32,
    /// Print the import ids once the file is sent, without waiting for it to be applied
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImportCmd {
    /// Show an import: its state, progress, counts and refused lines
    Status {
        /// The import's id (printed by `jeton import --no-wait`, listed by `jeton import list`)
        #[arg(value_name = "ID")]
        id: i64,
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
        /// List every line's outcome (applied, unchanged, refused), not only refused lines
        #[arg(long)]
        all_lines: bool,
    },
    /// List a team's imports, newest first
    List {
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
        /// At most this many [server default: 20, at most 1000]
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
}

/// A part of the file to send in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The file line number of the part's first line.
    pub first_line: u64,
    /// How many lines it holds.
    pub lines: u64,
    pub data: &'a [u8],
}

/// How a file is sent: its parts, and lines refused before sending.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan<'a> {
    pub chunks: Vec<Chunk<'a>>,
    /// Lines too long to send at all.
    pub rejected: Vec<ImportRejection>,
    /// Lines in the file.
    pub lines: u64,
}

/// Cuts `data` into parts of at most `max_lines` lines and `max_bytes` bytes, at line ends, so
/// that every line is numbered as in the file. A header, being the file's first line, is in the
/// first part only (the server skips it only there). A leading UTF-8 byte-order mark is dropped.
pub fn plan(data: &[u8], max_lines: u64, max_bytes: usize) -> Plan<'_> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let max_lines = max_lines.max(1);
    let mut plan = Plan::default();
    // The part being gathered: (start offset, its first line, lines, bytes).
    let mut open: Option<(usize, u64, u64, usize)> = None;
    let mut offset = 0;
    for (i, line) in data.split_inclusive(|b| *b == b'\n').enumerate() {
        let number = i as u64 + 1;
        plan.lines = number;
        if let Some((start, first, lines, bytes)) = open
            && (lines >= max_lines || bytes + line.len() > max_bytes)
        {
            plan.chunks.push(Chunk {
                first_line: first,
                lines,
                data: &data[start..start + bytes],
            });
            open = None;
        }
        if line.len() > max_bytes {
            plan.rejected.push(ImportRejection {
                line: number,
                reason: format!(
                    "is longer than {} MiB, too long to send; expected name,email[,products]",
                    max_bytes / (1024 * 1024)
                ),
            });
        } else {
            let (start, first, lines, bytes) = open.unwrap_or((offset, number, 0, 0));
            open = Some((start, first, lines + 1, bytes + line.len()));
        }
        offset += line.len();
    }
    if let Some((start, first, lines, bytes)) = open {
        plan.chunks.push(Chunk {
            first_line: first,
            lines,
            data: &data[start..start + bytes],
        });
    }
    plan
}

/// The part as sent: lines whose address an earlier part already had are blanked (the server
/// skips blank lines, so numbers stay those of the file) and refused here, with the reason the
/// server gives for a repeat within one part. The outcome of an import so does not depend on
/// where the file was cut. `seen` maps addresses (normalised) to their first line.
pub fn without_repeats(
    chunk: &Chunk<'_>,
    seen: &mut HashMap<String, u64>,
) -> (Vec<u8>, Vec<ImportRejection>) {
    let mut data = Vec::with_capacity(chunk.data.len());
    let mut rejected = Vec::new();
    for (i, line) in chunk.data.split_inclusive(|b| *b == b'\n').enumerate() {
        let number = chunk.first_line + i as u64;
        // Each line on its own, as the server reads it; a bad line is the server's to refuse.
        let email = match import::parse_csv(line, number) {
            Ok((rows, _)) => rows.into_iter().next().map(|row| row.email),
            Err(_) => None,
        };
        if let Some(email) = email {
            match seen.get(&email.normalized()) {
                Some(&first) if first < chunk.first_line => {
                    if line.ends_with(b"\n") {
                        data.push(b'\n');
                    }
                    rejected.push(ImportRejection {
                        line: number,
                        reason: import::repeated(&email, first),
                    });
                    continue;
                }
                // A repeat within this part: the server refuses it.
                Some(_) => {}
                None => {
                    seen.insert(email.normalized(), number);
                }
            }
        }
        data.extend_from_slice(line);
    }
    (data, rejected)
}

pub async fn run(args: ImportArgs, ctx: &Ctx) -> Result<()> {
    match args.cmd {
        Some(ImportCmd::Status {
            id,
            team,
            all_lines,
        }) => return status(ctx, id, &team, all_lines).await,
        Some(ImportCmd::List { team, limit }) => return list(ctx, &team, limit).await,
        None => {}
    }
    let (Some(file), Some(team_arg)) = (args.file, args.team) else {
        bail!("give the file and --team (or a subcommand: status, list)");
    };
    let name = file.display().to_string();
    let data = std::fs::read(&file).with_context(|| format!("cannot read {name}"))?;
    let plan = plan(&data, u64::from(args.chunk_lines), MAX_CHUNK_BYTES);
    if plan.lines == 0 {
        bail!("{name} is empty: nothing to import");
    }
    let named = teams::named(ctx, &team_arg)
        .await
        .with_context(|| format!("nothing was imported from {name}"))?;
    let team = named.id;

    let bar = output::progress_bar(
        !ctx.out.is_json() && std::io::stderr().is_terminal(),
        plan.lines,
        "{spinner} importing [{bar:40}] {pos}/{len} lines ({elapsed}, {eta} left)",
    );
    let mut sent = Sent {
        rejected: plan.rejected.clone(),
        ..Sent::default()
    };
    let mut failure = None;
    let mut seen = HashMap::new();
    for (i, chunk) in plan.chunks.iter().enumerate() {
        let query = ImportQuery {
            first_line: Some(chunk.first_line),
        };
        let (data, repeats) = without_repeats(chunk, &mut seen);
        loop {
            match ctx.client.import_users(team, &query, data.clone()).await {
                Ok(job) => {
                    bar.println(format!(
                        "import {} queued (`jeton import status {} --team {team_arg}` follows it)",
                        job.id, job.id
                    ));
                    sent.imports.push(job);
                    sent.rejected.extend(repeats);
                    break;
                }
                // The team has as many imports waiting as it may: once one of ours is over,
                // there is room for the next part.
                Err(e)
                    if e.code() == Some("too_many_imports")
                        && !args.no_wait
                        && sent.imports.iter().any(|j| !j.status.is_over()) =>
                {
                    if let Err(e) = wait(ctx, team, &mut sent.imports, &bar, true).await {
                        failure = Some((i, e));
                        break;
                    }
                }
                Err(e) => {
                    failure = Some((i, e));
                    break;
                }
            }
        }
        if failure.is_some() {
            break;
        }
    }
    if sent.imports.is_empty() {
        bar.finish_and_clear();
        if let Some((_, e)) = failure {
            return Err(anyhow::Error::new(e).context(format!(
                "nothing was imported from {name} into team {named}"
            )));
        }
        // Every line was refused here (too long to send).
        let result = ImportResult {
            rejected: sent.rejected,
            ..ImportResult::default()
        };
        ctx.out.print(&result, |t| summary(&name, &named, t))?;
        return refused(&result);
    }
    let not_sent = |failure: Option<(usize, ClientError)>| match failure {
        None => Ok(()),
        Some((i, e)) => Err(anyhow!(
            "lines {} to {} of {name} were not sent: {e}\nhint: the lines before them were \
             sent and are applied; importing the whole file again is safe (applied lines come \
             back as unchanged)",
            plan.chunks[i].first_line,
            plan.lines
        )),
    };
    if args.no_wait {
        bar.finish_and_clear();
        sent.rejected.sort_by_key(|r| r.line);
        ctx.out
            .print(&sent, |s| queued(&name, &named, &team_arg, s))?;
        return not_sent(failure);
    }
    // Whatever was sent is applied by the server; wait for it, then say what happened.
    let waited = wait(ctx, team, &mut sent.imports, &bar, false).await;
    bar.finish_and_clear();
    if let Err(e) = waited {
        let ids: Vec<i64> = sent.imports.iter().map(|j| j.id).collect();
        return Err(anyhow::Error::new(e).context(format!(
            "lost track of import(s) {} of {name}; the server goes on applying them\n\
             hint: `jeton import status ID --team {team_arg}` shows what was applied",
            output::ids(&ids)
        )));
    }
    let mut total = ImportResult {
        rejected: sent.rejected,
        ..ImportResult::default()
    };
    for job in &sent.imports {
        total.applied += job.applied;
        total.unchanged += job.unchanged;
        let refused = ctx
            .client
            .import_outcomes(team, job.id, Some(ImportLineOutcome::Refused))
            .await?;
        total.rejected.extend(refused.into_iter().map(rejection));
    }
    total.rejected.sort_by_key(|r| r.line);
    ctx.out.print(&total, |t| summary(&name, &named, t))?;

    if let Some(job) = sent
        .imports
        .iter()
        .find(|j| j.status == ImportStatus::Failed)
    {
        let why = job.error.as_ref().map_or_else(
            || "no reason given".to_owned(),
            |e| format!("{} ({})", e.detail, e.code),
        );
        bail!(
            "import {} stopped: {why}; {} of its {} lines were not applied\n\
             hint: `jeton import status {} --team {team_arg}` lists what was",
            job.id,
            job.total - job.done,
            job.total,
            job.id
        );
    }
    not_sent(failure)?;
    refused(&total)
}

/// Exit status of an import whose lines all have their outcome, some of them refused.
pub const EXIT_REFUSED: u8 = 3;

/// Ends with [`EXIT_REFUSED`] when lines were refused, saying how many, and that the others
/// were applied.
fn refused(r: &ImportResult) -> Result<()> {
    let refused = r.rejected.len();
    if refused == 0 {
        return Ok(());
    }
    let others = r.applied + r.unchanged;
    Err(anyhow::Error::new(super::Exit {
        code: EXIT_REFUSED,
        message: format!(
            "{} refused (listed above); the other {} applied{}. Fix the refused lines and \
             import the file again: applied lines come back as unchanged.",
            match refused {
                1 => "1 line was".to_string(),
                n => format!("{n} lines were"),
            },
            match others {
                1 => "line was".to_string(),
                n => format!("{n} lines were"),
            },
            if r.unchanged > 0 {
                " (or were already so)"
            } else {
                ""
            }
        ),
    }))
}

/// What was sent of a file: its imports, and the lines refused here (too long to send, or an
/// address an earlier part had).
#[derive(Debug, Default, Serialize)]
struct Sent {
    imports: Vec<ImportJob>,
    rejected: Vec<ImportRejection>,
}

fn rejection(line: ImportLine) -> ImportRejection {
    ImportRejection {
        line: line.line,
        reason: line.reason.unwrap_or_default(),
    }
}

/// Follows `imports` until all are over (or, with `any`, until one more is), moving the bar.
async fn wait(
    ctx: &Ctx,
    team: i64,
    imports: &mut [ImportJob],
    bar: &indicatif::ProgressBar,
    any: bool,
) -> Result<(), ClientError> {
    let counts_only = ImportOutcomesQuery {
        limit: Some(0),
        ..ImportOutcomesQuery::default()
    };
    let open_before = imports.iter().filter(|j| !j.status.is_over()).count();
    loop {
        for job in imports.iter_mut().filter(|j| !j.status.is_over()) {
            *job = ctx.client.import_job(team, job.id, &counts_only).await?.job;
        }
        let (done, total) = progress(imports);
        bar.set_length(total);
        bar.set_position(done);
        let open = imports.iter().filter(|j| !j.status.is_over()).count();
        if open == 0 || (any && open < open_before) {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Lines with an outcome, and lines in all, over several imports.
pub fn progress(imports: &[ImportJob]) -> (u64, u64) {
    imports
        .iter()
        .fold((0, 0), |(done, total), j| (done + j.done, total + j.total))
}

fn queued(name: &str, team: &Named, team_arg: &str, sent: &Sent) -> String {
    let lines: Vec<String> = sent
        .imports
        .iter()
        .map(|j| {
            format!(
                "  import {}: {} lines, {}",
                j.id,
                j.total,
                output::import_status(j.status)
            )
        })
        .collect();
    let mut parts = vec![format!(
        "Sent {name} to team {team}; the server applies it in the background:\n{}",
        lines.join("\n")
    )];
    if !sent.rejected.is_empty() {
        let refused: Vec<String> = sent
            .rejected
            .iter()
            .map(|x| format!("  line {}: {}", x.line, x.reason))
            .collect();
        parts.push(format!("Rejected here, not sent:\n{}", refused.join("\n")));
    }
    let first = sent.imports.first().map_or(0, |j| j.id);
    parts.push(format!(
        "Follow it with: jeton import status {first} --team {team_arg}"
    ));
    blocks(parts)
}

/// `jeton import status`.
async fn status(ctx: &Ctx, id: i64, team: &str, all_lines: bool) -> Result<()> {
    let named = teams::named(ctx, team).await?;
    let team = named.id;
    let counts_only = ImportOutcomesQuery {
        limit: Some(0),
        ..ImportOutcomesQuery::default()
    };
    let only = (!all_lines).then_some(ImportLineOutcome::Refused);
    // Outcomes first: the counts read after them cover at least every outcome listed.
    let outcomes = ctx.client.import_outcomes(team, id, only).await?;
    let mut detail = ctx.client.import_job(team, id, &counts_only).await?;
    detail.outcomes = outcomes;
    ctx.out
        .print(&detail, |d| status_text(d, &named, all_lines))
}

pub fn status_text(d: &ImportDetail, team: &Named, all_lines: bool) -> String {
    let j = &d.job;
    let state = match j.status {
        ImportStatus::Queued => "queued: no line applied yet".to_owned(),
        ImportStatus::Running => format!(
            "running: {} of {} lines done; the others are not applied yet",
            j.done, j.total
        ),
        ImportStatus::Done => "done: every line has its outcome".to_owned(),
        ImportStatus::Failed => format!(
            "failed: {}; lines without an outcome ({} of {}) were not applied",
            j.error.as_ref().map_or_else(
                || "no reason given".to_owned(),
                |e| format!("{} ({})", e.detail, e.code)
            ),
            j.total - j.done,
            j.total
        ),
    };
    // An import with no line to apply is complete.
    let percent = (j.done * 100).checked_div(j.total).unwrap_or(100);
    let mut rows = vec![
        ("state", state),
        (
            "progress",
            format!("{}/{} lines ({percent}%)", j.done, j.total),
        ),
        ("applied", j.applied.to_string()),
        ("unchanged", j.unchanged.to_string()),
        ("refused", j.refused.to_string()),
        ("queued", output::time(&j.created_at)),
    ];
    if let Some(t) = &j.started_at {
        rows.push(("started", output::time(t)));
    }
    if let Some(t) = &j.finished_at {
        rows.push(("finished", output::time(t)));
    }
    let head = format!(
        "Import {} into team {team}:\n{}",
        j.id,
        output::fields(&rows)
    );
    let lines: Vec<String> = d
        .outcomes
        .iter()
        .map(|l| match &l.reason {
            Some(reason) => format!("  line {}: {} ({reason})", l.line, l.outcome.as_str()),
            None => format!("  line {}: {}", l.line, l.outcome.as_str()),
        })
        .collect();
    if lines.is_empty() {
        return head;
    }
    let title = if all_lines { "Lines" } else { "Refused lines" };
    blocks([head, format!("{title}:\n{}", lines.join("\n"))])
}

/// `jeton import list`.
async fn list(ctx: &Ctx, team: &str, limit: Option<u32>) -> Result<()> {
    let team = teams::named(ctx, team).await?;
    let jobs = ctx
        .client
        .import_jobs(team.id, &ImportsQuery { limit })
        .await?;
    ctx.out.print(&jobs, |jobs| {
        if jobs.is_empty() {
            return format!("Team {team} has no imports.");
        }
        let mut t = table(
            &[
                "id",
                "state",
                "progress",
                "applied",
                "unchanged",
                "refused",
                "queued",
            ],
            &[0, 3, 4, 5],
        );
        for j in jobs {
            t.add_row(vec![
                j.id.to_string(),
                output::import_status(j.status).to_owned(),
                format!("{}/{}", j.done, j.total),
                j.applied.to_string(),
                j.unchanged.to_string(),
                j.refused.to_string(),
                output::time(&j.created_at),
            ]);
        }
        t.to_string()
    })
}

fn summary(name: &str, team: &Named, r: &ImportResult) -> String {
    let rejected = match r.rejected.len() {
        0 => "no line rejected".to_string(),
        1 => "1 line rejected".to_string(),
        n => format!("{n} lines rejected"),
    };
    let head = format!(
        "Imported {name} into team {team}: {} applied, {} unchanged, {rejected}.",
        r.applied, r.unchanged
    );
    if r.rejected.is_empty() {
        return head;
    }
    let lines: Vec<String> = r
        .rejected
        .iter()
        .map(|x| format!("  line {}: {}", x.line, x.reason))
        .collect();
    blocks([
        head,
        format!(
            "Rejected (the other lines were applied; fix these and import the file again):\n{}",
            lines.join("\n")
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &Plan<'_>) -> Vec<(u64, u64, String)> {
        p.chunks
            .iter()
            .map(|c| {
                (
                    c.first_line,
                    c.lines,
                    String::from_utf8_lossy(c.data).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn r_usr_5_parts_keep_file_line_numbers_and_the_header_only_first() {
        let file = "name,email,products\nA a,a@x.com\nB b,b@x.com,*\n\nC c,c@x.com\nD d,d@x.com";
        let p = plan(file.as_bytes(), 2, MAX_CHUNK_BYTES);
        assert_eq!(p.lines, 6);
        assert_eq!(
            parts(&p),
            vec![
                (1, 2, "name,email,products\nA a,a@x.com\n".into()),
                (3, 2, "B b,b@x.com,*\n\n".into()),
                (5, 2, "C c,c@x.com\nD d,d@x.com".into()),
            ]
        );
        assert!(p.rejected.is_empty());
        // The parts put together are the file: nothing lost, nothing repeated.
        let joined: Vec<u8> = p.chunks.iter().flat_map(|c| c.data.to_vec()).collect();
        assert_eq!(joined, file.as_bytes());
    }

    #[test]
    fn one_part_for_a_small_file_and_none_for_an_empty_one() {
        let p = plan(b"A a,a@x.com\r\nB b,b@x.com\r\n", 1000, MAX_CHUNK_BYTES);
        assert_eq!(
            parts(&p),
            vec![(1, 2, "A a,a@x.com\r\nB b,b@x.com\r\n".into())]
        );
        let empty = plan(b"", 1000, MAX_CHUNK_BYTES);
        assert_eq!(empty.lines, 0);
        assert!(empty.chunks.is_empty());
        let p = plan(b"\n\n", 1, MAX_CHUNK_BYTES);
        assert_eq!(parts(&p), vec![(1, 1, "\n".into()), (2, 1, "\n".into())]);
    }

    #[test]
    fn a_byte_order_mark_is_dropped_so_the_header_is_seen() {
        let p = plan(
            b"\xEF\xBB\xBFname,email\nA a,a@x.com\n",
            10,
            MAX_CHUNK_BYTES,
        );
        assert_eq!(parts(&p)[0].2, "name,email\nA a,a@x.com\n");
    }

    #[test]
    fn parts_stay_under_the_byte_limit_and_overlong_lines_are_refused_here() {
        let file = "aaaa\nbbbb\ncccccccccccccccccccc\ndd\n";
        let p = plan(file.as_bytes(), 1000, 10);
        assert_eq!(
            parts(&p),
            vec![(1, 2, "aaaa\nbbbb\n".into()), (4, 1, "dd\n".into())]
        );
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].line, 3);
        assert!(
            p.rejected[0].reason.contains("too long"),
            "{:?}",
            p.rejected
        );
    }

    /// What the server would make of the file sent in parts of `max_lines`: the rows applied
    /// (line, email) and the rejections (line, reason), both in line order.
    type Outcome = (Vec<(u64, String)>, Vec<(u64, String)>);

    fn sent_in_parts(file: &[u8], max_lines: u64) -> Outcome {
        let p = plan(file, max_lines, MAX_CHUNK_BYTES);
        let mut seen = HashMap::new();
        let (mut rows, mut rejected) = (Vec::new(), Vec::new());
        for chunk in &p.chunks {
            let (data, repeats) = without_repeats(chunk, &mut seen);
            let (r, x) = import::parse_csv(&data, chunk.first_line).unwrap();
            rows.extend(r.into_iter().map(|r| (r.line, r.email.to_string())));
            rejected.extend(x.into_iter().map(|x| (x.line, x.reason)));
            rejected.extend(repeats.into_iter().map(|x| (x.line, x.reason)));
        }
        rejected.sort();
        (rows, rejected)
    }

    #[test]
    fn r_usr_5_a_repeated_address_is_refused_wherever_the_file_is_cut() {
        let file =
            b"name,email\nA a,a@x.com\nB b,b@x.com\nA again,A@X.com\nC c,c@x.com\nB b,b@x.com";
        let whole = sent_in_parts(file, 1000);
        assert_eq!(
            whole.1,
            vec![
                (4, "A@X.com is already on line 2".to_string()),
                (6, "b@x.com is already on line 3".to_string())
            ]
        );
        for max_lines in 1..=6 {
            assert_eq!(
                sent_in_parts(file, max_lines),
                whole,
                "parts of {max_lines}"
            );
        }
    }

    use proptest::prelude::*;

    proptest! {
        /// However a file is cut into parts, the same lines are applied and the same lines are
        /// refused for the same reasons as when it is sent whole.
        #[test]
        fn r_usr_5_parts_give_the_outcome_of_the_whole_file(
            lines in prop::collection::vec(
                prop_oneof![
                    (0u8..6).prop_map(|i| format!("Person {i},p{i}@x.com")),
                    (0u8..6).prop_map(|i| format!("Other {i},P{i}@X.COM,*")),
                    Just("no email here".to_string()),
                    Just(String::new()),
                ],
                0..40,
            ),
            max_lines in 1u64..12,
        ) {
            let file = lines.join("\n");
            prop_assert_eq!(
                sent_in_parts(file.as_bytes(), max_lines),
                sent_in_parts(file.as_bytes(), 100_000)
            );
        }
    }

    fn job(id: i64, status: ImportStatus, done: u64, total: u64) -> ImportJob {
        ImportJob {
            id,
            team_id: 3,
            status,
            total,
            done,
            applied: done,
            unchanged: 0,
            refused: 0,
            created_at: "2026-01-05T08:00:00Z".parse().unwrap(),
            started_at: None,
            finished_at: None,
            error: None,
        }
    }

    fn design() -> Named {
        Named {
            id: 3,
            name: "Design".into(),
        }
    }

    #[test]
    fn progress_adds_up_the_parts() {
        let parts = [
            job(1, ImportStatus::Done, 100_000, 100_000),
            job(2, ImportStatus::Running, 500, 20_000),
            job(3, ImportStatus::Queued, 0, 7),
        ];
        assert_eq!(progress(&parts), (100_500, 120_007));
        assert_eq!(progress(&[]), (0, 0));
    }

    #[test]
    fn the_status_says_what_was_applied_and_what_was_not() {
        let mut detail = ImportDetail {
            job: job(7, ImportStatus::Running, 500, 2_000),
            outcomes: vec![ImportLine {
                line: 12,
                outcome: ImportLineOutcome::Refused,
                reason: Some("photoshop is not a product".into()),
            }],
            next_after: None,
        };
        let text = status_text(&detail, &design(), false);
        assert!(text.starts_with("Import 7 into team Design:"), "{text}");
        assert!(
            text.contains("running: 500 of 2000 lines done; the others are not applied yet"),
            "{text}"
        );
        assert!(text.contains("500/2000 lines (25%)"), "{text}");
        assert!(
            text.contains("Refused lines:\n  line 12: refused (photoshop is not a product)"),
            "{text}"
        );
        detail.job.status = ImportStatus::Failed;
        detail.job.error = Some(jeton_api::ImportFailure {
            code: "team_closed".into(),
            detail: "team 3 is closed".into(),
        });
        let text = status_text(&detail, &design(), false);
        assert!(
            text.contains(
                "failed: team 3 is closed (team_closed); lines without an outcome (1500 of 2000) \
                 were not applied"
            ),
            "{text}"
        );
        detail.outcomes.clear();
        detail.job = job(8, ImportStatus::Done, 0, 0);
        let text = status_text(&detail, &design(), true);
        assert!(
            text.contains("0/0 lines (100%)") && !text.contains("Lines:"),
            "{text}"
        );
    }

    #[test]
    fn the_summary_lists_rejections_by_line() {
        let r = ImportResult {
            applied: 2,
            unchanged: 1,
            rejected: vec![ImportRejection {
                line: 4,
                reason: "not-an-email is not an email address".into(),
            }],
        };
        let text = summary("people.csv", &design(), &r);
        assert!(
            text.starts_with(
                "Imported people.csv into team Design: 2 applied, 1 unchanged, 1 line rejected."
            ),
            "{text}"
        );
        assert!(
            text.contains("  line 4: not-an-email is not an email address"),
            "{text}"
        );
        let clean = summary("people.csv", &design(), &ImportResult::default());
        assert!(clean.ends_with("no line rejected."), "{clean}");
    }
}
