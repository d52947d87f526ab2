//! `jeton import`: a CSV file of users, sent in parts with file line numbers (R-USR-5).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;

use jeton_api::{ImportQuery, ImportRejection, ImportResult};
use jeton_core::import;

use super::output::{self, blocks};
use super::{Ctx, teams};

/// Most lines the server takes in one request.
pub const MAX_CHUNK_LINES: u32 = import::MAX_IMPORT_LINES as u32;
/// Most bytes per request: the server takes 10 MiB; a part stays well below.
pub const MAX_CHUNK_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Args)]
#[command(
    after_help = "The file has one person per line: `name,email[,products]`, with \
    products separated by `;`, or `*` for all products (later ones included); without products \
    a user's selection stays as it is. A header line `name,email,products` may come first. Each \
    line is checked on its own: good lines are applied, bad ones are listed with their line \
    number and the reason. Importing the same file again changes nothing. Imported people get no \
    email; new ones get an invitation that `jeton invitations resend` emails.\n\n\
    Large files are sent in parts of --chunk-lines lines, with a progress bar on stderr (not \
    with --json or when stderr is not a terminal).\n\n\
    Exit status: 0 when the whole file was sent, even if some lines were rejected; 1 when the \
    file could not be read or sent (when that happens part-way, the parts already sent stay \
    applied and the summary says so; importing the file again is safe).\n\n\
    Example:\n  jeton import people.csv --team Design"
)]
pub struct ImportArgs {
    /// The CSV file to import
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
    /// Lines per request (1 to 100000)
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CHUNK_LINES)))]
    pub chunk_lines: u32,
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
    let name = args.file.display().to_string();
    let data = std::fs::read(&args.file).with_context(|| format!("cannot read {name}"))?;
    let plan = plan(&data, u64::from(args.chunk_lines), MAX_CHUNK_BYTES);
    if plan.lines == 0 {
        bail!("{name} is empty: nothing to import");
    }
    let team = teams::resolve(ctx, &args.team).await?;

    let bar = output::progress_bar(
        !ctx.out.is_json() && std::io::stderr().is_terminal(),
        plan.lines,
        "{spinner} importing [{bar:40}] {pos}/{len} lines ({elapsed}, {eta} left)",
    );
    let mut total = ImportResult {
        rejected: plan.rejected.clone(),
        ..ImportResult::default()
    };
    let mut failure = None;
    let mut seen = HashMap::new();
    for (i, chunk) in plan.chunks.iter().enumerate() {
        let query = ImportQuery {
            first_line: Some(chunk.first_line),
        };
        let (data, repeats) = without_repeats(chunk, &mut seen);
        match ctx.client.import_users(team, &query, data).await {
            Ok(result) => {
                total.applied += result.applied;
                total.unchanged += result.unchanged;
                total.rejected.extend(result.rejected);
                total.rejected.extend(repeats);
                bar.inc(chunk.lines);
            }
            Err(e) => {
                failure = Some((i, e));
                break;
            }
        }
    }
    bar.finish_and_clear();
    total.rejected.sort_by_key(|r| r.line);

    match failure {
        None => ctx.out.print(&total, |t| summary(&name, team, t)),
        Some((0, e)) => Err(anyhow::Error::new(e)
            .context(format!("nothing was imported from {name} into team {team}"))),
        Some((i, e)) => {
            ctx.out.print(&total, |t| summary(&name, team, t))?;
            let from = plan.chunks[i].first_line;
            let to = plan.lines;
            Err(anyhow!(
                "lines {from} to {to} of {name} were not sent: {e}\nhint: the lines before them \
                 were applied; importing the whole file again is safe (applied lines come back \
                 as unchanged)"
            ))
        }
    }
}

fn summary(name: &str, team: i64, r: &ImportResult) -> String {
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
        let text = summary("people.csv", 3, &r);
        assert!(
            text.starts_with(
                "Imported people.csv into team 3: 2 applied, 1 unchanged, 1 line rejected."
            ),
            "{text}"
        );
        assert!(
            text.contains("  line 4: not-an-email is not an email address"),
            "{text}"
        );
        let clean = summary("people.csv", 3, &ImportResult::default());
        assert!(clean.ends_with("no line rejected."), "{clean}");
    }
}
