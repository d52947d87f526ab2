//! Printing shared by every command: JSON for scripts, tables and lines for people.

use std::io::Write;

use anyhow::Result;
use chrono::{DateTime, Utc};
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use jeton_api::{AssignmentStatus, ImportStatus, InvitationStatus, ProductSelection};
use serde::Serialize;

/// Where answers go, and in which form.
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    /// Whether answers are printed as JSON (`--json`): then nothing else goes to the terminal.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints `value` as pretty JSON with `--json`, else what `human` makes of it.
    pub fn print<T: Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) -> Result<()> {
        let text = if self.json {
            serde_json::to_string_pretty(value)?
        } else {
            human(value)
        };
        write_stdout(&text)
    }
}

/// Writes `text` and a newline to stdout; a closed pipe (`jeton events | head`) is not an error.
fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{}", text.trim_end_matches('\n')).and_then(|()| stdout.flush());
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Writes `bytes` to stdout as they are (a CSV file); a closed pipe is not an error.
pub fn write_raw(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A table with `header`; the columns numbered in `right` (numbers) are right-aligned.
pub fn table(header: &[&str], right: &[usize]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    for &i in right {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// `name: value` lines with the values lined up.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0) + 1;
    rows.iter()
        .map(|(name, value)| format!("{:<width$} {value}", format!("{name}:")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Joins blocks (a summary line, a table, …) with blank lines between them.
pub fn blocks(parts: impl IntoIterator<Item = String>) -> String {
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

pub fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn date(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// `+100`, `-7`, `0`.
pub fn signed(amount: i64) -> String {
    if amount == 0 {
        "0".into()
    } else {
        format!("{amount:+}")
    }
}

/// `1 token`, `5 tokens`.
pub fn tokens(n: u64) -> String {
    if n == 1 {
        "1 token".into()
    } else {
        format!("{n} tokens")
    }
}

/// `autocad=7, render.cloud=5`, or `-` for none.
pub fn rates<'a, V: std::fmt::Display + 'a>(
    rates: impl IntoIterator<Item = (&'a String, &'a V)>,
) -> String {
    let joined = rates
        .into_iter()
        .map(|(kind, rate)| format!("{kind}={rate}"))
        .collect::<Vec<_>>()
        .join(", ");
    if joined.is_empty() {
        "-".into()
    } else {
        joined
    }
}

/// `3, 4`.
pub fn ids(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `autocad, revit`, or `-` for none.
pub fn keys(keys: &[String]) -> String {
    if keys.is_empty() {
        "-".into()
    } else {
        keys.join(", ")
    }
}

/// A user's own product selection: `all` (later products included) or the keys.
pub fn selection(selection: &ProductSelection) -> String {
    match selection {
        ProductSelection::All(_) => "all".into(),
        ProductSelection::Some(list) => keys(list),
    }
}

pub fn assignment_status(status: AssignmentStatus) -> &'static str {
    match status {
        AssignmentStatus::Invited => "invited",
        AssignmentStatus::Active => "active",
    }
}

pub fn import_status(status: ImportStatus) -> &'static str {
    match status {
        ImportStatus::Queued => "queued",
        ImportStatus::Running => "running",
        ImportStatus::Done => "done",
        ImportStatus::Failed => "failed",
    }
}

pub fn invitation_status(status: InvitationStatus) -> &'static str {
    match status {
        InvitationStatus::Pending => "pending",
        InvitationStatus::Expired => "expired",
        InvitationStatus::Accepted => "accepted",
        InvitationStatus::Superseded => "superseded",
    }
}

/// `Jane Doe <jane@example.com>`.
pub fn person(name: &str, email: &str) -> String {
    format!("{name} <{email}>")
}

pub fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Product keys from `a,b` lists (the option may also be repeated): trimmed, empties dropped.
pub fn key_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(String::from)
        .collect()
}

/// A bar on stderr for people watching (`show`: not with `--json`, and only on a terminal).
pub fn progress_bar(show: bool, len: u64, template: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fields_line_up() {
        assert_eq!(
            fields(&[("id", "3".into()), ("name", "Design".into())]),
            "id:   3\nname: Design"
        );
    }

    #[test]
    fn amounts_times_and_rates_read_well() {
        assert_eq!(signed(100), "+100");
        assert_eq!(signed(-7), "-7");
        assert_eq!(signed(0), "0");
        assert_eq!(tokens(1), "1 token");
        assert_eq!(tokens(0), "0 tokens");
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 9, 5, 0).unwrap();
        assert_eq!(time(&t), "2026-03-01 09:05:00 UTC");
        assert_eq!(date(&t), "2026-03-01");
        let mut r = std::collections::BTreeMap::new();
        assert_eq!(rates(&r), "-");
        r.insert("render.cloud".to_string(), 5u64);
        r.insert("export".to_string(), 1u64);
        assert_eq!(rates(&r), "export=1, render.cloud=5");
    }

    #[test]
    fn selections_and_key_lists_read_well() {
        use jeton_api::AllProducts;
        assert_eq!(selection(&ProductSelection::All(AllProducts::All)), "all");
        assert_eq!(selection(&ProductSelection::Some(vec![])), "-");
        assert_eq!(
            selection(&ProductSelection::Some(vec![
                "autocad".into(),
                "revit".into()
            ])),
            "autocad, revit"
        );
        assert_eq!(
            key_list(&["autocad, revit".into(), "".into(), "maya".into()]),
            vec!["autocad", "revit", "maya"]
        );
        assert!(key_list(&[" , ".into()]).is_empty());
        assert_eq!(person("Jane Doe", "jane@x.com"), "Jane Doe <jane@x.com>");
    }

    #[test]
    fn tables_hold_their_rows() {
        let mut t = table(&["id", "tokens"], &[1]);
        t.add_row(vec!["7".to_string(), "1000".to_string()]);
        let text = t.to_string();
        assert!(text.contains("tokens") && text.contains("1000"), "{text}");
    }
}
